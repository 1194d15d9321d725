// Part of the sandbox scenario (called from scenario-commands.mjs with its runner and a running
// sandbox `a`): the SDK behaves as the official one: error texts, result keys, rejections, lifecycle,
// list queries, signatures, exports.
import { assert, assertEqual, describeError, fail, show } from './checks.mjs'

export async function runSdkConformance({ Sandbox, errors, conn, config, a, create, step, expectError }) {
  // Async methods given arguments of the wrong type. Each must hand back a promise (the
  // official package's are all `async`), so `.catch()` and `expect(...).rejects` see the error.
  const badCalls = [
    ['Sandbox.create(42)', () => Sandbox.create(42, conn)],
    ['Sandbox.connect(42)', () => Sandbox.connect(42, conn)],
    ['Sandbox.getInfo(42)', () => Sandbox.getInfo(42, conn)],
    ['Sandbox.kill(42)', () => Sandbox.kill(42, conn)],
    ['Sandbox.setTimeout(42, 1000)', () => Sandbox.setTimeout(42, 1000, conn)],
    ["sandbox.setTimeout('soon')", () => a.setTimeout('soon')],
    ['sandbox.files.read(42)', () => a.files.read(42)],
    ['sandbox.files.list(42)', () => a.files.list(42)],
    ['sandbox.files.makeDir(42)', () => a.files.makeDir(42)],
    ['sandbox.commands.run(42)', () => a.commands.run(42)],
    ["sandbox.commands.kill('x')", () => a.commands.kill('x')],
    ["sandbox.pty.create({ cols: 'wide' })", () => a.pty.create({ cols: 'wide', rows: 24, onData: () => {} })],
    ["sandbox.pty.resize('x', …)", () => a.pty.resize('x', { cols: 80, rows: 24 })],
  ]
  await step('errors: daemon RPC errors carry the Connect code in brackets, as the official SDK words them', async () => {
    const missing = await expectError(() => a.files.getInfo('/no/such/file'), {
      Class: errors.FileNotFoundError,
      className: 'FileNotFoundError',
      what: 'getInfo of a missing path',
    })
    assert(missing.message.startsWith('[not_found] '), `getInfo: ${missing.message}`)
    const user = await expectError(() => a.commands.run('true', { user: 'no-such-user' }), {
      Class: errors.AuthenticationError,
      className: 'AuthenticationError',
      what: 'a command as an unknown user',
    })
    assertEqual(user.message, "[unauthenticated] invalid username: 'no-such-user'", 'unknown user')
    const pid = await expectError(() => a.commands.connect(999_999), {
      Class: errors.NotFoundError,
      className: 'NotFoundError',
      what: 'connect to a pid that does not exist',
    })
    assert(pid.message.startsWith('[not_found] '), `connect: ${pid.message}`)
    const slow = await expectError(() => a.commands.run('sleep 5', { timeoutMs: 300 }), {
      Class: errors.TimeoutError,
      className: 'TimeoutError',
      what: 'a command past its timeoutMs',
    })
    assert(slow.message.startsWith('[deadline_exceeded] the operation timed out: '), `timeout: ${slow.message}`)
  })

  await step('sdk: useSignatureExpiration takes a negative count, making an already-expired URL', async () => {
    await a.files.write('expired.txt', 'x')
    const url = await a.downloadUrl('expired.txt', { useSignatureExpiration: -60 })
    const expiration = Number(new URL(url).searchParams.get('signature_expiration'))
    const now = Math.floor(Date.now() / 1000)
    assert(expiration <= now - 59 && expiration >= now - 70, `signature_expiration ${expiration}, now ${now}`)
    if (config.rawFetch) assertEqual((await config.rawFetch(url)).status, 401, 'status of the expired URL')
  })

  await step('list: query.startedAfter and query.template are sent and filter the listing', async () => {
    const tag = `sdk-${Date.now().toString(36)}`
    const first = await create({ metadata: { tag } })
    await new Promise((r) => setTimeout(r, 20))
    const second = await create({ metadata: { tag } })
    const { startedAt } = await second.getInfo()
    const ids = async (query) => {
      const found = []
      const pages = Sandbox.list({ ...conn, query: { metadata: { tag }, ...query } })
      while (pages.hasNext) for (const info of await pages.nextItems()) found.push(info.sandboxId)
      return found.sort()
    }
    assertEqual(show(await ids({ startedAfter: startedAt })), show([second.sandboxId]), 'started at or after the second')
    assertEqual(show(await ids({ template: 'base' })), show([first.sandboxId, second.sandboxId].sort()), 'template base')
    assertEqual(show(await ids({ template: 'sandkit-no-such-template' })), '[]', 'another template')
    await Promise.all([first.kill(), second.kill()])
  })

  await step('sdk: lifecycle.onTimeout in both forms, refused as the official SDK refuses it', async () => {
    const refused = [
      [{ onTimeout: 'sleep' }, 'onTimeout must be one of: pause, kill (got "sleep").'],
      [{ onTimeout: { action: 'kill', keepMemory: true } }, "onTimeout.keepMemory is only allowed when action is 'pause'."],
      [{ onTimeout: 'kill', autoResume: true }, "autoResume can only be true when onTimeout action is 'pause'."],
      [
        { onTimeout: { action: 'pause', keepMemory: false }, autoResume: true },
        'autoResume: true is not a valid value when keepMemory: false - a filesystem-only snapshot cannot be auto-resumed by traffic and must be resumed explicitly using Sandbox.connect().',
      ],
    ]
    for (const [lifecycle, message] of refused) {
      const err = await expectError(() => create({ lifecycle }), {
        Class: errors.InvalidArgumentError,
        className: 'InvalidArgumentError',
        what: show(lifecycle),
      })
      assertEqual(err.message, message, show(lifecycle))
    }
    // A pause without memory at the timeout is a reboot on resume; with memory it is what a
    // paused sandbox's getInfo reports.
    const reboot = await create({ lifecycle: { onTimeout: { action: 'pause', keepMemory: false } } })
    assertEqual((await reboot.getInfo()).lifecycle?.onTimeout, 'pause', 'lifecycle.onTimeout without memory')
    await reboot.kill()
    const pausing = await create({ lifecycle: { onTimeout: { action: 'pause', keepMemory: true } } })
    assertEqual((await pausing.getInfo()).lifecycle?.onTimeout, 'pause', 'lifecycle.onTimeout of a pausing sandbox')
    await pausing.kill()
    const killed = await create({ lifecycle: { onTimeout: { action: 'kill' }, autoResume: false } })
    const info = await killed.getInfo()
    assertEqual(info.lifecycle?.onTimeout, 'kill', 'lifecycle.onTimeout')
    await killed.kill()
  })

  await step('sdk: ConnectionConfig, FileType, FilesystemEventType and getSignature are exported and agree with the daemon', async () => {
    const { ConnectionConfig, FileType, FilesystemEventType, getSignature } = errors
    const cfg = new ConnectionConfig({ apiUrl: conn.apiUrl, sandboxUrl: conn.sandboxUrl })
    assertEqual(show([cfg.apiUrl, cfg.sandboxUrl, cfg.debug]), show([conn.apiUrl, conn.sandboxUrl, false]), 'ConnectionConfig fields')
    assertEqual(cfg.getHost('abc', 3000, 'example.com'), '3000-abc.example.com', 'getHost')
    assertEqual(cfg.getSandboxUrl('abc', { sandboxDomain: 'example.com', envdPort: 49983 }), conn.sandboxUrl, 'getSandboxUrl')
    assertEqual(new ConnectionConfig({ debug: true }).getHost('abc', 3000, 'example.com'), 'localhost:3000', 'getHost in debug mode')
    const direct = new ConnectionConfig({ apiUrl: conn.apiUrl, domain: 'example.com' })
    // E2B_SANDBOX_URL, where the runner sets it (the e2b run), wins over the sandbox's own host.
    const directUrl = direct.sandboxUrl ?? 'https://49983-abc.example.com'
    assertEqual(direct.getSandboxDirectUrl('abc', { sandboxDomain: 'example.com', envdPort: 49983 }), directUrl, 'getSandboxDirectUrl')
    assertEqual(ConnectionConfig.envdPort, 49983, 'ConnectionConfig.envdPort')
    assertEqual((await a.files.getInfo('/home/user')).type, FileType?.DIR, 'FileType.DIR')
    assertEqual(show(Object.values(FilesystemEventType ?? {}).sort()), show(['chmod', 'create', 'remove', 'rename', 'write']), 'FilesystemEventType')
    const opts = { path: '/home/user/a.txt', operation: 'read', user: 'user', envdAccessToken: 'token' }
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode('/home/user/a.txt:read:user:token'))
    const expected = `v1_${btoa(String.fromCharCode(...new Uint8Array(digest))).replace(/=+$/, '')}`
    const plain = await getSignature(opts)
    assertEqual(show(plain), show({ signature: expected, expiration: null }), 'signature without expiry')
    const timed = await getSignature({ ...opts, expirationInSeconds: 60 })
    const now = Math.floor(Date.now() / 1000)
    assert(timed.expiration >= now + 59 && timed.expiration <= now + 61, `expiration ${timed.expiration}`)
    const missing = getSignature({ ...opts, envdAccessToken: undefined })
    assert(typeof missing.then === 'function', 'getSignature returns a promise')
    const err = await missing.then(() => fail('signed without a token'), (e) => e)
    assertEqual(err.message, 'Access token is not set and signature cannot be generated!', 'no token')
  })

  const outcomes = []
  await step('sdk: async methods given bad arguments return a promise; none throws synchronously', async () => {
    for (const [what, call] of badCalls) {
      let returned
      try {
        returned = call()
      } catch (err) {
        fail(`${what} threw synchronously: ${describeError(err)}`)
      }
      assert(typeof returned?.then === 'function', `${what} returned ${show(returned)}, not a promise`)
      outcomes.push([what, await returned.then((value) => ({ value }), (error) => ({ error }))])
    }
  })

  await step('sdk: async methods given bad arguments reject with InvalidArgumentError', async () => {
    assertEqual(outcomes.length, badCalls.length, 'calls made by the previous step')
    for (const [what, outcome] of outcomes) {
      if (!('error' in outcome)) fail(`${what} resolved with ${show(outcome.value)}`)
      await expectError(() => Promise.reject(outcome.error), {
        Class: errors.InvalidArgumentError,
        className: 'InvalidArgumentError',
        what,
      })
    }
  })
}
