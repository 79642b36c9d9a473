#!/usr/bin/env bash
# Packs a release build for the GPU machine, which has CUDA but none of Debian's libraries:
# .bundle/{bin,lib,share} with the CLI, the GPU test binaries, the plugins, the Lua library and
# every non-system shared library they need, all found through $ORIGIN-relative RPATHs.
#
#   scripts/gpu_bundle.sh           then run scripts/gpu_check.sh there (carry .bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
bundle=.bundle
rm -rf "$bundle"
cmake --install build/release --prefix "$bundle" >/dev/null
# Only the test binaries with GPU tests travel (the rest run in CI): the transfer is 64 MiB.
gpu_tests=(device_test moe_kernels_test experts_cuda_test experts_conformance_test)
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
cp scripts/gpu_check.sh "$bundle/"
# The torch reference `bench moe --device cuda` runs beside its own figures.
mkdir -p "$bundle/share/switchyard/reference"
cp scripts/reference/torch_moe_reference.py "$bundle/share/switchyard/reference/"
du -sh "$bundle"
