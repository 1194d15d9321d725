// A program run to its end with its output collected, as the runners that start a user's
// program (a Node one, the official CLI) need it: { code, stdout, stderr }, where code is the
// exit status, the signal's name, or -1 when it could not start.
import { spawn } from 'node:child_process'

/** Runs `cmd args…` with `cwd` and `env` (nothing inherited); `timeoutMs` kills it (SIGKILL). */
export function runCollected(cmd, args, { cwd, env, timeoutMs } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : null
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: String(err) }))
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? signal, stdout, stderr })
    })
  })
}
