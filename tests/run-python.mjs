// The official Python package (`e2b` 2.63.0, in .venv-e2b, made by scripts/setup.sh) as a
// second conformance client of sandkitd: starts a sandkitd, runs tests/python/scenario.py (the
// blocking `Sandbox`) and tests/python/scenario_async.py (`AsyncSandbox`) against it, and passes
// on their one-line-per-check output and totals.
//
//   node tests/run-python.mjs
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { startOutsideWorld } from './harness/outside.mjs'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { finish, printCheck, runGuard, runnerFailure } from './harness/report.mjs'

const python = `${REPO_ROOT}.venv-e2b/bin/python`
const { cleanup, setUp } = runGuard('python', 1800)
await setUp('python: the e2b package', () => {
  if (!existsSync(python)) throw new Error(`${python} is missing: run scripts/setup.sh`)
})
// The test internet the network step reaches (the sandboxes' DNS goes to its server).
const world = await setUp('python: the outside world', () => startOutsideWorld(), (w) => w.stop())
const server = await setUp('python: start sandkitd', () => startSandkitd({ args: ['--dns', world.dns] }), (s) => s.stop())
console.log(`# python e2b 2.63.0, sandkitd ${server.version} at ${server.apiUrl}`)

/** Runs one scenario file: its check lines passed on, its totals (or a failure) returned. */
async function runScenario(file) {
  const child = spawn(python, [`${REPO_ROOT}tests/python/${file}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...server.env,
      SANDKIT_WORLD: JSON.stringify({ web: world.web, second: world.second }),
    },
  })
  let totals = null
  let out = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk) => {
    out += chunk
    let nl
    while ((nl = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, nl)
      out = out.slice(nl + 1)
      const m = /^(\d+) passed, (\d+) failed$/.exec(line)
      if (m) totals = [Number(m[1]), Number(m[2])]
      else console.log(line)
    }
  })
  // Tracebacks of failed checks, for whoever reads the log.
  child.stderr.on('data', (chunk) => process.stderr.write(chunk))
  const code = await new Promise((done) => child.on('close', (status, signal) => done(signal ?? status)))
  if (!totals) {
    printCheck(runnerFailure(`python: ${file}`, new Error(`ended with code ${code} and no totals`)))
    return [0, 1]
  }
  if (code !== 0 && totals[1] === 0) {
    printCheck(runnerFailure(`python: ${file}`, new Error(`every check passed, but it ended with ${code}`)))
    return [totals[0], 1]
  }
  return totals
}

// The blocking API, then the asyncio one.
let [passed, failed] = [0, 0]
for (const file of ['scenario.py', 'scenario_async.py']) {
  const [p, f] = await runScenario(file)
  passed += p
  failed += f
}
await cleanup()
finish(passed, failed)
