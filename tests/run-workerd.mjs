// Runs the shared scenario inside workerd (the Cloudflare Workers runtime), with sandkit's
// `wasm/worker.mjs` entry, against a sandkitd started here in Node.
//
//   node tests/run-workerd.mjs [--entry wasm/worker.mjs] [--bulk N] [--compat-flag F]… [--keep]
//
// How: the entry module and everything it imports (followed statically: ES modules as
// `esModule`, `.wasm` files as `wasm` modules, which workerd hands over as a compiled
// WebAssembly.Module), the scenario, and a generated main module are copied into
// .tmp/workerd-<pid>/ together with a generated capnp config. The worker's `globalOutbound` is
// a network service that allows private and local addresses (workerd's default outbound
// refuses 127.0.0.1). workerd listens on a free port it reports on a control fd. The runner
// POSTs the connection options to the worker; the worker runs the scenario and streams one
// JSON line per check, then the summary, which the runner prints.
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, TEAM_B_KEY, limitedOptions, startLimitedSandkitd, startRestartableSandkitd, startSandkitd } from './harness/sandkitd.mjs'
import { plantHostFixtures } from './harness/hostile.mjs'
import { startRedirector } from './harness/redirector.mjs'
import { startFaultProxy } from './harness/faults.mjs'
import { startSecretsRecorders } from './harness/recorder.mjs'
import { startWorldForRunner } from './harness/outside.mjs'
import { finish, printCheck, runGuard, runnerFailure } from './harness/report.mjs'

const { values } = parseArgs({
  options: {
    entry: { type: 'string', default: 'wasm/worker.mjs' },
    bulk: { type: 'string' },
    'compat-date': { type: 'string', default: '2026-03-01' },
    'compat-flag': { type: 'string', multiple: true, default: [] },
    keep: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
  },
})

const WORKERD = join(REPO_ROOT, 'node_modules/.bin/workerd')
const entryPath = resolve(REPO_ROOT, values.entry)
const scenarioPath = join(REPO_ROOT, 'tests/scenario.mjs')
const commandsScenarioPath = join(REPO_ROOT, 'tests/scenario-commands.mjs')
// examples/worker imports 'sandkit' as users do; workerd looks a bare name up next to the
// importer, so a module examples/worker/sandkit re-exports the entry.
const examplePath = join(REPO_ROOT, 'examples/worker/worker.mjs')
const workDir = join(REPO_ROOT, `.tmp/workerd-${process.pid}`)

const { cleanups, cleanup, bail } = runGuard('workerd', Number(values.timeout))

// ── the module graph ──────────────────────────────────────────────────────────────────────
const IMPORT_RE = [
  // import x from '…', import {…} from '…', import * as x from '…', import source x from '…',
  // export … from '…'
  /\b(?:import|export)\s+(?:source\s+)?[\w$*{}\s,]*?\bfrom\s*(['"])([^'"\n]+)\1/g,
  // import '…'
  /\bimport\s*(['"])([^'"\n]+)\1/g,
  // import('…') with a literal
  /\bimport\s*\(\s*(['"])([^'"\n]+)\1\s*\)/g,
]

/** The files reachable from `start` by relative imports, each with its workerd module type. */
function collectModules(start) {
  const found = new Map()
  const queue = [start]
  while (queue.length) {
    const file = queue.shift()
    if (found.has(file)) continue
    if (!existsSync(file)) throw new Error(`${relative(REPO_ROOT, file)} does not exist`)
    if (file.endsWith('.wasm')) {
      found.set(file, 'wasm')
      continue
    }
    if (file.endsWith('.json')) {
      found.set(file, 'json')
      continue
    }
    found.set(file, 'esModule')
    const src = readFileSync(file, 'utf8')
    for (const re of IMPORT_RE) {
      for (const m of src.matchAll(re)) {
        const spec = m[2]
        if (!spec.startsWith('./') && !spec.startsWith('../')) continue // builtins (node:*, cloudflare:*) stay as they are
        const target = resolve(dirname(file), spec)
        if (!existsSync(target)) {
          console.log(`# note: ${relative(REPO_ROOT, file)} mentions ${spec}, which does not exist (a comment?); not bundled`)
          continue
        }
        queue.push(target)
      }
    }
  }
  return found
}

let modules
try {
  if (!existsSync(entryPath)) throw new Error(`${values.entry} does not exist (build the wasm package first)`)
  if (!existsSync(WORKERD)) throw new Error('node_modules/.bin/workerd is missing: run npm install')
  modules = collectModules(entryPath)
  for (const [f, t] of collectModules(scenarioPath)) modules.set(f, t)
  for (const [f, t] of collectModules(commandsScenarioPath)) modules.set(f, t)
  modules.set(examplePath, 'esModule')
} catch (err) {
  await bail('workerd: collect the worker modules', err)
}

// Module names are paths relative to the repository root, so relative imports between them
// resolve the same way they do on disk.
const nameOf = (file) => {
  const rel = relative(REPO_ROOT, file)
  if (rel.startsWith('..')) throw new Error(`${file} is outside the repository`)
  return rel.split('\\').join('/')
}

const MAIN = `// Generated by tests/run-workerd.mjs.
import * as sdk from './${nameOf(entryPath)}'
import { runPanicScenario, runScenario } from './${nameOf(scenarioPath)}'
import { runCommandsScenario } from './${nameOf(commandsScenarioPath)}'
import example from './${nameOf(examplePath)}'

export default {
  async fetch(request, env, ctx) {
    // The example Worker, given its bindings by the runner.
    const exampleEnv = request.headers.get('x-example-env')
    if (exampleEnv) return example.fetch(request, JSON.parse(exampleEnv), ctx)
    // Asked for last, after the example too: a panic ends the wasm instance they all share.
    if (request.headers.get('x-panic-test')) {
      const results = []
      const summary = await runPanicScenario({ Sandbox: sdk.Sandbox, errors: sdk, opts: await request.json(), endsInstance: true, check: (r) => results.push(r) })
      return Response.json({ ...summary, results })
    }
    if (request.method !== 'POST') return new Response('POST the options', { status: 405 })
    const { opts, config, commandsConfig } = await request.json()
    const { readable, writable } = new TransformStream()
    const writer = writable.getWriter()
    const encoder = new TextEncoder()
    let chain = Promise.resolve()
    const send = (obj) => (chain = chain.then(() => writer.write(encoder.encode(JSON.stringify(obj) + '\\n'))))
    const done = runScenario({
      Sandbox: sdk.Sandbox,
      errors: sdk,
      opts,
      config,
      log: (line) => send({ type: 'log', line }),
      check: (result) => send({ type: 'check', result }),
    })
      // Then commands in real sandboxes, when the SDK has them.
      .then(async (summary) => {
        if (!('commands' in sdk.Sandbox.prototype)) return summary
        const more = await runCommandsScenario({
          Sandbox: sdk.Sandbox,
          errors: sdk,
          opts,
          config: { ...commandsConfig, rawFetch: (...args) => fetch(...args) },
          log: (line) => send({ type: 'log', line }),
          check: (result) => send({ type: 'check', result }),
        })
        return { ...summary, passed: summary.passed + more.passed, failed: summary.failed + more.failed, skipped: summary.skipped + more.skipped }
      })
      .then(
        (summary) => send({ type: 'summary', summary: { ...summary, userAgent: navigator.userAgent } }),
        (err) => send({ type: 'error', error: String(err && err.stack || err) }),
      )
      .then(() => chain)
      .finally(() => writer.close())
    ctx.waitUntil(done)
    return new Response(readable, { headers: { 'content-type': 'application/x-ndjson' } })
  },
}
`

function capnpConfig(mods) {
  const list = [['main.mjs', 'esModule'], ['examples/worker/sandkit', 'esModule'], ...[...mods].map(([f, t]) => [nameOf(f), t])]
  const entries = list.map(([name, type]) => `    (name = ${JSON.stringify(name)}, ${type} = embed ${JSON.stringify(`bundle/${name}`)})`)
  const flags = values['compat-flag'].map((f) => JSON.stringify(f)).join(', ')
  return `# Generated by tests/run-workerd.mjs.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .mainWorker),
    # The default outbound refuses private and local addresses; sandkitd is on 127.0.0.1.
    (name = "outbound", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);

const mainWorker :Workerd.Worker = (
  modules = [
${entries.join(',\n')}
  ],
  compatibilityDate = ${JSON.stringify(values['compat-date'])},
  compatibilityFlags = [${flags}],
  globalOutbound = "outbound",
);
`
}

try {
  rmSync(workDir, { recursive: true, force: true })
  mkdirSync(join(workDir, 'bundle'), { recursive: true })
  if (!values.keep) {
    cleanups.push(() => rmSync(workDir, { recursive: true, force: true }))
    process.once('exit', () => rmSync(workDir, { recursive: true, force: true }))
  }
  writeFileSync(join(workDir, 'bundle/main.mjs'), MAIN)
  mkdirSync(join(workDir, 'bundle/examples/worker'), { recursive: true })
  writeFileSync(join(workDir, 'bundle/examples/worker/sandkit'), `export * from '../../${nameOf(entryPath)}'\n`)
  for (const file of modules.keys()) {
    const dest = join(workDir, 'bundle', nameOf(file))
    mkdirSync(dirname(dest), { recursive: true })
    copyFileSync(file, dest)
  }
  writeFileSync(join(workDir, 'config.capnp'), capnpConfig(modules))
} catch (err) {
  await bail('workerd: write the config', err)
}
console.log(`# workerd modules: ${[...modules.keys()].map((f) => `${nameOf(f)} (${modules.get(f)})`).join(', ')}`)

// ── sandkitd and workerd ──────────────────────────────────────────────────────────────────
let server
let limited
let restartable
let host
// The test's outside world for the network steps; sandkitd sends sandboxes' DNS to its server.
const world = await startWorldForRunner()
cleanups.push(() => world.stop())
console.log(`# outside world: ${world.description ? `${world.description.namespace}, ${world.description.subnet}, DNS ${world.description.dns}` : world.config.unavailable}`)
try {
  // Planted before sandkitd starts (it hides what the host keeps private when it starts).
  host = plantHostFixtures()
  server = await startSandkitd({ args: world.args })
  cleanups.push(() => server.stop())
  // Small rate limits, for the scenario's rate-limit steps alone.
  limited = await startLimitedSandkitd()
  cleanups.push(() => limited.stop())
  // A state directory, and a host-side control server that restarts it, for the restart steps.
  restartable = await startRestartableSandkitd()
  cleanups.push(() => restartable.stop())
} catch (err) {
  await bail('start sandkitd', err)
}

let workerdOutput = ''
let workerdExit = null
const workerd = spawn(WORKERD, ['serve', join(workDir, 'config.capnp'), '--control-fd=3'], {
  cwd: workDir,
  stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
})
cleanups.push(async () => {
  if (workerdExit) return
  workerd.kill('SIGTERM')
  const t = setTimeout(() => workerd.kill('SIGKILL'), 3000)
  await new Promise((r) => workerd.once('exit', r))
  clearTimeout(t)
})
process.once('exit', () => workerdExit || workerd.kill('SIGKILL'))
const remember = (chunk) => {
  workerdOutput = (workerdOutput + chunk).slice(-16384)
}
workerd.stdout.on('data', remember)
workerd.stderr.on('data', remember)
const exited = new Promise((r) =>
  workerd.once('exit', (code, signal) => {
    workerdExit = { code, signal }
    r(workerdExit)
  }),
)

let port
try {
  port = await new Promise((resolvePort, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`workerd reported no listening port within 30 s; output:\n${workerdOutput}`)), 30_000)
    workerd.stdio[3].on('data', (chunk) => {
      buf += chunk
      for (const line of buf.split('\n')) {
        try {
          const msg = JSON.parse(line)
          if (msg.event === 'listen' && msg.socket === 'http') {
            clearTimeout(timer)
            resolvePort(msg.port)
          }
        } catch {}
      }
    })
    exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`workerd exited (code ${code}, signal ${signal}) before listening; output:\n${workerdOutput}`))
    })
  })
} catch (err) {
  await bail('workerd: start with the bundled modules', err)
}
console.log(`# workerd on 127.0.0.1:${port}, sandkitd ${server.version} at ${server.apiUrl}`)

// ── run ───────────────────────────────────────────────────────────────────────────────────
const opts = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl, otherTeamKey: server.otherTeamKey, redirectUrl: (await startRedirector(server.apiUrl)).url }
// A fault-injecting proxy in front of the main sandkitd (scenario-faults.mjs).
const faultProxy = await startFaultProxy(server.apiUrl)
// At most 6 connections to one host at once; one is left for the proxy's control calls.
const faults = { url: faultProxy.url, controlUrl: faultProxy.controlUrl, concurrency: 5, ...(process.env.SANDKIT_FAULT_SEED ? { seed: Number(process.env.SANDKIT_FAULT_SEED) } : {}) }
// Recording proxies in front of the control plane and the sandboxes (scenario-secrets.mjs).
const recorders = await startSecretsRecorders(server)
cleanups.push(() => recorders.stop())
const config = { faults, secrets: recorders.config, limited: limitedOptions(limited), restartable: restartable.options, network: world.config, ...(values.bulk ? { bulk: Number(values.bulk) } : {}) }
let summary = null
let streamError = null
const printed = new Set()
try {
  const commandsConfig = { isolation: host.isolation(server.pid) }
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: JSON.stringify({ opts, config, commandsConfig }) })
  if (!res.ok) throw new Error(`the worker answered ${res.status}: ${await res.text()}`)
  const decoder = new TextDecoder()
  let buf = ''
  const handle = (line) => {
    if (!line.trim()) return
    const msg = JSON.parse(line)
    if (msg.type === 'log') console.log(`# ${msg.line}`)
    else if (msg.type === 'check') {
      printed.add(msg.result)
      printCheck(msg.result)
    } else if (msg.type === 'summary') summary = msg.summary
    else if (msg.type === 'error') streamError = new Error(`the scenario threw in workerd: ${msg.error}`)
  }
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk, { stream: true })
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      handle(buf.slice(0, nl))
      buf = buf.slice(nl + 1)
    }
  }
  handle(buf)
} catch (err) {
  streamError = err
}

let passed = summary?.passed ?? 0
let failed = summary?.failed ?? 0

// examples/worker: a request proxied to a server in a sandbox it creates, token attached.
{
  const name = 'example: examples/worker/worker.mjs proxies a request to a server in a sandbox it made (traffic token attached)'
  try {
    const res = await fetch(`http://127.0.0.1:${port}/greet?who=workerd`, { headers: { 'x-example-env': JSON.stringify(server.env) } })
    const text = await res.text()
    if (res.status !== 200 || !/^hello from \w+ at \/greet\?who=workerd$/.test(text)) throw new Error(`${res.status}: ${text}`)
    printCheck({ name, ok: true, detail: text })
    passed++
  } catch (err) {
    printCheck(runnerFailure(name, err))
    failed++
  }
}
// Last: the binding's panic test entry point (it ends the worker's wasm instance).
try {
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'x-panic-test': '1' }, body: JSON.stringify(opts) })
  if (!res.ok) throw new Error(`the worker answered ${res.status}: ${await res.text()}`)
  const panic = await res.json()
  for (const r of panic.results) printCheck(r)
  passed += panic.passed
  failed += panic.failed
} catch (err) {
  printCheck(runnerFailure('panic: the worker ran the panic steps', err))
  failed++
}
if (summary?.userAgent) console.log(`# worker navigator.userAgent: ${summary.userAgent}`)
if (!summary) {
  printCheck(runnerFailure('workerd: the worker streamed a summary', streamError ?? new Error(`no summary; workerd output:\n${workerdOutput}`)))
  failed++
} else if (streamError) {
  printCheck(runnerFailure('workerd: the worker', streamError))
  failed++
}
for (const r of host.check()) {
  printCheck(r)
  r.ok ? passed++ : failed++
}
// sandkitd's whole output, once it has stopped: no key past its banner, no token.
await server.stop()
{
  const r = recorders.checkServerOutput([server.apiKey, TEAM_B_KEY])
  printCheck(r)
  if (!r.skipped) r.ok ? passed++ : failed++
}
if (failed && workerdOutput.trim()) console.log(`# workerd output (last lines):\n${workerdOutput.trim().split('\n').slice(-30).map((l) => `#   ${l}`).join('\n')}`)
await cleanup()
finish(passed, failed)
