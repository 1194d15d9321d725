// The bad-input matrix (issue 15 §3): wrong types, ranges, unicode, huge values and prototype
// tricks in every option of create, connect, list, commands, files, pty, runCode, setTimeout,
// updateNetwork and getMetrics. Each case must reject with InvalidArgumentError whose message
// names the field (some cases, the same in every binding since the core reads the options,
// the whole sentence: `stdin must be a boolean, got string`), and leave nothing behind: no sandbox from a refused create, no file from a
// refused write, and the sandbox it was tried on still works.
//
//   await runBadInputScenario({ Sandbox, errors, conn, main, run, step, expectError, listAll })

import { assert, assertEqual, assertSameIds, fail } from './checks.mjs'

/** A value nested `depth` objects deep, built without recursion. */
function nested(depth) {
  let v = 'leaf'
  for (let i = 0; i < depth; i++) v = { a: v }
  return v
}

/** An object whose property `key` throws when read. */
function throwingGetter(key, extra = {}) {
  return Object.defineProperty({ ...extra }, key, {
    enumerable: true,
    get() {
      throw new Error(`getter of ${key} refuses`)
    },
  })
}

/** A Proxy that throws from every trap that lists or reads its keys. */
function hostileProxy() {
  const no = () => {
    throw new Error('this proxy refuses to be read')
  }
  return new Proxy({}, { ownKeys: no, get: no, getOwnPropertyDescriptor: no, has: no })
}

/** An object with no prototype holding `entries`. */
function bare(entries) {
  return Object.assign(Object.create(null), entries)
}

const LONE_SURROGATE = 'a\uD800b'
const TEN_MB = 'x'.repeat(10 * 1024 * 1024)

/** The cases, each `{ area, name, mentions, fn }`; `fn` is only called by the scenario. */
function buildCases({ Sandbox, conn, main, run, made }) {
  const meta = { run, grp: MATRIX_GROUP }
  // Every create here must be refused; one that is not is killed at the end of the matrix.
  const create = async (more = {}, template) => {
    const o = { ...conn, metadata: meta, timeoutMs: 60_000, ...more }
    const s = template === undefined ? await Sandbox.create(o) : await Sandbox.create(template, o)
    made.push(s)
    return s
  }
  const onData = () => {}
  const cases = []
  const add = (area, name, mentions, fn) => cases.push({ area, name, mentions, fn })

  // ── create ──────────────────────────────────────────────────────────────────────────────
  add('create', 'timeoutMs 1e308', 'timeoutMs', () => create({ timeoutMs: 1e308 }))
  add('create', 'timeoutMs 2**53+1', 'timeoutMs', () => create({ timeoutMs: 2 ** 53 + 1 }))
  add('create', 'timeoutMs -Infinity', 'timeoutMs', () => create({ timeoutMs: -Infinity }))
  add('create', 'timeoutMs a BigInt', 'timeoutMs', () => create({ timeoutMs: 60_000n }))
  add('create', 'timeoutMs true', 'timeoutMs', () => create({ timeoutMs: true }))
  add('create', 'requestTimeoutMs -1', 'requestTimeoutMs', () => create({ requestTimeoutMs: -1 }))
  add('create', 'requestTimeoutMs a string', 'requestTimeoutMs', () => create({ requestTimeoutMs: '5s' }))
  add('create', 'metadata an array', 'metadata', () => create({ metadata: ['a'] }))
  add('create', 'metadata a frozen array', 'metadata', () => create({ metadata: Object.freeze([run]) }))
  add('create', 'metadata a number', 'metadata', () => create({ metadata: 5 }))
  add('create', 'metadata with an own __proto__ key holding a number', 'metadata.__proto__', () =>
    create({ metadata: { ...meta, ...JSON.parse('{"__proto__": 5}') } }))
  add('create', 'metadata with a constructor key holding an object', 'metadata.constructor', () =>
    create({ metadata: { ...meta, constructor: {} } }))
  add('create', 'metadata with a prototype key holding a number', 'metadata.prototype', () =>
    create({ metadata: { ...meta, prototype: 1 } }))
  add('create', 'metadata with a getter that throws', 'metadata.boom', () => create({ metadata: throwingGetter('boom', meta) }))
  add('create', 'metadata a Proxy that refuses to be read', 'metadata', () => create({ metadata: hostileProxy() }))
  add('create', 'metadata without a prototype holding a number', 'metadata.n', () => create({ metadata: bare({ ...meta, n: 1 }) }))
  add('create', 'metadata value with a lone surrogate', 'metadata.k', () => create({ metadata: { ...meta, k: LONE_SURROGATE } }))
  add('create', 'metadata key with a lone surrogate', 'metadata', () => create({ metadata: { ...meta, [LONE_SURROGATE]: 'v' } }))
  add('create', 'metadata value nested 10,000 objects deep', 'metadata.deep', () => create({ metadata: { ...meta, deep: nested(10_000) } }))
  add('create', 'envs an array', 'envs', () => create({ envs: ['A=1'] }))
  add('create', 'envs value a number', 'envs.A', () => create({ envs: { A: 1 } }))
  add('create', 'envs with an own __proto__ key holding an object', 'envs.__proto__', () => create({ envs: JSON.parse('{"__proto__": {"x": "y"}}') }))
  add('create', 'envs with a getter that throws', 'envs.boom', () => create({ envs: throwingGetter('boom') }))
  add('create', 'envs without a prototype holding a boolean', 'envs.B', () => create({ envs: bare({ B: true }) }))
  add('create', 'envs a Proxy that refuses to be read', 'envs', () => create({ envs: hostileProxy() }))
  add('create', 'envs name with NUL', 'envs', () => create({ envs: { 'A\0B': '1' } }))
  add('create', 'envs value with NUL', 'envs.A', () => create({ envs: { A: 'x\0y' } }))
  add('create', 'envs name that is empty', 'envs', () => create({ envs: { '': '1' } }))
  add('create', 'envs name with =', 'envs', () => create({ envs: { 'A=B': '1' } }))
  add('create', 'template a number', 'template', () => create({}, 42))
  add('create', 'template option an object', 'template', () => create({ template: {} }))
  add('create', 'template of 10 MB', 'template', () => create({}, TEN_MB))
  add('create', 'template with a lone surrogate', 'template', () => create({}, LONE_SURROGATE))
  add('create', 'secure a string', 'secure must be a boolean, got string', () => create({ secure: 'yes' }))
  add('create', 'allowInternetAccess a number', 'allowInternetAccess must be a boolean, got number', () => create({ allowInternetAccess: 1 }))
  add('create', 'autoPause a string', 'autoPause must be a boolean, got string', () => create({ autoPause: 'true' }))
  // What sandkit does not do: refused before a sandbox is made without it.
  add('create', 'mcp servers (no MCP gateway)', 'mcp is not supported', () => create({ mcp: { github: {} } }))
  add('create', 'volumeMounts (no volumes)', 'volumeMounts is not supported', () => create({ volumeMounts: [{ name: 'v', path: '/data' }] }))
  add('create', 'lifecycle a string', 'lifecycle', () => create({ lifecycle: 'pause' }))
  add('create', "lifecycle.onTimeout 'explode'", 'onTimeout', () => create({ lifecycle: { onTimeout: 'explode' } }))
  add('create', 'apiKey a number', 'apiKey', () => create({ apiKey: 42 }))
  add('create', 'apiKey with a line break', 'apiKey', () => create({ apiKey: `${conn.apiKey}\r\nX-Injected: 1` }))
  add('create', 'domain an object', 'domain', () => create({ domain: {} }))
  add('create', 'debug a string', 'debug must be a boolean, got string', () => create({ debug: 'on' }))
  add('create', 'options a string', 'opts', () => Sandbox.create('base', 'fast'))
  add('create', 'options a Proxy whose timeoutMs getter throws', 'timeoutMs', () =>
    Sandbox.create(new Proxy({ ...conn, metadata: meta, timeoutMs: 60_000 }, {
      get(t, k) {
        if (k === 'timeoutMs') throw new Error('no timeout for you')
        return t[k]
      },
    })).then((s) => made.push(s)))
  add('create', 'network.allowOut a frozen array holding a number', 'network.allowOut', () => create({ network: { allowOut: Object.freeze([1]) } }))

  // ── connect ─────────────────────────────────────────────────────────────────────────────
  add('connect', 'sandboxId a number', 'sandboxId must be a string, got number', () => Sandbox.connect(42, conn))
  add('connect', 'sandboxId with a lone surrogate', 'sandboxId', () => Sandbox.connect(LONE_SURROGATE, conn))
  add('connect', 'sandboxId with right-to-left override', 'sandboxId', () => Sandbox.connect('\u202Eabc', conn))
  add('connect', 'sandboxId of 10 MB', 'sandboxId', () => Sandbox.connect(TEN_MB, conn))
  add('connect', 'timeoutMs a string', 'timeoutMs', () => Sandbox.connect(main.sandboxId, { ...conn, timeoutMs: '1000' }))
  add('connect', 'timeoutMs 1e308', 'timeoutMs', () => Sandbox.connect(main.sandboxId, { ...conn, timeoutMs: 1e308 }))
  add('connect', "onResume 'sometimes'", 'onResume', () => Sandbox.connect(main.sandboxId, { ...conn, onResume: 'sometimes' }))

  // ── list ────────────────────────────────────────────────────────────────────────────────
  const list = (o) => Sandbox.list({ ...conn, query: { metadata: meta }, ...o }).nextItems()
  add('list', 'limit a string', 'limit', () => list({ limit: 'ten' }))
  add('list', 'limit 1.5', 'limit', () => list({ limit: 1.5 }))
  add('list', 'limit -1', 'limit', () => list({ limit: -1 }))
  add('list', 'limit 1e308', 'limit', () => list({ limit: 1e308 }))
  add('list', 'query a string', 'query', () => list({ query: 'state=running' }))
  add('list', 'query.state a string', 'query.state', () => list({ query: { state: 'running' } }))
  add('list', "query.state ['sleeping']", 'query.state', () => list({ query: { state: ['sleeping'] } }))
  add('list', 'query.metadata with an own __proto__ key holding a number', 'query.metadata.__proto__', () =>
    list({ query: { metadata: { ...meta, ...JSON.parse('{"__proto__": 1}') } } }))
  add('list', "order 'sideways'", 'order', () => list({ order: 'sideways' }))
  add('list', 'nextToken a number', 'nextToken', () => list({ nextToken: 42 }))
  add('list', 'query.startedAfter a string', 'query.startedAfter must be a Date, got string', () =>
    list({ query: { metadata: meta, startedAfter: '2026-01-01' } }))
  add('list', 'options a number', 'opts', () => Sandbox.list(5).nextItems())

  // ── commands.run ────────────────────────────────────────────────────────────────────────
  const cmd = (c, o) => main.commands.run(c, o)
  add('commands.run', 'cmd a number', 'cmd must be a string, got number', () => cmd(42))
  add('commands.run', 'envs a string', 'envs', () => cmd('true', { envs: 'A=1' }))
  add('commands.run', 'envs value a number', 'envs.A', () => cmd('true', { envs: { A: 1 } }))
  add('commands.run', 'envs with an own __proto__ key holding a number', 'envs.__proto__', () => cmd('true', { envs: JSON.parse('{"__proto__": 1}') }))
  add('commands.run', 'cwd a number', 'cwd', () => cmd('true', { cwd: 7 }))
  add('commands.run', 'user an object', 'user', () => cmd('true', { user: {} }))
  add('commands.run', 'timeoutMs -1', 'timeoutMs', () => cmd('true', { timeoutMs: -1 }))
  add('commands.run', 'timeoutMs a string', 'timeoutMs', () => cmd('true', { timeoutMs: '1s' }))
  add('commands.run', 'requestTimeoutMs -1', 'requestTimeoutMs', () => cmd('true', { requestTimeoutMs: -1 }))
  add('commands.run', 'onStdout a string', 'onStdout', () => cmd('true', { onStdout: 'print' }))
  add('commands.run', 'background a string', 'background', () => cmd('true', { background: 'yes' }))
  add('commands.run', 'stdin a string', 'stdin must be a boolean, got string', () => cmd('true', { stdin: 'yes' }))
  add('commands.run', 'options with a getter that throws', 'cwd', () => cmd('true', throwingGetter('cwd')))
  add('commands.kill', 'pid a string', 'pid must be a number, got string', () => main.commands.kill('1'))
  add('commands.sendStdin', 'pid null', 'pid must be a number, got null', () => main.commands.sendStdin(null, 'x'))

  // ── files ───────────────────────────────────────────────────────────────────────────────
  const dir = `/tmp/bad-matrix-${run}`
  const f = () => main.files
  add('files.read', 'path a number', 'path must be a string, got number', () => f().read(42))
  add('files.read', "format 'hex'", 'format', () => f().read('/etc/hostname', { format: 'hex' }))
  add('files.read', 'path with NUL', 'path', () => f().read('/etc/host\0name'))
  add('files.read', 'user a number', 'user', () => f().read('/etc/hostname', { user: 0 }))
  add('files.read', 'requestTimeoutMs a string', 'requestTimeoutMs', () => f().read('/etc/hostname', { requestTimeoutMs: '5s' }))
  add('files.list', 'requestTimeoutMs NaN', 'requestTimeoutMs', () => f().list('/tmp', { requestTimeoutMs: NaN }))
  add('files.write', 'data a number', 'data', () => f().write(`${dir}/n`, 42))
  add('files.write', 'data an object', 'data', () => f().write(`${dir}/o`, { a: 1 }))
  add('files.write', 'user a number', 'user', () => f().write(`${dir}/u`, 'x', { user: 5 }))
  add('files.write', 'path with a lone surrogate', 'path', () => f().write(`${dir}/${LONE_SURROGATE}`, 'x'))
  add('files.write', 'path with NUL', 'path', () => f().write(`${dir}/a\0b`, 'x'))
  add('files.write', 'many, one path a number', 'path', () => f().write([{ path: `${dir}/ok`, data: 'x' }, { path: 5, data: 'x' }]))
  add('files.list', 'depth 0', 'depth', () => f().list('/tmp', { depth: 0 }))
  add('files.list', 'depth a string', 'depth', () => f().list('/tmp', { depth: 'deep' }))
  add('files.list', 'depth 1e308', 'depth', () => f().list('/tmp', { depth: 1e308 }))
  add('files.list', 'path an array', 'path must be a string, got array', () => f().list(['/tmp']))
  add('files.remove', 'path null', 'path must be a string, got null', () => f().remove(null))
  add('files.rename', 'newPath a number', 'newPath must be a string, got number', () => f().rename('/tmp/a', 5))
  add('files.rename', 'oldPath an object', 'oldPath must be a string, got object', () => f().rename({}, '/tmp/b'))
  add('files.makeDir', 'path an object', 'path must be a string, got object', () => f().makeDir({}))
  add('files.makeDir', 'path with NUL', 'path', () => f().makeDir(`${dir}/a\0b`))
  add('files.exists', 'path a number', 'path must be a string, got number', () => f().exists(5))
  add('files.watchDir', 'onEvent a string', 'onEvent', () => f().watchDir('/tmp', 'cb'))
  add('files.watchDir', 'recursive a string', 'recursive must be a boolean, got string', () => f().watchDir('/tmp', onData, { recursive: 'yes' }))
  add('files.watchDir', 'timeoutMs -1', 'timeoutMs', () => f().watchDir('/tmp', onData, { timeoutMs: -1 }))

  // ── pty ─────────────────────────────────────────────────────────────────────────────────
  add('pty', 'onData a string', 'onData', () => main.pty.create({ cols: 80, rows: 24, onData: 'x' }))
  add('pty', 'cols a string', 'cols', () => main.pty.create({ cols: '80', rows: 24, onData }))
  add('pty', 'rows 2**53+1', 'rows', () => main.pty.create({ cols: 80, rows: 2 ** 53 + 1, onData }))
  add('pty', 'envs value a number', 'envs.TERM', () => main.pty.create({ cols: 80, rows: 24, onData, envs: { TERM: 1 } }))
  add('pty', 'resize with cols -1', 'cols', () => main.pty.resize(1, { cols: -1, rows: 24 }))
  add('pty', 'sendInput with a pid that is a string', 'pid must be a number, got string', () => main.pty.sendInput('1', new Uint8Array([1])))

  // ── runCode ─────────────────────────────────────────────────────────────────────────────
  if (typeof main.runCode === 'function') {
    add('runCode', 'code a number', 'code must be a string, got number', () => main.runCode(42))
    add('runCode', 'language a number', 'language', () => main.runCode('1', { language: 5 }))
    add('runCode', 'envs value a number', 'envs.A', () => main.runCode('1', { envs: { A: 1 } }))
    add('runCode', 'timeoutMs a string', 'timeoutMs', () => main.runCode('1', { timeoutMs: 'x' }))
    add('runCode', 'onStdout a number', 'onStdout', () => main.runCode('1', { onStdout: 5 }))
  }

  // ── setTimeout, updateNetwork, getMetrics ───────────────────────────────────────────────
  add('setTimeout', 'timeoutMs a string', 'timeoutMs must be a number, got string', () => main.setTimeout('1000'))
  add('setTimeout', 'timeoutMs -1', 'timeoutMs', () => main.setTimeout(-1))
  add('setTimeout', 'timeoutMs 2**53+1', 'timeoutMs', () => main.setTimeout(2 ** 53 + 1))
  add('setTimeout', 'sandboxId a number (static)', 'sandboxId must be a string, got number', () => Sandbox.setTimeout(42, 1000, conn))
  add('updateNetwork', 'allowOut holding a number', 'network.allowOut', () => main.updateNetwork({ allowOut: [5] }))
  add('updateNetwork', 'denyOut a string', 'network.denyOut', () => main.updateNetwork({ denyOut: 'all' }))
  add('updateNetwork', 'network null', 'network', () => main.updateNetwork(null))
  add('getMetrics', 'start a string', 'start must be a Date, got string', () => main.getMetrics({ start: 'yesterday' }))
  add('getMetrics', 'end an invalid Date', 'end', () => main.getMetrics({ end: new Date(NaN) }))
  add('getMetrics', 'start a number', 'start must be a Date, got number', () => main.getMetrics({ start: 5 }))
  add('getHost', 'port a string', 'port must be a number, got string', () => main.getHost('80'))
  add('kill', 'sandboxId an object (static)', 'sandboxId must be a string, got object', () => Sandbox.kill({}, conn))
  add('getMetrics', 'sandboxId a number (static)', 'sandboxId must be a string, got number', () => Sandbox.getMetrics(5, conn))

  return cases
}

const MATRIX_GROUP = 'bad-matrix'
const checkName = (c) => `bad input: ${c.area} ${c.name} → InvalidArgumentError naming ${c.mentions}`
const LEFT_NOTHING = 'bad input: the refused calls left nothing behind (no sandbox, no file) and the sandbox still works'

export async function runBadInputScenario({ Sandbox, errors, conn, main, run, step, expectError, listAll }) {
  const made = []
  const cases = buildCases({ Sandbox, conn, main, run, made })
  const dir = `/tmp/bad-matrix-${run}`
  for (const c of cases) {
    await step(checkName(c), async () => {
      const err = await expectError(c.fn, { Class: errors.InvalidArgumentError, className: 'InvalidArgumentError', what: c.name })
      if (!err.message.includes(c.mentions)) fail(`the message does not name ${c.mentions}: ${err.message}`)
      if (conn.apiKey && err.message.includes(conn.apiKey)) fail('the message shows the API key')
      // A message quotes what it refused in part at most.
      if (err.message.length > 2_000) fail(`a message of ${err.message.length} characters`)
      return err.message
    }, { timeoutMs: 60_000 })
  }

  await step(LEFT_NOTHING, async () => {
    const left = made.map((s) => s.sandboxId)
    const listed = (await listAll({ ...conn, query: { metadata: { run, grp: MATRIX_GROUP } } })).map((i) => i.sandboxId)
    // Whatever a refused create made goes, pass or fail, so that the run's cleanup finds none.
    await Promise.allSettled([...new Set([...left, ...listed])].map((id) => Sandbox.kill(id, conn)))
    assertSameIds(left, [], 'sandboxes a refused create made')
    assertSameIds(listed, [], 'sandboxes listed under the matrix tag')
    assertEqual(await main.files.exists(dir), false, `${dir} exists`)
    const r = await main.commands.run('echo still working')
    assertEqual(r.stdout, 'still working\n', 'a command after the matrix')
    assert(cases.length >= 75, `only ${cases.length} cases`)
    return `${cases.length} cases`
  }, { timeoutMs: 60_000 })
  return cases.length
}

// Why the official `e2b` package fails each case it fails (tests/run-node.mjs lists them as
// expected failures). Most come down to one fact: e2b checks few types or values itself, so
// the value is sent as it is and either succeeds, or the server or the daemon's encoder
// refuses it with a SandboxError that is not InvalidArgumentError.
const SENT = 'e2b checks no type or value here: it sends it, and the server refuses the body (SandboxError 400)'
const ACCEPTED = 'e2b checks nothing here: it sends the value and the call succeeds'
const THROWN = "e2b reads the option itself: the getter's or the Proxy's own Error comes out as it is, not an SDK error"
const ENCODER = "e2b hands the value to the daemon protocol's encoder: an internal SandboxError ('cannot encode field …'), not InvalidArgumentError"
const TIMER = "e2b passes it to setTimeout as the request timeout: Node's own RangeError or TypeError"
const ID = 'e2b validates no sandbox ids: the request goes out and the server answers'
const DAEMON = 'e2b leaves the check to the daemon, whose answer is a SandboxError or AuthenticationError, not InvalidArgumentError'
const E2B_DIFFERS = {
  'create timeoutMs 1e308': SENT,
  'create timeoutMs 2**53+1': SENT,
  'create timeoutMs -Infinity': ACCEPTED + ' (JSON turns -Infinity / 1000 into null: the default timeout)',
  'create timeoutMs a BigInt': "e2b divides it by 1000: JavaScript's own TypeError (cannot mix BigInt and other types)",
  'create timeoutMs true': ACCEPTED + ' (true / 1000 is a number)',
  'create requestTimeoutMs -1': TIMER,
  'create requestTimeoutMs a string': TIMER,
  'commands.run requestTimeoutMs -1': "e2b hands it to the daemon protocol's client as the call's timeout, which has passed already: a TimeoutError, not InvalidArgumentError",
  'files.read requestTimeoutMs a string': TIMER,
  'files.list requestTimeoutMs NaN': ACCEPTED + ' (NaN leaves the call without a timeout)',
  'create mcp servers (no MCP gateway)': 'e2b sends it: sandkitd refuses it (SandboxError 400); against E2B it would start an MCP gateway',
  'create volumeMounts (no volumes)': 'e2b sends it: sandkitd refuses it (SandboxError 400); against E2B it would mount the volume',
  'create metadata an array': SENT,
  'create metadata a frozen array': SENT,
  'create metadata a number': SENT,
  'create metadata with an own __proto__ key holding a number': SENT,
  'create metadata with a constructor key holding an object': SENT,
  'create metadata with a prototype key holding a number': SENT,
  'create metadata with a getter that throws': THROWN,
  'create metadata a Proxy that refuses to be read': THROWN,
  'create metadata without a prototype holding a number': SENT,
  'create metadata value with a lone surrogate': SENT + ': JSON escapes the lone surrogate, which the server cannot read',
  'create metadata key with a lone surrogate': SENT + ': JSON escapes the lone surrogate, which the server cannot read',
  'create metadata value nested 10,000 objects deep': "e2b's JSON.stringify runs out of stack: a RangeError, not an SDK error",
  'create envs an array': SENT,
  'create envs value a number': SENT,
  'create envs with an own __proto__ key holding an object': SENT,
  'create envs with a getter that throws': THROWN,
  'create envs without a prototype holding a boolean': SENT,
  'create envs a Proxy that refuses to be read': THROWN,
  'create envs name with NUL': ACCEPTED,
  'create envs value with NUL': ACCEPTED,
  'create envs name that is empty': ACCEPTED,
  'create envs name with =': ACCEPTED,
  'create template a number': ACCEPTED + ' (a number is taken as the options, so the default template is used)',
  'create template option an object': SENT,
  'create template of 10 MB': 'e2b sends it: the server refuses the 10 MB body (SandboxError 413)',
  'create template with a lone surrogate': SENT + ': JSON escapes the lone surrogate, which the server cannot read',
  'create secure a string': ACCEPTED,
  'create allowInternetAccess a number': SENT,
  'create autoPause a string': ACCEPTED,
  'create lifecycle a string': ACCEPTED + ' (a string has no onTimeout)',
  "create lifecycle.onTimeout 'explode'": undefined,
  'create apiKey a number': 'e2b sends the number as the key: the server answers 401 (AuthenticationError)',
  'create apiKey with a line break': "e2b's fetch refuses the header with a TypeError, not an SDK error, whose message shows the whole API key",
  'create domain an object': ACCEPTED + ' (apiUrl wins over the domain)',
  'create debug a string': ACCEPTED + ' (a truthy string turns debug mode on)',
  'create options a string': ACCEPTED + ' (the second argument is ignored when it is not an object)',
  'create options a Proxy whose timeoutMs getter throws': THROWN,
  'create network.allowOut a frozen array holding a number': SENT,
  'connect sandboxId a number': ID + ' (404: SandboxNotFoundError)',
  'connect sandboxId with a lone surrogate': "e2b's encodeURIComponent throws URIError, not an SDK error",
  'connect sandboxId with right-to-left override': ID + ' (404: SandboxNotFoundError)',
  'connect sandboxId of 10 MB': ID + ' (431: SandboxError)',
  'connect timeoutMs a string': ACCEPTED,
  'connect timeoutMs 1e308': SENT,
  'list limit a string': SENT,
  'list limit 1.5': SENT,
  'list limit -1': SENT,
  'list limit 1e308': SENT,
  'list query a string': ACCEPTED + ' (a string has no metadata or state: everything is listed)',
  'list query.state a string': ACCEPTED + ' (the string is sent as the state list)',
  "list query.state ['sleeping']": SENT,
  'list query.metadata with an own __proto__ key holding a number': ACCEPTED + ' (the number is encoded as text)',
  "list order 'sideways'": SENT,
  'list nextToken a number': SENT,
  'list query.startedAfter a string': "e2b calls startedAfter.toISOString(): a TypeError, not an SDK error",
  'list options a number': ACCEPTED + ' (a number has no options: the environment is used)',
  'commands.run cmd a number': ENCODER,
  'commands.run envs a string': ACCEPTED + ' (the string is not sent)',
  'commands.run envs value a number': ENCODER,
  'commands.run envs with an own __proto__ key holding a number': ENCODER,
  'commands.run cwd a number': ENCODER,
  'commands.run user an object': DAEMON,
  'commands.run timeoutMs -1': ACCEPTED,
  'commands.run timeoutMs a string': "e2b sets the string as the stream's timeout: a TimeoutError at once",
  'commands.run onStdout a string': ACCEPTED + ' (the callback is never called: the command prints nothing)',
  'commands.run background a string': ACCEPTED + ' (a truthy string means background)',
  'commands.run stdin a string': ENCODER,
  'commands.run options with a getter that throws': THROWN,
  'commands.kill pid a string': ENCODER,
  'commands.sendStdin pid null': ENCODER,
  'files.read path a number': DAEMON,
  "files.read format 'hex'": "e2b calls response['hex'](): a TypeError, not an SDK error",
  'files.read path with NUL': DAEMON,
  'files.read user a number': DAEMON,
  'files.write data a number': ACCEPTED + ' (the number is written as text)',
  'files.write data an object': ACCEPTED + " (the object is written as '[object Object]')",
  'files.write user a number': DAEMON,
  'files.write path with a lone surrogate': "e2b's encodeURIComponent throws URIError, not an SDK error",
  'files.write path with NUL': 'e2b puts the NUL in a multipart header: the request fails with a message that names no field',
  'files.write many, one path a number': ACCEPTED + ' (the number is sent as a file name)',
  'files.list depth 0': undefined,
  'files.list depth a string': ENCODER,
  'files.list depth 1e308': 'e2b sends it: the daemon refuses the request, naming no field',
  'files.list path an array': ENCODER,
  'files.remove path null': DAEMON + ' (null is the home directory, which may not be removed)',
  'files.rename newPath a number': ENCODER,
  'files.rename oldPath an object': ENCODER,
  'files.makeDir path an object': ENCODER,
  'files.makeDir path with NUL': DAEMON,
  'files.exists path a number': ENCODER,
  'files.watchDir onEvent a string': ACCEPTED + ' (the string is kept as the callback)',
  'files.watchDir recursive a string': ENCODER,
  'files.watchDir timeoutMs -1': ACCEPTED,
  'pty onData a string': ACCEPTED + ' (the string is kept as the callback)',
  'pty cols a string': ENCODER,
  'pty rows 2**53+1': 'e2b sends it: the daemon refuses the request, naming no field',
  'pty envs value a number': ENCODER,
  'pty resize with cols -1': 'e2b sends it: the daemon refuses the request, naming no field',
  'pty sendInput with a pid that is a string': ENCODER,
  'setTimeout timeoutMs a string': ACCEPTED + " ('1000' / 1000 is 1)",
  'setTimeout timeoutMs -1': ACCEPTED,
  'setTimeout timeoutMs 2**53+1': SENT,
  'setTimeout sandboxId a number (static)': ID + ' (404: SandboxNotFoundError)',
  'updateNetwork allowOut holding a number': SENT,
  'updateNetwork denyOut a string': SENT,
  'updateNetwork network null': "e2b reads null.rules: a TypeError, not an SDK error",
  'getMetrics start a string': "e2b calls start.getTime(): a TypeError, not an SDK error",
  'getMetrics end an invalid Date': SENT,
  'getMetrics start a number': "e2b calls start.getTime(): a TypeError, not an SDK error",
  'getHost port a string': ACCEPTED + ' (the string becomes part of the host name)',
  'kill sandboxId an object (static)': ID + " ('[object Object]': 404, and kill answers false)",
  'getMetrics sandboxId a number (static)': ID + ' (404: SandboxNotFoundError)',
}

/** The matrix's checks the official `e2b` package fails, with why (for tests/run-node.mjs). */
export function badInputExpectedFailures() {
  const stub = { runCode() {} }
  const out = {}
  for (const c of buildCases({ Sandbox: null, conn: {}, main: stub, run: 'x', made: [] })) {
    const reason = E2B_DIFFERS[`${c.area} ${c.name}`]
    if (reason) out[checkName(c)] = reason
  }
  out[LEFT_NOTHING] = 'e2b makes the sandboxes of the creates it does not refuse (timeoutMs true or -Infinity, envs with NUL or =, secure or autoPause strings, …); the rest of the step passes'
  return out
}
