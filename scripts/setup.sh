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
  libgtest-dev libgmock-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

echo "==> configuring and building preset '$preset'"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
