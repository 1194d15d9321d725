// The official CLI (`@e2b/cli` 2.19.0, in .e2b-cli, installed by scripts/setup.sh; test-only)
// against a real sandkitd: `e2b sandbox exec`, `pause`, `resume`, `logs` and `kill` of a
// sandbox, with `logs` showing its events in order (`GET /sandboxes/{id}/logs`).
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
    body: JSON.stringify({ templateID: 'base' }),
  })
  expect(res.status === 201, `create answered ${res.status}`)
  id = (await res.json()).sandboxID
  return id
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

await cleanup()
finish()
