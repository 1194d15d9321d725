// The tests' "outside world": a small internet of its own, on this machine, for the network
// (egress) tests and benchmarks, since this machine reaches no real network.
//
//   import { startOutsideWorld } from './harness/outside.mjs'
//   const world = await startOutsideWorld()   // world.web, world.dns, world.names, world.caPem…
//   await world.stop()
//
//   node tests/harness/outside.mjs            # prints one JSON line (the same description),
//                                             # stays up until stdin closes or SIGTERM/SIGINT/SIGHUP
//
// What it builds (root only: it needs CAP_NET_ADMIN and CAP_SYS_ADMIN):
// - a network namespace `sandkit-world-<N>` and a veth pair `skw<N>h` (host side) ↔ `skw<N>n`
//   (in the namespace), on the /24 198.18.<N>.0 of 198.18.0.0/15 (RFC 2544's benchmarking
//   range; N from 0 to 511, the third and second octets): the host side is .1 and the
//   namespace holds .2 ("web"), .3 ("second", a second host) and .53 ("dns"). The host reaches
//   the /24 by the connected route of its veth; the namespace has no default route and no
//   other interface, so nothing sent to or from it can leave the machine, and the world only
//   ever answers on the addresses it assigned.
// - one Node process in the namespace (`ip netns exec`) serving, on every address of it:
//   HTTP on 80 (a JSON line of what it saw: Host header, local and remote address, path;
//   `/bytes?n=N` streams N bytes for throughput benchmarks; `/_world/dns-log` lists the DNS
//   questions seen), HTTPS on 443 (the same, plus the TLS SNI) with a certificate of a test CA
//   made at start with the `openssl` CLI (SANs: every name below, and the two addresses), a
//   plain TCP service on 7000 (writes `sandkit-world tcp <local address>\n`, then echoes), and
//   a DNS server on UDP 53 of the .53 address answering A records for the names below (AAAA
//   and others: no data; any other name: NXDOMAIN).
//     api.example.test, www.github.test, api.github.test, github.test, other.test,
//     blocked.test, and any other *.github.test → web (.2); second.test → second (.3)
//
// The description (the JSON line; startOutsideWorld resolves to it plus stop()):
//   { namespace, index, subnet: '198.18.N.0/24', hostInterface, hostAddress: '198.18.N.1',
//     web: '…2', second: '…3', dns: '…53',
//     ports: { http: 80, https: 443, tcp: 7000, dns: 53 },
//     names: { 'api.example.test': web, …, '*.github.test': web, 'second.test': second },
//     caPath, caPem, dir, pid }
//
// Concurrency and cleanup. Several worlds may run at once (Rust tests in parallel, a JS
// runner, a benchmark). Instance N is claimed by holding an flock(2) on
// /run/sandkit-world/N.lock for the whole life of the instance: startOutsideWorld runs
// `flock -n -o /run/sandkit-world/N.lock node outside.mjs --guardian N` for N = 0, 1, … until
// one is free. The kernel drops the lock when its holder dies, so a crashed instance never
// blocks its N, and whoever holds lock N owns everything named for N: the guardian first
// removes any leftovers of a dead instance N (namespace, veth, /tmp/sandkit-world-N), and
// skips an N whose /24 the host already routes or uses for something else. Each start also
// sweeps the leftovers of every other dead instance it can lock.
//   The guardian (a host process) builds the world, starts the servers, prints the
// description, and tears everything down (servers, namespace and with it the veth pair, the
// temporary directory) when its stdin closes — which is also what happens when the process that
// started it exits or crashes, since that process holds the other end of the pipe — or on
// SIGTERM/SIGINT/SIGHUP. The server process in the namespace watches its own stdin (a pipe from
// the guardian) the same way, so it ends with the guardian even if the guardian is killed.
// The only thing a SIGKILLed guardian leaves is the namespace and veth, which the next start
// removes.
import { spawn, spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdirSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTcpServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { makeCertificates } from './certs.mjs'

const SELF = fileURLToPath(import.meta.url)
const LOCK_DIR = '/run/sandkit-world'
const INSTANCES = 512
const PORTS = { http: 80, https: 443, tcp: 7000, dns: 53 }
/** Exit status of a guardian whose /24 the host already uses (the runner tries the next N). */
const EXIT_SUBNET_TAKEN = 76
/** flock's exit status when the lock is held (-E). */
const EXIT_LOCKED = 75

const nsName = (n) => `sandkit-world-${n}`
const hostIf = (n) => `skw${n}h`
const nsIf = (n) => `skw${n}n`
const dirOf = (n) => `/tmp/sandkit-world-${n}`
const prefixOf = (n) => `198.${18 + (n >> 8)}.${n & 255}`

/** The names the DNS server answers and the certificate covers, to 'web' or 'second'. */
const NAMES = {
  'api.example.test': 'web',
  'www.github.test': 'web',
  'api.github.test': 'web',
  'github.test': 'web',
  'other.test': 'web',
  'blocked.test': 'web',
  '*.github.test': 'web',
  'second.test': 'second',
}

// ── the library side ────────────────────────────────────────────────────────────────────────

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** Why a world cannot be built here, or null. */
export function outsideWorldUnavailable() {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'building the outside world needs root (network namespaces and veth pairs need CAP_NET_ADMIN and CAP_SYS_ADMIN)'
  }
  for (const cmd of ['ip', 'openssl', 'flock']) {
    if (!have(cmd)) return `\`${cmd}\` is not installed (the outside world needs iproute2, openssl and util-linux's flock)`
  }
  return null
}

/** Removes the leftovers of every dead instance (those whose lock nobody holds). */
function sweep() {
  const found = new Set()
  const list = spawnSync('ip', ['-o', 'netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const m of list.matchAll(/^sandkit-world-(\d+)\b/gm)) found.add(Number(m[1]))
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout ?? ''
  for (const m of links.matchAll(/^\d+: skw(\d+)h[@:]/gm)) found.add(Number(m[1]))
  try {
    for (const e of readdirSync('/tmp')) {
      const m = /^sandkit-world-(\d+)$/.exec(e)
      if (m) found.add(Number(m[1]))
    }
  } catch {}
  for (const n of found) {
    if (!(n >= 0 && n < INSTANCES)) continue
    // Under the lock, so a live instance (which holds it) is never touched.
    const script = `ip netns del ${nsName(n)} 2>/dev/null; ip link del ${hostIf(n)} 2>/dev/null; rm -rf ${dirOf(n)}; true`
    spawnSync('flock', ['-n', '-E', String(EXIT_LOCKED), `${LOCK_DIR}/${n}.lock`, 'sh', '-c', script], { stdio: 'ignore' })
  }
}

/** Starts one guardian for instance n; resolves to { child, description } or { busy: true }. */
function tryInstance(n, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-n', '-o', '-E', String(EXIT_LOCKED), `${LOCK_DIR}/${n}.lock`, process.execPath, SELF, '--guardian', String(n)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    let settled = false
    const settle = (fn, v) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      fn(v)
    }
    const timer = setTimeout(() => {
      child.stdin.end()
      settle(reject, new Error(`the outside world (instance ${n}) was not up within ${timeoutMs} ms; its output:\n${err}`))
    }, timeoutMs)
    child.stdout.setEncoding('utf8')
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-8192)
      if (process.env.SANDKIT_WORLD_LOG) process.stderr.write(d)
    })
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl < 0) return
      try {
        settle(resolve, { child, description: JSON.parse(out.slice(0, nl)), stderr: () => err })
      } catch (e) {
        child.stdin.end()
        settle(reject, new Error(`the outside world printed no description (${e.message}): ${out}\n${err}`))
      }
    })
    child.once('error', (e) => settle(reject, new Error(`could not run flock: ${e.message}`)))
    child.once('exit', (code, signal) => {
      if (code === EXIT_LOCKED || code === EXIT_SUBNET_TAKEN) settle(resolve, { busy: true })
      else settle(reject, new Error(`the outside world (instance ${n}) exited (code ${code}, signal ${signal}) before it was up:\n${err}`))
    })
  })
}

/**
 * Builds an outside world; resolves to its description plus `stop()` (resolves once everything
 * is torn down). Rejects with a clear reason when it cannot be built here.
 *
 * @param {object} [o]
 * @param {number} [o.timeoutMs] for the whole start; default 30 000
 */
export async function startOutsideWorld(o = {}) {
  const why = outsideWorldUnavailable()
  if (why) throw new Error(why)
  const timeoutMs = o.timeoutMs ?? 30_000
  mkdirSync(LOCK_DIR, { recursive: true })
  sweep()
  for (let n = 0; n < INSTANCES; n++) {
    const got = await tryInstance(n, timeoutMs)
    if (got.busy) continue
    const { child, description } = got
    const exited = new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())))
    // The world must not keep a script's event loop alive; stdin stays open as its lifeline
    // (closed when this process exits, however it exits).
    child.stdout.unref?.()
    child.stderr.unref?.()
    child.unref()
    child.stdin.on('error', () => {})
    let stopping = null
    return {
      ...description,
      /** Tears the world down (namespace, veth, servers, files). */
      stop(graceMs = 15_000) {
        stopping ??= (async () => {
          child.stdin.end()
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
          await exited
          clearTimeout(timer)
        })()
        return stopping
      },
      /** The guardian's recent output, for error messages. */
      output: got.stderr,
      /** Resolves when the world is gone (stopped, or its guardian died). */
      exited,
    }
  }
  throw new Error(`no free instance of the outside world: all ${INSTANCES} /24s of 198.18.0.0/15 are in use`)
}

/**
 * For the test runners: the world, the sandkitd arguments that point sandboxes' DNS at it, and
 * what the scenario gets as `config.network` — the description, or { unavailable: reason } when
 * the world cannot be built here (the network steps then fail with that reason). Never rejects.
 */
export async function startWorldForRunner() {
  try {
    const { stop, output, exited, ...description } = await startOutsideWorld()
    return { args: ['--dns', description.dns], config: description, stop, description }
  } catch (err) {
    return { args: [], config: { unavailable: `the outside world could not be built: ${err.message}` }, stop: async () => {}, description: null }
  }
}

// ── the guardian (host side, holds the instance's lock) ────────────────────────────────────

function sh(cmd, args, { check = true } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (check && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout || `status ${r.status}`).trim()}`)
  return r
}

async function guardian(n) {
  const log = (m) => process.stderr.write(`[outside world ${n}] ${m}\n`)
  const ns = nsName(n)
  const dir = dirOf(n)
  const prefix = prefixOf(n)
  const subnet = `${prefix}.0/24`
  const addr = { host: `${prefix}.1`, web: `${prefix}.2`, second: `${prefix}.3`, dns: `${prefix}.53` }

  // Leftovers of a dead instance N are ours to remove: we hold its lock.
  sh('ip', ['netns', 'del', ns], { check: false })
  sh('ip', ['link', 'del', hostIf(n)], { check: false })
  rmSync(dir, { recursive: true, force: true })

  // A /24 the host already routes (another tool's, or a real network) is not ours to take.
  const routes = sh('ip', ['-4', 'route', 'show', 'table', 'all', 'match', `${prefix}.2`], { check: false }).stdout
    .split('\n').filter((l) => l.trim() && !/^default\b/.test(l) && !/^(broadcast|local|unreachable|prohibit|blackhole) 127\./.test(l))
  const addrs = sh('ip', ['-4', '-o', 'addr', 'show', 'to', subnet], { check: false }).stdout.trim()
  if (routes.length || addrs) {
    log(`${subnet} is in use on this host (${(routes[0] ?? addrs).trim()}); trying another`)
    process.exit(EXIT_SUBNET_TAKEN)
  }

  let server = null
  let tornDown = false
  const teardown = async () => {
    if (tornDown) return
    tornDown = true
    if (server && server.exitCode === null && server.signalCode === null) {
      const gone = new Promise((r) => server.once('exit', r))
      server.stdin.end()
      server.kill('SIGTERM')
      const t = setTimeout(() => server.kill('SIGKILL'), 2000)
      await gone
      clearTimeout(t)
    }
    sh('ip', ['netns', 'del', ns], { check: false })
    sh('ip', ['link', 'del', hostIf(n)], { check: false })
    rmSync(dir, { recursive: true, force: true })
  }
  const leave = async (code) => {
    await teardown().catch((e) => log(`teardown: ${e.message}`))
    process.exit(code)
  }
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => leave(0))
  process.stdin.on('end', () => leave(0))
  process.stdin.on('error', () => leave(0))
  process.stdin.resume()
  process.stdout.on('error', () => leave(0))

  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 })
    sh('ip', ['netns', 'add', ns])
    sh('ip', ['link', 'add', hostIf(n), 'type', 'veth', 'peer', 'name', nsIf(n), 'netns', ns])
    // No IPv6 link-local address on the host side: the kernel adds one when the link comes up
    // and changes it again seconds later (duplicate address detection), and Chromium fails
    // every request in flight when the host's addresses change (ERR_NETWORK_CHANGED).
    sh('ip', ['link', 'set', hostIf(n), 'addrgenmode', 'none'])
    sh('ip', ['addr', 'add', `${addr.host}/24`, 'dev', hostIf(n)])
    sh('ip', ['link', 'set', hostIf(n), 'up'])
    const inNs = (...args) => sh('ip', ['-n', ns, ...args])
    inNs('link', 'set', 'lo', 'up')
    for (const a of [addr.web, addr.second, addr.dns]) inNs('addr', 'add', `${a}/24`, 'dev', nsIf(n))
    inNs('link', 'set', nsIf(n), 'up')

    const names = Object.fromEntries(Object.entries(NAMES).map(([name, role]) => [name, addr[role]]))
    makeCertificates(dir, { caName: 'sandkit outside world test CA', names: Object.keys(names), ips: [addr.web, addr.second] })
    const caPem = readFileSync(`${dir}/ca.pem`, 'utf8')
    const serveConfig = { names, dir, ports: PORTS, dnsAddress: addr.dns }

    server = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, '--serve', JSON.stringify(serveConfig)], { stdio: ['pipe', 'pipe', 'inherit'] })
    server.stdin.on('error', () => {})
    await new Promise((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error('the servers in the namespace were not ready within 15 s')), 15_000)
      server.stdout.setEncoding('utf8')
      server.stdout.on('data', (d) => {
        out += d
        if (out.includes('ready\n')) {
          clearTimeout(timer)
          resolve()
        }
      })
      server.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`the servers in the namespace exited (code ${code}, signal ${signal})`))
      })
    })
    server.once('exit', (code, signal) => {
      if (!tornDown) {
        log(`the servers exited (code ${code}, signal ${signal}); tearing the world down`)
        leave(1)
      }
    })

    const description = {
      namespace: ns,
      index: n,
      subnet,
      hostInterface: hostIf(n),
      hostAddress: addr.host,
      web: addr.web,
      second: addr.second,
      dns: addr.dns,
      ports: PORTS,
      names,
      caPath: `${dir}/ca.pem`,
      caPem,
      dir,
      pid: process.pid,
    }
    process.stdout.write(`${JSON.stringify(description)}\n`)
    log(`up: ${ns}, ${subnet} via ${hostIf(n)}`)
  } catch (err) {
    log(`could not build the world: ${err.message}`)
    await leave(1)
  }
}

// ── the servers (inside the namespace) ─────────────────────────────────────────────────────

function serve(config) {
  const { names, dir, ports, dnsAddress } = config
  const dnsLog = []
  const lookup = (name) => {
    const q = name.toLowerCase().replace(/\.$/, '')
    if (q in names && !q.startsWith('*.')) return names[q]
    for (const [pattern, ip] of Object.entries(names)) {
      if (pattern.startsWith('*.') && q.endsWith(pattern.slice(1))) return ip
    }
    return null
  }

  const chunk = Buffer.alloc(1 << 20, 0x61)
  function handler(service) {
    return (req, res) => {
      const url = new URL(req.url ?? '/', 'http://world')
      if (url.pathname === '/bytes') {
        const total = Math.max(0, Math.min(Number(url.searchParams.get('n') ?? 0) || 0, 2 ** 40))
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
        let left = total
        const pump = () => {
          while (left > 0) {
            const part = left >= chunk.length ? chunk : chunk.subarray(0, left)
            left -= part.length
            if (!res.write(part)) return res.once('drain', pump)
          }
          res.end()
        }
        return pump()
      }
      if (url.pathname === '/_world/dns-log') {
        res.writeHead(200, { 'content-type': 'application/json' })
        return res.end(`${JSON.stringify(dnsLog)}\n`)
      }
      const seen = {
        service,
        host: req.headers.host ?? null,
        ...(service === 'https' ? { sni: req.socket.servername || null } : {}),
        local: req.socket.localAddress?.replace(/^::ffff:/, ''),
        remote: req.socket.remoteAddress?.replace(/^::ffff:/, ''),
        method: req.method,
        path: req.url,
      }
      res.writeHead(200, { 'content-type': 'application/json', connection: 'close' })
      res.end(`${JSON.stringify(seen)}\n`)
    }
  }

  const listening = []
  const listen = (srv, port) => listening.push(new Promise((resolve, reject) => {
    srv.once('error', reject)
    srv.listen(port, '0.0.0.0', resolve)
  }))
  listen(createHttpServer(handler('http')), ports.http)
  listen(createHttpsServer({ key: readFileSync(`${dir}/server.key`), cert: readFileSync(`${dir}/server.pem`) }, handler('https')), ports.https)
  listen(createTcpServer((sock) => {
    sock.on('error', () => {})
    sock.write(`sandkit-world tcp ${sock.localAddress?.replace(/^::ffff:/, '')}\n`)
    sock.pipe(sock)
  }), ports.tcp)

  // DNS (RFC 1035) over UDP: one question; A records for the known names. Bound to the DNS
  // address alone: a socket on 0.0.0.0 would answer from the interface's first address (.2),
  // which a resolver's connected socket drops.
  const udp = createSocket('udp4')
  udp.on('message', (msg, rinfo) => {
    try {
      if (msg.length < 12) return
      const qdcount = msg.readUInt16BE(4)
      if (qdcount !== 1 || msg[2] & 0x80) return
      let off = 12
      const labels = []
      while (msg[off] !== 0) {
        const len = msg[off]
        if (len > 63 || off + 1 + len >= msg.length) return
        labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'))
        off += 1 + len
      }
      off += 1
      const qtype = msg.readUInt16BE(off)
      const qclass = msg.readUInt16BE(off + 2)
      const question = msg.subarray(12, off + 4)
      const name = labels.join('.')
      const ip = lookup(name)
      dnsLog.push({ name, qtype, from: rinfo.address, at: Date.now() })
      if (dnsLog.length > 200) dnsLog.shift()
      const answer = ip && qtype === 1 && qclass === 1
      const header = Buffer.alloc(12)
      header.writeUInt16BE(msg.readUInt16BE(0), 0)
      // QR, AA, RD copied, RA; RCODE 3 (NXDOMAIN) for an unknown name.
      header.writeUInt16BE(0x8400 | (msg.readUInt16BE(2) & 0x0100) | 0x0080 | (ip ? 0 : 3), 2)
      header.writeUInt16BE(1, 4)
      header.writeUInt16BE(answer ? 1 : 0, 6)
      const parts = [header, question]
      if (answer) {
        const rr = Buffer.alloc(16)
        rr.writeUInt16BE(0xc00c, 0) // the name: a pointer to the question's
        rr.writeUInt16BE(1, 2) // A
        rr.writeUInt16BE(1, 4) // IN
        rr.writeUInt32BE(5, 6) // TTL 5 s
        rr.writeUInt16BE(4, 10)
        ip.split('.').forEach((b, i) => rr.writeUInt8(Number(b), 12 + i))
        parts.push(rr)
      }
      udp.send(Buffer.concat(parts), rinfo.port, rinfo.address)
    } catch {}
  })
  listening.push(new Promise((resolve, reject) => {
    udp.once('error', reject)
    udp.bind(ports.dns, dnsAddress, resolve)
  }))

  Promise.all(listening).then(
    () => process.stdout.write('ready\n'),
    (err) => {
      process.stderr.write(`[outside world servers] ${err.message}\n`)
      process.exit(1)
    },
  )
  // Ends with the guardian: its end of stdin closes when it exits, however it exits.
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
  process.on('SIGTERM', () => process.exit(0))
}

// ── entry points ───────────────────────────────────────────────────────────────────────────

if (process.argv[1] && SELF === realpathSync(process.argv[1])) {
  const [mode, arg] = process.argv.slice(2)
  if (mode === '--guardian') await guardian(Number(arg))
  else if (mode === '--serve') serve(JSON.parse(arg))
  else if (mode === undefined) {
    let world
    try {
      world = await startOutsideWorld()
    } catch (err) {
      process.stderr.write(`outside world: ${err.message}\n`)
      process.exit(1)
    }
    const { stop, output, exited, ...description } = world
    process.stdout.write(`${JSON.stringify(description)}\n`)
    let ending = false
    exited.then(() => {
      if (ending) return
      process.stderr.write(`outside world: it went down by itself:\n${output()}\n`)
      process.exit(1)
    })
    const end = async () => {
      ending = true
      await stop()
      process.exit(0)
    }
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, end)
    process.stdin.on('end', end)
    process.stdin.on('error', end)
    process.stdin.resume()
  } else {
    process.stderr.write('usage: node tests/harness/outside.mjs   (prints the world as one JSON line; stays up until stdin closes or SIGTERM)\n')
    process.exit(2)
  }
}
