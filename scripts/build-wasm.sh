#!/usr/bin/env bash
# Builds the wasm package: the binding crate for wasm32, wasm-bindgen's `web` glue, then
# wasm-opt (binaryen from npm; Debian's older wasm-opt breaks the externref table).
# Output: wasm/pkg/{sandkit_wasm.js,sandkit_wasm.d.ts,sandkit_wasm_bg.wasm}. Prints sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_OPT=${WASM_OPT:-node_modules/.bin/wasm-opt}
OUT=wasm/pkg
IN=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/sandkit_wasm.wasm

cargo build -p sandkit-wasm --target wasm32-unknown-unknown --profile wasm-release
rm -rf "$OUT"
wasm-bindgen "$IN" --out-dir "$OUT" --target web
# The glue is an ES module; the package's own `.js` files are CommonJS.
echo '{ "type": "module" }' >"$OUT/package.json"
# --low-memory-unused: Rust's data starts at 1 MiB (the stack below it grows down), so
# nothing lives in the first KiB and wasm-opt may fold pointer arithmetic into load offsets.
# --one-caller-inline-max-function-size: a function with one caller is inlined into it only
# if it is small. Inlining every one of them (the default) makes the module a few KB smaller
# but about 3.5 KB larger once compressed (gzip and brotli alike): separate functions repeat
# each other's shapes, which the compressor finds; merged into their callers they do not.
"$WASM_OPT" -Oz --one-caller-inline-max-function-size=15 --converge --low-memory-unused \
  --strip-producers "$OUT/sandkit_wasm_bg.wasm" -o "$OUT/sandkit_wasm_bg.wasm"
# One- or two-letter import and export names, in the module and in the glue. The
# target_features section was for wasm-bindgen and wasm-opt only: engines ignore it.
"$WASM_OPT" --minify-imports-and-exports-and-modules --strip-target-features "$OUT/sandkit_wasm_bg.wasm" \
  -o "$OUT/sandkit_wasm_bg.wasm" >"$OUT/names.json"
node scripts/minify-wasm-names.mjs "$OUT/names.json" "$OUT/sandkit_wasm_bg.wasm" \
  "$OUT/sandkit_wasm.js" "$OUT/sandkit_wasm.d.ts"
rm "$OUT/names.json"

size() { wc -c <"$1" | tr -d ' '; }
gz() { gzip -9c "$@" | wc -c | tr -d ' '; }
echo "wasm package: sandkit_wasm_bg.wasm $(size $OUT/sandkit_wasm_bg.wasm) B," \
  "glue $(size $OUT/sandkit_wasm.js) B; gzip -9 of wasm + glue + entry:" \
  "$(gz $OUT/sandkit_wasm_bg.wasm $OUT/sandkit_wasm.js wasm/api.mjs wasm/browser.mjs js/wrap.mjs) B"
