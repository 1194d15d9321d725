// Entry for Cloudflare Workers / workerd and other edge runtimes that import `.wasm` files
// as compiled `WebAssembly.Module`s (workerd's `wasm` modules, wrangler's CompiledWasm rule).
import wasmModule from './pkg/sandkit_wasm_bg.wasm'
import { initSync } from './pkg/sandkit_wasm.js'

initSync({ module: wasmModule })

export * from './api.mjs'
export { Sandbox as default } from './api.mjs'
