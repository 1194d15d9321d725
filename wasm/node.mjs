// Node entry of the wasm build (`sandkit/wasm`): the module is read from disk and
// instantiated synchronously, so importing is enough.
import { readFileSync } from 'node:fs'
import { initSync } from './pkg/sandkit_wasm.js'

initSync({ module: readFileSync(new URL('./pkg/sandkit_wasm_bg.wasm', import.meta.url)) })

export * from './api.mjs'
export { Sandbox as default } from './api.mjs'
