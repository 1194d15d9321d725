#!/usr/bin/env bash
# Builds the Node addon for every target in package.json's napi.targets and places each the
# napi way, in its platform package npm/<platform>/ (package.json with os/cpu/libc, and the
# .node file), which the main package lists in optionalDependencies.
#
# This machine's own target (x86_64-unknown-linux-gnu) comes from scripts/build.sh, which puts
# it in js/native/ (where the loader looks first, so a checkout runs on it); it is copied from
# there. The others are cross-built with cargo-zigbuild, zig as the linker and C compiler for
# ring (both from PyPI, in .platforms/zig), and rustup's targets.
#
#   bash scripts/build-addons.sh [target…]     # default: every target but this machine's
#
# PROFILE=release gives optimised addons; the default is debug (quick; what the tests need).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-debug}
ZIG_VERSION=0.17.0
CARGO_ZIGBUILD_VERSION=0.24.0
HOST_TARGET=x86_64-unknown-linux-gnu

step() { printf '\n== %s\n' "$*"; }

mapfile -t all_targets < <(node -p 'require("./package.json").napi.targets.join("\n")')
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

# The platform name napi gives a target (npm/<platform>, sandkit.<platform>.node).
platform_of() {
  local arch abi
  case "$1" in
    x86_64-*) arch=x64 ;;
    aarch64-*) arch=arm64 ;;
    *) echo "no platform name for $1" >&2; return 1 ;;
  esac
  case "$1" in
    *-linux-gnu) abi=gnu ;;
    *-linux-musl) abi=musl ;;
    *) echo "no platform name for $1" >&2; return 1 ;;
  esac
  echo "linux-$arch-$abi"
}

cross=()
for t in "${targets[@]}"; do [ "$t" = "$HOST_TARGET" ] || cross+=("$t"); done

if [ ${#cross[@]} -gt 0 ]; then
  step "cross toolchain: rustup targets, zig $ZIG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION (PyPI, in .platforms/zig)"
  installed=$(rustup target list --installed)
  for t in "${cross[@]}"; do grep -qx "$t" <<<"$installed" || rustup target add "$t"; done
  venv=.platforms/zig
  if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('ziglang') == '$ZIG_VERSION'; assert m.version('cargo-zigbuild') == '$CARGO_ZIGBUILD_VERSION'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
  # cargo-zigbuild and napi look for `zig` on PATH; the wheel keeps it in its package.
  ln -sf "$("$venv/bin/python" -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))')/zig" "$venv/bin/zig"
  export PATH="$PWD/$venv/bin:$PATH"
fi

release=(); [ "$PROFILE" = release ] && release=(--release)
# Lean debug builds: no debug info (about 11 MiB an addon instead of over 100), no incremental
# state; the cross targets' artifacts are apart from the host build's anyway.
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-0} CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
stage=${CARGO_TARGET_DIR:-target}/napi-stage
for t in "${targets[@]}"; do
  platform=$(platform_of "$t")
  file=sandkit.$platform.node
  [ -f "npm/$platform/package.json" ] || { echo "npm/$platform/package.json is missing (napi create-npm-dirs makes it)" >&2; exit 1; }
  if [ "$t" = "$HOST_TARGET" ]; then
    [ -f "js/native/$file" ] || { echo "js/native/$file is missing: run scripts/build.sh first" >&2; exit 1; }
    cp "js/native/$file" "npm/$platform/$file"
    echo "$platform: copied from js/native ($(stat -c %s "npm/$platform/$file") bytes)"
    continue
  fi
  step "$t ($PROFILE) → npm/$platform/$file"
  started=$(date +%s)
  rm -rf "$stage"
  # -x: cargo-zigbuild; napi adds -C target-feature=-crt-static for musl (an addon is a
  # shared library loaded by a dynamically linked Node).
  node_modules/.bin/napi build --platform -x --target "$t" "${release[@]}" \
    --manifest-path crates/sandkit-node/Cargo.toml --package-json-path crates/sandkit-node/package.json \
    --output-dir "$stage" --no-js --dts ignored.d.ts
  mv "$stage/$file" "npm/$platform/$file"
  echo "$platform: built in $(($(date +%s) - started)) s, $(stat -c %s "npm/$platform/$file") bytes"
done
