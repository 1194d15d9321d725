// Restarts of sandkitd, in every runtime: a sandkitd with a state directory (the runner's
// second one, restartable through a control server on the host) is stopped cleanly and, in a
// second step, killed with SIGKILL; started again on the same directory and port, it still has
// the paused sandboxes, their metadata and files, and resuming one reboots it.
//
//   await runRestartScenario({ Sandbox, errors, conn, restartable, step, expectError })
//
// `restartable` is { apiUrl, sandboxUrl, apiKey, controlUrl } (startRestartableSandkitd).
import { assert, assertEqual } from './checks.mjs'

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
}
