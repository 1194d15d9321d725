// The official CLI (`@e2b/cli` 2.19.0, in .e2b-cli, installed by scripts/setup.sh; test-only)
// against a real sandkitd: `e2b sandbox list`, `info`, `metrics`, `exec`, `pause`, `resume`,
// `logs` and `kill` of a sandbox, with `logs` showing its events in order
// (`GET /sandboxes/{id}/logs`), and `e2b template list` (`GET /templates`) in JSON and as a table.
//
//   node tests/run-cli.mjs
import { existsSync } from 'node:fs'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { runCollected } from './harness/child.mjs'
import { createChecks, runGuard } from './harness/report.mjs'

const CLI = `${REPO_ROOT}.e2b-cli/node_modules/@e2b/cli/dist/index.js`
const { cleanup, setUp } = runGuard('cli', 600)
await setUp('cli: @e2b/cli', () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run scripts/setup.sh`)
})
const server = await setUp('cli: start sandkitd', () => startSandkitd(), (s) => s.stop())
console.log(`# @e2b/cli 2.19.0, sandkitd ${server.version} at ${server.apiUrl}`)

/** Runs `e2b args…` against the server: { code, stdout, stderr }. Stdin is closed: `exec`
 * would otherwise wait to forward it to the command. */
function e2b(...args) {
  return runCollected(process.execPath, [CLI, ...args], { env: { ...process.env, ...server.env, NO_COLOR: '1' }, timeoutMs: 60_000 })
}

/** `e2b sandbox logs --format json` as parsed entries. */
async function logs(id, ...options) {
  const r = await e2b('sandbox', 'logs', '--format', 'json', ...options, id)
  if (r.code !== 0) throw new Error(`logs exited ${r.code}: ${r.stderr || r.stdout}`)
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
}

function expect(cond, message) {
  if (!cond) throw new Error(message)
}

const { check, finish } = createChecks()

let id
await check('a sandbox to look at (created over the API)', async () => {
  const res = await fetch(`${server.apiUrl}/v2/sandboxes`, {
    method: 'POST',
    headers: { 'X-API-Key': server.apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify({ templateID: 'base', metadata: { app: 'cli-test' } }),
  })
  expect(res.status === 201, `create answered ${res.status}`)
  id = (await res.json()).sandboxID
  return id
})

await check('e2b sandbox list --format json, filtered by state and metadata, shows it with its metadata', async () => {
  const r = await e2b('sandbox', 'list', '--format', 'json', '--state', 'running', '--metadata', 'app=cli-test')
  expect(r.code === 0, `list exited ${r.code}: ${r.stderr || r.stdout}`)
  const listed = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))
  expect(listed.length === 1 && listed[0].sandboxId === id, `listed: ${r.stdout}`)
  expect(listed[0].metadata?.app === 'cli-test' && listed[0].state === 'running' && listed[0].templateId === 'base', `listed: ${r.stdout}`)
  const other = await e2b('sandbox', 'list', '--format', 'json', '--metadata', 'app=none')
  expect(other.code === 0 && JSON.parse(other.stdout.slice(other.stdout.indexOf('['))).length === 0, `another app's: ${other.stdout} ${other.stderr}`)
  return `${listed[0].sandboxId} ${listed[0].state}`
})

await check('e2b sandbox info and metrics describe it', async () => {
  const info = await e2b('sandbox', 'info', id)
  expect(info.code === 0 && info.stdout.includes(`Sandbox ID: ${id}`) && /State: running/.test(info.stdout), `info: ${info.stdout} ${info.stderr}`)
  const metrics = await e2b('sandbox', 'metrics', id)
  const line = metrics.stdout.split('\n').find((l) => /CPU: .*Cores \| Memory: .*MiB \| Disk: .*MiB/.test(l))
  expect(metrics.code === 0 && line, `metrics: ${metrics.stdout} ${metrics.stderr}`)
  return line.trim()
})

await check('e2b sandbox exec runs a command that exits with 3', async () => {
  const r = await e2b('sandbox', 'exec', id, 'sh', '-c', 'exit 3')
  expect(`${r.stdout}${r.stderr}`.includes('exit status 3'), `output: ${r.stdout} ${r.stderr}`)
})

await check('e2b sandbox pause and resume', async () => {
  const paused = await e2b('sandbox', 'pause', id)
  expect(paused.code === 0 && paused.stdout.includes('has been paused'), `pause: ${paused.stdout} ${paused.stderr}`)
  const resumed = await e2b('sandbox', 'resume', id)
  expect(resumed.code === 0 && resumed.stdout.includes('has been resumed'), `resume: ${resumed.stdout} ${resumed.stderr}`)
})

await check('e2b sandbox logs shows its life in order, with levels', async () => {
  const entries = await logs(id, '--level', 'DEBUG')
  const events = entries.map((e) => e.event)
  const wanted = ['created', 'process-started', 'process-ended', 'paused', 'resumed']
  expect(JSON.stringify(events) === JSON.stringify(wanted), `events: ${events.join(', ')}`)
  const ended = entries[2]
  expect(ended.exitCode === '3' && /warn/i.test(ended.level), `process end: ${JSON.stringify(ended)}`)
  expect(entries.every((e) => e.logger === 'sandkitd'), 'every line names its logger')
  return events.join(' → ')
})

await check('e2b sandbox logs --level WARN shows only the failed process', async () => {
  const events = (await logs(id, '--level', 'WARN')).map((e) => e.event)
  expect(JSON.stringify(events) === JSON.stringify(['process-ended']), `events: ${events.join(', ')}`)
})

await check('e2b sandbox kill, then its logs end with the kill', async () => {
  const killed = await e2b('sandbox', 'kill', id)
  expect(killed.code === 0, `kill: ${killed.stdout} ${killed.stderr}`)
  const events = (await logs(id)).map((e) => e.event)
  expect(events.at(-1) === 'killed', `events: ${events.join(', ')}`)
})

await check('e2b template list --format json shows base, public and ready', async () => {
  const r = await e2b('template', 'list', '--format', 'json')
  expect(r.code === 0, `template list exited ${r.code}: ${r.stderr || r.stdout}`)
  const listed = JSON.parse(r.stdout.slice(r.stdout.indexOf('[')))
  const base = listed.find((t) => t.templateID === 'base')
  expect(base?.aliases?.includes('base') && base.public === true && base.buildStatus === 'ready', `listed: ${r.stdout}`)
  // The default output is a table of the same.
  const table = await e2b('template', 'list')
  expect(table.code === 0 && /Public\s.*\bbase\b/.test(table.stdout), `table: ${table.stdout} ${table.stderr}`)
  return listed.map((t) => t.templateID).join(', ')
})

await cleanup()
finish()
