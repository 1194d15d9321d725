#!/usr/bin/env bash
# Installs what building and testing need, on a machine with only Rust and Node: npm packages,
# the wasm target, wasm-bindgen-cli at the crate's exact version, and (for the browser tests)
# Debian's Chromium and libnss-myhostname. Each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
WASM_BINDGEN_VERSION=0.2.130

step() { printf '\n== %s\n' "$*"; }
# Debian packages, as root or through sudo.
apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

step "npm packages"
if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm ci refuses this lock over optional platform packages of other OSes; install honours it.
  npm install --no-audit --no-fund
fi

if [ "${SANDKIT_NO_PYTHON:-}" != 1 ]; then
  step "the official Python packages (e2b 2.63.0 and e2b-code-interpreter 2.11.5, conformance clients)"
  if ! .venv-e2b/bin/python -c 'import importlib.metadata as m; assert m.version("e2b") == "2.63.0"; assert m.version("e2b-code-interpreter") == "2.11.5"' 2>/dev/null; then
    if ! python3 -m venv .venv-e2b 2>/dev/null; then
      apt_install python3-venv
      python3 -m venv .venv-e2b
    fi
    .venv-e2b/bin/pip install --quiet --disable-pip-version-check e2b==2.63.0 e2b-code-interpreter==2.11.5
  fi
fi

if [ "${SANDKIT_NO_CLI:-}" != 1 ]; then
  # Test-only, outside package.json: the SDK never needs it (tests/run-cli.mjs uses it).
  step "the official CLI (@e2b/cli 2.19.0, in .e2b-cli, for tests/run-cli.mjs)"
  if [ "$(node -p 'require("./.e2b-cli/node_modules/@e2b/cli/package.json").version' 2>/dev/null)" != 2.19.0 ]; then
    npm install --prefix .e2b-cli --no-audit --no-fund --no-save @e2b/cli@2.19.0
  fi
fi

if [ "${SANDKIT_NO_PYTHON:-}" != 1 ]; then
  # Under /opt, which sandboxes see: sandkitd's code-interpreter tests run their Python
  # contexts on it (--python) for matplotlib, pandas and IPython, and E2B's own chart
  # extractor (e2b-charts, MIT), which gives a shown figure its `chart` result.
  step "the code interpreter's Python (matplotlib, pandas, ipython, e2b-charts) in /opt/sandkit-interpreter-venv"
  if ! /opt/sandkit-interpreter-venv/bin/python -c 'import importlib.metadata as m; assert (m.version("matplotlib"), m.version("pandas"), m.version("ipython"), m.version("e2b-charts")) == ("3.11.2", "3.1.1", "9.18.1", "1.0.0")' 2>/dev/null; then
    if [ -w /opt ]; then
      /usr/bin/python3 -m venv /opt/sandkit-interpreter-venv
      /opt/sandkit-interpreter-venv/bin/pip install --quiet --disable-pip-version-check matplotlib==3.11.2 pandas==3.1.1 ipython==9.18.1 e2b-charts==1.0.0 pydantic==2.14.4
    else
      sudo /usr/bin/python3 -m venv /opt/sandkit-interpreter-venv
      sudo /opt/sandkit-interpreter-venv/bin/pip install --quiet --disable-pip-version-check matplotlib==3.11.2 pandas==3.1.1 ipython==9.18.1 e2b-charts==1.0.0 pydantic==2.14.4
    fi
  fi
fi

# The TypeScript compiler that TypeScript code contexts strip types with (--typescript), under
# /opt too (the demo runs a TypeScript cell); Node 22.13 and later strip types themselves.
step "the code interpreter's TypeScript compiler in /opt/sandkit-interpreter-node"
if [ "$(node -p 'require("/opt/sandkit-interpreter-node/node_modules/typescript/package.json").version' 2>/dev/null)" != 5.9.3 ]; then
  if [ -w /opt ]; then
    npm install --prefix /opt/sandkit-interpreter-node --no-audit --no-fund --no-save typescript@5.9.3
  else
    sudo npm install --prefix /opt/sandkit-interpreter-node --no-audit --no-fund --no-save typescript@5.9.3
  fi
fi

# R and a JDK under /usr, which sandboxes see: R and Java code contexts run on them (the
# demo runs a cell of each). Without them sandkitd refuses those contexts and says why.
if ! command -v R >/dev/null || ! command -v jshell >/dev/null; then
  if command -v apt-get >/dev/null; then
    step "R and a JDK (the code interpreter's R and Java contexts)"
    apt_install --no-install-recommends r-base-core default-jdk-headless
  else
    echo "note: no R or no JDK: R and Java code contexts will be refused (install R and a JDK, 11 or later)"
  fi
fi

if [ "${SANDKIT_NO_WASM:-}" != 1 ]; then
  step "wasm toolchain"
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    # No --locked: its lockfile names a webpki-roots release the registry does not serve.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
fi

# The other platforms' addons (scripts/build-addons.sh) are run by tests/run-platforms.mjs on
# each platform's Node and C library, under Debian's qemu-user-static (Linux) or Wine (Windows).
if [ "${SANDKIT_NO_CROSS:-}" != 1 ]; then
  step "roots of the other platforms (their C library and Node) for tests/run-platforms.mjs"
  bash scripts/platform-roots.sh
fi

# Public sandbox URLs are <port>-<id>.localhost names: Chromium resolves them to loopback by
# itself; for Node, workerd, curl and Python, Debian's libnss-myhostname does (its package
# adds `myhostname` to the hosts line of /etc/nsswitch.conf).
if ! getent hosts probe.localhost >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  step "libnss-myhostname (*.localhost names resolve to loopback)"
  apt_install libnss-myhostname
  getent hosts probe.localhost >/dev/null || echo "note: *.localhost names still do not resolve; add myhostname to the hosts line of /etc/nsswitch.conf"
fi

# Sandboxes' network egress: sandkitd writes its rules with nft (Debian's nftables) and makes
# interfaces with ip (iproute2); without them sandboxes have loopback only.
if ! command -v nft >/dev/null || ! command -v ip >/dev/null; then
  if command -v apt-get >/dev/null; then
    step "nftables and iproute2 (sandbox network egress)"
    apt_install nftables iproute2
  else
    echo "note: no nft or ip: sandboxes will have loopback only (install nftables and iproute2)"
  fi
fi

# Each sandbox's disk is an ext4 image made with mkfs.ext4 (Debian's e2fsprogs); without it
# sandkitd runs sandboxes with their disk unlimited, and says so.
if ! command -v mkfs.ext4 >/dev/null && ! [ -x /usr/sbin/mkfs.ext4 ] && ! [ -x /sbin/mkfs.ext4 ]; then
  if command -v apt-get >/dev/null; then
    step "e2fsprogs (sandbox disks)"
    apt_install e2fsprogs
  else
    echo "note: no mkfs.ext4: sandboxes' disks will not be limited (install e2fsprogs)"
  fi
fi

if [ "${SANDKIT_NO_BROWSER:-}" != 1 ] && ! command -v chromium >/dev/null; then
  step "chromium (browser tests)"
  apt_install chromium
fi

# The fuzz targets link libFuzzer, which its crate builds from C++ (scripts/fuzz.sh).
if [ "${SANDKIT_NO_FUZZ:-}" != 1 ] && ! command -v c++ >/dev/null && command -v apt-get >/dev/null; then
  step "g++ (libFuzzer, for the fuzz targets)"
  apt_install g++
fi
