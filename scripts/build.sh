#!/usr/bin/env bash
# Builds sandkitd, the Node addon, the JS layer and (unless SANDKIT_NO_WASM=1) the wasm package.
# PROFILE=release gives optimised artifacts (benchmarks); the default is a quick debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
release=(); [ "$PROFILE" = release ] && release=(--release)

cargo build -p sandkit-server "${release[@]}"
node_modules/.bin/napi build --platform "${release[@]}" \
  --manifest-path crates/sandkit-node/Cargo.toml --package-json-path crates/sandkit-node/package.json \
  --output-dir js/native --js binding.cjs --dts binding.d.ts
node scripts/build-js.mjs
if [ "${SANDKIT_NO_WASM:-}" != 1 ] && [ -f scripts/build-wasm.sh ]; then
  bash scripts/build-wasm.sh
fi
