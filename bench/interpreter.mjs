// runCode: the round trip of `1+1` (p50/p99 over --calls calls) and the time to receive
// --mb MB of printed output, by sandkit (napi and wasm) and the official @e2b/code-interpreter
// 2.8.0, against one sandkitd and one sandbox, in one run.
//
//   node bench/interpreter.mjs [--calls 500] [--mb 50] [--out bench/results/interpreter.json]
//
// Each client runs in the same default Python context of the same sandbox, one after the
// other; the ratios are the official client's time over sandkit's (above 1: sandkit faster).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { napiSandbox } from './napi.mjs'

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    mb: { type: 'string', default: '50' },
    out: { type: 'string', default: 'bench/results/interpreter.json' },
  },
})
const CALLS = Number(values.calls)
const MB = Number(values.mb)
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const ms = (x) => Number(x.toFixed(3))

const release = existsSync(sandkitdPath('release'))
const server = await startSandkitd(release ? { profile: 'release' } : {})
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }
const clients = {
  'sandkit-napi': await napiSandbox(),
  'sandkit-wasm': (await import('../wasm/node.mjs')).Sandbox,
  'e2b-code-interpreter': (await import('@e2b/code-interpreter')).Sandbox,
}

try {
  const first = await clients['sandkit-napi'].create({ ...conn, timeoutMs: 600_000 })
  const rows = {}
  for (const [name, Sandbox] of Object.entries(clients)) {
    const sbx = await Sandbox.connect(first.sandboxId, conn)
    // Warm: the context exists and the connection is open.
    for (let i = 0; i < 10; i++) await sbx.runCode('1+1')
    const times = []
    for (let i = 0; i < CALLS; i++) {
      const t = performance.now()
      const e = await sbx.runCode('1+1')
      times.push(performance.now() - t)
      if (e.text !== '2') throw new Error(`${name}: 1+1 gave ${e.text}`)
    }
    const t = performance.now()
    const big = await sbx.runCode(`import sys\nfor _ in range(${MB}):\n    sys.stdout.write('x' * 1_000_000)\n    sys.stdout.flush()`, { timeoutMs: 0 })
    const streamMs = performance.now() - t
    const got = big.logs.stdout.reduce((n, s) => n + s.length, 0)
    if (got !== MB * 1_000_000) throw new Error(`${name}: ${got} bytes of output, not ${MB * 1_000_000}`)
    rows[name] = { rtt_p50_ms: ms(quantile(times, 0.5)), rtt_p99_ms: ms(quantile(times, 0.99)), output_ms: ms(streamMs), output_mb_s: ms(MB / (streamMs / 1000)) }
  }
  const official = rows['e2b-code-interpreter']
  for (const name of ['sandkit-napi', 'sandkit-wasm']) {
    rows[name].rtt_p50_speedup = ms(official.rtt_p50_ms / rows[name].rtt_p50_ms)
    rows[name].output_speedup = ms(official.output_ms / rows[name].output_ms)
  }
  const result = { calls: CALLS, mb: MB, sandkitd: release ? 'release' : 'debug', rows }
  console.log(JSON.stringify(result, null, 2))
  mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
  writeFileSync(`${REPO_ROOT}${values.out}`, `${JSON.stringify(result, null, 2)}\n`)
  await first.kill()
} finally {
  await server.stop()
}
