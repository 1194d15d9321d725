// Create-to-first-command latency: how long from asking for a sandbox to the first command's
// exit, against one sandkitd with real isolated sandboxes.
//
//   node bench/sandboxes.mjs [--sequential 200] [--concurrent 50]
//
// Two clients, in one run: the official e2b@2.51.0 package (Sandbox.create, then
// commands.run('true')), and a raw-HTTP floor (POST /v2/sandboxes, then one Connect stream to
// process.Process/Start, read to its end). Each sandbox is killed after its sample (not timed).
// Prints p50/p99 of the sequential samples and the wall time and p50/p99 of `--concurrent`
// creates started at once. sandkit's own SDK joins when its bindings have `commands`.
// Writes bench/results/sandboxes.json.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'

const { values } = parseArgs({
  options: {
    sequential: { type: 'string', default: '200' },
    concurrent: { type: 'string', default: '50' },
  },
})
const SEQ = Number(values.sequential)
const CONC = Number(values.concurrent)
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

const releaseBin = sandkitdPath('release')
const bin = process.env.SANDKITD_BIN ?? (existsSync(releaseBin) ? releaseBin : sandkitdPath('debug'))
// Metrics sampled at sandkitd's own interval, as a user's would be: the tests' harness samples
// every 250 ms, which keeps a core busy once there are a few thousand sandboxes.
const server = await startSandkitd({ bin, args: ['--metrics-interval', '5s'] })
console.log(`sandkitd ${server.version} (${bin}) at ${server.apiUrl}`)
console.log(server.output().split('\n').find((l) => l.startsWith('sandboxes:')) ?? '')
process.env.E2B_API_URL = server.apiUrl
process.env.E2B_SANDBOX_URL = server.sandboxUrl
process.env.E2B_API_KEY = server.apiKey
const { Sandbox } = await import('e2b')

/** The floor: the two requests, nothing else. */
async function rawCreateAndRun() {
  const res = await fetch(`${server.apiUrl}/v2/sandboxes`, {
    method: 'POST',
    headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json' },
    body: '{"templateID":"base"}',
  })
  const sbx = await res.json()
  const msg = Buffer.from(JSON.stringify({ process: { cmd: '/bin/true', args: [] }, stdin: false }))
  const env = Buffer.alloc(5 + msg.length)
  env.writeUInt32BE(msg.length, 1)
  msg.copy(env, 5)
  const run = await fetch(`${server.sandboxUrl}/process.Process/Start`, {
    method: 'POST',
    headers: {
      'content-type': 'application/connect+json',
      'connect-protocol-version': '1',
      'e2b-sandbox-id': sbx.sandboxID,
      'e2b-sandbox-port': '49983',
      'x-access-token': sbx.envdAccessToken,
    },
    body: env,
  })
  const body = Buffer.from(await run.arrayBuffer())
  if (!body.includes('"end"')) throw new Error(`no end event: ${body}`)
  return async () => {
    await fetch(`${server.apiUrl}/sandboxes/${sbx.sandboxID}`, { method: 'DELETE', headers: { 'x-api-key': server.apiKey } })
  }
}

async function e2bCreateAndRun() {
  const sbx = await Sandbox.create()
  await sbx.commands.run('true')
  return () => sbx.kill()
}

const clients = [
  ['raw HTTP floor', rawCreateAndRun],
  ['e2b@2.51.0', e2bCreateAndRun],
]
const results = {}
for (const [name] of clients) results[name] = { sequential: [], concurrent: [] }
// Warm up both (JIT, connection pools).
for (const [, fn] of clients) for (let i = 0; i < 5; i++) await (await fn())()

for (let i = 0; i < SEQ; i++) {
  for (const [name, fn] of i % 2 ? [...clients].reverse() : clients) {
    const t = performance.now()
    const kill = await fn()
    results[name].sequential.push(performance.now() - t)
    await kill()
  }
}
for (const [name, fn] of clients) {
  const t = performance.now()
  const kills = await Promise.all(
    Array.from({ length: CONC }, async () => {
      const s = performance.now()
      const kill = await fn()
      results[name].concurrent.push(performance.now() - s)
      return kill
    }),
  )
  results[name].concurrentWallMs = performance.now() - t
  await Promise.all(kills.map((k) => k()))
}
await server.stop()

const ms = (x) => `${x.toFixed(1)} ms`
console.log(`\ncreate → first command exited (${SEQ} sequential, ${CONC} concurrent)`)
console.log('client            seq p50    seq p99    conc p50    conc p99    conc wall')
const summary = {}
for (const [name] of clients) {
  const r = results[name]
  summary[name] = {
    sequentialP50: quantile(r.sequential, 0.5),
    sequentialP99: quantile(r.sequential, 0.99),
    concurrentP50: quantile(r.concurrent, 0.5),
    concurrentP99: quantile(r.concurrent, 0.99),
    concurrentWallMs: r.concurrentWallMs,
  }
  const s = summary[name]
  console.log(
    `${name.padEnd(16)}  ${ms(s.sequentialP50).padStart(9)}  ${ms(s.sequentialP99).padStart(9)}  ${ms(s.concurrentP50).padStart(10)}  ${ms(s.concurrentP99).padStart(10)}  ${ms(s.concurrentWallMs).padStart(11)}`,
  )
}
const e = summary['e2b@2.51.0']
const f = summary['raw HTTP floor']
console.log(`e2b / floor (seq p50): ${(e.sequentialP50 / f.sequentialP50).toFixed(2)}×`)
mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
writeFileSync(`${REPO_ROOT}bench/results/sandboxes.json`, JSON.stringify({ bin, summary }, null, 2) + '\n')
