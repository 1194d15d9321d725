// Load and leaks (issue 15 §4): sandkitd under many busy sandboxes, and what is left after.
//
//   node bench/soak.mjs [--sandboxes 200] [--concurrent 50] [--minutes 5] [--rounds 2] [--calls 100000]
//
// Each round: `--concurrent` creates at once, then the rest up to `--sandboxes`; every sandbox
// starts a web server (tests/fixtures/web-server.mjs) and then, until `--minutes` have passed,
// loops over a command, a file written and read back, and a request to its public URL through
// sandkitd's proxy, all sandboxes at once. Then every sandbox is killed, and the host is counted
// once things settle: processes, sandkitd's open descriptors and RSS, mounts, loop devices, network devices,
// sandkitd's cgroups, its nftables rules and its state directory. Counted before the first
// round and after each: a leak is what round 2 leaves beyond round 1 (the first round warms
// allocator arenas and pools up), or any count above the starting one but memory.
// Then the Node addon alone: `--calls` getInfo calls in one process, RSS sampled every tenth.
// Errors of any call are counted and shown. Uses the napi build (js/node.mjs) and a release
// sandkitd when there is one. Exits 1 on an error or a leak. Writes bench/results/soak.json.
// The counts are of this sandkitd only (its process tree, its interfaces and table, mounts
// under its state directory), so other work on the machine does not blur them; each round's
// clients run in a child process that has exited (and closed its connections) before the
// count.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { WEB_SERVER } from '../tests/fixtures/web-server.mjs'

const { values } = parseArgs({
  options: {
    worker: { type: 'string' },
    sandboxes: { type: 'string', default: '200' },
    concurrent: { type: 'string', default: '50' },
    minutes: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    calls: { type: 'string', default: '100000' },
  },
})
const N = Number(values.sandboxes)
const CONC = Math.min(N, Number(values.concurrent))
const MS = Number(values.minutes) * 60_000
const ROUNDS = Number(values.rounds)
const CALLS = Number(values.calls)


const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const count = (f) => {
  try {
    return f()
  } catch {
    return -1
  }
}

if (values.worker) {
  // A round's clients (or the addon's calls), in a process of their own.
  const { Sandbox } = await import(`${REPO_ROOT}js/node.mjs`)
  const errors = []
  const noteError = (what, e) => errors.push(`${what}: ${e?.name ?? 'Error'}: ${String(e?.message ?? e).slice(0, 200)}`)
  const out = values.worker === 'addon' ? await addon(Sandbox, noteError) : await round(Sandbox, noteError)
  // A pipe's writes are asynchronous: exit once this one is out.
  process.stdout.write(`${JSON.stringify({ ...out, errorCount: errors.length, errors: errors.slice(0, 200) })}\n`, () => process.exit(0))
  await new Promise(() => {})
}

async function startOne(Sandbox) {
  const sbx = await Sandbox.create({ timeoutMs: MS + 600_000 })
  await sbx.files.write('/tmp/web.cjs', WEB_SERVER)
  // timeoutMs 0: a command's default limit (60 s, as in e2b) would end the server a minute
  // into the load, and every public-URL request after that would get 502.
  await sbx.commands.run('node /tmp/web.cjs 8000 >/tmp/web.log 2>&1', { background: true, timeoutMs: 0 })
  // Up to 30 s: a round starts `--sandboxes` Node servers on what may be two cores.
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`http://${sbx.getHost(8000)}/echo`).catch(() => undefined)
    await res?.body?.cancel()
    if (res?.status === 200) return sbx
    await sleep(50)
  }
  throw new Error(`the web server of ${sbx.sandboxId} never answered`)
}

async function busy(sbx, until, ops, noteError) {
  let i = 0
  while (performance.now() < until) {
    i++
    try {
      const r = await sbx.commands.run(`echo ${i}`)
      if (r.stdout !== `${i}\n`) throw new Error(`stdout ${JSON.stringify(r.stdout)}`)
      ops.commands++
      const body = `round ${i} of ${sbx.sandboxId}`
      await sbx.files.write(`/tmp/f${i % 4}`, body)
      if ((await sbx.files.read(`/tmp/f${i % 4}`)) !== body) throw new Error('file read back differs')
      ops.files++
      const res = await fetch(`http://${sbx.getHost(8000)}/echo?i=${i}`)
      const text = await res.text()
      if (res.status !== 200 || !text.includes(`i=${i}`)) throw new Error(`public URL answered ${res.status}: ${text.slice(0, 160)}`)
      ops.requests++
    } catch (e) {
      noteError(`busy ${sbx.sandboxId}`, e)
      await sleep(200)
    }
  }
}

async function round(Sandbox, noteError) {
  const t0 = performance.now()
  const first = await Promise.allSettled(Array.from({ length: CONC }, () => startOne(Sandbox)))
  const concurrentMs = performance.now() - t0
  const sandboxes = []
  for (const s of first) s.status === 'fulfilled' ? sandboxes.push(s.value) : noteError('concurrent create', s.reason)
  const rest = await Promise.allSettled(Array.from({ length: N - CONC }, () => startOne(Sandbox)))
  for (const s of rest) s.status === 'fulfilled' ? sandboxes.push(s.value) : noteError('create', s.reason)
  const ops = { commands: 0, files: 0, requests: 0 }
  const busyStart = performance.now()
  await Promise.all(sandboxes.map((s) => busy(s, busyStart + MS, ops, noteError)))
  const busyS = (performance.now() - busyStart) / 1000
  const killed = await Promise.allSettled(sandboxes.map((s) => s.kill()))
  for (const k of killed) if (k.status === 'rejected') noteError('kill', k.reason)
  return { concurrentMs, up: sandboxes.length, ops, busyS }
}

async function addon(Sandbox, noteError) {
  const probe = await Sandbox.create()
  const rss = []
  const t0 = performance.now()
  const every = Math.max(1, Math.floor(CALLS / 10))
  for (let i = 0; i < CALLS; i++) {
    try {
      await Sandbox.getInfo(probe.sandboxId)
    } catch (e) {
      noteError('getInfo', e)
    }
    if (i % every === 0) {
      globalThis.gc?.()
      rss.push(Math.round(process.memoryUsage().rss / 1048576))
    }
  }
  const seconds = (performance.now() - t0) / 1000
  globalThis.gc?.()
  rss.push(Math.round(process.memoryUsage().rss / 1048576))
  await probe.kill()
  return { calls: CALLS, seconds, rssMb: rss }
}

// ── the parent: sandkitd, the counts, and the rounds in child processes ─────────────────
const releaseBin = sandkitdPath('release')
const bin = process.env.SANDKITD_BIN ?? (existsSync(releaseBin) ? releaseBin : sandkitdPath('debug'))
const server = await startSandkitd({ bin })
const table = /table inet (sandkitd\d+)/.exec(server.output())?.[1]
console.log(`sandkitd ${server.version} (${bin}) at ${server.apiUrl}, pid ${server.pid}, ${table ?? 'no egress table'}`)

/** Pids in sandkitd's process tree, itself excluded. */
function descendants() {
  const children = new Map()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const stat = count(() => readFileSync(`/proc/${d}/stat`, 'utf8'))
    if (typeof stat !== 'string') continue
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (!children.has(ppid)) children.set(ppid, [])
    children.get(ppid).push(Number(d))
  }
  let n = 0
  const todo = [...(children.get(server.pid) ?? [])]
  while (todo.length) {
    n++
    todo.push(...(children.get(todo.pop()) ?? []))
  }
  return n
}
/** Every cgroup directory below sandkitd's own, in each hierarchy. */
function cgroups() {
  let n = 0
  const roots = ['/sys/fs/cgroup', ...count(() => readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}`))]
  for (const root of roots) {
    const base = `${root}/sandkitd`
    if (!existsSync(base)) continue
    for (const inst of readdirSync(base)) if (inst.startsWith(`${server.pid}.`)) n += count(() => readdirSync(`${base}/${inst}`).length)
  }
  return n
}
function census() {
  const status = count(() => readFileSync(`/proc/${server.pid}/status`, 'utf8'))
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? -1)
  const prefix = table ? `sk${table.slice('sandkitd'.length)}x` : null
  return {
    processes: descendants(),
    sandkitdFds: count(() => readdirSync(`/proc/${server.pid}/fd`).length),
    mounts: count(() => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`sandkitd-${server.pid}-`)).length),
    // Each sandbox's disk image is on a loop device while it runs.
    loopDevices: count(() => readdirSync('/sys/block').filter((d) => {
      try { return readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').includes(`/sandkitd-${server.pid}-`) } catch { return false }
    }).length),
    netDevices: prefix ? count(() => readdirSync('/sys/class/net').filter((d) => d.startsWith(prefix)).length) : 0,
    cgroups: cgroups(),
    nftLines: table ? count(() => execFileSync('nft', ['list', 'table', 'inet', table], { encoding: 'utf8' }).split('\n').length) : 0,
    sandkitdRssMb: Math.round(rssKb / 102.4) / 10,
    sandkitdThreads: count(() => readdirSync(`/proc/${server.pid}/task`).length),
  }
}
/** The census once it stops changing (a killed sandbox's last processes take a moment). */
async function settled() {
  let last = census()
  for (let i = 0; i < 60; i++) {
    await sleep(500)
    const now = census()
    const strip = ({ sandkitdRssMb: _r, sandkitdThreads: _t, ...rest }) => JSON.stringify(rest)
    if (strip(now) === strip(last)) return now
    last = now
  }
  return last
}
function child(kind) {
  const out = execFileSync(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, '--worker', kind, ...process.argv.slice(2)], {
    env: { ...process.env, ...server.env },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return JSON.parse(out.trim().split('\n').at(-1))
}

const errors = []
let errorCount = 0
const before = await settled()
console.log('before:', JSON.stringify(before))
const rounds = []
for (let r = 1; r <= ROUNDS; r++) {
  const got = child('round')
  errors.push(...got.errors)
  errorCount += got.errorCount
  const after = await settled()
  rounds.push({ ...got, after })
  const ops = got.ops.commands + got.ops.files + got.ops.requests
  console.log(`round ${r}: ${CONC} concurrent creates (each with a web server started) in ${(got.concurrentMs / 1000).toFixed(1)} s; ${got.up} sandboxes busy for ${got.busyS.toFixed(0)} s: ${got.ops.commands} commands, ${got.ops.files} file round trips, ${got.ops.requests} public-URL requests (${(ops / got.busyS).toFixed(0)} ops/s), ${got.errorCount} errors`)
  console.log(`after round ${r}:`, JSON.stringify(after))
}
const addonRun = child('addon')
errors.push(...addonRun.errors)
errorCount += addonRun.errorCount
const rss = addonRun.rssMb
console.log(`addon: ${CALLS} getInfo calls in ${addonRun.seconds.toFixed(1)} s; client RSS (MB) every tenth: ${rss.join(' ')}`)

// Leaks: any count above the start (memory: what the last round left beyond the one before).
const leaks = []
const last = rounds.at(-1).after
for (const k of Object.keys(before)) {
  if (k === 'sandkitdRssMb' || k === 'sandkitdThreads') continue // idle pool threads linger a while
  if (last[k] > before[k]) leaks.push(`${k}: ${before[k]} before, ${last[k]} after`)
}
if (rounds.length > 1) {
  const [a, b] = [rounds.at(-2).after.sandkitdRssMb, last.sandkitdRssMb]
  if (b > a * 1.15 + 5) leaks.push(`sandkitd RSS grew from ${a} MB after round ${rounds.length - 1} to ${b} MB after round ${rounds.length}`)
}
const clientGrowth = rss.at(-1) - rss[1]
if (clientGrowth > Math.max(20, rss[1] * 0.15)) leaks.push(`client RSS grew ${clientGrowth} MB over ${CALLS} calls`)

mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
writeFileSync(`${REPO_ROOT}bench/results/soak.json`, JSON.stringify({ at: new Date().toISOString(), sandboxes: N, concurrent: CONC, minutes: MS / 60000, before, rounds, addon: addonRun, errorCount, errors, leaks }, null, 2))
// Errors by kind (sandbox ids and numbers left out), the most frequent first.
const kinds = new Map()
for (const e of errors) {
  const kind = e.replace(/[a-z0-9]{20}/g, '<id>').replace(/\d+/g, 'N')
  kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
}
console.log(`errors: ${errorCount}${errorCount ? ' (kinds among the first ones):' : ''}`)
for (const [k, n] of [...kinds].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`  ${n}× ${k}`)
console.log(`leaks: ${leaks.length ? `\n  ${leaks.join('\n  ')}` : 'none'}`)
await server.stop()
process.exit(errorCount || leaks.length ? 1 : 0)
