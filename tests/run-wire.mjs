// Wire-body conformance of the network options: sandkit (napi, and wasm in Node) and the
// official `e2b` package (pinned, 2.51.0) make the same creates and updateNetwork calls
// against one small recording HTTP server on loopback; the recorded requests (method, path,
// body bytes) must be identical. Also: bad input is refused by both before anything is sent,
// updateNetwork's 404 and other errors, getInfo().network as the official SDK maps it, and a
// fork's entries (a sandbox, or the error each refusal becomes).
// No sandkitd: quick, and independent of what the server enforces.
//
//   node tests/run-wire.mjs
import http from 'node:http'
import { parseArgs } from 'node:util'
import { canonical, show } from './checks.mjs'
import { finish, printCheck, runGuard } from './harness/report.mjs'

parseArgs({ options: { bulk: { type: 'string' } } }) // run-all passes --bulk to every runner
for (const k of Object.keys(process.env)) if (k.startsWith('E2B_')) delete process.env[k]
const { bail, cleanups } = runGuard('wire', 60)

// ── the recorder ──────────────────────────────────────────────────────────────────────────
let requests = []
const DETAIL = {
  sandboxID: 'info1',
  templateID: 'base',
  clientID: 'c',
  startedAt: '2026-01-01T00:00:00Z',
  endAt: '2026-01-01T00:05:00Z',
  cpuCount: 2,
  memoryMB: 512,
  diskSizeMB: 0,
  state: 'running',
  envdVersion: '0.6.13',
  metadata: {},
  domain: null,
  allowInternetAccess: false,
  lifecycle: { onTimeout: 'kill', autoResume: false },
  network: {
    allowOut: ['api.example.test', '*.github.test'],
    denyOut: ['0.0.0.0/0'],
    // A server must not send the password; if one does, neither SDK may show it.
    egressProxy: { address: 'proxy.test:1080', username: 'u', password: 'leaked-secret' },
    rules: { 'z.test': [{ transform: { headers: { B: '1', A: '2' } } }, {}], 'a.test': [] },
    allowPublicTraffic: false,
    maskRequestHost: 'localhost:${PORT}',
    httpsPorts: [8443],
  },
}
const INFO = {
  info1: DETAIL,
  info2: { ...DETAIL, sandboxID: 'info2', allowInternetAccess: null, network: { egressProxy: null } },
  info3: { ...DETAIL, sandboxID: 'info3', allowInternetAccess: true, network: undefined },
}
// A fork whose entries each went their own way: one started, the others refused for reasons a
// server may give (sandkitd gives 429 for its quota; the rest are E2B's).
const FORKS = [
  { sandbox: { sandboxID: 'fork1', templateID: 'base', clientID: 'c', envdVersion: '0.6.13', envdAccessToken: 't', domain: null } },
  { error: { code: 429, message: 'team "t" has 3 sandboxes running, the most --max-sandboxes allows' } },
  { error: { code: 404, message: 'template gone' } },
  { error: { code: 500, message: 'could not start the sandbox: boom' } },
  { error: { code: 503, message: 'busy' } },
  {},
]
const server = http.createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8')
    const path = req.url
    const json = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(value))
    }
    const info = /^\/sandboxes\/(info\d)$/.exec(path)
    if (req.method === 'GET' && info) return json(200, INFO[info[1]])
    requests.push(`${req.method} ${path} ${body}`)
    if (req.method === 'POST' && path === '/v2/sandboxes') {
      return json(201, { sandboxID: 'sbx1', templateID: 'base', clientID: 'c', envdVersion: '0.6.13', envdAccessToken: 't', domain: null })
    }
    if (req.method === 'POST' && path === '/sandboxes/src1/fork') return json(201, FORKS)
    if (req.method === 'PUT' && path === '/sandboxes/missing/network') return json(404, { code: 404, message: 'sandbox "missing" not found' })
    if (req.method === 'PUT' && path === '/sandboxes/broken/network') return json(500, { code: 500, message: 'boom' })
    if (req.method === 'PUT' && path === '/sandboxes/unserved/network') return json(501, { code: 501, message: 'network rules are not implemented' })
    if (req.method === 'PUT') {
      res.writeHead(204)
      return res.end()
    }
    json(400, { code: 400, message: 'unexpected request' })
  })
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
cleanups.push(() => new Promise((resolve) => server.close(resolve)))
const url = `http://127.0.0.1:${server.address().port}`
const conn = { apiKey: 'e2b_wire_test_key', apiUrl: url, sandboxUrl: url, requestTimeoutMs: 10_000 }
process.env.E2B_API_URL = url // the documented way for the official SDK; apiUrl is passed too

// ── the SDKs ──────────────────────────────────────────────────────────────────────────────
const impls = {}
try {
  impls.e2b = await import('e2b')
  impls.napi = await import('../js/node.mjs')
  impls.wasm = await import('../wasm/node.mjs')
} catch (err) {
  await bail('load the SDKs', err)
}

// ── the matrix: each case is run by every SDK; `run(sdk)` makes the calls ───────────────
const create = (sdk, opts, template) => (template ? sdk.Sandbox.create(template, { ...conn, ...opts }) : sdk.Sandbox.create({ ...conn, ...opts }))
const rulesObject = () => ({
  'api.example.test': [{ transform: { headers: { 'X-B': 'second', Authorization: 'Bearer abc' } } }, {}, { transform: null }, { transform: { headers: {} } }],
  '*.github.test': [{ transform: { headers: { 'x-quote': 'say "hi"\n\u00e9\u{1F600}' } } }],
  '__proto__': [{}],
})
const cases = [
  ['create: no network', (sdk) => create(sdk, {})],
  ['create: empty network', (sdk) => create(sdk, { network: {} })],
  ['create: allowOut and denyOut arrays', (sdk) => create(sdk, { network: { allowOut: ['1.1.1.1', '8.8.8.0/24', '*.github.test', 'api.example.test'], denyOut: ['10.0.0.0/8', '192.168.1.1'] } })],
  ['create: denyOut [ALL_TRAFFIC] (the export)', (sdk) => create(sdk, { network: { denyOut: [sdk.ALL_TRAFFIC], allowOut: [] } })],
  ['create: allowOut and denyOut callbacks', (sdk) =>
    create(sdk, { network: { allowOut: ({ rules }) => [...rules.keys(), '1.1.1.1'], denyOut: ({ allTraffic }) => [allTraffic], rules: rulesObject() } })],
  ['create: callbacks see rules given as a Map, in order', (sdk) =>
    create(sdk, {
      network: {
        allowOut: ({ rules, allTraffic }) => [...rules.keys(), `${rules.size}`, allTraffic],
        rules: new Map([['z.test', [{ transform: { headers: { Z: '1' } } }]], ['a.test', [{}]]]),
      },
    })],
  ['create: rules with object transforms', (sdk) => create(sdk, { network: { rules: rulesObject() } })],
  ['create: rules with callback transforms', (sdk) =>
    create(sdk, {
      network: {
        rules: {
          'api.example.test': [{ transform: () => ({ headers: { 'X-Static': 'yes' } }) }, { transform: { headers: { Mixed: 'obj' } } }],
          'b.test': [{ transform: ({ iam }) => ({ headers: { Seen: typeof iam.tokens } }) }],
        },
      },
    })],
  ['create: egressProxy with an address only', (sdk) => create(sdk, { network: { egressProxy: { address: 'proxy.example.test:1080' } } })],
  ['create: egressProxy with username and password', (sdk) =>
    create(sdk, { network: { egressProxy: { address: '203.0.113.5:1080', username: 'user', password: 'p@ss "word"', extra: 'left out' } } })],
  ['create: egressProxy with username only, and null', (sdk) =>
    create(sdk, { network: { egressProxy: { address: 'p:1', username: 'u' } } }).then(() => create(sdk, { network: { egressProxy: null } }))],
  ['create: allowInternetAccess false, true, unset', async (sdk) => {
    await create(sdk, { allowInternetAccess: false })
    await create(sdk, { allowInternetAccess: true, network: { allowOut: ['1.1.1.1'] } })
    await create(sdk, { network: { denyOut: ['0.0.0.0/0'] } })
  }],
  ['create: httpsPorts, maskRequestHost, allowPublicTraffic', async (sdk) => {
    await create(sdk, { network: { httpsPorts: [443, 8443], maskRequestHost: 'localhost:${PORT}', allowPublicTraffic: false } })
    await create(sdk, { network: { httpsPorts: [], allowPublicTraffic: true } })
  }],
  ['create: everything, with a template, metadata, envs, timeout and lifecycle', (sdk) =>
    create(
      sdk,
      {
        metadata: { app: 'wire', run: '1' },
        envs: { A: '1' },
        timeoutMs: 120_500,
        allowInternetAccess: false,
        lifecycle: { onTimeout: 'pause', autoResume: true },
        network: {
          allowOut: ({ rules }) => [...rules.keys()],
          denyOut: ({ allTraffic }) => [allTraffic],
          rules: new Map([['api.example.test', [{ transform: () => ({ headers: { Authorization: 'Bearer t' } }) }]]]),
          egressProxy: { address: 'proxy.test:1080', username: 'u', password: 'pw' },
          allowPublicTraffic: false,
          maskRequestHost: 'h:${PORT}',
          httpsPorts: [8443],
        },
      },
      'mytpl',
    )],
  ['Sandbox.updateNetwork: empty (clears everything)', (sdk) => sdk.Sandbox.updateNetwork('sbx1', {}, conn)],
  ['Sandbox.updateNetwork: arrays, ALL_TRAFFIC, allowInternetAccess true', (sdk) =>
    sdk.Sandbox.updateNetwork('sbx1', { allowOut: ['api.example.test'], denyOut: [sdk.ALL_TRAFFIC], allowInternetAccess: true }, conn)],
  ['Sandbox.updateNetwork: allowInternetAccess false; create-only fields are not sent', (sdk) =>
    sdk.Sandbox.updateNetwork('sbx1', { allowInternetAccess: false, allowPublicTraffic: false, maskRequestHost: 'h', httpsPorts: [1] }, conn)],
  ['Sandbox.updateNetwork: callbacks, Map rules, iam token placeholders', (sdk) =>
    sdk.Sandbox.updateNetwork(
      'sbx1',
      {
        allowOut: ({ rules }) => [...rules.keys()],
        denyOut: ({ allTraffic }) => [allTraffic],
        rules: new Map([
          ['api.example.test', [{ transform: ({ iam }) => ({ headers: { Authorization: `Bearer ${iam.tokens.aws}`, Other: iam.tokens['my-token'] } }) }]],
          ['*.github.test', [{ transform: { headers: { 'X-A': 'b' } } }]],
        ]),
      },
      conn,
    )],
  ['Sandbox.updateNetwork: egressProxy with and without credentials', async (sdk) => {
    await sdk.Sandbox.updateNetwork('sbx1', { egressProxy: { address: 'p:1080', username: 'u', password: 'pw' } }, conn)
    await sdk.Sandbox.updateNetwork('sbx1', { egressProxy: { address: 'p:1080' }, rules: {} }, conn)
  }],
  ['sandbox.updateNetwork (instance), after a create', async (sdk) => {
    const sbx = await create(sdk, { network: { allowOut: ['1.1.1.1'] } })
    await sbx.updateNetwork({ allowOut: ['2.2.2.2'], denyOut: [sdk.ALL_TRAFFIC], rules: rulesObject(), allowInternetAccess: true })
    await sbx.updateNetwork({}, { requestTimeoutMs: 5_000 })
  }],
]

// Refused before anything is sent: by both, with InvalidArgumentError; `same`: in the same words.
const badCases = [
  ['egressProxy a string', (sdk) => create(sdk, { network: { egressProxy: 'proxy:1080' } }), { same: true }],
  ['egressProxy without an address', (sdk) => create(sdk, { network: { egressProxy: { username: 'u', password: 'hunter2' } } }), { same: true }],
  ['egressProxy with a numeric address', (sdk) => sdk.Sandbox.updateNetwork('sbx1', { egressProxy: { address: 1080, password: 'hunter2' } }, conn), { same: true }],
  ['an async transform', (sdk) => create(sdk, { network: { rules: { 'a.test': [{ transform: async () => ({ headers: {} }) }] } } }), { same: true }],
  ['a transform callback returning a string', (sdk) => create(sdk, { network: { rules: { 'a.test': [{ transform: () => 'x' }] } } }), { same: true }],
  ['a transform callback returning null (update)', (sdk) => sdk.Sandbox.updateNetwork('sbx1', { rules: { 'a.test': [{ transform: () => null }] } }, conn), { same: true }],
  ['a transform callback returning an array (update)', (sdk) => sdk.Sandbox.updateNetwork('sbx1', { rules: new Map([['a.test', [{ transform: () => [] }]]]) }, conn), { same: true }],
  ['a create transform reading an unregistered iam token', (sdk) => create(sdk, { network: { rules: { 'a.test': [{ transform: ({ iam }) => ({ headers: { A: iam.tokens.aws } }) }] } } }), {}],
  ['an update transform reading an unusable iam token name', (sdk) => sdk.Sandbox.updateNetwork('sbx1', { rules: { 'a.test': [{ transform: ({ iam }) => ({ headers: { A: iam.tokens['a}b'] } }) }] } }, conn), { same: true }],
]

// Answers other than 204: the error each SDK gives.
const errorCases = [
  ['updateNetwork of a missing sandbox → SandboxNotFoundError', 'missing'],
  ['updateNetwork answered 500 → SandboxError with statusCode', 'broken'],
  ['updateNetwork answered 501 (what sandkitd without the endpoint says)', 'unserved'],
]

const errorName = (sdk, err) =>
  ['SandboxNotFoundError', 'NotFoundError', 'InvalidArgumentError', 'TimeoutError', 'RateLimitError', 'ServiceBusyError', 'AuthenticationError', 'SandboxError'].find((n) => typeof sdk[n] === 'function' && err instanceof sdk[n]) ??
  `${err?.name ?? typeof err} (not an SDK class)`

let passed = 0
let failed = 0
function report(name, fn) {
  const started = Date.now()
  return Promise.resolve()
    .then(fn)
    .then(
      (detail) => {
        passed++
        printCheck({ name, ok: true, detail, ms: Date.now() - started })
      },
      (err) => {
        failed++
        printCheck({ name, ok: false, error: err?.message ?? String(err), ms: Date.now() - started })
      },
    )
}

async function recorded(sdk, run) {
  requests = []
  let error
  try {
    await run(sdk)
  } catch (err) {
    error = err
  }
  const sent = requests
  requests = []
  return { sent, error }
}

const SANDKIT = ['napi', 'wasm']
for (const [name, run] of cases) {
  await report(`wire: ${name}`, async () => {
    const official = await recorded(impls.e2b, run)
    if (official.error) throw new Error(`e2b failed: ${official.error.message}`)
    for (const impl of SANDKIT) {
      const ours = await recorded(impls[impl], run)
      if (ours.error) throw new Error(`${impl} failed: ${errorName(impls[impl], ours.error)}: ${ours.error.message}`)
      if (ours.sent.length !== official.sent.length || ours.sent.some((r, i) => r !== official.sent[i])) {
        throw new Error(`${impl} sent ${show(ours.sent)}; e2b sent ${show(official.sent)}`)
      }
    }
    return `${official.sent.length} request(s), identical bytes: ${official.sent.at(-1)?.slice(0, 160)}`
  })
}

for (const [name, run, { same }] of badCases) {
  await report(`bad input: ${name} → InvalidArgumentError, nothing sent`, async () => {
    const messages = {}
    for (const impl of ['e2b', ...SANDKIT]) {
      const sdk = impls[impl]
      const { sent, error } = await recorded(sdk, run)
      if (!error) throw new Error(`${impl} did not refuse it (sent ${show(sent)})`)
      if (!(error instanceof sdk.InvalidArgumentError)) throw new Error(`${impl}: ${errorName(sdk, error)}: ${error.message}`)
      if (sent.length) throw new Error(`${impl} sent ${show(sent)} before refusing`)
      if (/hunter2/.test(error.message) || /hunter2/.test(String(error.stack))) throw new Error(`${impl}: the password is in the error`)
      messages[impl] = error.message
    }
    if (same && SANDKIT.some((i) => messages[i] !== messages.e2b)) throw new Error(`messages differ: ${show(messages)}`)
    return messages.napi
  })
}

for (const [name, id] of errorCases) {
  await report(`errors: ${name}`, async () => {
    const seen = {}
    for (const impl of ['e2b', ...SANDKIT]) {
      const sdk = impls[impl]
      const { error } = await recorded(sdk, (s) => s.Sandbox.updateNetwork(id, { allowOut: ['1.1.1.1'] }, conn))
      if (!error) throw new Error(`${impl} resolved`)
      // sandkit also gives SandboxNotFoundError its statusCode (404), which e2b leaves out.
      seen[impl] = { text: `${errorName(sdk, error)}: ${error.message}`, status: error.statusCode }
    }
    for (const i of SANDKIT) {
      if (seen[i].text !== seen.e2b.text || (seen.e2b.status !== undefined && seen[i].status !== seen.e2b.status)) throw new Error(`differ: ${show(seen)}`)
    }
    return `${seen.napi.text} [${seen.napi.status}]`
  })
}

for (const id of Object.keys(INFO)) {
  await report(`getInfo: ${id}'s network and allowInternetAccess as e2b maps them, never the password`, async () => {
    // Values compared: a key whose value is undefined counts as absent.
    const pick = (info) => canonical(JSON.parse(JSON.stringify({ network: info.network ?? null, allowInternetAccess: info.allowInternetAccess ?? null })))
    const official = pick(await impls.e2b.Sandbox.getInfo(id, conn))
    for (const impl of SANDKIT) {
      const info = await impls[impl].Sandbox.getInfo(id, conn)
      const ours = pick(info)
      if (ours !== official) throw new Error(`${impl}: ${ours}; e2b: ${official}`)
      if (JSON.stringify(info).includes('leaked-secret')) throw new Error(`${impl} shows the password`)
      if (info.network && Object.keys(info.network.rules ?? {}).join() !== Object.keys(DETAIL.network.rules).join() && id === 'info1') {
        throw new Error(`${impl}: rules out of order`)
      }
    }
    return official.slice(0, 160)
  })
}

await report('fork: each entry is a Sandbox or the Error e2b makes of it (class, message, statusCode); the same request', async () => {
  const seen = {}
  for (const impl of ['e2b', ...SANDKIT]) {
    const sdk = impls[impl]
    const { sent, error } = await recorded(sdk, async (s) => {
      seen[impl] = (await s.Sandbox.fork('src1', { ...conn, count: FORKS.length, timeoutMs: 30_000 })).map((f) =>
        f instanceof Error ? { text: `${errorName(sdk, f)}: ${f.message}`, status: f.statusCode } : { text: `${f.constructor.name} ${f.sandboxId}` },
      )
    })
    if (error) throw new Error(`${impl} failed: ${errorName(sdk, error)}: ${error.message}`)
    seen[impl].push({ text: sent.join() })
  }
  // As above: sandkit gives a NotFoundError its statusCode too, which e2b leaves out.
  const same = (ours, theirs) => ours.text === theirs.text && (theirs.status === undefined || ours.status === theirs.status)
  for (const i of SANDKIT) {
    if (seen[i].length !== seen.e2b.length || seen[i].some((entry, k) => !same(entry, seen.e2b[k]))) throw new Error(`${i}: ${show(seen[i])}; e2b: ${show(seen.e2b)}`)
  }
  return seen.napi.map((e) => `${e.text}${e.status ? ` [${e.status}]` : ''}`).join('; ')
})

await report('exports: ALL_TRAFFIC is 0.0.0.0/0 in every entry', () => {
  for (const impl of ['e2b', ...SANDKIT]) if (impls[impl].ALL_TRAFFIC !== '0.0.0.0/0') throw new Error(`${impl}: ${show(impls[impl].ALL_TRAFFIC)}`)
})

await Promise.all(cleanups.map((c) => c()))
finish(passed, failed)
