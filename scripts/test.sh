#!/usr/bin/env bash
# Every test: formatting, lints, the type check, Rust unit and integration tests (against an
# in-process sandkitd), a bounded fuzzing run of every decoder, then the shared JS scenario in
# Node (napi), Node (wasm), workerd, headless Chromium and with the official `e2b` package,
# each against a real sandkitd.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "setup"
bash scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all --check

step "build"
bash scripts/build.sh
# The public .d.ts is generated from the napi binding and committed: it must be current.
git diff --exit-code -- index.d.ts || { echo "index.d.ts is stale: run scripts/build.sh and commit it"; exit 1; }

if [ "${SANDKIT_NO_CROSS:-}" != 1 ]; then
  step "the addon for every other platform (cross-built, debug; npm/<platform>/)"
  bash scripts/build-addons.sh
fi

step "cargo clippy"
cargo clippy --all-targets -- -D warnings
cargo clippy -p sandkit -p sandkit-json -p sandkit-wasm --target wasm32-unknown-unknown -- -D warnings

step "the Rust crates' documentation (broken or private links)"
RUSTDOCFLAGS="-D warnings" cargo doc -p sandkit -p sandkit-json -p sandkit-server -p sandkit-node --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc -p sandkit-wasm --target wasm32-unknown-unknown --no-deps

step "TypeScript type check (public .d.ts, examples)"
node_modules/.bin/tsc -p tsconfig.json

step "Rust tests"
cargo test

step "fuzz: every decoder of untrusted bytes, ${FUZZ_SECONDS:-60} s per target from its committed corpus"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

default_runtimes=wire,fallback,tls,platforms,napi,wasm,workerd,chromium,e2b,python,examples,cli
[ "${SANDKIT_NO_CROSS:-}" = 1 ] && default_runtimes=${default_runtimes/platforms,/}
step "JS: network wire bodies against e2b 2.51.0, Node without an addon (the wasm fallback), both Node bindings over HTTPS, every prebuilt addon (format, symbols, run under qemu-user), then the scenario (Node napi, Node wasm, workerd, Chromium, the official e2b package, Python, examples, the official CLI)"
node tests/run-all.mjs --only "${SANDKIT_RUNTIMES:-$default_runtimes}"
