// Browser entry: fetches and compiles the module next to this file (streaming when the server
// sends `application/wasm`) before the import completes.
import init from './pkg/sandkit_wasm.js'

await init({ module_or_path: new URL('./pkg/sandkit_wasm_bg.wasm', import.meta.url) })

export * from './api.mjs'
export { Sandbox as default } from './api.mjs'
