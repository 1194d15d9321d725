// Restarts of sandkitd, in every runtime: a sandkitd with a state directory (the runner's
// second one, restartable through a control server on the host) is stopped cleanly and, in a
// second step, killed with SIGKILL; started again on the same directory and port, it still has
// the paused sandboxes, their metadata and files, and resuming one reboots it. A third step
// kills it while clients call it: during the gap the calls reject with SDK errors, then they
// work again, and the listing holds the same sandboxes.
//
//   await runRestartScenario({ Sandbox, errors, conn, restartable, step, expectError })
//
// `restartable` is { apiUrl, sandboxUrl, apiKey, controlUrl } (startRestartableSandkitd).
import { assert, assertEqual, describeError } from './checks.mjs'

export const RESTART_UNDER_LOAD_STEP = 'restart: killed (SIGKILL) and started again while 4 clients call it: calls in the gap that reject do so with SDK errors (a connection SandboxError, TimeoutError), then every client works again; the same sandboxes are listed before and after'

export async function runRestartScenario({ Sandbox, errors, conn, restartable, step, expectError }) {
  const at = { ...conn, apiUrl: restartable.apiUrl, sandboxUrl: restartable.sandboxUrl, apiKey: restartable.apiKey }
  const restart = async (signal) => {
    const res = await fetch(`${restartable.controlUrl}/restart?signal=${signal}`, { method: 'POST' })
    assertEqual(res.status, 200, `restart with SIG${signal}: ${await res.text()}`)
  }
  // Files kept, the sleeper of before the restart gone, a command runs.
  const rebooted = async (s, what) => {
    assertEqual(await s.files.read('/home/user/kept'), 'kept', `files ${what}`)
    const left = (await s.commands.list()).filter((p) => `${p.cmd} ${(p.args ?? []).join(' ')}`.includes('sleep 600'))
    assertEqual(left.length, 0, `processes ${what}`)
    assertEqual((await s.commands.run('echo up')).stdout, 'up\n', `a command ${what}`)
  }

  await step('restart: stopped and started on its state directory, sandkitd still has a paused sandbox with its metadata and files; the resume reboots it; a running one without autoPause is gone', async () => {
    const paused = await Sandbox.create({ ...at, metadata: { kept: 'yes' } })
    await paused.files.write('/home/user/kept', 'kept')
    await paused.commands.run('sleep 600', { background: true })
    assertEqual(await paused.pause(), true, 'pause')
    const plain = await Sandbox.create(at)
    await restart('TERM')
    const info = await Sandbox.getInfo(paused.sandboxId, at)
    assertEqual(info.state, 'paused', 'state after the restart')
    assertEqual(info.metadata.kept, 'yes', 'metadata after the restart')
    const listed = await Sandbox.list({ ...at, query: { state: ['paused'] } }).nextItems()
    assert(listed.some((s) => s.sandboxId === paused.sandboxId), 'listed as paused after the restart')
    await expectError(() => Sandbox.getInfo(plain.sandboxId, at), { Class: errors.SandboxNotFoundError, className: 'SandboxNotFoundError', what: 'a running sandbox after the restart' })
    const back = await Sandbox.connect(paused.sandboxId, at)
    await rebooted(back, 'after the restart')
    await back.kill()
  }, { timeoutMs: 60_000 })

  await step('restart: a SIGKILL of sandkitd loses no record: a sandbox with autoPause created just before comes back paused with its files', async () => {
    const s = await Sandbox.create({ ...at, lifecycle: { onTimeout: 'pause' } })
    await s.files.write('/home/user/kept', 'kept')
    await s.commands.run('sleep 600', { background: true })
    await restart('KILL')
    assertEqual((await Sandbox.getInfo(s.sandboxId, at)).state, 'paused', 'state after the crash')
    // The handle from before still works: the sandbox's tokens were kept.
    await s.connect()
    await rebooted(s, 'after the crash')
    await s.kill()
  }, { timeoutMs: 60_000 })

  await step(RESTART_UNDER_LOAD_STEP, async () => {
    const tag = `load-${Math.random().toString(36).slice(2, 10)}`
    const made = []
    for (let i = 0; i < 3; i++) made.push(await Sandbox.create({ ...at, metadata: { load: tag }, lifecycle: { onTimeout: 'pause' } }))
    const ids = () => Sandbox.list({ ...at, query: { metadata: { load: tag } } }).nextItems().then((items) => items.map((s) => s.sandboxId).sort())
    const before = await ids()
    assertEqual(before.length, 3, 'sandboxes before')
    let stop = false
    // No retries: each call meets the gap as it is.
    const quick = { ...at, retries: 0, requestTimeoutMs: 5_000 }
    // Each call's span, to tell whether calls were in flight while sandkitd was down.
    const spans = []
    const client = async (c) => {
      const outcomes = []
      for (let n = 0; !stop; n++) {
        const span = { start: performance.now(), end: 0 }
        spans.push(span)
        try {
          const info = await Sandbox.getInfo(made[(c + n) % made.length].sandboxId, quick)
          assertEqual(info.sandboxId, made[(c + n) % made.length].sandboxId, 'getInfo')
          outcomes.push(null)
        } catch (err) {
          outcomes.push(err)
          await new Promise((resolve) => setTimeout(resolve, 50))
        } finally {
          span.end = performance.now()
        }
      }
      return outcomes
    }
    const clients = [0, 1, 2, 3].map(client)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const down = performance.now()
    await restart('KILL')
    const up = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    stop = true
    const all = await Promise.all(clients)
    const names = {}
    let calls = 0
    for (const [c, outcomes] of all.entries()) {
      calls += outcomes.length
      for (const err of outcomes.filter(Boolean)) {
        const typed = err instanceof errors.TimeoutError || (err instanceof errors.SandboxError && err.code === 'connection_error')
        assert(typed, `client ${c}: ${describeError(err)} is not a connection SandboxError or a TimeoutError`)
        names[err.code ?? err.name] = (names[err.code ?? err.name] ?? 0) + 1
      }
      assert(outcomes.length > 0 && outcomes.at(-1) === null, `client ${c}: its last call failed after the restart`)
    }
    // Under load means calls were in flight while sandkitd was down. Whether one of them fails
    // is the runtime's: Chromium sends a GET again by itself when a kept-alive connection dies
    // under it, so there the gap can pass with no error at all.
    const inGap = spans.filter((s) => s.start < up && s.end > down).length
    assert(inGap > 0, 'no call was in flight while sandkitd was down: the restart was not under load')
    const after = await ids()
    assertEqual(JSON.stringify(after), JSON.stringify(before), 'sandboxes after the restart')
    for (const s of made) await Sandbox.kill(s.sandboxId, at).catch(() => {})
    return `${calls} calls, ${inGap} in flight during the ${Math.round(up - down)} ms restart; errors ${JSON.stringify(names)}`
  }, { timeoutMs: 60_000 })
}
