// Control-plane benchmark: sandkit (napi addon and wasm in Node) against the official
// e2b@2.51.0 package and a raw-fetch floor, all talking to one sandkitd in one run.
//
//   node bench/control-plane.mjs [--sandboxes 2000] [--list-reps 15] [--info-calls 1000]
//                                [--warmup 50] [--import-reps 5] [--only napi,wasm,e2b,floor]
//
// 1. Creates N sandboxes (tagged with a unique bench tag) on one sandkitd.
// 2. list: pages through all N (limit 100, metadata filter on the tag), `--list-reps` times per
//    implementation, the implementations interleaved (the order rotates every repetition);
//    reports the median time of a whole listing.
// 3. getInfo: `--info-calls` sequential getInfo calls per implementation after `--warmup` calls,
//    interleaved call by call (rotating order); reports the median time per call.
// 4. import cost: for each package, a fresh `node` imports it; time and RSS growth of the import,
//    next to a fresh `node` importing an empty module (the ESM loader's own setup); median of
//    `--import-reps`.
// Prints a table with the ratios sandkit/e2b and sandkit/floor, and writes
// bench/results/control-plane.json.
//
// The floor makes the same HTTP requests as the SDKs with Node's global fetch and parses the
// JSON, nothing more: GET /v2/sandboxes?metadata=…&limit=100[&nextToken=…] with X-API-Key,
// following X-Next-Token, and GET /sandboxes/{id}.
//
// sandkitd: $SANDKITD_BIN, else target/release/sandkitd if it was built, else target/debug.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import v8 from 'node:v8'
import vm from 'node:vm'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { assertNapi } from './napi.mjs'

const { values } = parseArgs({
  options: {
    sandboxes: { type: 'string', default: '2000' },
    'list-reps': { type: 'string', default: '15' },
    'info-calls': { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '50' },
    'import-reps': { type: 'string', default: '5' },
    only: { type: 'string' },
    out: { type: 'string', default: `${REPO_ROOT}bench/results/control-plane.json` },
  },
})
const N = Number(values.sandboxes)
const LIST_REPS = Number(values['list-reps'])
const INFO_CALLS = Number(values['info-calls'])
const WARMUP = Number(values.warmup)
const IMPORT_REPS = Number(values['import-reps'])
const only = values.only ? new Set(values.only.split(',')) : null

const median = (xs) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const rotate = (xs, k) => xs.map((_, i) => xs[(i + k) % xs.length])

// ── sandkitd ──────────────────────────────────────────────────────────────────────────────
const releaseBin = sandkitdPath('release')
const bin = process.env.SANDKITD_BIN ?? (existsSync(releaseBin) ? releaseBin : sandkitdPath('debug'))
// Metrics sampled at sandkitd's own interval, as a user's would be: the tests' harness samples
// every 250 ms, which with 2,000 sandboxes kept most of a core busy and made every figure noisy.
const server = await startSandkitd({ bin, args: ['--metrics-interval', '5s'] })
const serverProfile = bin.includes('/release/') ? 'release' : bin.includes('/debug/') ? 'debug' : 'custom'
console.log(`sandkitd ${server.version} (${serverProfile}: ${bin}) at ${server.apiUrl}`)
if (serverProfile === 'debug') console.log('note: a debug sandkitd; `cargo build --release -p sandkit-server` gives server times closer to real')
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }

// e2b reads these (apiUrl/sandboxUrl are internal options); set them before it is imported.
process.env.E2B_API_URL = server.apiUrl
process.env.E2B_SANDBOX_URL = server.sandboxUrl
process.env.E2B_API_KEY = server.apiKey

const tag = `bench-${Date.now().toString(36)}`

// ── fixtures ──────────────────────────────────────────────────────────────────────────────
async function createFixtures() {
  const t0 = performance.now()
  const ids = []
  const CONCURRENCY = 50
  let next = 0
  async function worker() {
    while (next < N) {
      const i = next++
      const res = await fetch(`${server.apiUrl}/v2/sandboxes`, {
        method: 'POST',
        headers: { 'X-API-Key': server.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ templateID: 'base', metadata: { bench: tag, i: String(i) }, timeout: 3600 }),
      })
      if (res.status !== 201) throw new Error(`create: HTTP ${res.status} ${await res.text()}`)
      ids.push((await res.json()).sandboxID)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  console.log(`created ${ids.length} sandboxes tagged bench=${tag} in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  return ids
}
const sandboxIds = await createFixtures()

// ── implementations ───────────────────────────────────────────────────────────────────────
function sdkImpl(name, Sandbox) {
  return {
    name,
    async listAll() {
      const p = Sandbox.list({ ...conn, query: { metadata: { bench: tag } }, limit: 100 })
      let n = 0
      while (p.hasNext) n += (await p.nextItems()).length
      return n
    },
    async getInfo(id) {
      const info = await Sandbox.getInfo(id, conn)
      if (info.sandboxId !== id) throw new Error(`${name}: getInfo returned ${info.sandboxId} for ${id}`)
    },
  }
}

const floor = {
  name: 'floor',
  async listAll() {
    const inner = new URLSearchParams([[encodeURIComponent('bench'), encodeURIComponent(tag)]]).toString()
    const base = `${server.apiUrl}/v2/sandboxes?metadata=${encodeURIComponent(inner)}&limit=100`
    let token = null
    let n = 0
    do {
      const res = await fetch(token ? `${base}&nextToken=${encodeURIComponent(token)}` : base, { headers: { 'X-API-Key': server.apiKey } })
      if (!res.ok) throw new Error(`floor list: HTTP ${res.status}`)
      n += (await res.json()).length
      token = res.headers.get('x-next-token')
    } while (token)
    return n
  },
  async getInfo(id) {
    const res = await fetch(`${server.apiUrl}/sandboxes/${encodeURIComponent(id)}`, { headers: { 'X-API-Key': server.apiKey } })
    if (!res.ok) throw new Error(`floor getInfo: HTTP ${res.status}`)
    const info = await res.json()
    if (info.sandboxID !== id) throw new Error('floor: wrong sandbox')
  },
}

const CANDIDATES = [
  ['napi', 'sandkit napi (js/node.mjs)', pathToFileURL(`${REPO_ROOT}js/node.mjs`).href],
  ['wasm', 'sandkit wasm (wasm/node.mjs)', pathToFileURL(`${REPO_ROOT}wasm/node.mjs`).href],
  ['e2b', 'e2b@2.51.0', 'e2b'],
]
const impls = []
const unavailable = {}
for (const [key, label, spec] of CANDIDATES) {
  if (only && !only.has(key)) continue
  try {
    if (key === 'napi') assertNapi(spec)
    const mod = await import(spec)
    impls.push({ ...sdkImpl(key, mod.Sandbox), label, spec })
  } catch (err) {
    unavailable[key] = `${label}: ${err.message.split('\n')[0]}`
    console.log(`skipping ${label}: ${err.message.split('\n')[0]}`)
  }
}
if (!only || only.has('floor')) impls.push({ ...floor, label: 'raw fetch floor', spec: null })

// Every implementation must see all N before its times count.
for (const impl of impls) {
  const n = await impl.listAll()
  if (n !== N) throw new Error(`${impl.name} listed ${n} sandboxes, expected ${N}`)
}

// ── list ──────────────────────────────────────────────────────────────────────────────────
// Each timed listing starts on a collected heap, so that no client pays for collecting the
// garbage another's listing left (megabytes of it), which otherwise fell on whichever came next
// in the rotation.
v8.setFlagsFromString('--expose-gc')
const collectGarbage = vm.runInNewContext('gc')
const listTimes = Object.fromEntries(impls.map((i) => [i.name, []]))
for (let rep = 0; rep < LIST_REPS; rep++) {
  for (const impl of rotate(impls, rep)) {
    collectGarbage()
    const t0 = performance.now()
    const n = await impl.listAll()
    listTimes[impl.name].push(performance.now() - t0)
    if (n !== N) throw new Error(`${impl.name} listed ${n}`)
  }
}
console.log(`list: ${LIST_REPS} interleaved listings of ${N} per implementation done`)

// ── getInfo ───────────────────────────────────────────────────────────────────────────────
const infoTimes = Object.fromEntries(impls.map((i) => [i.name, []]))
for (const impl of impls) for (let k = 0; k < WARMUP; k++) await impl.getInfo(sandboxIds[k % sandboxIds.length])
// One call of each implementation in turn (the order rotating), each on the same sandbox: the
// machine's slower moments (2 shared cores, sandkitd's own work) then fall on all of them
// alike, where blocks of calls per implementation gave ratios that varied by a fifth between
// runs of the same build.
for (let k = 0; k < INFO_CALLS; k++) {
  const id = sandboxIds[k % sandboxIds.length]
  for (const impl of rotate(impls, k)) {
    const t0 = performance.now()
    await impl.getInfo(id)
    infoTimes[impl.name].push(performance.now() - t0)
  }
}
console.log(`getInfo: ${INFO_CALLS} sequential calls per implementation, interleaved one by one, done`)

await server.stop()

// ── import cost ───────────────────────────────────────────────────────────────────────────
const IMPORT_PROBE = `
const before = process.memoryUsage().rss
const t0 = performance.now()
const spec = process.argv.at(-1)
await import(spec)
const ms = performance.now() - t0
console.log(JSON.stringify({ ms, rssDelta: process.memoryUsage().rss - before }))
`
function importOnce(spec) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, ['--input-type=module', '-e', IMPORT_PROBE, spec], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`import ${spec}: exit ${code}: ${err.trim().split('\n').at(-1)}`))
      resolve({ ...JSON.parse(out.trim().split('\n').at(-1)), processMs: performance.now() - t0 })
    })
  })
}
// The baseline imports an empty module file: the first `import()` of a file sets up Node's ESM
// loader (about 5 ms), which every package pays and none of them causes.
const emptyModule = join(os.tmpdir(), `sandkit-bench-empty-${process.pid}.mjs`)
writeFileSync(emptyModule, 'export {}\n')
const importTargets = [['baseline', pathToFileURL(emptyModule).href], ...impls.filter((i) => i.spec).map((i) => [i.name, i.spec])]
const importSamples = Object.fromEntries(importTargets.map(([k]) => [k, []]))
for (let rep = 0; rep < IMPORT_REPS; rep++) {
  for (const [key, spec] of rotate(importTargets, rep)) importSamples[key].push(await importOnce(spec))
}
rmSync(emptyModule, { force: true })
const imports = Object.fromEntries(
  Object.entries(importSamples).map(([k, xs]) => [
    k,
    {
      importMs: median(xs.map((x) => x.ms)),
      rssDeltaMB: median(xs.map((x) => x.rssDelta)) / 2 ** 20,
      processMs: median(xs.map((x) => x.processMs)),
    },
  ]),
)

// ── report ────────────────────────────────────────────────────────────────────────────────
const results = {}
for (const impl of impls) {
  results[impl.name] = {
    label: impl.label,
    listAllMs: { median: median(listTimes[impl.name]), min: Math.min(...listTimes[impl.name]), p90: quantile(listTimes[impl.name], 0.9), samples: listTimes[impl.name] },
    getInfoMs: { median: median(infoTimes[impl.name]), p10: quantile(infoTimes[impl.name], 0.1), p90: quantile(infoTimes[impl.name], 0.9), calls: infoTimes[impl.name].length },
    import: imports[impl.name] ?? null,
  }
}
const ratio = (a, b, field) => (results[a] && results[b] ? results[a][field].median / results[b][field].median : null)
const ratios = {}
for (const s of ['napi', 'wasm']) {
  if (!results[s]) continue
  ratios[s] = {
    listVsE2b: ratio(s, 'e2b', 'listAllMs'),
    listVsFloor: ratio(s, 'floor', 'listAllMs'),
    getInfoVsE2b: ratio(s, 'e2b', 'getInfoMs'),
    getInfoVsFloor: ratio(s, 'floor', 'getInfoMs'),
  }
}

const f = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d))
const rows = [['implementation', `list ${N} (ms)`, 'getInfo (µs/call)', 'import (ms)', 'import RSS (MB)']]
for (const impl of impls) {
  const r = results[impl.name]
  rows.push([r.label, f(r.listAllMs.median), f(r.getInfoMs.median * 1000, 0), f(r.import?.importMs), f(r.import?.rssDeltaMB)])
}
rows.push(['(node, an empty module)', '', '', f(imports.baseline.importMs), f(imports.baseline.rssDeltaMB)])
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)))
console.log(`\nmedians (list: ${LIST_REPS} runs; getInfo: ${INFO_CALLS} calls after ${WARMUP} warm-up; import: ${IMPORT_REPS} fresh processes)`)
for (const [i, r] of rows.entries()) {
  console.log(r.map((v, c) => (c === 0 ? String(v).padEnd(widths[c]) : String(v).padStart(widths[c]))).join('  '))
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '))
}
for (const why of Object.values(unavailable)) console.log(`not run: ${why}`)
console.log('\nratios (median / median; below 1 is faster)')
for (const [s, r] of Object.entries(ratios)) {
  console.log(`  sandkit ${s}: list ${f(r.listVsE2b, 2)}× e2b, ${f(r.listVsFloor, 2)}× floor;  getInfo ${f(r.getInfoVsE2b, 2)}× e2b, ${f(r.getInfoVsFloor, 2)}× floor`)
}

const report = {
  when: new Date().toISOString(),
  machine: { node: process.version, platform: `${os.platform()} ${os.arch()}`, cpus: os.cpus().length, cpu: os.cpus()[0]?.model },
  sandkitd: { version: server.version, profile: serverProfile, bin },
  params: { sandboxes: N, listReps: LIST_REPS, listLimit: 100, infoCalls: INFO_CALLS, warmup: WARMUP, importReps: IMPORT_REPS },
  results,
  baselineImport: imports.baseline,
  ratios,
  unavailable,
}
mkdirSync(new URL('.', pathToFileURL(values.out)), { recursive: true })
writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`)
console.log(`\nwrote ${values.out}`)
