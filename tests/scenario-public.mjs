// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): public sandbox URLs through sandkitd's proxy, traffic tokens, and (sandkit
// only) sandbox.getUrl, sandbox.fetch and handles. A real server runs in the sandboxes
// (tests/fixtures/web-server.mjs); requests go by host name (`<port>-<id>.<domain>`, which
// Chromium resolves to loopback and Node, workerd and Python through libnss-myhostname).
import { assert, assertEqual, fail, show, sleep } from './checks.mjs'
import { WEB_SERVER } from './fixtures/web-server.mjs'

const TOKEN_HEADER = 'e2b-traffic-access-token'

/** Starts the fixture server on `port` and waits (bounded) until it answers. */
async function serve(sbx, port, rawFetch, headers = {}) {
  await sbx.files.write('/tmp/web.cjs', WEB_SERVER)
  await sbx.commands.run(`node /tmp/web.cjs ${port} >/tmp/web-${port}.log 2>&1`, { background: true })
  for (let i = 0; i < 100; i++) {
    const res = await rawFetch(`http://${sbx.getHost(port)}/echo`, { headers }).catch(() => undefined)
    if (res?.status === 200) return
    await res?.body?.cancel()
    await sleep(50)
  }
  fail(`the server on port ${port} of ${sbx.sandboxId} never answered`)
}

/** Reads a body to its end, counting bytes, without holding it. */
async function countBytes(res) {
  const reader = res.body.getReader()
  let n = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return n
    n += value.length
  }
}

export async function runPublicScenario({ Sandbox, errors, conn, config, a, create, step, skip }) {
  const rawFetch = config.rawFetch
  const url = (sbx, port, path = '/') => `http://${sbx.getHost(port)}${path}`
  const isSandkit = typeof a.getUrl === 'function'
  let p
  let token

  await step('public: allowPublicTraffic false gives a trafficAccessToken; the default gives none', async () => {
    p = await create({ network: { allowPublicTraffic: false } })
    token = p.trafficAccessToken
    assert(typeof token === 'string' && token.length >= 32, `trafficAccessToken ${show(token)}`)
    assert(a.trafficAccessToken == null, `a public sandbox has trafficAccessToken ${show(a.trafficAccessToken)}`)
  })
  if (!p) return
  const withToken = { [TOKEN_HEADER]: token }

  await step('public: a server started in the sandbox answers on its public URL (host routing)', async () => {
    await serve(a, 8000, rawFetch)
    await serve(p, 8000, rawFetch, withToken)
  }, { timeoutMs: 30_000 })

  await step('public: a protected port answers 403 without the token (JSON naming the header) and with a wrong one, 200 with it', async () => {
    const none = await rawFetch(url(p, 8000, '/echo'))
    assertEqual(none.status, 403, 'status without a token')
    const body = await none.json()
    assertEqual(body.code, 403, 'code')
    assertEqual(body.sandboxId, p.sandboxId, 'sandboxId')
    assert(body.message.includes(TOKEN_HEADER), `message ${show(body.message)}`)
    const wrong = await rawFetch(url(p, 8000, '/echo'), { headers: { [TOKEN_HEADER]: `${token}0` } })
    assertEqual(wrong.status, 403, 'status with a wrong token')
    await wrong.body?.cancel()
    // In Chromium this is a call from another origin with a custom header: a preflight,
    // answered by sandkitd, then a response the page may read.
    const right = await rawFetch(url(p, 8000, '/echo'), { headers: withToken })
    assertEqual(right.status, 200, 'status with the token')
    assertEqual((await right.json()).url, '/echo', 'what the server saw')
  })

  await step('public: GET and POST with a body; the server sees the public Host and X-Forwarded-*, never the token', async () => {
    const got = await (await rawFetch(url(a, 8000, '/echo?q=1'))).json()
    assertEqual(got.method, 'GET', 'method')
    assertEqual(got.url, '/echo?q=1', 'url')
    assertEqual(got.host, a.getHost(8000), 'Host')
    assertEqual(got.headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto')
    assertEqual(got.headers['x-forwarded-host'], a.getHost(8000), 'X-Forwarded-Host')
    assert(got.headers['x-forwarded-for'], 'no X-Forwarded-For')
    const posted = await (await rawFetch(url(p, 8000, '/echo'), { method: 'POST', headers: { ...withToken, 'content-type': 'text/plain' }, body: 'héllo body' })).json()
    assertEqual(posted.method, 'POST', 'method')
    assertEqual(posted.body, 'héllo body', 'body')
    assertEqual(posted.headers[TOKEN_HEADER], undefined, 'token passed to the server')
  })

  await step('public: maskRequestHost: the server sees the mask with ${PORT} replaced', async () => {
    const m = await create({ network: { maskRequestHost: 'localhost:${PORT}' } })
    await serve(m, 8000, rawFetch)
    const seen = await (await rawFetch(url(m, 8000, '/echo'))).json()
    assertEqual(seen.host, 'localhost:8000', 'Host with the mask')
    await m.kill()
  }, { timeoutMs: 30_000 })

  await step('public: a request to a paused sandbox with autoResume resumes it and is served; without autoResume it gets 502', async () => {
    const r = await create({ lifecycle: { onTimeout: 'pause', autoResume: true } })
    const n = await create()
    await serve(r, 8000, rawFetch)
    await serve(n, 8000, rawFetch)
    await Sandbox.pause(r.sandboxId, conn)
    await Sandbox.pause(n.sandboxId, conn)
    const served = await rawFetch(url(r, 8000, '/echo'))
    assertEqual(served.status, 200, 'status from the paused sandbox with autoResume')
    assertEqual((await served.json()).url, '/echo', 'what the server saw')
    assertEqual((await Sandbox.getInfo(r.sandboxId, conn)).state, 'running', 'state after the request')
    const refused = await rawFetch(url(n, 8000, '/echo'))
    assertEqual(refused.status, 502, 'status from a paused sandbox without autoResume')
    assert((await refused.json()).message.includes('paused'), 'the answer says it is paused')
    await Promise.all([r.kill(), n.kill()])
  }, { timeoutMs: 30_000 })

  await step('public: a streamed response\'s first chunk arrives before its last is produced', async () => {
    const res = await rawFetch(url(a, 8000, '/stream'))
    const reader = res.body.getReader()
    const decoder = new TextDecoder()
    const first = await reader.read()
    assertEqual(decoder.decode(first.value), 'first\n', 'first chunk')
    const released = await (await rawFetch(url(a, 8000, '/release'))).text()
    assertEqual(released, '1', 'streams held by the server')
    let rest = ''
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      rest += decoder.decode(value, { stream: true })
    }
    assertEqual(rest, 'last\n', 'the rest')
  })

  const wsUrl = url(a, 8000, '/ws').replace(/^http/, 'ws')
  if (typeof WebSocket === 'function' && typeof navigator !== 'undefined' && navigator.userAgent !== 'Cloudflare-Workers') {
    await step('public: a WebSocket echo through the public URL', async () => {
      const ws = new WebSocket(wsUrl)
      const answer = await new Promise((resolve, reject) => {
        ws.onopen = () => ws.send('hello through the proxy')
        ws.onmessage = (e) => resolve(e.data)
        ws.onerror = () => reject(new Error('WebSocket error'))
      })
      ws.close()
      assertEqual(answer, 'hello through the proxy', 'echo')
    })
  } else if (typeof navigator !== 'undefined' && navigator.userAgent === 'Cloudflare-Workers') {
    await step('public: a WebSocket echo through the public URL of a protected port (fetch with Upgrade, token attached)', async () => {
      const res = await rawFetch(url(p, 8000, '/ws'), { headers: { Upgrade: 'websocket', ...withToken } })
      assertEqual(res.status, 101, 'status')
      const ws = res.webSocket
      ws.accept()
      const answer = new Promise((resolve) => ws.addEventListener('message', (e) => resolve(e.data)))
      ws.send('hello from workerd')
      assertEqual(await answer, 'hello from workerd', 'echo')
      ws.close()
    })
  } else if (config.webSocketEcho) {
    await step('public: a WebSocket echo through the public URL (and a protected port with its token)', async () => {
      assertEqual(await config.webSocketEcho(wsUrl, {}, 'hello through the proxy'), 'hello through the proxy', 'echo')
      const protectedUrl = url(p, 8000, '/ws').replace(/^http/, 'ws')
      assertEqual(await config.webSocketEcho(protectedUrl, withToken, 'with a token'), 'with a token', 'echo on a protected port')
    })
  } else {
    skip('public: a WebSocket echo through the public URL', 'this runtime has no WebSocket client (Node 20); sandkitd\'s Rust tests tunnel one')
  }

  await step('public: nothing listening gives 502 with a JSON body a page can read', async () => {
    const res = await rawFetch(url(a, 8009, '/'))
    assertEqual(res.status, 502, 'status')
    // A page reads the body only if CORS allowed it; elsewhere the header is there to see.
    if (typeof document === 'undefined') assert(res.headers.get('access-control-allow-origin'), 'no Access-Control-Allow-Origin')
    const body = await res.json()
    assertEqual(body.port, 8009, 'port')
    assertEqual(body.sandboxId, a.sandboxId, 'sandboxId')
  })

  await step('public: the daemon port through its public URL still wants X-Access-Token', async () => {
    const res = await rawFetch(url(p, 49983, '/process.Process/List'), { method: 'POST', headers: { 'content-type': 'application/json', ...withToken }, body: '{}' })
    assertEqual(res.status, 401, 'status without X-Access-Token')
    await res.body?.cancel()
  })

  await step('public: a port of one sandbox never reaches another\'s', async () => {
    await p.commands.run('node /tmp/web.cjs 8001 >/dev/null 2>&1', { background: true })
    let ok
    for (let i = 0; i < 100 && ok?.status !== 200; i++) {
      await ok?.body?.cancel()
      if (i) await sleep(50)
      ok = await rawFetch(url(p, 8001, '/echo'), { headers: withToken })
    }
    assertEqual(ok.status, 200, 'the sandbox\'s own port')
    await ok.body?.cancel()
    const other = await rawFetch(url(a, 8001, '/echo'))
    assertEqual(other.status, 502, 'the same port of another sandbox')
    await other.body?.cancel()
  })

  await step('public: 100 concurrent requests to one port', async () => {
    const all = await Promise.all(
      Array.from({ length: 100 }, (_, i) => rawFetch(url(a, 8000, `/echo?i=${i}`)).then((r) => r.json())),
    )
    all.forEach((seen, i) => assertEqual(seen.url, `/echo?i=${i}`, `request ${i}`))
  })

  await step('public: a 256 MB download through the proxy, read as it streams', async () => {
    const res = await rawFetch(url(a, 8000, '/bytes?mb=256'))
    assertEqual(res.status, 200, 'status')
    assertEqual(await countBytes(res), 256 * 1024 * 1024, 'bytes')
  }, { timeoutMs: 120_000 })

  await step('public: getHost in debug mode is localhost:<port>, as the official SDK makes it', async () => {
    const d = await Sandbox.create({ debug: true })
    assertEqual(d.getHost(3000), 'localhost:3000', 'getHost')
    if (isSandkit) assertEqual(d.getUrl(3000, '/x'), 'http://localhost:3000/x', 'getUrl')
  })

  if (!isSandkit) {
    skip('public: sandbox.getUrl, sandbox.fetch and handles', 'sandkit\'s own API, not in the e2b package')
    return
  }

  await step('public: getUrl is https for a public domain, http for a loopback one', async () => {
    const remote = Sandbox.fromHandle({ sandboxId: 'abc123', domain: 'e2b.app', envdVersion: '0.6.13' })
    assertEqual(remote.getHost(3000), '3000-abc123.e2b.app', 'getHost')
    assertEqual(remote.getUrl(3000, '/a?b=1'), 'https://3000-abc123.e2b.app/a?b=1', 'getUrl on e2b.app')
    const local = Sandbox.fromHandle({ sandboxId: 'abc123', domain: 'localhost:3000', envdVersion: '0.6.13' })
    assertEqual(local.getUrl(8080), 'http://8080-abc123.localhost:3000/', 'getUrl on localhost')
  })

  await step('public: getUrl makes the URL; sandbox.fetch attaches the token and takes paths only', async () => {
    assertEqual(p.getUrl(8000, '/echo'), url(p, 8000, '/echo'), 'getUrl')
    assertEqual(p.getUrl(8000), url(p, 8000, '/'), 'getUrl without a path')
    const res = await p.fetch(8000, '/echo', { method: 'PUT', body: 'put body' })
    assertEqual(res.status, 200, 'status')
    const seen = await res.json()
    assertEqual(`${seen.method} ${seen.body}`, 'PUT put body', 'method and body')
    const viaRequest = await (await p.fetch(8000, new Request('http://elsewhere.example/echo?r=1'))).json()
    assertEqual(viaRequest.url, '/echo?r=1', 'a Request: only its path is used')
    for (const bad of ['http://elsewhere.example/', '//elsewhere.example/', 'echo']) {
      let err
      await p.fetch(8000, bad).catch((e) => (err = e))
      assert(err instanceof errors.InvalidArgumentError, `fetch(${show(bad)}) gave ${show(err?.name ?? err)}`)
    }
  })

  await step('public: a handle (toHandle → JSON → fromHandle) runs commands, reads files and fetches, with no API key', async () => {
    const handle = JSON.parse(JSON.stringify(p.toHandle()))
    assertEqual(Object.keys(handle).sort().join(), 'domain,envdAccessToken,envdVersion,sandboxId,trafficAccessToken', 'handle fields')
    const b = Sandbox.fromHandle(handle, { sandboxUrl: conn.sandboxUrl })
    assertEqual(b.sandboxId, p.sandboxId, 'sandboxId')
    assertEqual((await b.commands.run('echo handled')).stdout, 'handled\n', 'commands')
    assertEqual(await b.files.read('/tmp/web.cjs'), WEB_SERVER, 'files')
    assertEqual((await (await b.fetch(8000, '/echo')).json()).url, '/echo', 'fetch')
    let err
    await b.kill().catch((e) => (err = e))
    assert(err instanceof errors.AuthenticationError, `kill from a handle gave ${show(err?.name ?? err)}`)
    assert(err.message.includes('fromHandle') && !err.message.includes(token), `message ${show(err.message)}`)
    let bad
    try {
      Sandbox.fromHandle({ domain: 'localhost:1' })
    } catch (e) {
      bad = e
    }
    assert(bad instanceof errors.InvalidArgumentError && bad.message.includes('sandboxId'), `fromHandle without an id gave ${show(bad?.message ?? bad)}`)
  })

  await step('public: a killed sandbox\'s port answers 502', async () => {
    await p.kill()
    const res = await rawFetch(url(p, 8000, '/echo'), { headers: withToken })
    assertEqual(res.status, 502, 'status')
    await res.body?.cancel()
  })
}
