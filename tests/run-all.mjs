// Runs the network wire-body conformance check (tests/run-wire.mjs: sandkit's and e2b's request
// bodies against one recording server, no sandkitd), Node's fallback to the wasm build where
// there is no native addon (tests/run-fallback.mjs), both Node bindings and the Windows addon
// (under Wine) over HTTPS through a TLS proxy of ours (tests/run-tls.mjs), every prebuilt addon
// in its platform package
// (tests/run-platforms.mjs: format, symbols, and a sandbox's command on that platform's Node,
// under qemu-user where it is another machine), then the shared scenario in every runtime,
// one runner after the other, each against its own sandkitd: Node napi, Node wasm, workerd,
// Chromium, the official e2b package, and the official Python package (its own scenario,
// tests/python/scenario.py), examples/browser in Chromium, and the official CLI
// (tests/run-cli.mjs: exec, pause, resume, logs, kill).
//
//   node tests/run-all.mjs [--only wire,fallback,tls,platforms,napi,wasm,workerd,chromium,e2b,python,examples,cli] [--bulk N]
//
// Every line a runner prints is shown prefixed with its name; the last line is the total,
// `N passed, N failed`. A runner that ends without its totals line, or exits non-zero with no
// failure counted, adds one failure. Exits 1 on any failure.
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { TOTALS_RE, totalsLine } from './harness/report.mjs'

const RUNNERS = [
  ['wire', 'run-wire.mjs', []],
  ['fallback', 'run-fallback.mjs', []],
  ['tls', 'run-tls.mjs', []],
  ['platforms', 'run-platforms.mjs', []],
  ['napi', 'run-node.mjs', ['--impl', 'napi']],
  ['wasm', 'run-node.mjs', ['--impl', 'wasm']],
  ['workerd', 'run-workerd.mjs', []],
  ['chromium', 'run-chromium.mjs', []],
  ['e2b', 'run-node.mjs', ['--impl', 'e2b']],
  ['python', 'run-python.mjs', []],
  ['examples', 'run-examples.mjs', []],
  ['cli', 'run-cli.mjs', []],
]

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    bulk: { type: 'string' },
  },
})
const only = values.only ? new Set(values.only.split(',').map((s) => s.trim())) : null
if (only) {
  const unknown = [...only].filter((n) => !RUNNERS.some(([name]) => name === n))
  if (unknown.length) {
    console.error(`unknown runner(s): ${unknown.join(', ')}; known: ${RUNNERS.map(([n]) => n).join(', ')}`)
    process.exit(2)
  }
}

function runOne(name, script, args) {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let totals = null
    const prefix = `[${name}] `
    const lineReader = (stream, out) => {
      let buf = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk) => {
        buf += chunk
        let nl
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          const m = TOTALS_RE.exec(line)
          if (m && out === process.stdout) totals = { passed: Number(m[1]), failed: Number(m[2]) }
          out.write(`${prefix}${line}\n`)
        }
      })
      stream.on('end', () => {
        if (buf) out.write(`${prefix}${buf}\n`)
      })
    }
    lineReader(child.stdout, process.stdout)
    lineReader(child.stderr, process.stderr)
    child.on('error', (err) => {
      console.log(`${prefix}FAIL  could not start the runner — ${err.message}`)
      resolve({ name, passed: 0, failed: 1, code: null, secs: 0 })
    })
    child.on('close', (code, signal) => {
      const secs = (Date.now() - started) / 1000
      let { passed, failed } = totals ?? { passed: 0, failed: 0 }
      if (!totals) {
        console.log(`${prefix}FAIL  the runner ended (code ${code}, signal ${signal}) without a totals line`)
        failed++
      } else if (code !== 0 && failed === 0) {
        console.log(`${prefix}FAIL  the runner exited with code ${code} although nothing failed`)
        failed++
      }
      resolve({ name, passed, failed, code, secs })
    })
  })
}

const summaries = []
for (const [name, script, args] of RUNNERS) {
  if (only && !only.has(name)) continue
  console.log(`\n== ${name}: node tests/${script} ${args.join(' ')}`)
  summaries.push(await runOne(name, script, [...args, ...(values.bulk ? ['--bulk', values.bulk] : [])]))
}

console.log('\n== summary')
for (const s of summaries) {
  console.log(`${s.failed ? 'FAIL' : 'ok  '}  ${s.name.padEnd(9)} ${String(s.passed).padStart(3)} passed, ${String(s.failed).padStart(2)} failed  (${s.secs.toFixed(1)} s)`)
}
const passed = summaries.reduce((n, s) => n + s.passed, 0)
const failed = summaries.reduce((n, s) => n + s.failed, 0)
console.log(totalsLine(passed, failed))
process.exit(failed > 0 || passed === 0 ? 1 : 0)
