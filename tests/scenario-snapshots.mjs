// Snapshots and forks, through an SDK that has them (the official e2b package; sandkit's own
// SDK gains the methods later, and until then the runner skips these steps): a snapshot of a
// sandbox's files starts new sandboxes by its id or name, is listed in pages and filtered, and
// deleted; a fork is a new sandbox on a copy of the files. Processes are not carried over
// (sandkitd keeps no memory in either).
//
//   await runSnapshotsScenario({ Sandbox, errors, conn, step, expectError, track })
//
// `track(id)` hands every sandbox made here to the scenario, which kills it at the end.
import { assert, assertEqual } from './checks.mjs'

export const SNAPSHOT_BAD_INPUT_STEP = 'snapshots: bad options (a fork count of 0, 1.5 or a string, a name that is a number, limit 101, empty ids, a snapshot id with a newline or of 300 bytes) are InvalidArgumentErrors naming the field, and nothing is made'

export async function runSnapshotsScenario({ Sandbox, errors, conn, step, expectError, track }) {
  const tag = `snap-${Math.random().toString(36).slice(2, 10)}`
  const make = async (template, more = {}) => {
    const s = await Sandbox.create(template, { ...conn, timeoutMs: 120_000, metadata: { tag }, ...more })
    track(s.sandboxId)
    return s
  }
  // The files a copy must have, and no process of before.
  const hasTheFiles = async (s, what) => {
    assertEqual(await s.files.read('/home/user/kept'), 'kept', `the file ${what}`)
    assertEqual((await s.commands.run('stat -c %U /home/user/kept')).stdout, 'user\n', `its owner ${what}`)
    const left = (await s.commands.list()).filter((p) => `${p.cmd} ${(p.args ?? []).join(' ')}`.includes('sleep 600'))
    assertEqual(left.length, 0, `no process carried over ${what}`)
  }

  let source
  let named
  await step('snapshots: a named snapshot of a running sandbox starts new sandboxes on its files, by id and by name; the source runs on', async () => {
    source = await make('base')
    await source.files.write('/home/user/kept', 'kept')
    await source.commands.run('sleep 600', { background: true })
    const name = `${tag}-box`
    named = await source.createSnapshot({ name })
    assertEqual(named.snapshotId, `${name}:default`, 'snapshotId')
    assertEqual(JSON.stringify(named.names), JSON.stringify([`${name}:default`]), 'names')
    await source.files.write('/home/user/later', 'later')
    for (const ref of [named.snapshotId, name]) {
      const copy = await make(ref)
      await hasTheFiles(copy, `from ${ref}`)
      assertEqual(await copy.files.exists('/home/user/later'), false, 'a file written after the snapshot')
      assertEqual((await copy.getInfo()).templateId, ref, 'templateId')
    }
    assertEqual((await source.getInfo()).state, 'running', 'the source after its snapshot')
    const still = (await source.commands.list()).some((p) => `${p.cmd} ${(p.args ?? []).join(' ')}`.includes('sleep 600'))
    assert(still, 'the source keeps its process')
  }, { timeoutMs: 60_000 })

  await step('snapshots: listed newest first, filtered by sandbox and name, paged with limit 1; deleteSnapshot is true, then false', async () => {
    assert(source && named, 'the snapshot of the step before')
    const unnamed = await Sandbox.createSnapshot(source.sandboxId, conn)
    assert(unnamed.snapshotId.endsWith(':default'), `an unnamed snapshot's id: ${unnamed.snapshotId}`)
    assertEqual(unnamed.names.length, 0, 'an unnamed snapshot has no names')
    const pager = Sandbox.listSnapshots({ ...conn, sandboxId: source.sandboxId, limit: 1 })
    const seen = []
    while (pager.hasNext && seen.length < 10) seen.push(...(await pager.nextItems()).map((s) => s.snapshotId))
    assertEqual(JSON.stringify(seen), JSON.stringify([unnamed.snapshotId, named.snapshotId]), 'the pages')
    // The instance's listing is its own sandbox's, and a paginator is async-iterable.
    const own = source.listSnapshots({ limit: 1 })
    if (typeof own[Symbol.asyncIterator] === 'function') {
      const iterated = []
      for await (const s of own) iterated.push(s.snapshotId)
      assertEqual(JSON.stringify(iterated), JSON.stringify(seen), 'iterated over the instance\'s listing')
    }
    const byName = await Sandbox.listSnapshots({ ...conn, name: named.snapshotId }).nextItems()
    assertEqual(JSON.stringify(byName.map((s) => s.snapshotId)), JSON.stringify([named.snapshotId]), 'by name')
    assertEqual(await Sandbox.deleteSnapshot(unnamed.snapshotId, conn), true, 'deleted')
    assertEqual(await Sandbox.deleteSnapshot(unnamed.snapshotId, conn), false, 'deleted again')
    assertEqual(await Sandbox.deleteSnapshot(named.snapshotId, conn), true, 'the named one deleted')
    const left = await Sandbox.listSnapshots({ ...conn, sandboxId: source.sandboxId }).nextItems()
    assertEqual(left.length, 0, 'none left')
    await expectError(() => Sandbox.create(named.snapshotId, conn), { Class: errors.SandboxError, className: 'SandboxError', what: 'a create from a deleted snapshot' })
    await expectError(() => Sandbox.createSnapshot('no-such-sandbox', conn), { Class: errors.SandboxNotFoundError, className: 'SandboxNotFoundError', what: 'a snapshot of an unknown sandbox' })
  }, { timeoutMs: 60_000 })

  await step(SNAPSHOT_BAD_INPUT_STEP, async () => {
    assert(source, 'the source of the first step')
    const refused = async (what, fn, field) => {
      const err = await expectError(fn, { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what })
      assert(err.message.includes(field), `${what}: the message does not name ${field}: ${err.message}`)
    }
    await refused('fork with count 0', () => Sandbox.fork(source.sandboxId, { ...conn, count: 0 }), 'count')
    await refused('fork with count 1.5', () => source.fork({ count: 1.5 }), 'count')
    await refused('fork with a count that is a string', () => source.fork({ count: '2' }), 'count')
    await refused('createSnapshot with a name that is a number', () => source.createSnapshot({ name: 5 }), 'name')
    await refused('listSnapshots with limit 101', () => Sandbox.listSnapshots({ ...conn, limit: 101 }).nextItems(), 'limit')
    await refused('deleteSnapshot of an empty id', () => Sandbox.deleteSnapshot('', conn), 'snapshotId')
    await refused('deleteSnapshot of an id with a newline', () => Sandbox.deleteSnapshot('a\nb', conn), 'snapshotId')
    await refused('deleteSnapshot of a 300-byte id', () => Sandbox.deleteSnapshot('x'.repeat(300), conn), 'snapshotId')
    await refused('createSnapshot of an empty sandbox id', () => Sandbox.createSnapshot('', conn), 'sandboxId')
    // Nothing was made by the refused calls.
    const left = await Sandbox.listSnapshots({ ...conn, sandboxId: source.sandboxId }).nextItems()
    assertEqual(left.length, 0, 'snapshots made by refused calls')
  })

  await step('forks: fork({count: 2}) makes two running sandboxes on a copy of the files with the source\'s metadata; an unknown sandbox is SandboxNotFoundError', async () => {
    assert(source, 'the source of the first step')
    const forks = await Sandbox.fork(source.sandboxId, { ...conn, count: 2, timeoutMs: 60_000 })
    assertEqual(forks.length, 2, 'two results')
    for (const fork of forks) {
      assert(!(fork instanceof Error), `a fork failed: ${fork?.message}`)
      track(fork.sandboxId)
      assert(fork.sandboxId !== source.sandboxId, 'a new sandbox')
      await hasTheFiles(fork, 'in a fork')
      assertEqual((await fork.getInfo()).metadata.tag, tag, 'the source\'s metadata')
      await fork.files.write('/home/user/kept', 'changed')
    }
    assertEqual(await source.files.read('/home/user/kept'), 'kept', 'the source, untouched by its forks')
    const [one] = await source.fork()
    assert(!(one instanceof Error), `the instance's fork failed: ${one?.message}`)
    track(one.sandboxId)
    await hasTheFiles(one, 'in the instance\'s fork')
    await expectError(() => Sandbox.fork('no-such-sandbox', conn), { Class: errors.SandboxNotFoundError, className: 'SandboxNotFoundError', what: 'a fork of an unknown sandbox' })
  }, { timeoutMs: 60_000 })
}
