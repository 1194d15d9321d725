// A real fault-injecting HTTP proxy in front of sandkitd, for the scenario's fault steps
// (tests/scenario-faults.mjs). Each connection carries one request: the proxy asks sandkitd to
// close after its answer, so every request is seen and decided on its own.
//
//   const proxy = await startFaultProxy(server.apiUrl)
//   // proxy.url: point apiUrl and sandboxUrl here; proxy.controlUrl: the plan and the counts
//
// The plan is set over HTTP (the scenario runs in workerd and browsers too, where only fetch
// reaches the host): POST {controlUrl}/plan with
//   { seed, rates: { rateLimited, reset, busy, stall } }   faults at these rates, or
//   { cut: { match, bytes, reset } }                      answers to paths holding `match`
//                                                          cut after `bytes` (reset or clean end)
// and GET {controlUrl}/counts gives { counts: { [fault]: n }, createsActed }: how many requests
// met each fault, and how many creates reached sandkitd (forwarded, or reset after it answered).
// Setting a plan zeroes the counts.
//
// Under rates, the n-th request's fault is a function of the seed and n alone (splitmix64, as
// the Rust tests' proxy), so a run is replayed by its seed. 429s carry Retry-After in seconds,
// Retry-After as an HTTP date, or RateLimit-Reset (a third each), asking for 0 s (nine in ten)
// or 1 s; resets are half before sandkitd saw the request, half after it answered. CORS
// preflights are never faulted, and injected answers carry the CORS headers a browser needs to
// read them (Retry-After included).
import net from 'node:net'

const MASK = (1n << 64n) - 1n

function mix(seed, n) {
  let z = (BigInt(seed) ^ ((BigInt(n) * 0x9e3779b97f4a7c15n) & MASK)) & MASK
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK
  return z ^ (z >> 31n)
}

/** `secs` from now as an IMF-fixdate naming a whole second (rounded down). */
export function httpDate(secs) {
  return new Date((Math.floor(Date.now() / 1000) + secs) * 1000).toUTCString()
}

/** The fault of the n-th request under `rates` and `seed`. */
export function chaosFault(rates, seed, n) {
  const r = mix(seed, n)
  const u = Number(r >> 11n) / 2 ** 53
  const variant = Number(r % 3n)
  const long = ((r >> 2n) % 10n) === 0n
  const secs = long ? 1 : 0
  let edge = rates.rateLimited ?? 0
  if (u < edge) {
    const header = variant === 0 ? ['retry-after', String(secs)] : variant === 1 ? ['retry-after', httpDate(secs)] : ['ratelimit-reset', String(secs)]
    const kind = variant === 0 ? '429 Retry-After seconds' : variant === 1 ? '429 Retry-After date' : '429 RateLimit-Reset'
    return { kind, status: 429, headers: [header] }
  }
  edge += rates.reset ?? 0
  if (u < edge) return variant === 0 || (variant === 2 && long) ? { kind: 'reset after the server' } : { kind: 'reset before the server' }
  edge += rates.busy ?? 0
  if (u < edge) return { kind: '503', status: 503, headers: [] }
  edge += rates.stall ?? 0
  if (u < edge) return { kind: 'stall' }
  return { kind: 'forwarded' }
}

const CONTROL = '/__faults'
/** What a harness proxy's control endpoint answers with, so that pages and Workers can use it. */
export const CONTROL_CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-allow-headers': '*',
}

/** @returns {Promise<{ url: string, controlUrl: string, stop(): Promise<void> }>} */
export async function startFaultProxy(upstream) {
  const target = new URL(upstream)
  let plan = {}
  let n = 0
  let counts = {}
  let createsActed = 0
  const sockets = new Set()

  function decide(method, path) {
    if (method === 'OPTIONS') return { kind: 'forwarded' }
    if (plan.cut) {
      return path.includes(plan.cut.match) ? { kind: 'cut', cut: plan.cut } : { kind: 'forwarded' }
    }
    if (plan.rates) return chaosFault(plan.rates, plan.seed ?? 0, n++)
    return { kind: 'forwarded' }
  }

  function answer(client, status, headers, body) {
    const lines = [`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Injected'}`, `content-length: ${Buffer.byteLength(body)}`, 'content-type: application/json', 'connection: close']
    for (const [k, v] of headers) lines.push(`${k}: ${v}`)
    client.end(`${lines.join('\r\n')}\r\n\r\n${body}`)
  }

  function control(client, method, path, body) {
    const cors = Object.entries(CONTROL_CORS)
    if (method === 'OPTIONS') return answer(client, 204, cors, '')
    if (method === 'POST' && path === `${CONTROL}/plan`) {
      try {
        plan = JSON.parse(body.toString('utf8') || '{}')
      } catch (err) {
        return answer(client, 400, cors, JSON.stringify({ message: String(err) }))
      }
      n = 0
      counts = {}
      createsActed = 0
      return answer(client, 200, cors, '{}')
    }
    if (method === 'GET' && path === `${CONTROL}/counts`) return answer(client, 200, cors, JSON.stringify({ counts, createsActed }))
    return answer(client, 404, cors, '{"message":"no such control path"}')
  }

  function handle(client, buf, headEnd, head) {
    const [line, ...headerLines] = head.split('\r\n')
    const [method, path = ''] = line.split(' ')
    const bodyStart = headEnd + 4
    if (path.startsWith(`${CONTROL}/`)) return control(client, method, path, buf.subarray(bodyStart))
    const origin = headerLines.map((l) => /^origin:\s*(.*)$/i.exec(l)?.[1]).find(Boolean) ?? '*'
    const fault = decide(method, path)
    counts[fault.kind] = (counts[fault.kind] ?? 0) + 1
    const isCreate = method === 'POST' && path === '/v2/sandboxes'
    if (fault.status) {
      const headers = [
        ['access-control-allow-origin', origin],
        ['access-control-expose-headers', 'retry-after, ratelimit-reset, ratelimit'],
        ...fault.headers,
      ]
      return answer(client, fault.status, headers, JSON.stringify({ code: fault.status, message: 'injected by the fault proxy' }))
    }
    if (fault.kind === 'reset before the server') return client.resetAndDestroy()
    if (fault.kind === 'stall') return client.unref() // held until the client gives up
    if (isCreate) createsActed++
    const up = net.connect(Number(target.port), target.hostname)
    sockets.add(up)
    up.on('close', () => sockets.delete(up))
    up.on('error', () => client.destroy())
    // The same request, asking sandkitd to close after its answer.
    const kept = headerLines.filter((l) => !/^(connection|keep-alive):/i.test(l))
    up.write(`${[line, ...kept, 'connection: close'].join('\r\n')}\r\n\r\n`)
    up.write(buf.subarray(bodyStart))
    client.pipe(up) // the rest of a body sent in chunks
    const limit = fault.kind === 'cut' ? fault.cut.bytes : fault.kind === 'reset after the server' ? 0 : Infinity
    let sent = 0
    let done = false
    up.on('data', (chunk) => {
      if (done) return
      const take = Math.min(chunk.length, limit - sent)
      if (take > 0) client.write(chunk.subarray(0, take))
      sent += take
      if (sent >= limit && fault.kind === 'cut') {
        done = true
        up.destroy()
        // What was written leaves first; then a reset, or a clean end.
        if (fault.cut.reset) client.write(Buffer.alloc(0), () => client.resetAndDestroy())
        else client.end()
      }
    })
    up.on('end', () => {
      if (done) return
      if (fault.kind === 'reset after the server') client.resetAndDestroy()
      else client.end()
    })
  }

  const server = net.createServer((client) => {
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    let buf = Buffer.alloc(0)
    const onData = (chunk) => {
      buf = Buffer.concat([buf, chunk])
      const headEnd = buf.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const head = buf.subarray(0, headEnd).toString('latin1')
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0)
      if (buf.length < headEnd + 4 + length) return
      client.off('data', onData)
      client.pause()
      handle(client, buf, headEnd, head)
    }
    client.on('data', onData)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref() // never what keeps a runner alive
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    controlUrl: `${url}${CONTROL}`,
    async stop() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
