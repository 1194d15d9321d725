// Runs the shared scenario in headless Chromium (playwright-core driving Debian's chromium),
// with sandkit's `wasm/browser.mjs` entry, against a sandkitd started here in Node.
//
//   node tests/run-chromium.mjs [--entry wasm/browser.mjs] [--bulk N] [--headed] [--steps REGEX]
//
// --steps runs only the scenario steps whose names match (a developer's filter: steps that
// need the fixtures of skipped ones then fail).
//
// The repository is served by a small static server (correct `application/wasm` and
// `text/javascript` types) on its own port, so the page's origin differs from sandkitd's and
// every API call is a CORS request. The page imports the entry and tests/scenario.mjs, runs
// the scenario with `dangerouslyAllowBrowser: true`, and then checks that the same calls
// without that flag are refused (AuthenticationError or InvalidArgumentError) and created
// nothing. Check results reach this process through the console, the summary through
// page.evaluate.
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join, resolve, sep } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, TEAM_B_KEY, limitedOptions, startLimitedSandkitd, startRestartableSandkitd, startSandkitd } from './harness/sandkitd.mjs'
import { plantHostFixtures } from './harness/hostile.mjs'
import { startRedirector } from './harness/redirector.mjs'
import { startFaultProxy } from './harness/faults.mjs'
import { startSecretsRecorders } from './harness/recorder.mjs'
import { startWorldForRunner } from './harness/outside.mjs'
import { finish, printCheck, runGuard } from './harness/report.mjs'

const { values } = parseArgs({
  options: {
    entry: { type: 'string', default: 'wasm/browser.mjs' },
    bulk: { type: 'string' },
    headed: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
    steps: { type: 'string' },
  },
})
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
const PAGE_PATH = '/__sandkit_test__/index.html'

const { cleanups, cleanup, bail } = runGuard('chromium', Number(values.timeout))

const entryRel = values.entry.replace(/^\.?\//, '')
if (!existsSync(resolve(REPO_ROOT, entryRel))) await bail('chromium: entry module', new Error(`${values.entry} does not exist (build the wasm package first)`))
if (!existsSync(CHROMIUM)) await bail('chromium: browser', new Error(`${CHROMIUM} does not exist: apt-get install chromium, or set CHROMIUM_PATH`))

let chromium
try {
  ;({ chromium } = await import('playwright-core'))
} catch (err) {
  await bail('chromium: load playwright-core', err)
}

// ── static server ─────────────────────────────────────────────────────────────────────────
const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.cjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>sandkit scenario</title>
<script type="module">
  try {
    const sdk = await import('/${entryRel}')
    const { runPanicScenario, runScenario } = await import('/tests/scenario.mjs')
    const { runCommandsScenario } = await import('/tests/scenario-commands.mjs')
    window.__sandkit = { sdk, runScenario, runPanicScenario, runCommandsScenario }
    window.__ready = true
  } catch (err) {
    window.__loadError = String((err && err.stack) || err)
  }
</script>
`
const root = resolve(REPO_ROOT)
const staticServer = createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end()
    return
  }
  if (url.pathname === PAGE_PATH) {
    res.writeHead(200, { 'content-type': MIME['.html'], 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : PAGE)
    return
  }
  let file
  try {
    file = resolve(root, `.${decodeURIComponent(url.pathname)}`)
  } catch {
    res.writeHead(400).end()
    return
  }
  // Only files inside the repository; no dot-directories (.git, .tmp is allowed for stubs).
  const rel = file.slice(root.length + 1)
  if ((file !== root && !file.startsWith(root + sep)) || rel.split(sep).some((p) => p.startsWith('.') && p !== '.tmp')) {
    res.writeHead(403).end()
    return
  }
  let st
  try {
    st = statSync(file)
  } catch {
    res.writeHead(404, { 'content-type': MIME['.txt'] }).end('not found')
    return
  }
  if (!st.isFile()) {
    res.writeHead(404, { 'content-type': MIME['.txt'] }).end('not a file')
    return
  }
  res.writeHead(200, {
    'content-type': MIME[extname(file)] ?? 'application/octet-stream',
    'content-length': st.size,
    'cache-control': 'no-store',
  })
  if (req.method === 'HEAD') res.end()
  else createReadStream(file).pipe(res)
})
await new Promise((r) => staticServer.listen(0, '127.0.0.1', r))
cleanups.push(() => new Promise((r) => staticServer.close(r)))
staticServer.unref()
const pageOrigin = `http://127.0.0.1:${staticServer.address().port}`

// ── sandkitd and the browser ──────────────────────────────────────────────────────────────
let server
let limited
let restartable
let host
// The test's outside world for the network steps; sandkitd sends sandboxes' DNS to its server.
const world = await startWorldForRunner()
cleanups.push(() => world.stop())
console.log(`# outside world: ${world.description ? `${world.description.namespace}, ${world.description.subnet}, DNS ${world.description.dns}` : world.config.unavailable}`)
try {
  // Planted before sandkitd starts (it hides what the host keeps private when it starts).
  host = plantHostFixtures()
  server = await startSandkitd({ args: world.args })
  cleanups.push(() => server.stop())
  // Small rate limits, for the scenario's rate-limit steps alone.
  limited = await startLimitedSandkitd()
  cleanups.push(() => limited.stop())
  // A state directory, and a host-side control server that restarts it, for the restart steps.
  restartable = await startRestartableSandkitd()
  cleanups.push(() => restartable.stop())
} catch (err) {
  await bail('start sandkitd', err)
}
const apiOrigin = new URL(server.apiUrl).origin
if (apiOrigin === pageOrigin) await bail('chromium: page and API on different origins', new Error(`both are ${pageOrigin}`))
console.log(`# page at ${pageOrigin}${PAGE_PATH} imports /${entryRel}; sandkitd ${server.version} at ${apiOrigin} (cross-origin)`)

const profile = mkdtempSync(join(tmpdir(), 'sandkit-chromium-'))
cleanups.push(() => rmSync(profile, { recursive: true, force: true }))
let context
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: !values.headed,
    args: CHROMIUM_ARGS,
  })
  cleanups.push(() => context.close())
} catch (err) {
  await bail('chromium: launch', err)
}

const page = context.pages()[0] ?? (await context.newPage())
const diagnostics = []
page.on('console', (msg) => {
  const text = msg.text()
  if (text.startsWith('SANDKIT_CHECK ')) {
    try {
      printCheck(JSON.parse(text.slice('SANDKIT_CHECK '.length)))
    } catch {}
  } else if (text.startsWith('SANDKIT_LOG ')) {
    console.log(`# ${text.slice('SANDKIT_LOG '.length)}`)
  } else if (msg.type() === 'error' || msg.type() === 'warning') {
    diagnostics.push(`console.${msg.type()}: ${text}`)
  }
})
page.on('pageerror', (err) => diagnostics.push(`pageerror: ${err.message}`))
page.on('requestfailed', (req) => diagnostics.push(`request failed: ${req.method()} ${req.url()} — ${req.failure()?.errorText}`))
page.on('response', (res) => {
  if (res.url().startsWith(pageOrigin) && res.status() >= 400) diagnostics.push(`static ${res.status()}: ${res.url()}`)
})
const printDiagnostics = () => {
  for (const d of diagnostics.slice(-30)) console.log(`#   ${d}`)
}

try {
  await page.goto(`${pageOrigin}${PAGE_PATH}`)
  await page.waitForFunction(() => window.__ready || window.__loadError, null, { timeout: 30_000 })
  const loadError = await page.evaluate(() => window.__loadError)
  if (loadError) throw new Error(`importing /${entryRel} failed in the page: ${loadError}`)
  const ua = await page.evaluate(() => navigator.userAgent)
  console.log(`# ${ua}`)
} catch (err) {
  printDiagnostics()
  await bail('chromium: load the entry and the scenario', err)
}

// ── run ───────────────────────────────────────────────────────────────────────────────────
const opts = {
  apiKey: server.apiKey,
  apiUrl: server.apiUrl,
  sandboxUrl: server.sandboxUrl,
  otherTeamKey: server.otherTeamKey,
  redirectUrl: (await startRedirector(server.apiUrl)).url,
  dangerouslyAllowBrowser: true,
}
// A fault-injecting proxy in front of the main sandkitd (scenario-faults.mjs).
const faultProxy = await startFaultProxy(server.apiUrl)
// At most 6 connections to one host at once, CORS preflights and the proxy's control calls
// among them: a call queued behind stalled ones would miss its deadline.
const faults = { url: faultProxy.url, controlUrl: faultProxy.controlUrl, concurrency: 3, ...(process.env.SANDKIT_FAULT_SEED ? { seed: Number(process.env.SANDKIT_FAULT_SEED) } : {}) }
// Recording proxies in front of the control plane and the sandboxes (scenario-secrets.mjs).
const recorders = await startSecretsRecorders(server)
cleanups.push(() => recorders.stop())
const config = { faults, secrets: recorders.config, limited: limitedOptions(limited), restartable: restartable.options, network: world.config, ...(values.bulk ? { bulk: Number(values.bulk) } : {}), ...(values.steps ? { steps: values.steps } : {}) }
let summary
try {
  summary = await page.evaluate(
    async ({ opts, config, commandsConfig }) => {
      const { sdk, runScenario, runPanicScenario, runCommandsScenario } = window.__sandkit
      const report = (r) => console.log(`SANDKIT_CHECK ${JSON.stringify(r)}`)
      const summary = await runScenario({
        Sandbox: sdk.Sandbox,
        errors: sdk,
        opts,
        config,
        log: (line) => console.log(`SANDKIT_LOG ${line}`),
        check: report,
      })
      // Commands in real sandboxes, from a page on another origin (CORS on every call).
      if ('commands' in sdk.Sandbox.prototype) {
        const more = await runCommandsScenario({
          Sandbox: sdk.Sandbox,
          errors: sdk,
          opts,
          config: { ...commandsConfig, rawFetch: (...args) => fetch(...args) },
          log: (line) => console.log(`SANDKIT_LOG ${line}`),
          check: report,
        })
        summary.passed += more.passed
        summary.failed += more.failed
      }

      // The browser-only rule: an apiKey without dangerouslyAllowBrowser is refused, before
      // anything is sent (nothing gets created).
      const name = 'browser: apiKey without dangerouslyAllowBrowser is refused (create, list, getInfo, kill, connect, setTimeout)'
      const started = Date.now()
      const result = { name, ok: true }
      try {
        const { dangerouslyAllowBrowser, otherTeamKey, redirectUrl, ...plain } = opts
        const tag = `refusal-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
        const attempts = {
          create: () => sdk.Sandbox.create({ ...plain, metadata: { run: tag } }),
          list: () => sdk.Sandbox.list({ ...plain, query: { metadata: { run: tag } } }).nextItems(),
          getInfo: () => sdk.Sandbox.getInfo('any-id', plain),
          kill: () => sdk.Sandbox.kill('any-id', plain),
          connect: () => sdk.Sandbox.connect('any-id', plain),
          setTimeout: () => sdk.Sandbox.setTimeout('any-id', 1000, plain),
        }
        const classes = []
        for (const [call, fn] of Object.entries(attempts)) {
          let err = null
          let value
          try {
            value = await Promise.race([
              Promise.resolve().then(fn),
              new Promise((_, reject) => setTimeout(() => reject(new Error('__hung')), 10_000)),
            ])
          } catch (e) {
            err = e
          }
          if (!err) {
            if (value && typeof value.sandboxId === 'string') await sdk.Sandbox.kill(value.sandboxId, opts).catch(() => {})
            throw new Error(`${call}: succeeded (${JSON.stringify(value)}) without dangerouslyAllowBrowser`)
          }
          if (err.message === '__hung') throw new Error(`${call}: no answer within 10 s`)
          if (!(err instanceof sdk.AuthenticationError || err instanceof sdk.InvalidArgumentError)) {
            throw new Error(`${call}: expected AuthenticationError or InvalidArgumentError, got ${err && err.name}: ${err && err.message}`)
          }
          classes.push(`${call}: ${err.name}`)
        }
        const leaked = await sdk.Sandbox.list({ ...opts, query: { metadata: { run: tag } } }).nextItems()
        if (leaked.length) {
          await Promise.all(leaked.map((i) => sdk.Sandbox.kill(i.sandboxId, opts)))
          throw new Error(`the refused create still created ${leaked.length} sandbox(es)`)
        }
        result.detail = classes.join(', ')
      } catch (err) {
        result.ok = false
        result.error = `${err && err.name}: ${err && err.message}`
      }
      result.ms = Date.now() - started
      report(result)
      summary.results.push(result)
      if (result.ok) summary.passed++
      else summary.failed++

      // Last: a panic ends the wasm instance.
      const panic = await runPanicScenario({ Sandbox: sdk.Sandbox, errors: sdk, opts, endsInstance: true, check: report })
      summary.passed += panic.passed
      summary.failed += panic.failed
      return summary
    },
    { opts, config, commandsConfig: { isolation: host.isolation(server.pid), ...(values.steps ? { steps: values.steps } : {}) } },
  )
} catch (err) {
  printDiagnostics()
  await bail('chromium: run the scenario in the page', err)
}

for (const r of host.check()) {
  printCheck(r)
  r.ok ? summary.passed++ : summary.failed++
}
// sandkitd's whole output, once it has stopped: no key past its banner, no token.
await server.stop()
{
  const r = recorders.checkServerOutput([server.apiKey, TEAM_B_KEY])
  printCheck(r)
  if (!r.skipped) r.ok ? summary.passed++ : summary.failed++
}
if (summary.failed) {
  console.log('# browser diagnostics (last 30):')
  printDiagnostics()
}
await cleanup()
finish(summary.passed, summary.failed)
