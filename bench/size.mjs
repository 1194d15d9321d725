// Browser bundle size: what a front-end app ships to create, list, run and kill sandboxes.
//
//   node bench/size.mjs     (after scripts/build-wasm.sh)
//
// Both SDKs go through the same bundler (esbuild, minified, browser platform, ESM) from an
// entry that uses create/list/kill (and, for e2b, commands.run; for @e2b/code-interpreter,
// runCode too: sandkit's one package has both); the figure is gzip -9 of the JavaScript plus,
// for sandkit, the .wasm file the glue fetches. Writes bench/results/size.json.
import { build } from 'esbuild'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { REPO_ROOT } from '../tests/harness/sandkitd.mjs'

const gz = (buf) => gzipSync(buf, { level: 9 }).length
const dir = mkdtempSync(join(tmpdir(), 'sandkit-size-'))

const USE = `
export async function demo(opts) {
  const sbx = await Sandbox.create(opts)
  RUN
  const page = await Sandbox.list({ ...opts, query: { state: ['running'] } }).nextItems()
  await sbx.kill()
  return page
}`

async function bundle(name, importLine, run) {
  const entry = join(dir, `${name}.mjs`)
  writeFileSync(entry, `${importLine}\n${USE.replace('RUN', run)}`)
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    nodePaths: [join(REPO_ROOT, 'node_modules')],
    // e2b imports Node built-ins that it only uses on Node; a browser build leaves them out.
    external: ['node:*'],
  })
  return Buffer.from(result.outputFiles[0].contents)
}

const sandkitJs = await bundle('sandkit', `import { Sandbox } from '${join(REPO_ROOT, 'wasm/browser.mjs')}'`, '')
const wasm = readFileSync(join(REPO_ROOT, 'wasm/pkg/sandkit_wasm_bg.wasm'))
const e2bJs = await bundle('e2b', `import { Sandbox } from 'e2b'`, `await sbx.commands.run('true')`)
// The same surface as sandkit's one package: the official SDK plus its code interpreter.
const ciJs = await bundle('ci', `import { Sandbox } from '@e2b/code-interpreter'`, `await sbx.commands.run('true'); await sbx.runCode('1')`)

const rows = {
  sandkit: { js: sandkitJs.length, jsGzip: gz(sandkitJs), wasm: wasm.length, wasmGzip: gz(wasm) },
  e2b: { js: e2bJs.length, jsGzip: gz(e2bJs) },
  codeInterpreter: { js: ciJs.length, jsGzip: gz(ciJs) },
}
rows.sandkit.totalGzip = rows.sandkit.jsGzip + rows.sandkit.wasmGzip
rows.e2b.totalGzip = rows.e2b.jsGzip
const kb = (n) => `${(n / 1000).toFixed(1)} KB`
console.log('| browser bundle | raw | gzip -9 |')
console.log('|---|---|---|')
console.log(`| sandkit JS (glue + wrapper, minified) | ${kb(rows.sandkit.js)} | ${kb(rows.sandkit.jsGzip)} |`)
console.log(`| sandkit .wasm | ${kb(rows.sandkit.wasm)} | ${kb(rows.sandkit.wasmGzip)} |`)
console.log(`| **sandkit total** | ${kb(rows.sandkit.js + rows.sandkit.wasm)} | **${kb(rows.sandkit.totalGzip)}** |`)
console.log(`| e2b@2.51.0 (minified) | ${kb(rows.e2b.js)} | **${kb(rows.e2b.totalGzip)}** |`)
console.log(`| @e2b/code-interpreter@2.8.0 + e2b (minified) | ${kb(rows.codeInterpreter.js)} | **${kb(rows.codeInterpreter.jsGzip)}** |`)
console.log(`ratio sandkit/e2b (gzip): ${(rows.sandkit.totalGzip / rows.e2b.totalGzip).toFixed(2)}`)
console.log(`ratio sandkit/(e2b + code interpreter) (gzip): ${(rows.sandkit.totalGzip / rows.codeInterpreter.jsGzip).toFixed(2)}`)
mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true })
writeFileSync(join(REPO_ROOT, 'bench/results/size.json'), JSON.stringify(rows, null, 2) + '\n')
