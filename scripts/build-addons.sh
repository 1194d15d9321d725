#!/usr/bin/env bash
# Builds the Node addon for every target in package.json's napi.targets and places each the
# napi way, in its platform package npm/<platform>/ (package.json with os/cpu/libc, and the
# .node file), which the main package lists in optionalDependencies.
#
# This machine's own target (x86_64-unknown-linux-gnu) comes from scripts/build.sh, which puts
# it in js/native/ (where the loader looks first, so a checkout runs on it); it is copied from
# there. The other Linux ones are cross-built with cargo-zigbuild, zig as the linker and C
# compiler for ring (both from PyPI, in .platforms/zig), and rustup's targets.
#
# Windows x64 (target x86_64-pc-windows-msvc, the ABI of the official node.exe) is built with
# the MinGW-w64 toolchain from Debian's packages as x86_64-pc-windows-gnu: Node-API is a C
# interface, and the addon finds its functions in the node.exe that loads it (napi's
# `dyn-symbols`, crates/sandkit-node/Cargo.toml), so nothing of Microsoft's SDK is needed.
# Windows arm64 (aarch64-pc-windows-msvc) the same way as aarch64-pc-windows-gnullvm, with zig
# (Debian's MinGW-w64 has no arm64 compiler).
#
# macOS (x64 and arm64) is cross-built the same way, by zig. Its linker needs the two Apple
# frameworks the TLS stack calls (Security and CoreFoundation) only as lists of names:
# scripts/macos-sdk/ holds text stubs of them (.tbd), and SDKROOT points there. The addon
# links to the frameworks on the Mac that loads it, as one built with Xcode does.
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
    armv7-*) arch=arm ;;
    *) echo "no platform name for $1" >&2; return 1 ;;
  esac
  case "$1" in
    *-linux-gnu) abi=gnu ;;
    *-linux-gnueabihf) abi=gnueabihf ;;
    *-linux-musl) abi=musl ;;
    *-pc-windows-msvc) echo "win32-$arch-msvc"; return ;;
    *-apple-darwin) echo "darwin-$arch"; return ;;
    *) echo "no platform name for $1" >&2; return 1 ;;
  esac
  echo "linux-$arch-$abi"
}

# What builds a target's addon: the Rust target cargo is given.
rust_target_of() {
  case "$1" in
    x86_64-pc-windows-msvc) echo x86_64-pc-windows-gnu ;;
    aarch64-pc-windows-msvc) echo aarch64-pc-windows-gnullvm ;;
    *) echo "$1" ;;
  esac
}

# What builds each target: zig (cargo-zigbuild) or Debian's MinGW-w64.
zig=()
mingw=()
windows=()
for t in "${targets[@]}"; do
  case "$t" in
    "$HOST_TARGET") ;;
    x86_64-pc-windows-*) windows+=("$t"); mingw+=("$t") ;;
    *-pc-windows-*) windows+=("$t"); zig+=("$t") ;;
    *) zig+=("$t") ;;
  esac
done

if [ ${#zig[@]} -gt 0 ]; then
  step "cross toolchain: rustup targets, zig $ZIG_VERSION and cargo-zigbuild $CARGO_ZIGBUILD_VERSION (PyPI, in .platforms/zig)"
  installed=$(rustup target list --installed)
  for t in "${zig[@]}"; do
    r=$(rust_target_of "$t")
    grep -qx "$r" <<<"$installed" || rustup target add "$r"
  done
  venv=.platforms/zig
  if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('ziglang') == '$ZIG_VERSION'; assert m.version('cargo-zigbuild') == '$CARGO_ZIGBUILD_VERSION'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  fi
  # cargo-zigbuild and napi look for `zig` on PATH; the wheel keeps it in its package.
  ln -sf "$("$venv/bin/python" -c 'import ziglang, os; print(os.path.dirname(ziglang.__file__))')/zig" "$venv/bin/zig"
  export PATH="$PWD/$venv/bin:$PATH"
fi

if [ ${#mingw[@]} -gt 0 ]; then
  step "Windows x64 toolchain: MinGW-w64 (Debian's packages) and rustup's windows-gnu target"
  if ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null
  fi
  installed=$(rustup target list --installed)
  for t in "${mingw[@]}"; do
    r=$(rust_target_of "$t")
    grep -qx "$r" <<<"$installed" || rustup target add "$r"
  done
fi
if [ ${#windows[@]} -gt 0 ]; then
  # napi's own build script links MinGW builds against a libnode.dll (MSYS2's Node, built as a
  # DLL) and stops when it finds none. This addon takes nothing from it (see above), so an
  # empty import library stands in (under the names GNU ld and lld look for): the link stays
  # the same, and the DLL imports only Windows' own libraries (tests/run-platforms.mjs checks).
  libnode=${CARGO_TARGET_DIR:-target}/libnode-stub
  mkdir -p "$libnode"
  : >"$libnode/libnode.dll"
  printf '!<arch>\n' >"$libnode/libnode.dll.a"
  printf '!<arch>\n' >"$libnode/libnode.a"
  LIBNODE_PATH=$(cd "$libnode" && pwd)
  export LIBNODE_PATH
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
  if [[ "$t" == *-pc-windows-* ]]; then
    r=$(rust_target_of "$t")
    build=(cargo build); [[ "$r" == *-gnullvm ]] && build=(cargo-zigbuild build)
    "${build[@]}" -p sandkit-node --target "$r" "${release[@]}"
    out=debug; [ "$PROFILE" = release ] && out=release
    cp "${CARGO_TARGET_DIR:-target}/$r/$out/sandkit_node.dll" "npm/$platform/$file"
    echo "$platform: built as $r in $(($(date +%s) - started)) s, $(stat -c %s "npm/$platform/$file") bytes"
    continue
  fi
  rm -rf "$stage"
  # -x: cargo-zigbuild; napi adds -C target-feature=-crt-static for musl (an addon is a
  # shared library loaded by a dynamically linked Node).
  # The oldest macOS each Node 20 build runs on (zig would otherwise ask for its newest).
  sdk=()
  [ "$t" = x86_64-apple-darwin ] && sdk=(SDKROOT="$PWD/scripts/macos-sdk" MACOSX_DEPLOYMENT_TARGET=10.15)
  [ "$t" = aarch64-apple-darwin ] && sdk=(SDKROOT="$PWD/scripts/macos-sdk" MACOSX_DEPLOYMENT_TARGET=11.0)
  env "${sdk[@]}" node_modules/.bin/napi build --platform -x --target "$t" "${release[@]}" \
    --manifest-path crates/sandkit-node/Cargo.toml --package-json-path crates/sandkit-node/package.json \
    --output-dir "$stage" --no-js --dts ignored.d.ts
  mv "$stage/$file" "npm/$platform/$file"
  echo "$platform: built in $(($(date +%s) - started)) s, $(stat -c %s "npm/$platform/$file") bytes"
done
