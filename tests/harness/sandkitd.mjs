// Starts a real sandkitd for the JS tests and benchmarks.
//
//   const server = await startSandkitd()
//   // server.apiUrl, server.sandboxUrl, server.apiKey (team-a), server.otherTeamKey (team-b)
//   await server.stop()
//
// The binary is $SANDKITD_BIN, else target/<profile>/sandkitd (profile `debug` unless asked).
// It listens on a free port (--port 0); the URLs come from the banner it prints once bound.
// If no complete banner arrives in time, or the process exits first, the promise rejects with
// the output seen so far. Servers still running when this process exits (normally, by an
// uncaught error, or on SIGINT/SIGTERM/SIGHUP) are killed, so no sandkitd outlives its test.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The code interpreter's Python, under /opt (which sandboxes see), made by scripts/setup.sh. */
export const INTERPRETER_PYTHON = '/opt/sandkit-interpreter-venv/bin/python'
/** The TypeScript compiler of TypeScript code contexts (scripts/setup.sh installs it). */
export const INTERPRETER_TYPESCRIPT = '/opt/sandkit-interpreter-node/node_modules/typescript'
export const TEAM_A_KEY = 'sk_test_team_a'
export const TEAM_B_KEY = 'sk_test_team_b'

/** The sandkitd binary to run: $SANDKITD_BIN, else <cargo target dir>/<profile>/sandkitd. */
export function sandkitdPath(profile = 'debug') {
  if (process.env.SANDKITD_BIN) return process.env.SANDKITD_BIN
  const targetDir = process.env.CARGO_TARGET_DIR ? `${process.env.CARGO_TARGET_DIR.replace(/\/$/, '')}/` : `${REPO_ROOT}target/`
  return `${targetDir}${profile}/sandkitd`
}

/**
 * Rate limits and quotas out of the way: the scenario and the benchmarks make hundreds of
 * sandboxes at once, beyond E2B's Pro defaults (5 creations a second, 100 running). The
 * rate-limit steps use a second server (startLimitedSandkitd); later flags in o.args win.
 */
export const LIFTED_LIMITS = [
  '--rate-limit', '1000000/1',
  '--ops-rate-limit', '1000000/1',
  '--create-rate', '1000000/1',
  '--max-sandboxes', '1000000',
]

const running = new Set()
let exitHooksInstalled = false

function installExitHooks() {
  if (exitHooksInstalled) return
  exitHooksInstalled = true
  // 'exit' also fires after an uncaught exception; only synchronous work is possible here.
  process.on('exit', () => {
    for (const child of running) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
  })
  // A signal would end this process without 'exit': stop the servers, then leave the way the
  // signal would have (128 + signal number).
  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
    process.once(signal, () => {
      for (const child of running) {
        try {
          child.kill('SIGKILL')
        } catch {}
      }
      process.exit(128 + number)
    })
  }
}

/**
 * Starts sandkitd with two teams: `sk_test_team_a=team-a` (the key printed, `apiKey`) and
 * `sk_test_team_b=team-b` (`otherTeamKey`).
 *
 * @param {object} [o]
 * @param {string} [o.bin] binary; default sandkitdPath(o.profile)
 * @param {string} [o.profile] 'debug' (default) or 'release', when o.bin and $SANDKITD_BIN are unset
 * @param {string} [o.host] default 127.0.0.1
 * @param {string[]} [o.args] extra arguments
 * @param {number} [o.timeoutMs] how long to wait for the banner; default 20 000
 * @param {boolean} [o.inheritStderr] pass the server's stderr through (default: $SANDKITD_LOG set)
 */
export async function startSandkitd(o = {}) {
  const bin = o.bin ?? sandkitdPath(o.profile)
  if (!existsSync(bin)) {
    throw new Error(`sandkitd not found at ${bin}: run \`cargo build -p sandkit-server\` or set SANDKITD_BIN`)
  }
  const host = o.host ?? '127.0.0.1'
  const timeoutMs = o.timeoutMs ?? 20_000
  const inheritStderr = o.inheritStderr ?? Boolean(process.env.SANDKITD_LOG)
  const args = [
    '--host', host,
    '--port', '0',
    '--api-key', `${TEAM_A_KEY}=team-a`,
    '--api-key', `${TEAM_B_KEY}=team-b`,
    // Metrics samples come quickly enough for a test to see a busy sandbox's.
    '--metrics-interval', '250ms',
    // The code interpreter's Python with matplotlib and IPython (scripts/setup.sh makes it).
    ...(existsSync(INTERPRETER_PYTHON) ? ['--python', INTERPRETER_PYTHON] : []),
    ...(existsSync(INTERPRETER_TYPESCRIPT) ? ['--typescript', INTERPRETER_TYPESCRIPT] : []),
    ...LIFTED_LIMITS,
    ...(o.args ?? []),
  ]

  installExitHooks()
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', inheritStderr ? 'inherit' : 'pipe'],
    env: { ...process.env, RUST_BACKTRACE: process.env.RUST_BACKTRACE ?? '1' },
  })
  running.add(child)

  let exited = null
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal }
      running.delete(child)
      resolve(exited)
    })
  })

  // Keep the last few KB of output for error messages, and keep draining both pipes for the
  // whole life of the server so it never blocks on a full pipe.
  let output = ''
  const remember = (chunk) => {
    output = (output + chunk).slice(-8192)
  }
  // All of it too, each stream on its own, for the check that no secret is printed.
  const whole = { stdout: '', stderr: '' }
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', remember)
  child.stderr?.on('data', (chunk) => (whole.stderr += chunk))
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => (whole.stdout += chunk))

  const banner = {}
  let pending = ''
  const bannerPromise = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`sandkitd printed no complete banner within ${timeoutMs} ms; output so far:\n${output}`))
    }, timeoutMs)
    child.stdout.on('data', (chunk) => {
      remember(chunk)
      if (banner.done) return
      pending += chunk
      let nl
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r$/, '')
        pending = pending.slice(nl + 1)
        let m
        if ((m = /^sandkitd (\S+) listening on (\S+)$/.exec(line))) {
          banner.version = m[1]
          banner.url = m[2]
        } else if ((m = /^(E2B_API_URL|E2B_SANDBOX_URL|E2B_API_KEY)=(.*)$/.exec(line))) {
          banner[m[1]] = m[2]
        }
        if (banner.E2B_API_URL && banner.E2B_SANDBOX_URL && banner.E2B_API_KEY) {
          banner.done = true
          clearTimeout(timer)
          resolve()
          return
        }
      }
    })
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`could not start sandkitd (${bin}): ${err.message}`))
    })
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`sandkitd exited (code ${code}, signal ${signal}) before printing its banner; output:\n${output}`))
    })
  })

  try {
    await bannerPromise
  } catch (err) {
    if (!exited) child.kill('SIGKILL')
    throw err
  }

  let stopping = null
  return {
    apiUrl: banner.E2B_API_URL,
    sandboxUrl: banner.E2B_SANDBOX_URL,
    apiKey: banner.E2B_API_KEY,
    otherTeamKey: TEAM_B_KEY,
    /** The variables that point an SDK, the CLI or a program at this server. */
    env: { E2B_API_URL: banner.E2B_API_URL, E2B_SANDBOX_URL: banner.E2B_SANDBOX_URL, E2B_API_KEY: banner.E2B_API_KEY },
    version: banner.version,
    url: banner.url ?? banner.E2B_API_URL,
    pid: child.pid,
    bin,
    /** The last output of the server (stdout and, unless inherited, stderr). */
    output: () => output,
    /** Everything the server printed so far: { stdout, stderr } (stderr empty when inherited). */
    fullOutput: () => ({ ...whole, stderrInherited: inheritStderr }),
    /** True while the process runs. */
    get running() {
      return exited === null
    },
    /** SIGKILL at once, as a crash would end it. Resolves to the exit status. */
    kill() {
      if (!exited) child.kill('SIGKILL')
      return exitPromise
    },
    /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves to the exit status. */
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        if (exited) return exited
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        const result = await exitPromise
        clearTimeout(timer)
        return result
      })()
      return stopping
    },
  }
}

/** The small limits of the second sandkitd the scenario's rate-limit steps run against. */
export const SMALL_LIMITS = {
  rateLimit: { requests: 5, seconds: 1 },
  createRate: { requests: 1, seconds: 60 },
}

/**
 * Starts a sandkitd (records only, no processes) with SMALL_LIMITS, so that the rate-limit
 * steps meet them and nothing else does. Options as for startSandkitd.
 */
export async function startLimitedSandkitd(o = {}) {
  const { rateLimit: r, createRate: c } = SMALL_LIMITS
  return startSandkitd({
    ...o,
    args: ['--no-processes', '--rate-limit', `${r.requests}/${r.seconds}`, '--create-rate', `${c.requests}/${c.seconds}`, ...(o.args ?? [])],
  })
}

/** What the scenario needs to know of a server from startLimitedSandkitd (config.limited). */
export function limitedOptions(server) {
  return { apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl, apiKey: server.apiKey, otherTeamKey: server.otherTeamKey, ...SMALL_LIMITS }
}

/**
 * Starts a sandkitd with a state directory of its own, and a small control server on the host
 * that restarts it on the same port and directory: `POST <controlUrl>/restart?signal=TERM`
 * (a clean stop) or `?signal=KILL` (a crash), answered once the new sandkitd listens. The
 * answer allows any origin, so that a page in Chromium and a Worker can ask for it. For the
 * scenario's restart steps (scenario-restart.mjs).
 */
export async function startRestartableSandkitd(o = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), 'sandkit-state-'))
  let server = await startSandkitd({ ...o, args: ['--state-dir', stateDir, ...(o.args ?? [])] })
  const again = { ...o, args: ['--state-dir', stateDir, '--port', new URL(server.apiUrl).port, ...(o.args ?? [])] }
  const control = createServer((req, res) => {
    const headers = { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'POST', 'content-type': 'application/json' }
    if (req.method === 'OPTIONS') return res.writeHead(204, headers).end()
    const signal = new URL(req.url ?? '/', 'http://control').searchParams.get('signal')
    if (req.method !== 'POST' || !['TERM', 'KILL'].includes(signal ?? '')) {
      return res.writeHead(400, headers).end(JSON.stringify({ message: 'POST /restart?signal=TERM|KILL' }))
    }
    ;(async () => {
      await (signal === 'KILL' ? server.kill() : server.stop())
      server = await startSandkitd(again)
      res.writeHead(200, headers).end(JSON.stringify({ apiUrl: server.apiUrl }))
    })().catch((err) => res.writeHead(500, headers).end(JSON.stringify({ message: String(err) })))
  })
  await new Promise((resolve) => control.listen(0, '127.0.0.1', resolve))
  const address = /** @type {import('node:net').AddressInfo} */ (control.address())
  return {
    options: { apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl, apiKey: server.apiKey, controlUrl: `http://127.0.0.1:${address.port}` },
    async stop() {
      control.close()
      await server.stop()
      rmSync(stateDir, { recursive: true, force: true })
    },
  }
}
