// The napi entry for benchmarks that report napi figures. `js/node.mjs` falls back to the wasm
// build when the addon does not load (not built, another platform, SANDKIT_WASM=1), which
// would put wasm's figures in napi's row without a word: these refuse instead.
import { createRequire } from 'node:module'

export const NAPI_ENTRY = new URL('../js/node.mjs', import.meta.url).href

/** Throws, saying why, unless `entry` (a file URL of a `js/node.mjs`) would use the addon. */
export function assertNapi(entry = NAPI_ENTRY) {
  if (process.env.SANDKIT_WASM === '1') throw new Error('SANDKIT_WASM=1 makes js/node.mjs use the wasm build')
  try {
    createRequire(entry)('./native/binding.cjs')
  } catch (err) {
    const why = String(err?.message ?? err).split('\n')[0]
    throw new Error(`the napi addon does not load (${why}); build it with \`bash scripts/build.sh\``)
  }
}

/** `js/node.mjs`'s `Sandbox`, with the addon behind it. */
export async function napiSandbox(entry = NAPI_ENTRY) {
  assertNapi(entry)
  return (await import(entry)).Sandbox
}
