// Node on a platform without a native addon: a copy of the package with the addon left out
// (what `npm install` gives on a platform it has no addon for), imported (ESM) and required
// (CommonJS), must run on the wasm build with the same API against a real sandkitd: a sandbox
// created, a command run, its output read, the sandbox killed, and a typed error for an
// unknown sandbox; with DEBUG set, exactly one line on stderr says so, and without it none.
//
//   node tests/run-fallback.mjs
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { REPO_ROOT, startSandkitd } from './harness/sandkitd.mjs'
import { runCollected } from './harness/child.mjs'
import { copyPackage } from './harness/package.mjs'
import { createChecks, runGuard } from './harness/report.mjs'

parseArgs({ options: { bulk: { type: 'string' } } }) // run-all passes --bulk to every runner
const { cleanup, cleanups, setUp } = runGuard('fallback', 120)

// The package as npm would lay it out, without any .node file.
const dir = mkdtempSync(join(tmpdir(), 'sandkit-fallback-'))
cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
const pkg = copyPackage(dir)
const left = readdirSync(join(pkg, 'js', 'native')).filter((f) => f.endsWith('.node'))

const server = await setUp('fallback: start sandkitd', () => startSandkitd(), (s) => s.stop())

// One program, in both module systems: what a user's code would do.
const body = `
  const conn = { apiKey: process.env.KEY, apiUrl: process.env.API, sandboxUrl: process.env.API }
  const s = await Sandbox.create(conn)
  const r = await s.commands.run('echo hi from $E2B_SANDBOX_ID')
  let typed = 'none'
  try { await Sandbox.getInfo('nosuchsandbox', conn) } catch (e) { typed = e.constructor.name + ' ' + (e instanceof sandkit.SandboxNotFoundError) }
  console.log(JSON.stringify({ out: r.stdout, id: s.sandboxId, killed: await s.kill(), typed, allTraffic: sandkit.ALL_TRAFFIC }))
`
const programs = {
  import: ['--input-type=module', '-e', `import * as sandkit from 'sandkit'; const { Sandbox } = sandkit;\n${body}`],
  require: ['-e', `const sandkit = require('sandkit'); const { Sandbox } = sandkit; (async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1) })`],
}

const run = (args, env) =>
  runCollected(process.execPath, args, { cwd: dir, env: { PATH: process.env.PATH, KEY: server.apiKey, API: server.apiUrl, ...env } })

const { check, finish } = createChecks()

await check('the copy has no native addon', () => {
  if (left.length) throw new Error(`left in the copy: ${left.join(', ')}`)
})
for (const [how, args] of Object.entries(programs)) {
  for (const debug of [true, false]) {
    await check(`${how} 'sandkit' without an addon${debug ? ', DEBUG set' : ''}: the wasm build runs a sandbox's command, typed errors and all${debug ? ', and one line says so' : ', silently'}`, async () => {
      const { code, stdout, stderr } = await run(args, debug ? { DEBUG: 'sandkit' } : {})
      if (code !== 0) throw new Error(`exit ${code}: ${stderr}`)
      const got = JSON.parse(stdout.trim().split('\n').pop())
      if (got.out !== `hi from ${got.id}\n`) throw new Error(`stdout ${JSON.stringify(got.out)}`)
      if (got.killed !== true) throw new Error('kill did not return true')
      if (got.typed !== 'SandboxNotFoundError true') throw new Error(`getInfo of an unknown sandbox: ${got.typed}`)
      if (got.allTraffic !== '0.0.0.0/0') throw new Error(`ALL_TRAFFIC ${got.allTraffic}`)
      const lines = stderr.split('\n').filter(Boolean)
      if (debug) {
        const notice = new RegExp(`^sandkit: no native addon for ${process.platform}-${process.arch} \\(.+\\); using the wasm build$`)
        if (lines.length !== 1 || !notice.test(lines[0])) throw new Error(`stderr: ${JSON.stringify(stderr)}`)
        return lines[0]
      }
      if (lines.length) throw new Error(`stderr without DEBUG: ${JSON.stringify(stderr)}`)
    })
  }
}

// Configured by the environment only, as the addon and the `e2b` package read it.
await check("import 'sandkit' without an addon, with only E2B_API_KEY, E2B_API_URL and E2B_SANDBOX_URL set: the wasm build reads them", async () => {
  const program = `import { Sandbox } from 'sandkit'
    const s = await Sandbox.create()
    console.log(JSON.stringify({ out: (await s.commands.run('echo from env')).stdout, killed: await s.kill() }))`
  const { code, stdout, stderr } = await run(['--input-type=module', '-e', program], {
    E2B_API_KEY: server.apiKey,
    E2B_API_URL: server.apiUrl,
    E2B_SANDBOX_URL: server.sandboxUrl,
  })
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}`)
  const got = JSON.parse(stdout.trim().split('\n').pop())
  if (got.out !== 'from env\n' || got.killed !== true) throw new Error(`got ${stdout}`)
})

// SANDKIT_WASM=1 where the addon would load: the checkout's own entries, with its build in
// js/native/, must load no .node file and run on the wasm build.
const entries = {
  import: ['--input-type=module', '-e', `import * as sandkit from ${JSON.stringify(join(REPO_ROOT, 'js', 'node.mjs'))}; const { Sandbox } = sandkit;\n${body}`],
  require: ['-e', `const sandkit = require(${JSON.stringify(join(REPO_ROOT, 'js', 'node.cjs'))}); const { Sandbox } = sandkit; (async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1) })`],
}
const loadedAddons = `;process.on('exit', () => console.log(JSON.stringify(process.report.getReport().sharedObjects.filter((f) => f.endsWith('.node')))))`
for (const [how, args] of Object.entries(entries)) {
  await check(`${how} the checkout's entry with SANDKIT_WASM=1 and DEBUG: no addon loaded, the wasm build runs a sandbox's command, and one line says why`, async () => {
    const withProbe = [...args.slice(0, -1), args.at(-1) + loadedAddons]
    const { code, stdout, stderr } = await run(withProbe, { SANDKIT_WASM: '1', DEBUG: 'sandkit' })
    if (code !== 0) throw new Error(`exit ${code}: ${stderr}`)
    const [result, loaded] = stdout.trim().split('\n').slice(-2).map((l) => JSON.parse(l))
    if (result.out !== `hi from ${result.id}\n`) throw new Error(`stdout ${JSON.stringify(result.out)}`)
    if (result.typed !== 'SandboxNotFoundError true') throw new Error(`getInfo of an unknown sandbox: ${result.typed}`)
    if (loaded.length) throw new Error(`loaded ${loaded.join(', ')}`)
    const lines = stderr.split('\n').filter(Boolean)
    if (lines.length !== 1 || lines[0] !== 'sandkit: SANDKIT_WASM=1; using the wasm build') throw new Error(`stderr: ${JSON.stringify(stderr)}`)
    return lines[0]
  })
}
await check("the checkout's entry without SANDKIT_WASM loads its addon (the check above can tell)", async () => {
  const { code, stdout, stderr } = await run(['--input-type=module', '-e', `await import(${JSON.stringify(join(REPO_ROOT, 'js', 'node.mjs'))})${loadedAddons}`], { SANDKIT_WASM: '0' })
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}`)
  const loaded = JSON.parse(stdout.trim().split('\n').pop())
  if (loaded.length !== 1) throw new Error(`loaded ${JSON.stringify(loaded)}`)
  return loaded[0].split('/').pop()
})

await cleanup()
finish()
