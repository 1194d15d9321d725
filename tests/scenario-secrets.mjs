// Secrets, in every runtime: the control plane (apiUrl) and the sandboxes' host (sandboxUrl)
// are reached through two recording proxies of the runner's (tests/harness/recorder.mjs) that
// forward to the same sandkitd, so what each host was sent can be told apart.
// - The whole surface is used on two sandboxes: create, getInfo, list, setTimeout, connect,
//   commands (run, streamed output, background), files (write, read, list, watchDir), pty,
//   runCode, a public URL with its traffic token, pause and resume, metrics, updateNetwork,
//   kill. The API key must reach the control plane (it is looked for there, so the search is
//   known to work) and nothing sent to the sandboxes' host; each access token must reach its
//   own sandbox and neither the control plane nor the other sandbox.
// - Errors are provoked (an unknown id, bad arguments, a wrong key, a 500 whose body echoes
//   the request's headers, a refused connection, a missing file, a failed command): none of
//   them, nor any object the calls returned, shows the API key or a token in String(),
//   .message, .stack, JSON.stringify or (Node) util.inspect.
//
//   await runSecretsScenario({ Sandbox, errors, conn, secrets, run, step, skip, track })
//
// `secrets` is { api: { url, controlUrl }, sandboxes: { url, controlUrl }, refusedUrl } from
// the runner (refusedUrl: an address where nothing listens).
import { assert, describeError, sleep } from './checks.mjs'

export const SECRETS_HOSTS_STEP = 'secrets: through recording proxies, the API key goes only to the control plane and each access token only to its own sandbox (create, getInfo, list, setTimeout, connect, commands, files, watchDir, pty, runCode, public URL, pause/resume, metrics, updateNetwork, kill)'
export const SECRETS_ERRORS_STEP = 'secrets: errors (unknown id, bad arguments, wrong key, a 500 echoing the request, refused connection, missing file, failed command) and the objects the calls returned show neither the API key nor a token (String, message, stack, JSON.stringify, util.inspect)'

async function control(recorder, what, body = {}) {
  const res = await fetch(`${recorder.controlUrl}/${what}`, { method: 'POST', body: JSON.stringify(body) })
  const text = await res.text()
  assert(res.status === 200, `recorder ${what}: ${res.status} ${text}`)
  return JSON.parse(text)
}

async function nodeInspect() {
  if (globalThis.process?.versions?.node && !globalThis.navigator?.userAgent?.includes('Cloudflare')) {
    return import('node:util').then((m) => m.inspect, () => null)
  }
  return null
}

/** Every way a value gets shown: String, JSON.stringify, and for errors message and stack. */
function renderings(name, value, inspect) {
  const out = []
  const safe = (what, fn) => {
    try {
      out.push([what, String(fn() ?? '')])
    } catch (err) {
      out.push([what, `(threw ${err?.message})`])
    }
  }
  safe(`String(${name})`, () => String(value))
  safe(`JSON.stringify(${name})`, () => JSON.stringify(value))
  if (value instanceof Error) {
    safe(`${name}.message`, () => value.message)
    safe(`${name}.stack`, () => value.stack)
  }
  if (inspect) safe(`util.inspect(${name})`, () => inspect(value, { depth: 8, showHidden: true }))
  return out
}

export async function runSecretsScenario({ Sandbox, errors, conn, secrets, run, step, skip, track = () => {} }) {
  if (!secrets) {
    skip(SECRETS_HOSTS_STEP, 'the runner started no recording proxies')
    skip(SECRETS_ERRORS_STEP, 'the runner started no recording proxies')
    return
  }
  const tag = `secrets-${Math.random().toString(36).slice(2, 10)}`
  const through = { ...conn, apiUrl: secrets.api.url, sandboxUrl: secrets.sandboxes.url }
  const badKey = 'sk_wrong_key_for_the_secrets_steps'
  // A key no HTTP header can carry: the error that says so must not repeat it.
  const unsendableKey = 'sk_unsendable_key\nwith_a_line_break'
  const inspect = await nodeInspect()
  let a
  let b
  const tokens = {}
  // Objects the calls returned, and errors they threw, for the rendering checks.
  const shown = []
  const errorsSeen = []
  const keep = (name, value) => shown.push([name, value])
  const catching = async (name, fn) => {
    try {
      const value = await fn()
      return { ok: true, value }
    } catch (err) {
      errorsSeen.push([name, err])
      return { ok: false, error: err }
    }
  }
  // What sandkitd itself knows of a sandbox's tokens, asked directly (not through a recorder).
  async function tokenOf(id) {
    const res = await fetch(`${conn.apiUrl}/sandboxes/${id}`, { headers: { 'X-API-Key': conn.apiKey } })
    const token = (await res.json()).envdAccessToken
    assert(typeof token === 'string' && token.length >= 16, `sandkitd gave no access token for ${id}`)
    return token
  }
  const needles = () => ({ apiKey: conn.apiKey, badKey, unsendableKey, unsendableKeyStart: 'sk_unsendable_key', tokenA: tokens.a, tokenB: tokens.b, trafficA: tokens.trafficA })

  function checkRenderings(list) {
    const texts = []
    for (const [name, value] of list) texts.push(...renderings(name, value, inspect))
    const leaks = []
    for (const [what, text] of texts) {
      for (const [label, needle] of Object.entries(needles())) {
        if (needle && text.includes(needle)) leaks.push(`${what} shows ${label}`)
      }
    }
    // Errors first: they are what a leak through a server's echo would show in.
    leaks.sort((x, y) => Number(!x.includes('error of')) - Number(!y.includes('error of')))
    assert(leaks.length === 0, `${leaks.length} renderings show a secret: ${leaks.slice(0, 12).join('; ')}`)
    return texts.length
  }

  await step(SECRETS_HOSTS_STEP, async () => {
    await control(secrets.api, 'reset')
    await control(secrets.sandboxes, 'reset')
    const done = []
    a = await Sandbox.create({ ...through, metadata: { run, secrets: tag, who: 'a' }, network: { allowPublicTraffic: false }, timeoutMs: 120_000 })
    track(a.sandboxId)
    b = await Sandbox.create({ ...through, metadata: { run, secrets: tag, who: 'b' }, timeoutMs: 120_000 })
    track(b.sandboxId)
    tokens.a = await tokenOf(a.sandboxId)
    tokens.b = await tokenOf(b.sandboxId)
    tokens.trafficA = a.trafficAccessToken
    assert(typeof tokens.trafficA === 'string' && tokens.trafficA.length >= 16, 'sandbox a has no traffic access token')
    keep('sandbox', a)
    done.push('create')

    keep('info', await a.getInfo())
    keep('static info', await Sandbox.getInfo(b.sandboxId, through))
    const page = await Sandbox.list({ ...through, query: { metadata: { run, secrets: tag } } }).nextItems()
    assert(page.length === 2, `listed ${page.length} sandboxes, not 2`)
    keep('list page', page)
    await a.setTimeout(120_000)
    await Sandbox.setTimeout(b.sandboxId, 120_000, through)
    const connected = await Sandbox.connect(a.sandboxId, through)
    keep('connected sandbox', connected)
    done.push('getInfo, list, setTimeout, connect')

    // Commands: whole, streamed, in the background.
    const out = []
    const ran = await connected.commands.run('echo secrets-ok; echo err >&2', { onStdout: (d) => out.push(d) })
    assert(ran.stdout.includes('secrets-ok') && out.join('').includes('secrets-ok'), `command output: ${JSON.stringify(ran)}`)
    keep('command result', ran)
    const bg = await b.commands.run('sleep 0.2; echo bg', { background: true })
    keep('background handle', bg)
    keep('background result', await bg.wait())
    done.push('commands')

    // Files, and a watch seeing a write.
    await a.files.makeDir('/home/user/watched')
    const events = []
    const watch = await a.files.watchDir('/home/user/watched', (e) => events.push(e))
    keep('write info', await a.files.write('/home/user/watched/f.txt', 'secret-free data'))
    await b.files.write('/home/user/b.txt', 'b data')
    assert((await a.files.read('/home/user/watched/f.txt')) === 'secret-free data', 'files.read')
    assert((await b.files.read('/home/user/b.txt')) === 'b data', 'files.read of b')
    keep('files list', await a.files.list('/home/user/watched'))
    for (let i = 0; i < 50 && events.length === 0; i++) await sleep(100)
    await watch.stop()
    assert(events.length > 0, 'watchDir saw no event')
    keep('watch events', events)
    done.push('files, watchDir')

    // A terminal.
    if (a.pty) {
      const seen = []
      const term = await a.pty.create({ cols: 80, rows: 24, onData: (d) => seen.push(d) })
      await a.pty.sendInput(term.pid, new TextEncoder().encode('echo pty-$((6*7))\n'))
      for (let i = 0; i < 50; i++) {
        if (new TextDecoder().decode(new Uint8Array(seen.flatMap((c) => [...c]))).includes('pty-42')) break
        await sleep(100)
      }
      await a.pty.kill(term.pid)
      keep('pty handle', term)
      done.push('pty')
    }

    // The code interpreter.
    if (typeof a.runCode === 'function') {
      const execution = await a.runCode('print(6 * 7)')
      assert(execution.logs.stdout.join('').includes('42'), `runCode: ${JSON.stringify(execution.logs)}`)
      keep('execution', execution)
      done.push('runCode')
    }

    // A public URL of the protected sandbox, with its traffic token.
    if (typeof a.fetch === 'function') {
      await a.commands.run('cd /tmp && echo public-ok > index.html && python3 -m http.server 8000', { background: true })
      let body = ''
      for (let i = 0; i < 100 && !body.includes('public-ok'); i++) {
        const res = await a.fetch(8000, '/index.html').catch(() => null)
        body = res && res.status === 200 ? await res.text() : ''
        if (!body.includes('public-ok')) await sleep(100)
      }
      assert(body.includes('public-ok'), 'the public URL never answered')
      done.push('public URL')
    }

    // Metrics, network, pause and resume, kill.
    keep('metrics', await a.getMetrics())
    if (typeof a.updateNetwork === 'function') {
      const r = await catching('updateNetwork', () => a.updateNetwork({ allowOut: ['1.1.1.1'], denyOut: ['0.0.0.0/0'] }))
      done.push(r.ok ? 'updateNetwork' : `updateNetwork (failed: ${r.error?.name})`)
    }
    const pause = typeof b.pause === 'function' ? () => b.pause() : () => b.betaPause()
    await pause()
    const resumed = await Sandbox.connect(b.sandboxId, through)
    assert((await resumed.commands.run('echo resumed')).stdout.includes('resumed'), 'resumed sandbox runs commands')
    done.push('metrics, pause, resume')
    await a.kill()
    await Sandbox.kill(b.sandboxId, through)
    done.push('kill')

    // What each host was sent.
    const api = (await control(secrets.api, 'scan', { needles: needles() })).requests
    const sbx = (await control(secrets.sandboxes, 'scan', { needles: needles() })).requests
    const problems = []
    for (const r of api) {
      for (const f of r.found) if (f.label !== 'apiKey') problems.push(`control plane got ${f.label} (${f.where}) with ${r.method} ${r.path}`)
    }
    for (const r of sbx) {
      for (const f of r.found) {
        const own = (r.sandboxId === a.sandboxId && (f.label === 'tokenA' || f.label === 'trafficA')) || (r.sandboxId === b.sandboxId && f.label === 'tokenB')
        if (!own) problems.push(`sandbox host got ${f.label} (${f.where}) with ${r.method} ${r.path} for ${r.sandboxId}`)
      }
    }
    assert(problems.length === 0, problems.slice(0, 5).join('; '))
    // The searches find what is there: the key on the control plane, each token with its sandbox.
    const withKey = api.filter((r) => r.found.some((f) => f.label === 'apiKey' && /x-api-key|authorization/.test(f.where)))
    const calls = api.filter((r) => r.method !== 'OPTIONS')
    assert(calls.length >= 10 && withKey.length === calls.length, `${withKey.length} of ${calls.length} control-plane requests carried the API key`)
    for (const [label, id] of [['tokenA', a.sandboxId], ['tokenB', b.sandboxId]]) {
      assert(sbx.some((r) => r.sandboxId === id && r.found.some((f) => f.label === label && f.where === 'x-access-token')), `no request to sandbox ${id} carried its access token`)
    }
    if (done.includes('public URL')) {
      assert(sbx.some((r) => r.port === '8000' && r.found.some((f) => f.label === 'trafficA' && f.where === 'e2b-traffic-access-token')), 'the public URL request did not carry the traffic token')
    }
    // sandkitd's logs of each sandbox (what `e2b sandbox logs` shows), asked directly.
    let logLines = 0
    for (const s of [a, b]) {
      const res = await fetch(`${conn.apiUrl}/v2/sandboxes/${s.sandboxId}/logs?limit=1000`, { headers: { 'X-API-Key': conn.apiKey } })
      const text = await res.text()
      assert(res.status === 200, `logs of ${s.sandboxId}: ${res.status} ${text}`)
      assert(text.includes('secrets-ok') || text.includes('resumed') || text.includes('echo'), `the logs of ${s.sandboxId} show none of its commands: ${text.slice(0, 300)}`)
      for (const [label, needle] of Object.entries(needles())) {
        assert(!needle || !text.includes(needle), `the logs of ${s.sandboxId} show ${label}`)
      }
      logLines += (text.match(/"message"/g) ?? []).length
    }
    const paths = new Set(sbx.map((r) => r.path.split('?')[0]))
    return `${done.join(', ')}; ${calls.length} control-plane requests, ${sbx.length} to the sandboxes' host (${[...paths].length} paths); ${logLines} sandbox log lines`
  }, { timeoutMs: 180_000 })

  await step(SECRETS_ERRORS_STEP, async () => {
    assert(tokens.a && tokens.b, 'the previous step made no sandboxes')
    await control(secrets.api, 'reset')
    await control(secrets.sandboxes, 'reset')
    const c = await Sandbox.create({ ...through, metadata: { run, secrets: `${tag}-errors` }, network: { allowPublicTraffic: false }, timeoutMs: 120_000 })
    track(c.sandboxId)
    // The needles a and b stand for now are c's.
    tokens.a = await tokenOf(c.sandboxId)
    tokens.trafficA = c.trafficAccessToken
    const want = (name, r) => assert(!r.ok, `${name} did not fail`)
    try {
      want('getInfo of an unknown id', await catching('getInfo of an unknown id', () => Sandbox.getInfo('sandkit-no-such-sandbox', through)))
      want('connect to an unknown id', await catching('connect to an unknown id', () => Sandbox.connect('sandkit-no-such-sandbox', through)))
      want('a wrong API key', await catching('a wrong API key', () => Sandbox.list({ ...through, apiKey: badKey }).nextItems()))
      want('getInfo with a wrong API key', await catching('getInfo with a wrong API key', () => Sandbox.getInfo(c.sandboxId, { ...through, apiKey: badKey })))
      want('a missing file', await catching('a missing file', () => c.files.read('/home/user/no-such-file')))
      want('a failed command', await catching('a failed command', () => c.commands.run('echo out; exit 3')))
      // Bad arguments: SDKs that check them throw at once; others send them and fail there.
      await catching('setTimeout -5', () => Sandbox.setTimeout(c.sandboxId, -5, through))
      await catching('metadata a number', () => Sandbox.create({ ...through, metadata: { a: 1 } }))
      await catching('a read of a non-string path', () => c.files.read(5))
      want('an API key with a line break', await catching('an API key with a line break', () => Sandbox.getInfo(c.sandboxId, { ...through, apiKey: unsendableKey })))
      // Refused connections, to either host.
      want('getInfo, refused', await catching('getInfo, refused', () => Sandbox.getInfo(c.sandboxId, { ...through, apiUrl: secrets.refusedUrl, retries: 0 })))
      const refused = await catching('connect with a refused sandboxUrl', () => Sandbox.connect(c.sandboxId, { ...through, sandboxUrl: secrets.refusedUrl, retries: 0 }))
      if (refused.ok) {
        want('files.read, refused', await catching('files.read, refused', () => refused.value.files.read('/home/user/x')))
        want('commands.run, refused', await catching('commands.run, refused', () => refused.value.commands.run('true')))
      }
      // A 500 that echoes the request's headers, secrets and all, at each kind of call.
      const echoes = [
        [secrets.api, `/sandboxes/${c.sandboxId}`, 'getInfo', () => Sandbox.getInfo(c.sandboxId, through)],
        [secrets.api, '/v2/sandboxes', 'list', () => Sandbox.list({ ...through, query: { metadata: { run } } }).nextItems()],
        [secrets.sandboxes, '/files', 'files.read', () => c.files.read('/home/user/x')],
        [secrets.sandboxes, '/filesystem.Filesystem/ListDir', 'files.list', () => c.files.list('/home/user')],
        [secrets.sandboxes, '/process.Process/Start', 'commands.run', () => c.commands.run('echo hi')],
      ]
      if (typeof c.runCode === 'function') echoes.push([secrets.sandboxes, '/execute', 'runCode', () => c.runCode('1')])
      if (typeof c.fetch === 'function') {
        // sandbox.fetch hands back the server's answer as it is (a Response): not an SDK error.
        keep('public URL answer', await c.fetch(8000, '/').catch((err) => err))
      }
      for (const [recorder, match, what, call] of echoes) {
        await control(recorder, 'plan', { fail: { match, status: 500 } })
        try {
          want(`${what} answered 500`, await catching(`${what} answered 500 echoing the request`, call))
        } finally {
          await control(recorder, 'plan', {})
        }
      }
      // The echoes did carry the secrets back: the errors had them to show.
      const api = (await control(secrets.api, 'scan', { needles: needles() })).requests
      const sbx = (await control(secrets.sandboxes, 'scan', { needles: needles() })).requests
      const echoed = new Set([...api, ...sbx].flatMap((r) => r.echoed))
      assert(echoed.has('apiKey') && echoed.has('tokenA'), `the injected 500s echoed ${JSON.stringify([...echoed])}, not the API key and the access token`)
      keep('sandbox', c)
      for (const [name, err] of errorsSeen) keep(`error of ${name}`, err)
      const rendered = checkRenderings(shown)
      const names = errorsSeen.map(([name, err]) => `${name}: ${err?.name}`)
      return `${errorsSeen.length} errors (${names.join('; ')}); ${rendered} renderings`
    } catch (err) {
      if (errorsSeen.length) err.message += ` (errors so far: ${errorsSeen.map(([n, e]) => `${n}: ${describeError(e)}`).join(' | ').slice(0, 600)})`
      throw err
    } finally {
      await Sandbox.kill(c.sandboxId, conn).catch(() => {})
    }
  }, { timeoutMs: 120_000 })
}
