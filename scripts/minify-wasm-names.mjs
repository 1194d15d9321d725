// Applies the mapping that `wasm-opt --minify-imports-and-exports-and-modules` prints to the
// wasm-bindgen glue (and its .d.ts), so that the module's import and export names can be one or
// two letters: wasm-bindgen's names (`__wbg_instanceof_ReadableStreamDefaultReader_2fe8…`)
// otherwise travel twice, in the .wasm and in the glue, and the hashes in them do not compress.
//
//   node scripts/minify-wasm-names.mjs <map.json> <module.wasm> <glue.js> <glue.d.ts>
//
// Only exact names are replaced: import names as whole words (they are unique, mangled
// names), export names only where the glue reads them (`wasm.<name>`), and the import module
// name where the glue builds the imports object. Fails loudly if the glue does not have the
// expected shape, rather than writing a glue that no longer matches the module.
import { readFileSync, writeFileSync } from 'node:fs'

const [mapPath, wasmPath, gluePath, dtsPath] = process.argv.slice(2)
const map = JSON.parse(readFileSync(mapPath, 'utf8'))
let glue = readFileSync(gluePath, 'utf8')
let dts = readFileSync(dtsPath, 'utf8')

const escape = (s) => s.replace(/[$]/g, '\\$')
const fail = (message) => {
  console.error(`minify-wasm-names: ${message}`)
  process.exit(1)
}

const modules = new Set(map.imports.map(([module]) => module))
if (modules.size !== 1) fail(`expected one import module, got ${[...modules].join(', ')}`)
const [module] = modules
// The mapping does not say what the module is renamed to: the minified module does.
const minified = new WebAssembly.Module(readFileSync(wasmPath))
const newModules = new Set(WebAssembly.Module.imports(minified).map((i) => i.module))
if (newModules.size !== 1) fail(`expected one import module in ${wasmPath}`)
const [newModule] = newModules
const moduleKey = JSON.stringify(module)
if (!glue.includes(`${moduleKey}: import0`)) fail(`the glue has no ${moduleKey} imports object`)
glue = glue.replace(`${moduleKey}: import0`, `${JSON.stringify(newModule)}: import0`)

for (const [, name, short] of map.imports) {
  const pattern = new RegExp(`(?<![\\w$])${escape(name)}(?![\\w$])`, 'g')
  const count = (glue.match(pattern) ?? []).length
  if (count !== 1) fail(`import ${name} appears ${count} times in the glue`)
  glue = glue.replace(pattern, short)
}

for (const [name, short] of map.exports) {
  const pattern = new RegExp(`(?<=\\bwasm\\.)${escape(name)}(?![\\w$])`, 'g')
  glue = glue.replace(pattern, short)
  dts = dts.replace(new RegExp(`(?<=\\breadonly )${escape(name)}(?=:)`, 'g'), short)
}
const leftover = glue.match(/\bwasm\.(?:__wbg|__wbindgen|sandbox|processhandle|filereader|filewatcher)\w*/)
if (leftover) fail(`the glue still reads ${leftover[0]}`)

writeFileSync(gluePath, glue)
writeFileSync(dtsPath, dts)
