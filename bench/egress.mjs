// Sandbox egress benchmark (issue 14 §4): what sandkitd's network path costs a sandbox that
// talks to the outside world, measured against the test's own "internet"
// (tests/harness/outside.mjs: a network namespace whose HTTP server streams /bytes?n=N).
//
//   node bench/egress.mjs [--mb 256] [--runs 3] [--connections 200] [--out bench/results/egress.json]
//
// Rows:
//   throughput  curl downloading --mb MiB from the world's HTTP server, discarded: from the host
//               directly (the floor), from inside a sandbox with default access (veth, NAT,
//               nftables), and from a sandbox with domain rules (deny-all plus the name: the
//               connection goes through sandkitd's transparent Host/SNI proxy); MiB/s, the
//               median of --runs interleaved runs, and each sandbox row's ratio to the floor
//               (aim: at least 0.8)
//   connect     --connections short connections in a row by one Python loop (the same script
//               on the host and in the sandboxes): connect() time, and the time to the first
//               byte of the answer to a GET with `Connection: close` (which includes the
//               proxy's own connection upstream when it is in the path); p50 and p99 in ms, and
//               what the domain rules add to the default path (aim: under 1 ms)
// sandkitd: $SANDKITD_BIN, else target/release/sandkitd if it was built, else target/debug.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, sandkitdPath, startSandkitd } from '../tests/harness/sandkitd.mjs'
import { startOutsideWorld } from '../tests/harness/outside.mjs'

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '256' },
    runs: { type: 'string', default: '3' },
    connections: { type: 'string', default: '200' },
    out: { type: 'string', default: 'bench/results/egress.json' },
  },
})
const MB = Number(values.mb)
const RUNS = Number(values.runs)
const CONNECTIONS = Number(values.connections)
const NAME = 'api.example.test'

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const round = (x, d = 2) => Number(x.toFixed(d))

// Short connections, one after another: connect() and time to the answer's first byte, in ms.
// The first 10 warm up (ARP, conntrack, the proxy's first accept) and are not counted.
const LATENCY_PY = `
import json, socket, sys, time
ip, host, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
req = ('GET / HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n' % host).encode()
connect, ttfb = [], []
for i in range(n + 10):
    t0 = time.perf_counter()
    s = socket.create_connection((ip, 80), 5)
    t1 = time.perf_counter()
    s.sendall(req)
    if not s.recv(1):
        sys.exit('no answer from %s (Host %s)' % (ip, host))
    t2 = time.perf_counter()
    while s.recv(65536):
        pass
    s.close()
    if i >= 10:
        connect.append((t1 - t0) * 1000)
        ttfb.append((t2 - t0) * 1000)
print(json.dumps({'connect': connect, 'ttfb': ttfb}))
`
const curlArgs = (url) => ['-sS', '--noproxy', '*', '--max-time', '120', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', url]
const mibps = (out, what) => {
  const [size, speed] = out.trim().split(/\s+/).map(Number)
  if (size !== MB * 1048576) throw new Error(`${what}: downloaded ${size} bytes, not ${MB * 1048576}`)
  return speed / 1048576
}

const world = await startOutsideWorld()
const bin = process.env.SANDKITD_BIN ?? (existsSync(sandkitdPath('release')) ? sandkitdPath('release') : sandkitdPath('debug'))
const server = await startSandkitd({ bin, args: ['--dns', world.dns] })
const { Sandbox } = await import('../js/node.mjs')
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }
const hostScript = join(tmpdir(), `sandkit-egress-latency-${process.pid}.py`)
const sandboxes = []
try {
  const open = await Sandbox.create({ ...conn, timeoutMs: 600_000 })
  sandboxes.push(open)
  const ruled = await Sandbox.create({ ...conn, timeoutMs: 600_000, network: { denyOut: ['0.0.0.0/0'], allowOut: [NAME] } })
  sandboxes.push(ruled)
  const bytesUrl = (host) => `http://${host}/bytes?n=${MB * 1048576}`
  const paths = {
    host_direct: { url: bytesUrl(world.web), run: (url) => execFileSync('curl', curlArgs(url)).toString() },
    sandbox_default: { url: bytesUrl(world.web), run: async (url) => (await open.commands.run(`curl ${curlArgs(url).map((a) => `'${a}'`).join(' ')}`, { timeoutMs: 180_000 })).stdout },
    sandbox_domain_rule: { url: bytesUrl(NAME), run: async (url) => (await ruled.commands.run(`curl ${curlArgs(url).map((a) => `'${a}'`).join(' ')}`, { timeoutMs: 180_000 })).stdout },
  }
  // Interleaved, so each path meets the machine in the same state.
  const speeds = Object.fromEntries(Object.keys(paths).map((k) => [k, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const [name, p] of Object.entries(paths)) speeds[name].push(mibps(await p.run(p.url), name))
  }
  const throughput = Object.fromEntries(Object.entries(speeds).map(([k, xs]) => [k, { mib_per_s: round(median(xs), 1), runs: xs.map((x) => round(x, 1)) }]))
  for (const k of ['sandbox_default', 'sandbox_domain_rule']) throughput[k].vs_direct = round(throughput[k].mib_per_s / throughput.host_direct.mib_per_s)

  writeFileSync(hostScript, LATENCY_PY)
  for (const s of sandboxes) await s.files.write('/tmp/latency.py', LATENCY_PY)
  const latencyOf = (out) => {
    const { connect, ttfb } = JSON.parse(out)
    return {
      connect_p50_ms: round(quantile(connect, 0.5), 3),
      connect_p99_ms: round(quantile(connect, 0.99), 3),
      ttfb_p50_ms: round(quantile(ttfb, 0.5), 3),
      ttfb_p99_ms: round(quantile(ttfb, 0.99), 3),
    }
  }
  const connect = {
    host_direct: latencyOf(execFileSync('/usr/bin/python3', [hostScript, world.web, NAME, String(CONNECTIONS)]).toString()),
    sandbox_default: latencyOf((await open.commands.run(`python3 /tmp/latency.py ${world.web} ${NAME} ${CONNECTIONS}`, { timeoutMs: 120_000 })).stdout),
    sandbox_domain_rule: latencyOf((await ruled.commands.run(`python3 /tmp/latency.py ${world.web} ${NAME} ${CONNECTIONS}`, { timeoutMs: 120_000 })).stdout),
  }
  const added = {
    default_vs_direct_ttfb_p50_ms: round(connect.sandbox_default.ttfb_p50_ms - connect.host_direct.ttfb_p50_ms, 3),
    domain_rule_vs_default_ttfb_p50_ms: round(connect.sandbox_domain_rule.ttfb_p50_ms - connect.sandbox_default.ttfb_p50_ms, 3),
    domain_rule_vs_default_connect_p50_ms: round(connect.sandbox_domain_rule.connect_p50_ms - connect.sandbox_default.connect_p50_ms, 3),
  }

  const result = {
    date: new Date().toISOString(),
    sandkitd: bin,
    world: { namespace: world.namespace, web: world.web },
    mb: MB,
    runs: RUNS,
    connections: CONNECTIONS,
    throughput,
    connect,
    added,
    aims: {
      'throughput ≥ 0.8 of direct (default path)': throughput.sandbox_default.vs_direct >= 0.8,
      'throughput ≥ 0.8 of direct (domain rule)': throughput.sandbox_domain_rule.vs_direct >= 0.8,
      'domain rules add < 1 ms to a connection (time to first byte, p50)': added.domain_rule_vs_default_ttfb_p50_ms < 1,
    },
  }
  const t = throughput
  console.log(`throughput (${MB} MiB, median of ${RUNS}): host ${t.host_direct.mib_per_s} MiB/s; sandbox ${t.sandbox_default.mib_per_s} MiB/s (${t.sandbox_default.vs_direct}× direct); sandbox through a domain rule ${t.sandbox_domain_rule.mib_per_s} MiB/s (${t.sandbox_domain_rule.vs_direct}× direct)`)
  for (const [k, v] of Object.entries(connect)) console.log(`connect ${k}: connect() p50 ${v.connect_p50_ms} ms, p99 ${v.connect_p99_ms} ms; first byte p50 ${v.ttfb_p50_ms} ms, p99 ${v.ttfb_p99_ms} ms`)
  console.log(`added: sandbox vs host ${added.default_vs_direct_ttfb_p50_ms} ms, domain rule vs default ${added.domain_rule_vs_default_ttfb_p50_ms} ms (first byte, p50)`)
  for (const [aim, met] of Object.entries(result.aims)) console.log(`${met ? 'met ' : 'MISS'}  ${aim}`)
  mkdirSync(`${REPO_ROOT}bench/results`, { recursive: true })
  writeFileSync(`${REPO_ROOT}${values.out}`, `${JSON.stringify(result, null, 2)}\n`)
} finally {
  rmSync(hostScript, { force: true })
  await Promise.allSettled(sandboxes.map((s) => s.kill()))
  await server.stop()
  await world.stop()
}
