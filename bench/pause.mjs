// Pause and resume latency: how long a pause (POST /sandboxes/{id}/pause, the whole process
// tree frozen) and a resume (POST /v2/sandboxes/{id}/connect, thawed) take, over sandboxes
// each running a process tree, in one run, by three clients against one sandkitd:
//
//   node bench/pause.mjs [--sandboxes 100] [--out bench/results/pause.json]
//
// Clients: sandkit (napi), the official e2b@2.51.0 package, and a raw-fetch floor (the same
// two requests, nothing else). Each client pauses and resumes every sandbox once; the rows
// are p50/p99 of each call, and the ratio to the floor. A reboot row (pause without memory,
// then connect: processes end, files stay, a new agent starts on them) is measured with
// sandkit only. sandkitd: release if built, else debug.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { napiSandbox } from './napi.mjs'

const { values } = parseArgs({
  options: {
    sandboxes: { type: 'string', default: '100' },
    out: { type: 'string', default: 'bench/results/pause.json' },
  },
})
const N = Number(values.sandboxes)
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const ms = (x) => Number(x.toFixed(2))

const release = existsSync(sandkitdPath('release'))
// Sampled at E2B's interval, as a user's sandkitd would be (the tests' harness samples faster).
const server = await startSandkitd({ ...(release ? { profile: 'release' } : {}), args: ['--metrics-interval', '5s'] })
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }
const sandkit = await napiSandbox()
const e2b = (await import('e2b')).Sandbox

try {
  // Each sandbox runs a small tree: a shell loop writing a counter, and three sleepers.
  const sandboxes = []
  for (let i = 0; i < N; i++) {
    const s = await sandkit.create({ ...conn, timeoutMs: 600_000 })
    await s.commands.run("sh -c 'i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.1; done'", { background: true })
    await s.commands.run('sh -c "sleep 600 & sleep 600 & sleep 600 & wait"', { background: true })
    sandboxes.push(s)
  }

  const raw = {
    pause: (id) => fetch(`${server.apiUrl}/sandboxes/${id}/pause`, { method: 'POST', headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json' }, body: '{}' }).then((r) => r.arrayBuffer()),
    resume: (id) => fetch(`${server.apiUrl}/v2/sandboxes/${id}/connect`, { method: 'POST', headers: { 'x-api-key': server.apiKey, 'content-type': 'application/json' }, body: '{}' }).then((r) => r.arrayBuffer()),
  }
  const clients = {
    floor: raw,
    sandkit: { pause: (id) => sandkit.pause(id, conn), resume: (id) => sandkit.connect(id, conn) },
    e2b: { pause: (id) => e2b.pause(id, conn), resume: (id) => e2b.connect(id, conn) },
  }
  const rows = {}
  // Interleaved per sandbox, so that each client meets the machine in the same state.
  const times = Object.fromEntries(Object.keys(clients).map((c) => [c, { pause: [], resume: [] }]))
  for (const s of sandboxes) {
    for (const [name, client] of Object.entries(clients)) {
      let t = performance.now()
      await client.pause(s.sandboxId)
      times[name].pause.push(performance.now() - t)
      t = performance.now()
      await client.resume(s.sandboxId)
      times[name].resume.push(performance.now() - t)
    }
  }
  for (const [name, t] of Object.entries(times)) {
    rows[name] = {
      pause_p50_ms: ms(quantile(t.pause, 0.5)),
      pause_p99_ms: ms(quantile(t.pause, 0.99)),
      resume_p50_ms: ms(quantile(t.resume, 0.5)),
      resume_p99_ms: ms(quantile(t.resume, 0.99)),
    }
  }
  for (const name of ['sandkit', 'e2b']) {
    rows[name].pause_p50_vs_floor = ms(rows[name].pause_p50_ms / rows.floor.pause_p50_ms)
    rows[name].resume_p50_vs_floor = ms(rows[name].resume_p50_ms / rows.floor.resume_p50_ms)
  }
  // Reboots, on the first 20: the pause ends the processes, the connect starts a new agent.
  const reboot = { pause: [], resume: [] }
  for (const s of sandboxes.slice(0, 20)) {
    let t = performance.now()
    await s.pause({ keepMemory: false })
    reboot.pause.push(performance.now() - t)
    t = performance.now()
    await sandkit.connect(s.sandboxId, conn)
    reboot.resume.push(performance.now() - t)
  }
  rows.sandkit_reboot = {
    pause_p50_ms: ms(quantile(reboot.pause, 0.5)),
    pause_p99_ms: ms(quantile(reboot.pause, 0.99)),
    resume_p50_ms: ms(quantile(reboot.resume, 0.5)),
    resume_p99_ms: ms(quantile(reboot.resume, 0.99)),
  }
  const result = { sandboxes: N, sandkitd: release ? 'release' : 'debug', rows }
  console.log(JSON.stringify(result, null, 2))
  mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
  writeFileSync(`${REPO_ROOT}${values.out}`, `${JSON.stringify(result, null, 2)}\n`)
  await Promise.all(sandboxes.map((s) => s.kill()))
} finally {
  await server.stop()
}
