// Public-URL proxy benchmark: small GETs and one large body through sandkitd's proxy, against
// the same server reached directly from inside the sandbox's network namespace, in one run.
//
//   node bench/proxy.mjs [--requests 3000] [--mb 256] [--out bench/results/proxy.json]
//
// Rows:
//   latency   sequential GET /echo on one kept-alive connection: p50 and p99 per request, by a
//             Node client on the host through the proxy (host routing), and by the same client
//             run inside the sandbox against 127.0.0.1 (direct); the difference is what the
//             proxy adds
//   rps       GETs with 16 kept-alive connections in parallel, same two clients
//   body      curl downloading --mb MiB: through the proxy from the host, and inside the
//             sandbox from 127.0.0.1 (the direct floor); throughput in MiB/s
// sandkitd: $SANDKITD_BIN, else target/release/sandkitd if it was built, else target/debug.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { startSandkitd } from '../tests/harness/sandkitd.mjs'
import { WEB_SERVER } from '../tests/fixtures/web-server.mjs'

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url))
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    mb: { type: 'string', default: '256' },
    out: { type: 'string', default: 'bench/results/proxy.json' },
  },
})
const REQUESTS = Number(values.requests)
const MB = Number(values.mb)

// The load client, run on the host and inside the sandbox alike: `node client.cjs <url> <host
// header> <n>` prints {p50, p99, rps} in microseconds and requests per second.
const CLIENT = `
const http = require('node:http')
const [url, host, n] = [new URL(process.argv[2]), process.argv[3], Number(process.argv[4])]
const get = (agent) => new Promise((resolve, reject) => {
  const req = http.get({ hostname: url.hostname, port: url.port, path: '/echo', agent, headers: { host } }, (res) => {
    res.resume()
    res.on('end', resolve)
  })
  req.on('error', reject)
})
;(async () => {
  const one = new http.Agent({ keepAlive: true, maxSockets: 1 })
  for (let i = 0; i < 200; i++) await get(one)
  const times = []
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint()
    await get(one)
    times.push(Number(process.hrtime.bigint() - t) / 1000)
  }
  times.sort((a, b) => a - b)
  const many = new http.Agent({ keepAlive: true, maxSockets: 16 })
  let left = n
  const started = process.hrtime.bigint()
  await Promise.all(Array.from({ length: 16 }, async () => { while (left-- > 0) await get(many) }))
  const secs = Number(process.hrtime.bigint() - started) / 1e9
  console.log(JSON.stringify({ p50: times[Math.floor(n / 2)], p99: times[Math.floor(n * 0.99)], rps: n / secs }))
})()
`

const release = existsSync(`${REPO_ROOT}target/release/sandkitd`)
const server = await startSandkitd(release ? { profile: 'release' } : {})
const { Sandbox } = await import('../js/node.mjs')
const conn = { apiKey: server.apiKey, apiUrl: server.apiUrl, sandboxUrl: server.sandboxUrl }
const sbx = await Sandbox.create({ ...conn, timeoutMs: 600_000 })
try {
  await sbx.files.write('/tmp/web.cjs', WEB_SERVER)
  await sbx.files.write('/tmp/client.cjs', CLIENT)
  await sbx.commands.run('node /tmp/web.cjs 8000 >/dev/null 2>&1', { background: true })
  for (let i = 0; i < 100 && (await sbx.fetch(8000, '/echo').then((r) => r.status, () => 0)) !== 200; i++) {
    await new Promise((r) => setTimeout(r, 50))
  }
  const host = sbx.getHost(8000)
  writeFileSync('/tmp/sandkit-bench-client.cjs', CLIENT)
  const proxied = JSON.parse(execFileSync(process.execPath, ['/tmp/sandkit-bench-client.cjs', server.apiUrl, host, String(REQUESTS)]).toString())
  const direct = JSON.parse((await sbx.commands.run(`node /tmp/client.cjs http://127.0.0.1:8000 localhost:8000 ${REQUESTS}`)).stdout)
  const curlRate = (out) => Number(out.trim()) / 1048576
  const proxiedBody = curlRate(execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{speed_download}', '-H', `Host: ${host}`, `${server.apiUrl}/bytes?mb=${MB}`]).toString())
  const directBody = curlRate((await sbx.commands.run(`curl -s -o /dev/null -w '%{speed_download}' 'http://127.0.0.1:8000/bytes?mb=${MB}'`)).stdout)
  const result = {
    date: new Date().toISOString(),
    sandkitd: release ? 'release' : 'debug',
    requests: REQUESTS,
    latencyUs: { proxied: { p50: proxied.p50, p99: proxied.p99 }, direct: { p50: direct.p50, p99: direct.p99 }, addedP50: proxied.p50 - direct.p50, addedP99: proxied.p99 - direct.p99 },
    rps: { proxied: proxied.rps, direct: direct.rps, ratio: proxied.rps / direct.rps },
    bodyMiBps: { mb: MB, proxied: proxiedBody, direct: directBody, ratio: proxiedBody / directBody },
  }
  const r = (x) => Math.round(x)
  console.log(`latency p50 ${r(proxied.p50)} µs proxied vs ${r(direct.p50)} µs direct: +${r(result.latencyUs.addedP50)} µs; p99 ${r(proxied.p99)} vs ${r(direct.p99)} µs`)
  console.log(`requests/s ${r(proxied.rps)} proxied vs ${r(direct.rps)} direct: ${result.rps.ratio.toFixed(2)}×`)
  console.log(`${MB} MiB body ${r(proxiedBody)} MiB/s proxied vs ${r(directBody)} MiB/s direct (curl): ${result.bodyMiBps.ratio.toFixed(2)}×`)
  mkdirSync('bench/results', { recursive: true })
  writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n')
} finally {
  await sbx.kill().catch(() => {})
  await server.stop()
}
