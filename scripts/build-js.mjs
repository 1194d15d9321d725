// Derives js/wrap.cjs from js/wrap.mjs: the module's only export is its last statement,
// `export { … }`, which becomes `module.exports = { … }`.
import { readFileSync, writeFileSync } from 'node:fs'

const src = readFileSync(new URL('../js/wrap.mjs', import.meta.url), 'utf8')
const exportLine = /^export \{([^}]*)\}\s*$/m
const match = src.match(exportLine)
if (!match || src.replace(exportLine, '').match(/^export /m)) {
  throw new Error('js/wrap.mjs must have exactly one export statement, `export { … }`, at the end')
}
const cjs = `'use strict'\n// Generated from wrap.mjs by scripts/build-js.mjs; do not edit.\n${src.replace(exportLine, `module.exports = {${match[1]}}`)}`
writeFileSync(new URL('../js/wrap.cjs', import.meta.url), cjs)
