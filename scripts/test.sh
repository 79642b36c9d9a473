#!/usr/bin/env bash
# Sets everything up and runs the whole test suite twice: the release build (CUDA code
# compiled when nvcc exists; GPU tests skip without a GPU) and the AddressSanitizer +
# UndefinedBehaviorSanitizer build.
#
#   scripts/test.sh [PRESET...]   default: release asan
set -euo pipefail
cd "$(dirname "$0")/.."
presets=("$@")
((${#presets[@]})) || presets=(release asan)
jobs="$(nproc)"
for preset in "${presets[@]}"; do
  scripts/setup.sh "$preset"
  echo "==> testing preset '$preset'"
  ctest --preset "$preset" -j "$jobs"
done
