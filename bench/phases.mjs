// Where the time of one wasm `getInfo` goes, phase by phase, against the same request made by
// hand with Node's `fetch` (the floor), in one process against one sandkitd.
//
//   node bench/phases.mjs [--rounds 12] [--calls 300] [--entry wasm/node.mjs]
//
// The global `fetch` is wrapped to timestamp the call (when it is called, when its headers
// arrive, when the body is asked for and when it has come), and `JSON.parse` to timestamp the
// moment the answer is made a JavaScript object. The clients run in blocks of `--calls` calls,
// in turn, for `--rounds` rounds (the first two are warm-up); each phase's median is printed in
// µs:
//   before    from the call to `fetch` (the JS layer, the module building the request)
//   fetch     from `fetch` to the response's headers
//   between   from the headers to asking for the body (the module reading the response)
//   body      until the whole body has come
//   after     from the body to the caller's `await` returning (reading the answer, making it
//             a JavaScript object, the promise hops back out)
// Clients: `floor`, a `getInfo` on an instance (`instance`), and the static form with its
// options read each call (`static`). `--entry` picks another build of the wasm entry.
//
// sandkitd: $SANDKITD_BIN, else target/release/sandkitd if it was built, else target/debug.
import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '12' },
    calls: { type: 'string', default: '300' },
    entry: { type: 'string', default: 'wasm/node.mjs' },
  },
})
const ROUNDS = Number(values.rounds)
const CALLS = Number(values.calls)
const WARMUP_ROUNDS = 2
if (!(ROUNDS > WARMUP_ROUNDS) || !(CALLS > 0)) throw new Error(`--rounds must be over ${WARMUP_ROUNDS} and --calls over 0`)

const releaseBin = sandkitdPath('release')
const bin = process.env.SANDKITD_BIN ?? (existsSync(releaseBin) ? releaseBin : sandkitdPath('debug'))
const server = await startSandkitd({ bin, args: ['--metrics-interval', '5s'] })

let marks = {}
const realFetch = globalThis.fetch
globalThis.fetch = function timedFetch(url, init) {
  marks.fetchCalled = performance.now()
  return realFetch(url, init).then((res) => {
    marks.headers = performance.now()
    for (const read of ['arrayBuffer', 'json']) {
      const original = res[read].bind(res)
      res[read] = () => {
        marks.bodyAsked = performance.now()
        return original().then((body) => {
          marks.body = performance.now()
          return body
        })
      }
    }
    return res
  })
}

const entry = new URL(values.entry, pathToFileURL(REPO_ROOT)).href
const { Sandbox } = await import(entry)
const conn = { apiUrl: server.apiUrl, apiKey: server.apiKey, sandboxUrl: server.sandboxUrl }
const sandbox = await Sandbox.create({ ...conn, timeoutMs: 600_000 })
const url = `${server.apiUrl}/sandboxes/${sandbox.sandboxId}`
const clients = {
  floor: async () => (await fetch(url, { headers: { 'X-API-Key': server.apiKey } })).json(),
  instance: () => sandbox.getInfo(),
  static: () => Sandbox.getInfo(sandbox.sandboxId, conn),
}

const PHASES = ['before', 'fetch', 'between', 'body', 'after', 'total']
const samples = Object.fromEntries(Object.keys(clients).map((name) => [name, PHASES.map(() => [])]))
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, call] of Object.entries(clients)) {
    for (let i = 0; i < CALLS; i++) {
      marks = {}
      const t0 = performance.now()
      const info = await call()
      const end = performance.now()
      if ((info.sandboxId ?? info.sandboxID) !== sandbox.sandboxId) throw new Error(`${name}: wrong sandbox`)
      if (round < WARMUP_ROUNDS) continue
      const phases = [marks.fetchCalled - t0, marks.headers - marks.fetchCalled, marks.bodyAsked - marks.headers, marks.body - marks.bodyAsked, end - marks.body, end - t0]
      phases.forEach((v, j) => samples[name][j].push(v))
    }
  }
}
await sandbox.kill()
await server.stop()

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
console.log(`medians in µs of ${(ROUNDS - WARMUP_ROUNDS) * CALLS} calls per client (${entry})`)
console.log('client    ' + PHASES.map((p) => p.padStart(8)).join(''))
const totals = {}
for (const [name, columns] of Object.entries(samples)) {
  const row = columns.map((xs) => median(xs) * 1000)
  totals[name] = row.at(-1)
  console.log(name.padEnd(10) + row.map((v) => v.toFixed(0).padStart(8)).join(''))
}
console.log(`instance ${(totals.instance / totals.floor).toFixed(2)}× the floor, static ${(totals.static / totals.floor).toFixed(2)}×`)
