#!/usr/bin/env bash
# Runs the demo: builds what it needs, starts a sandkitd on a free port, points the demo at it
# through the E2B_* variables, and stops the server afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
SANDKIT_NO_WASM=1 SANDKIT_NO_BROWSER=1 SANDKIT_NO_PYTHON=1 bash scripts/setup.sh >/dev/null
SANDKIT_NO_WASM=1 bash scripts/build.sh
exec node scripts/with-sandkitd.mjs node examples/node/demo.mjs
