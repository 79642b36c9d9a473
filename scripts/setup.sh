#!/usr/bin/env bash
# Installs what Switchyard builds with (Debian 12 packages; idempotent: apt runs only when a
# package is missing), then configures and builds one CMake preset.
#
#   scripts/setup.sh [PRESET]     PRESET: release (default), cpu, debug, asan
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"

packages=(
  build-essential cmake ninja-build pkg-config ccache patchelf
  capnproto libcapnp-dev liblua5.4-dev libboost-dev libabsl-dev libucx-dev libopenblas-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libcpp-httplib-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the openai npm package test (tests/e2e/openai_node.sh). Checked by
# command rather than package: NodeSource's nodejs package brings its own npm.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ ! -d tests/e2e/openai_node/node_modules ]]; then
  echo "==> installing the openai npm package (tests/e2e/openai_node)"
  (cd tests/e2e/openai_node && npm ci --no-audit --no-fund)
fi

echo "==> configuring and building preset '$preset'"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
