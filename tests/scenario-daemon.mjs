// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): sandkitd's daemon behaves as E2B's envd: watch events, uploads, removal,
// symlinks, file metadata, error texts, the keys of result objects, and accounts made in the
// sandbox itself.
import { assert, assertDeepEqual, assertEqual, describeError, fail, show, sleep } from './checks.mjs'

/** Waits (at most `ms`) until `done()` holds. */
async function until(done, ms = 5_000) {
  for (const start = Date.now(); !done() && Date.now() - start < ms; ) await sleep(25)
  return done()
}

export async function runDaemonConformance({ Sandbox, errors, conn, config, a, create, step, expectError }) {
  await step('watch: a write gives envd\'s events (new file: create then write; existing: write), never a temporary name', async () => {
    await a.files.makeDir('/home/user/watched')
    const events = []
    const handle = await a.files.watchDir('/home/user/watched', (e) => events.push({ name: e.name, type: e.type }))
    try {
      await a.files.write('/home/user/watched/new.txt', 'first')
      const created = () => events.findIndex((e) => e.name === 'new.txt' && e.type === 'create')
      const wrote = () => events.findIndex((e, i) => i > created() && e.name === 'new.txt' && e.type === 'write')
      assert(await until(() => created() >= 0 && wrote() >= 0), `events of a new file: ${show(events)}`)
      const before = events.length
      await a.files.write('/home/user/watched/new.txt', 'second, longer')
      const later = () => events.slice(before)
      assert(await until(() => later().some((e) => e.name === 'new.txt' && e.type === 'write')), `events of an overwrite: ${show(later())}`)
      assert(!later().some((e) => e.type === 'create'), `an overwrite gave create: ${show(later())}`)
      await sleep(200)
      const strangers = events.filter((e) => e.name !== 'new.txt')
      assertEqual(show(strangers), '[]', 'events of other names')
      assertEqual(await a.files.read('/home/user/watched/new.txt'), 'second, longer', 'content')
    } finally {
      await handle.stop()
    }
  })

  // Node runs (napi, wasm in Node, e2b) send the full sizes; a browser or Worker sends less, as
  // 1 GB through a page or an isolate proves nothing more about the server.
  const sizes = config.rawFetch ? [1, 5 << 20, 100 << 20] : [1, 5 << 20]
  const payload = new Uint8Array(Math.max(...sizes)).fill(120)
  for (const size of sizes) {
    await step(`files: 10 rejected uploads of ${size} B are each answered with the typed error, not a cut connection`, async () => {
      const data = payload.subarray(0, size)
      const results = []
      for (let i = 0; i < 10; i++) {
        try {
          await a.files.write('/home/user', data)
          results.push('written')
        } catch (err) {
          const typed = err instanceof errors.SandboxError && !/fetch failed|EPIPE|ECONNRESET|terminated|network/i.test(err.message)
          results.push(typed ? 'typed' : `untyped: ${describeError(err)}`)
        }
      }
      const typed = results.filter((r) => r === 'typed').length
      if (typed !== 10) fail(`${typed} of 10 typed: ${show(results)}`)
      return '10 of 10 typed'
    }, { timeoutMs: 300_000 })
  }

  await step('files: a failed upload leaves the file it would have replaced untouched', async () => {
    // A running program cannot be written to (ETXTBSY), not even by root.
    const busy = await a.commands.run('cp /bin/sleep /home/user/busy && exec /home/user/busy 60', { background: true })
    try {
      await a.commands.run('for i in $(seq 50); do pgrep -x busy && exit; sleep 0.1; done; exit 1')
      await expectError(() => a.files.write('/home/user/busy', 'replaced'), { Class: errors.SandboxError, className: 'SandboxError', what: 'write to a running program' })
      await a.commands.run('cmp /bin/sleep /home/user/busy')
    } finally {
      await busy.kill()
    }
  })

  await step('files: calls act with root\'s rights, as envd\'s, and what they write or make is the user\'s', async () => {
    await a.commands.run('echo old > /etc/ro.conf && chmod 444 /etc/ro.conf', { user: 'root' })
    await a.files.write('/etc/ro.conf', 'new')
    await a.files.write('/app/src/main.py', 'print(1)')
    assertEqual(await a.files.makeDir('/root/made'), true, 'makeDir in /root')
    const r = await a.commands.run('cat /etc/ro.conf; stat -c "%n %U %a" /etc/ro.conf /app /app/src/main.py /root/made', { user: 'root' })
    assertEqual(r.stdout, 'new/etc/ro.conf user 444\n/app user 755\n/app/src/main.py user 644\n/root/made user 755\n', 'contents and owners')
    await a.files.remove('/app')
    assertEqual(await a.files.exists('/app'), false, '/app after remove')
  })

  await step('files: removing a path that does not exist succeeds, as envd\'s does', async () => {
    await a.files.remove('/home/user/never-was-here.txt')
    await a.files.remove('/home/user/no-dir/no-file')
  })

  await step('files: symlinks in getInfo and list as envd reports them (target\'s type and mode, absolute resolved target; broken: no type, mode 0)', async () => {
    await a.files.write('/home/user/links/target.txt', 'target')
    await a.commands.run('cd /home/user/links && chmod 640 target.txt && ln -sf target.txt link.txt && ln -sf nowhere broken')
    const link = await a.files.getInfo('/home/user/links/link.txt')
    assertEqual(link.type, 'file', 'link type')
    assertEqual(link.mode, 0o640, 'link mode')
    assertEqual(link.symlinkTarget, '/home/user/links/target.txt', 'link symlinkTarget')
    const broken = await a.files.getInfo('/home/user/links/broken')
    assertEqual(broken.type, undefined, 'broken type')
    assertEqual(broken.mode, 0, 'broken mode')
    assertEqual(broken.symlinkTarget, '/home/user/links/broken', 'broken symlinkTarget')
    const listed = Object.fromEntries((await a.files.list('/home/user/links')).map((e) => [e.name, e]))
    assertEqual(show([listed['link.txt']?.type, listed['link.txt']?.symlinkTarget]), show(['file', '/home/user/links/target.txt']), 'listed link')
    // The official SDK leaves entries of no known type out of listings.
    assert(!('broken' in listed), `a broken link is listed: ${show(listed.broken)}`)
  })

  await step('files: write metadata is kept (user.e2b.* attributes) and returned, keys lower-cased, by write, getInfo, list and watch', async () => {
    await a.files.makeDir('/home/user/meta')
    const events = []
    const handle = await a.files.watchDir('/home/user/meta', (e) => events.push(e), { includeEntry: true })
    try {
      const info = await a.files.write('/home/user/meta/m.txt', 'm', { metadata: { Owner: 'ada', 'x-kind': 'notes' } })
      const want = { 'owner': 'ada', 'x-kind': 'notes' }
      assertDeepEqual(info.metadata, want, 'write result')
      assertDeepEqual((await a.files.getInfo('/home/user/meta/m.txt')).metadata, want, 'getInfo')
      assertDeepEqual((await a.files.list('/home/user/meta'))[0]?.metadata, want, 'list')
      const attrs = await a.commands.run('getfattr -d /home/user/meta/m.txt 2>/dev/null || python3 -c "import os;print(os.listxattr(\'/home/user/meta/m.txt\'))" 2>/dev/null || true')
      if (attrs.stdout.trim()) assert(attrs.stdout.includes('user.e2b.owner'), `attributes: ${attrs.stdout}`)
      assert(await until(() => events.some((e) => e.entry?.metadata?.owner === 'ada')), `watch entries: ${show(events.map((e) => e.entry?.metadata))}`)
      const plain = await a.files.write('/home/user/meta/m.txt', 'again')
      assertEqual(plain.metadata, undefined, 'a write without metadata replaces it all')
    } finally {
      await handle.stop()
    }
  })

  await step('files: result objects have the official keys even when empty (metadata, symlinkTarget)', async () => {
    const info = await a.files.write('/home/user/keys.txt', 'k')
    assert('metadata' in info && info.metadata === undefined, `write result keys: ${Object.keys(info)}`)
    const entry = await a.files.getInfo('/home/user/keys.txt')
    for (const key of ['metadata', 'symlinkTarget']) assert(key in entry && entry[key] === undefined, `getInfo has no ${key} key: ${Object.keys(entry)}`)
    const [listed] = await a.files.list('/home/user', { depth: 1 }).then((l) => l.filter((e) => e.name === 'keys.txt'))
    for (const key of ['metadata', 'symlinkTarget']) assert(key in listed, `list entry has no ${key} key: ${Object.keys(listed)}`)
  })

  await step('files: an upload to a full disk is NotEnoughSpaceError (507), and deleting lets writes in again', async () => {
    const full = await create()
    try {
      // The sandbox's own disk (sandkitd's --disk-size-mb, 1 GiB), not the host's: filling
      // that instead would take the machine's disk.
      const df = await full.commands.run("df -k --output=size / | tail -1")
      const kib = Number(df.stdout.trim())
      assert(kib > 0 && kib <= 1 << 20, `the sandbox's / is not a disk of its own: ${kib} KiB`)
      // Filled by allocation, not by writing: quick, and the host's image of it stays sparse.
      const filled = await full.commands.run(
        'i=0; while fallocate -l 16M fill$i 2>/dev/null; do i=$((i+1)); done; ' +
          'j=0; while fallocate -l 64K rest$j 2>/dev/null; do j=$((j+1)); done; df -k --output=avail / | tail -1',
        { cwd: '/home/user' },
      )
      const err = await expectError(() => full.files.write('/home/user/more.bin', new Uint8Array(1 << 20)), {
        Class: errors.NotEnoughSpaceError,
        className: 'NotEnoughSpaceError',
        what: 'an upload to a full disk',
      })
      await full.commands.run('rm -f fill* rest*', { cwd: '/home/user' })
      await full.files.write('/home/user/more.bin', new Uint8Array(1 << 20))
      assertEqual((await full.files.getInfo('/home/user/more.bin')).size, 1 << 20, 'the size written once there was space')
      return `${kib} KiB disk, ${filled.stdout.trim()} KiB left when full: ${err.message}`
    } finally {
      await full.kill().catch(() => {})
    }
  })

  await step('files: error texts are envd\'s', async () => {
    const texts = [
      [() => a.files.read('/home/user/nope.txt'), "path '/home/user/nope.txt' does not exist"],
      [() => a.files.getInfo('/home/user/nope.txt'), 'file not found: '],
      [() => a.files.list('/home/user/nope-dir'), 'not found: '],
      [() => a.files.rename('/home/user/nope.txt', '/home/user/other.txt'), 'source file not found: '],
      [() => a.files.makeDir('/home/user/keys.txt'), 'path already exists but it is not a directory: /home/user/keys.txt'],
      [() => a.files.watchDir('/home/user/nope-dir', () => {}), 'path /home/user/nope-dir not found'],
    ]
    for (const [call, text] of texts) {
      const err = await expectError(call, { Class: errors.SandboxError, className: 'SandboxError', what: text })
      assert(err.message.includes(text), `expected ${show(text)} in ${show(err.message)}`)
    }
  })

  await step('accounts: one made in the sandbox (useradd, a group) runs commands and owns files at once, as envd looks it up', async () => {
    const s = await create()
    try {
      // The name is refused until the sandbox has the account.
      await expectError(() => s.commands.run('id', { user: 'ada' }), {
        Class: errors.AuthenticationError,
        className: 'AuthenticationError',
        what: 'a command as an account the sandbox does not have',
      })
      await s.commands.run('groupadd -g 2100 crew && useradd -m -u 1600 -G crew ada && install -d -g crew -m 2770 /srv/crew', {
        user: 'root',
      })
      const id = await s.commands.run('id', { user: 'ada' })
      assertEqual(id.stdout.trim(), 'uid=1600(ada) gid=1600(ada) groups=1600(ada),2100(crew)', 'id as ada')
      await s.files.write('/srv/crew/plan.txt', 'go', { user: 'ada' })
      const entry = await s.files.getInfo('/srv/crew/plan.txt', { user: 'ada' })
      assertEqual(`${entry.owner}:${entry.group}`, 'ada:ada', "the upload's owner and group")
      assertEqual((await s.files.getInfo('/srv/crew')).group, 'crew', "a group's name, from the sandbox's /etc/group")
      await s.files.write('notes.txt', 'hi', { user: 'ada' })
      assertEqual((await s.commands.run('cat /home/ada/notes.txt')).stdout, 'hi', 'a relative path is in the account’s own home')
      // `user` is not in the group until it joins, and then is at once (for its commands: the
      // file calls act with root's rights, as envd's).
      await expectError(() => s.commands.run('mkdir /srv/crew/by-user'), { Class: errors.CommandExitError, className: 'CommandExitError', what: 'mkdir outside the group' })
      await s.commands.run('usermod -aG crew user', { user: 'root' })
      await s.commands.run('mkdir /srv/crew/by-user')
      return (await s.commands.run("stat -c '%n %U:%G' /srv/crew/*")).stdout.trim().replace(/\n/g, ', ')
    } finally {
      await s.kill().catch(() => {})
    }
  })

  const inFlight = 'The sandbox was killed or reached its end of life while the request was in flight.'
  await step('lifecycle: a command in flight when its sandbox is killed fails with TimeoutError, as over a dead VM', async () => {
    const doomed = await create()
    const running = doomed.commands.run('sleep 30')
    running.catch(() => {})
    await sleep(500)
    assertEqual(await Sandbox.kill(doomed.sandboxId, conn), true, 'kill')
    const err = await expectError(() => running, { Class: errors.TimeoutError, className: 'TimeoutError', what: 'the command' })
    assert(err.message.includes(inFlight), `message: ${err.message}`)
    assertEqual(await doomed.isRunning(), false, 'isRunning after the kill')
  })

  await step('lifecycle: a command in flight when its sandbox expires fails with TimeoutError too', async () => {
    const brief = await create({ timeoutMs: 2_000 })
    const err = await expectError(() => brief.commands.run('sleep 30'), { Class: errors.TimeoutError, className: 'TimeoutError', what: 'the command', within: 20_000 })
    assert(err.message.includes(inFlight), `message: ${err.message}`)
  })
}
