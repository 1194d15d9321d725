// A recording HTTP proxy in front of sandkitd, for the scenario's secrets steps
// (tests/scenario-secrets.mjs): the control plane (apiUrl) is reached through one recorder and
// the sandboxes (sandboxUrl: their daemons, interpreters and public ports) through another, so
// that what each kind of host was sent can be told apart. Each keeps every request it
// forwarded: method, path with query, headers and the whole body.
//
//   const api = await startRecorder(server.apiUrl)
//   // api.url: point apiUrl (or sandboxUrl) here; api.controlUrl: scans and plans
//
// Controlled over HTTP, since the scenario runs in workerd and browsers too, where only fetch
// reaches the host (answers allow any origin):
//   POST {controlUrl}/reset                  forget every request, drop the plan
//   POST {controlUrl}/plan  { fail: { match, status } }
//        answer requests whose path holds `match` with `status` (e.g. 500) and a body that
//        echoes the request's headers, as a careless gateway might: an SDK that puts the
//        server's message in its errors must not pass the secrets on. `{}` forwards all.
//   POST {controlUrl}/scan  { needles: { [label]: value } }
//        every request since the reset: { method, path, sandboxId, port, found: [{ label,
//        where }], echoed: [label] }, `where` the header name, 'url' or 'body'; a needle is
//        also looked for base64-encoded and percent-encoded. `echoed` lists the needles an
//        injected failure sent back to the client in its body.
// The values of every X-Access-Token and traffic-token header seen are kept across resets
// (tokensSeen()), for the runner's check of sandkitd's output.
import http from 'node:http'
import net from 'node:net'
import { CONTROL_CORS as CORS } from './faults.mjs'

const CONTROL = '/__record'

/** The forms a secret may take on the wire: as it is, base64, percent-encoded. */
function forms(value) {
  const out = new Set([value, Buffer.from(value).toString('base64').replace(/=+$/, ''), encodeURIComponent(value)])
  return [...out].filter((f) => f.length >= 6)
}

function findIn(text, value) {
  return forms(value).some((f) => text.includes(f))
}

/** @returns {Promise<{ url: string, controlUrl: string, tokensSeen(): Set<string>, stop(): Promise<void> }>} */
export async function startRecorder(upstream) {
  const target = new URL(upstream)
  const agent = new http.Agent({ keepAlive: true })
  let records = []
  let plan = {}
  const tokensSeen = new Set()

  function control(req, res, body) {
    const path = req.url ?? ''
    const send = (status, value) => res.writeHead(status, { ...CORS, 'content-type': 'application/json' }).end(JSON.stringify(value))
    if (req.method === 'OPTIONS') return res.writeHead(204, CORS).end()
    let parsed = {}
    try {
      parsed = JSON.parse(body.toString('utf8') || '{}')
    } catch (err) {
      return send(400, { message: String(err) })
    }
    if (req.method === 'POST' && path === `${CONTROL}/reset`) {
      records = []
      plan = {}
      return send(200, {})
    }
    if (req.method === 'POST' && path === `${CONTROL}/plan`) {
      plan = parsed
      return send(200, {})
    }
    if (req.method === 'POST' && path === `${CONTROL}/scan`) {
      const needles = Object.entries(parsed.needles ?? {}).filter(([, v]) => typeof v === 'string' && v.length > 0)
      const requests = records.map((r) => {
        const found = []
        for (const [label, value] of needles) {
          for (const [name, v] of r.headers) if (findIn(v, value)) found.push({ label, where: name })
          if (findIn(r.path, value)) found.push({ label, where: 'url' })
          if (findIn(r.body.toString('latin1'), value)) found.push({ label, where: 'body' })
        }
        const echoed = needles.filter(([, value]) => r.echo !== undefined && findIn(r.echo, value)).map(([label]) => label)
        return { method: r.method, path: r.path, sandboxId: r.sandboxId, port: r.port, injected: r.echo !== undefined, found, echoed }
      })
      return send(200, { requests })
    }
    return send(404, { message: 'no such control path' })
  }

  const server = http.createServer((req, res) => {
    const chunks = []
    const path = req.url ?? '/'
    if (path.startsWith(`${CONTROL}/`)) {
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => control(req, res, Buffer.concat(chunks)))
      return
    }
    const headers = []
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]])
    const header = (name) => headers.find(([k]) => k === name)?.[1]
    for (const name of ['x-access-token', 'e2b-traffic-access-token']) if (header(name)) tokensSeen.add(header(name))
    const record = {
      method: req.method,
      path,
      headers,
      sandboxId: header('e2b-sandbox-id') ?? null,
      port: header('e2b-sandbox-port') ?? null,
      get body() {
        return Buffer.concat(chunks)
      },
    }
    records.push(record)
    req.on('data', (c) => chunks.push(c))

    if (plan.fail && req.method !== 'OPTIONS' && path.includes(plan.fail.match)) {
      // A failure that shows the client what it sent, secrets and all.
      const echo = `injected ${plan.fail.status}; the request was ${req.method} ${path} with ${headers.map(([k, v]) => `${k}: ${v}`).join(', ')}`
      record.echo = echo
      const status = plan.fail.status
      const body = JSON.stringify({ code: status, message: echo })
      req.resume()
      const origin = header('origin') ?? '*'
      return res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': origin, 'access-control-expose-headers': '*' }).end(body)
    }

    const up = http.request({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path,
      headers: req.headers,
      agent,
    })
    req.pipe(up)
    up.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
      answer.pipe(res)
      answer.on('error', () => res.destroy())
    })
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('recorder: upstream failed')
      else res.destroy()
    })
    // A client that goes away (a stream it stopped reading) takes the upstream request along.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy()
    })
  })
  server.requestTimeout = 0
  server.headersTimeout = 0
  server.keepAliveTimeout = 5_000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref()
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    controlUrl: `${url}${CONTROL}`,
    tokensSeen: () => tokensSeen,
    async stop() {
      server.closeAllConnections?.()
      agent.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * The runner's check of sandkitd's own output (stdout and stderr, whole): the API keys only in
 * the start-up banner, which prints the first one by design (it is how a user learns it), and
 * no access or traffic token anywhere. `tokens` are the tokens the recorders saw.
 */
export function checkServerOutput(server, { apiKeys, tokens }) {
  const name = "secrets: sandkitd's output (stdout and stderr) shows no API key past its banner and no access or traffic token"
  const { stdout, stderr, stderrInherited } = server.fullOutput()
  if (stderrInherited) return { name, ok: true, skipped: true, detail: "sandkitd's stderr goes to the terminal ($SANDKITD_LOG): not captured" }
  const bannerEnd = stdout.indexOf('\nlimits:')
  const lineEnd = bannerEnd < 0 ? -1 : stdout.indexOf('\n', bannerEnd + 1)
  if (lineEnd < 0) return { name, ok: false, error: 'no banner (ending with its limits: line) in the output' }
  const banner = stdout.slice(0, lineEnd)
  const rest = `${stdout.slice(lineEnd)}\n${stderr}`
  const output = `${stdout}\n${stderr}`
  // The search is the one that finds the key in the banner, where it is printed on purpose.
  if (!banner.includes(apiKeys[0])) return { name, ok: false, error: 'the banner does not show the API key: the search would miss it elsewhere too' }
  const problems = []
  for (const key of apiKeys) if (rest.includes(key)) problems.push(`an API key after the banner: …${rest.slice(Math.max(0, rest.indexOf(key) - 80), rest.indexOf(key)).replace(/\s+/g, ' ')}…`)
  let n = 0
  for (const token of tokens) {
    n++
    if (output.includes(token)) problems.push(`a token (${token.slice(0, 4)}…) in the output`)
  }
  if (tokens.size === 0) problems.push('no token was seen by the recorders: nothing to look for')
  // sandkitd's tokens are 64 hex digits: none of any sandbox of the run may show either.
  const hex = /(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])/.exec(rest)
  if (hex) problems.push(`something shaped like a token (${hex[0].slice(0, 4)}…) after the banner`)
  if (problems.length) return { name, ok: false, error: problems.slice(0, 5).join('; ') }
  return { name, ok: true, detail: `${output.length} bytes of output after ${rest.length ? 'the banner' : 'nothing'}; ${apiKeys.length} keys, ${n} tokens looked for` }
}

/** An address where nothing listens: a port taken, then given back. */
async function refusedUrl() {
  const probe = net.createServer()
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address()
  await new Promise((resolve) => probe.close(resolve))
  return `http://127.0.0.1:${port}`
}

/**
 * The two recorders of the secrets steps in front of `server` (one for the control plane, one
 * for the sandboxes), as the scenario's config.secrets, and the runner's end check.
 */
export async function startSecretsRecorders(server) {
  const api = await startRecorder(server.apiUrl)
  const sandboxes = await startRecorder(server.sandboxUrl)
  return {
    config: {
      api: { url: api.url, controlUrl: api.controlUrl },
      sandboxes: { url: sandboxes.url, controlUrl: sandboxes.controlUrl },
      refusedUrl: await refusedUrl(),
    },
    /** Run after sandkitd has stopped, so its last words are in. */
    checkServerOutput: (apiKeys) => checkServerOutput(server, { apiKeys, tokens: new Set([...api.tokensSeen(), ...sandboxes.tokensSeen()]) }),
    async stop() {
      await api.stop()
      await sandboxes.stop()
    },
  }
}
