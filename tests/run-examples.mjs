// Runs examples/browser as a user would: sandkitd, the example's server (which holds the API
// key and hands the page one sandbox's handle), and the page in headless Chromium, which runs
// a command in the sandbox, fetches the web server inside through its public URL with the
// traffic token, from another origin, and streams a command's output into the page.
// (examples/worker runs in tests/run-workerd.mjs.)
//
//   node tests/run-examples.mjs
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { finish, printCheck, runGuard, runnerFailure } from './harness/report.mjs'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const { cleanups, cleanup, bail, setUp } = runGuard('examples', 300)

const server = await setUp('examples: start sandkitd', () => startSandkitd(), (s) => s.stop())

// The example's server: its own calls may use E2B_SANDBOX_URL; the page gets only a handle.
const example = spawn(process.execPath, [join(REPO_ROOT, 'examples/browser/server.mjs'), '0'], {
  env: { ...process.env, ...server.env },
  stdio: ['ignore', 'pipe', 'pipe'],
})
cleanups.push(async () => {
  example.kill('SIGTERM')
  await new Promise((r) => (example.exitCode !== null ? r() : example.once('exit', r)))
})
let output = ''
example.stderr.on('data', (d) => (output += d))
let pageUrl
try {
  pageUrl = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no address within 30 s; output: ${output}`)), 30_000)
    example.stdout.on('data', (d) => {
      output += d
      const m = /example at (http:\/\/\S+)/.exec(output)
      if (m) {
        clearTimeout(t)
        resolve(m[1])
      }
    })
    example.once('exit', (code) => reject(new Error(`the example's server exited (${code}): ${output}`)))
  })
} catch (err) {
  await bail('examples: start examples/browser/server.mjs', err)
}

let passed = 0
let failed = 0
const name = 'example: examples/browser — a page with a handle runs a command, fetches the sandbox\'s protected web server from another origin, and shows a live log'
const profile = mkdtempSync(join(tmpdir(), 'sandkit-example-'))
cleanups.push(() => rmSync(profile, { recursive: true, force: true }))
try {
  const { chromium } = await import('playwright-core')
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  })
  cleanups.push(() => context.close())
  const page = context.pages()[0] ?? (await context.newPage())
  const seen = []
  page.on('console', (msg) => seen.push(msg.text()))
  page.on('pageerror', (err) => seen.push(String(err)))
  await page.goto(pageUrl)
  await page.waitForSelector('body[data-state]', { state: 'attached', timeout: 60_000 }).catch((err) => {
    throw new Error(`${err.message.split('\n')[0]}; the page logged: ${seen.join(' | ')}`)
  })
  const [state, command, body, url, log] = await page.evaluate(() => [
    document.body.dataset.state,
    document.getElementById('command').textContent,
    document.getElementById('page').textContent,
    document.getElementById('url').textContent,
    document.getElementById('log').textContent,
  ])
  const id = /sandbox (\w+)\)/.exec(output)?.[1]
  if (state !== 'done') throw new Error(`the page says: ${body}`)
  if (!command.includes(`user in ${id}`)) throw new Error(`command output ${JSON.stringify(command)}`)
  if (body !== `200: hello from the web server in ${id}`) throw new Error(`page ${JSON.stringify(body)}`)
  if (!url.includes(`http://3000-${id}.localhost:`)) throw new Error(`url ${JSON.stringify(url)}`)
  if (log !== 'tick 1\ntick 2\ntick 3\n') throw new Error(`log ${JSON.stringify(log)}`)
  printCheck({ name, ok: true, detail: body })
  passed++
} catch (err) {
  printCheck(runnerFailure(name, err))
  failed++
}
await cleanup()
finish(passed, failed)
