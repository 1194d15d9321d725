// Snapshots and forks: how long a snapshot of a running sandbox takes (frozen, synced, its
// disk image copied, thawed), a create from it to its first command right after the snapshot
// (the image copied again, its files moved to the new sandbox's ids, a boot) and once more
// after that one is killed (`createAgain`: the snapshot's spare copy, made meanwhile), and a
// fork of one and of four, against a plain create to first command, in one run, by three
// clients against one sandkitd:
//
//   node bench/snapshots.mjs [--rounds 30] [--megabytes 64] [--out bench/results/snapshots.json]
//
// The source sandbox holds `--megabytes` MiB of files written by `dd` (what the copies carry).
// Clients: sandkit (napi), the official e2b@2.51.0 package and a raw-fetch floor (the same
// requests and one command through the daemon, nothing else), interleaved round by round.
// Rows are p50/p99 per operation and the ratio to the floor. sandkitd: release if built.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { napiSandbox } from './napi.mjs'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '30' },
    megabytes: { type: 'string', default: '64' },
    out: { type: 'string', default: 'bench/results/snapshots.json' },
  },
})
const ROUNDS = Number(values.rounds)
const MB = Number(values.megabytes)
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const ms = (x) => Number(x.toFixed(2))

const release = existsSync(sandkitdPath('release'))
const server = await startSandkitd({ ...(release ? { profile: 'release' } : {}), args: ['--metrics-interval', '5s'] })
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }
const sandkit = await napiSandbox()
const e2b = (await import('e2b')).Sandbox

// The floor: the API's requests made by hand, and `true` run through the daemon's Connect
// stream, read to its end.
const api = (method, path, body) =>
  fetch(`${server.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).then(async (r) => {
    const text = await r.text()
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`)
    return text ? JSON.parse(text) : undefined
  })
const firstCommand = async (created) => {
  const msg = Buffer.from(JSON.stringify({ process: { cmd: '/bin/true', args: [] }, stdin: false }))
  const frame = Buffer.alloc(5 + msg.length)
  frame.writeUInt32BE(msg.length, 1)
  msg.copy(frame, 5)
  const res = await fetch(`${server.sandboxUrl}/process.Process/Start`, {
    method: 'POST',
    headers: {
      'content-type': 'application/connect+json',
      'connect-protocol-version': '1',
      'e2b-sandbox-id': created.sandboxID,
      'x-access-token': created.envdAccessToken,
    },
    body: frame,
  })
  const body = Buffer.from(await res.arrayBuffer())
  if (!body.includes('"end"')) throw new Error(`no end event: ${body}`)
}
const floor = {
  create: async (template) => {
    const c = await api('POST', '/v2/sandboxes', { templateID: template, timeout: 120 })
    await firstCommand(c)
    return c.sandboxID
  },
  snapshot: async (id) => (await api('POST', `/sandboxes/${id}/snapshots`, {})).snapshotID,
  fork: async (id, count) => {
    const forks = await api('POST', `/sandboxes/${id}/fork`, { count, timeout: 120 })
    await Promise.all(forks.map((f) => firstCommand(f.sandbox)))
    return forks.map((f) => f.sandbox.sandboxID)
  },
  kill: (id) => api('DELETE', `/sandboxes/${id}`),
  deleteSnapshot: (id) => api('DELETE', `/templates/${encodeURIComponent(id)}`),
}
const sdk = (Sandbox) => ({
  create: async (template) => {
    const s = await Sandbox.create(template, { ...conn, timeoutMs: 120_000 })
    await s.commands.run('true')
    return s.sandboxId
  },
  snapshot: async (id) => (await Sandbox.createSnapshot(id, conn)).snapshotId,
  fork: async (id, count) => {
    const forks = await Sandbox.fork(id, { ...conn, count, timeoutMs: 120_000 })
    await Promise.all(forks.map((f) => {
      if (f instanceof Error) throw f
      return f.commands.run('true')
    }))
    return forks.map((f) => f.sandboxId)
  },
  kill: (id) => Sandbox.kill(id, conn),
  deleteSnapshot: (id) => Sandbox.deleteSnapshot(id, conn),
})
const clients = { floor, sandkit: sdk(sandkit), e2b: sdk(e2b) }

const ops = ['create', 'snapshot', 'createFromSnapshot', 'createAgain', 'fork1', 'fork4']
const times = Object.fromEntries(Object.keys(clients).map((c) => [c, Object.fromEntries(ops.map((o) => [o, []]))]))
const timed = async (into, fn) => {
  const t = performance.now()
  const out = await fn()
  into.push(performance.now() - t)
  return out
}

const source = await sandkit.create({ ...conn, timeoutMs: 3_600_000 })
try {
  await source.commands.run(`dd if=/dev/urandom of=/home/user/data bs=1M count=${MB} status=none`)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, c] of Object.entries(clients)) {
      const t = times[name]
      await c.kill(await timed(t.create, () => c.create('base')))
      const snap = await timed(t.snapshot, () => c.snapshot(source.sandboxId))
      await c.kill(await timed(t.createFromSnapshot, () => c.create(snap)))
      await c.kill(await timed(t.createAgain, () => c.create(snap)))
      await c.deleteSnapshot(snap)
      for (const id of await timed(t.fork1, () => c.fork(source.sandboxId, 1))) await c.kill(id)
      for (const id of await timed(t.fork4, () => c.fork(source.sandboxId, 4))) await c.kill(id)
    }
  }
} finally {
  await source.kill()
  await server.stop()
}

const rows = {}
for (const op of ops) {
  rows[op] = {}
  for (const name of Object.keys(clients)) {
    const xs = times[name][op]
    rows[op][name] = { p50: ms(quantile(xs, 0.5)), p99: ms(quantile(xs, 0.99)) }
  }
}
console.log(`| ${MB} MiB in the source, ${ROUNDS} rounds | floor p50 / p99 | sandkit p50 / p99 (× floor) | e2b p50 / p99 (× floor) |`)
console.log('|---|---|---|---|')
for (const op of ops) {
  const r = rows[op]
  const x = (n) => (r[n].p50 / r.floor.p50).toFixed(2)
  console.log(`| ${op} | ${r.floor.p50} / ${r.floor.p99} ms | ${r.sandkit.p50} / ${r.sandkit.p99} ms (${x('sandkit')}×) | ${r.e2b.p50} / ${r.e2b.p99} ms (${x('e2b')}×) |`)
}
mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
writeFileSync(`${REPO_ROOT}${values.out}`, JSON.stringify({ megabytes: MB, rounds: ROUNDS, release, rows }, null, 2) + '\n')
