#!/usr/bin/env bash
# Packs a release build for the GPU machine, which has CUDA but none of Debian's libraries:
# .bundle/{bin,lib,share} with the CLI, the GPU test binaries, the plugins, the Lua library and
# every non-system shared library they need, all found through $ORIGIN-relative RPATHs.
#
#   scripts/gpu_bundle.sh           then run .bundle/gpu_check.sh there (carry .bundle); after
#                                   it, .bundle/bin/switchyard etc. are unpacked too
set -euo pipefail
cd "$(dirname "$0")/.."
# Build (scripts/setup.sh installs the Debian packages first on a fresh machine). Two jobs: the
# build machine's cores are shared.
[[ -d build/release ]] || scripts/setup.sh release
cmake --preset release >/dev/null
cmake --build --preset release -j"${SY_BUILD_JOBS:-2}"
# Staged in the build tree, then packed: .bundle/ holds bundle.tar.xz (the working tree plus
# what a run carries must stay under 64 MiB; OpenBLAS alone is 36 MiB unpacked) and
# gpu_check.sh, which unpacks it in place on first use.
bundle=build/gpu-bundle
rm -rf "$bundle"
cmake --install build/release --prefix "$bundle" >/dev/null
# Only the test binaries with GPU tests travel (the rest run in CI): the transfer is 64 MiB.
gpu_tests=(device_test moe_kernels_test dense_kernels_test cuda_network_test
           cuda_network_weights_test moe_model_test engine_test experts_cuda_test
           experts_conformance_test comm_nccl_test comm_nvlink_test expert_parallel_cuda_test
           cuda_direct_exchange_test)
for t in "${gpu_tests[@]}"; do cp "build/release/bin/$t" "$bundle/bin/"; done

# Libraries the GPU machine provides itself: libc and the toolchain runtime, and CUDA.
system_lib='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libnccl)'
mapfile -t objects < <(find "$bundle/bin" "$bundle/lib" -type f \( -perm -u+x -o -name '*.so*' \))
for object in "${objects[@]}"; do
  ldd "$object" 2>/dev/null | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    [[ $name =~ $system_lib ]] || cp -nL "$path" "$bundle/lib/"
  done
done
# Symbols stay here; the machine's transfer limit is 64 MiB.
find "$bundle/bin" "$bundle/lib" -type f \( -perm -u+x -o -name '*.so*' \) -exec strip --strip-unneeded {} + 2>/dev/null || true
for f in "$bundle"/bin/*; do patchelf --set-rpath '$ORIGIN/../lib' "$f"; done
for f in "$bundle"/lib/*.so*; do patchelf --set-rpath '$ORIGIN' "$f"; done
for f in "$bundle"/lib/switchyard/plugins/*.so; do patchelf --set-rpath '$ORIGIN/../..' "$f"; done
# The torch references `bench moe --device cuda` and `bench a2a` run beside their own figures.
mkdir -p "$bundle/share/switchyard/reference"
cp scripts/reference/torch_moe_reference.py scripts/reference/torch_a2a_reference.py \
  "$bundle/share/switchyard/reference/"
rm -rf .bundle
mkdir -p .bundle
tar -C "$bundle" -cf - . | xz -T2 -6 >.bundle/bundle.tar.xz
cp scripts/gpu_check.sh .bundle/
du -sh "$bundle" .bundle
