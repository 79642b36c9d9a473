#!/usr/bin/env bash
# Runs on the GPU machine from a bundle made by scripts/gpu_bundle.sh: every test binary
# (GPU tests run there instead of skipping), then the CLI's main pipeline. Logs go to $OUT.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-/tmp}"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
# gpu_bundle.sh ships the bundle packed; unpack it next to this script once.
if [[ -f $here/bundle.tar.xz && ! -d $here/bin ]]; then
  tar -C "$here" -xJf "$here/bundle.tar.xz" 2>/dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
      "$here/bundle.tar.xz" "$here" || { echo "cannot unpack $here/bundle.tar.xz"; exit 1; }
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# The run's copy of the working tree: test fixtures (core/model/testdata) are read from it.
export SY_SOURCE_TREE="$(cd "$here/.." && pwd)"
# The end-to-end tests run this bundle's CLI.
export SY_TEST_SWITCHYARD="$here/bin/switchyard"
status=0
for t in "$here"/bin/*_test; do
  name="$(basename "$t")"
  # Tests that read the build tree's fixtures by absolute path run in CI; here, the ones
  # that need a GPU (and the conformance suites' instances over GPU plugins).
  if "$t" --gtest_filter='*Cuda*:*Gpu*:*GPU*:*experts_cuda*:DenseKernels*:MlaAttentionKernel*:SamplingKernel*:GroupedTopKKernel*' >"$out/$name.log" 2>&1; then
    echo "PASS $name ($(grep -c '^\[       OK' "$out/$name.log" || true) ok, $(grep -c '^\[  SKIPPED \].*ms)' "$out/$name.log" || true) skipped)"
  else
    echo "FAIL $name"; tail -20 "$out/$name.log"; status=1
  fi
done
"$here/bin/switchyard" run "$here/share/switchyard/pipelines/route_synthetic.lua" 256 8 || status=1

# The whole model on the GPU: the built-in model on both devices, then random-weight
# Mixtral-8x7B's decode beside its weight-streaming bound and a serving load at 1/16/64/256
# concurrent requests (docs/benchmarks.md).
sy="$here/bin/switchyard"
for device in cpu cuda; do
  echo "== generate --device $device"
  "$sy" generate --device "$device" --prompt 'def parse_args(' --max-tokens 48 2>&1 | tail -4 || status=1
done
if [[ ${SY_GPU_BENCH:-1} == 1 ]]; then
  # The MoE layer alone at the three model shapes: bf16, fp8 block-128 (w8a8 prefill), int4 group-128
  # (w4a16, decode kernels).
  for dtype in bf16 fp8 int4; do
    tokens=1,16,64,256,4096
    [[ $dtype == int4 ]] && tokens=1,16,64,256  # no prefill kernel: 4096 tokens is not its case
    timeout 600 "$sy" bench moe --device cuda --dtype $dtype --shape all --tokens $tokens 2>&1 |
      tee -a "$out/bench_moe.log" || status=1
  done
  for shape in mixtral-8x7b qwen3-30b-a3b; do
    timeout 600 "$sy" bench decode --device cuda --weights random --model $shape \
      --batch 1,16,64,256 --context 256 --steps 32 2>&1 | tee -a "$out/bench_decode.log" || status=1
  done
  # Cut to what one H200 holds in bf16: DeepSeek-V3's 3 dense and first 4 MoE layers,
  # gpt-oss-120b's first 16 of 36 layers.
  timeout 600 "$sy" bench decode --device cuda --weights random --model deepseek-v3 --layers 7 \
    --batch 1,64,256 --context 512 --steps 16 2>&1 | tee -a "$out/bench_decode.log" || status=1
  timeout 600 "$sy" bench decode --device cuda --weights random --model gpt-oss-120b --layers 16 \
    --batch 1,16,64,256 --context 512 --steps 16 2>&1 | tee -a "$out/bench_decode.log" || status=1
  port=8123
  "$sy" serve --device cuda --weights random --model mixtral-8x7b --port $port --http-threads 512 \
    >"$out/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 120); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 1
  done
  for c in 1 16 64 256; do
    echo "== bench serve --concurrency $c"
    timeout 300 "$sy" bench serve --url "http://127.0.0.1:$port" --concurrency $c \
      --requests $((c * 2 > 8 ? c * 2 : 8)) --input-tokens 1024 --output-tokens 256 2>&1 |
      tee -a "$out/bench_serve.log" || status=1
  done
  kill $server; wait $server 2>/dev/null
  tail -5 "$out/serve.log"
fi

# Two or more GPUs: the GPU comm backends across real processes, one GPU per rank.
export NCCL_NVLS_ENABLE="${NCCL_NVLS_ENABLE:-0}" UCX_MODULE_DIR="$here/lib/ucx"
gpus=$(nvidia-smi -L | grep -c '^GPU')
if (( gpus >= 2 )) && "$here/bin/switchyard" comm-check --help >/dev/null 2>&1; then
  for comm in comm.nccl comm.nvlink comm.pcie comm.ucx; do
    if timeout 300 "$here/bin/switchyard" launch -n 2 -- comm-check --device cuda \
        --comm "$comm" >"$out/comm_check_$comm.log" 2>&1; then
      echo "PASS launch -n 2 comm-check --comm $comm"
    else
      echo "FAIL launch -n 2 comm-check --comm $comm"; tail -20 "$out/comm_check_$comm.log"; status=1
    fi
  done
  # Dispatch/combine per backend and payload, beside torch's NCCL all_to_all_single when torch
  # is installed (docs/expert-parallelism.md, "bench a2a").
  if timeout 600 "$here/bin/switchyard" launch -n 2 -- bench a2a \
      --comm comm.nvlink,comm.nccl,comm.pcie --dtype bf16,fp8 >"$out/bench_a2a.log" 2>&1; then
    echo "PASS launch -n 2 bench a2a"; cat "$out/bench_a2a.log"
  else
    echo "FAIL launch -n 2 bench a2a"; tail -30 "$out/bench_a2a.log"; status=1
  fi
  # EP=2 random-weight Mixtral-8x7B end to end beside EP=1: comm.nvlink's direct dispatch (with
  # and without CUDA graphs, bf16 and fp8 rows), its collective path (SWITCHYARD_EP_DIRECT=0)
  # and comm.nccl (docs/expert-parallelism.md).
  ep_generate=(generate --device cuda --weights random --model mixtral-8x7b --prompt hi
               --max-tokens 64)
  echo "== EP=1: $("$sy" "${ep_generate[@]}" 2>&1 >/dev/null | grep 'tokens/s' | tail -1)"
  for run in "1 1 bf16 comm.nvlink" "1 0 bf16 comm.nvlink" "1 1 fp8 comm.nvlink" \
             "0 0 bf16 comm.nvlink" "1 0 bf16 comm.nccl"; do
    read -r direct graphs dtype comm <<<"$run"
    line=$(SWITCHYARD_EP_DIRECT=$direct SWITCHYARD_CUDA_GRAPHS=$graphs timeout 300 "$sy" \
      launch -n 2 -- "${ep_generate[@]}" --comm "$comm" --dispatch-dtype "$dtype" 2>&1 \
      >/dev/null | grep 'tokens/s' | tail -1) || status=1
    echo "== EP=2 $comm, $dtype rows, SWITCHYARD_EP_DIRECT=$direct SWITCHYARD_CUDA_GRAPHS=$graphs: $line"
  done
  # Decode throughput at batch per rank 1..256, every rank decoding its own batch (attention
  # data-parallel), beside the same on one GPU (bench_decode.log above).
  timeout 600 "$sy" launch -n 2 -- bench decode --device cuda --weights random \
    --model mixtral-8x7b --batch 1,16,64,256 --context 256 --steps 32 --comm comm.nvlink 2>&1 |
    tee -a "$out/bench_decode_ep.log" || status=1
fi

# Four or eight GPUs: issue 8's scaling runs (docs/benchmarks.md records them).
for ranks in 4 8; do
  (( gpus >= ranks )) || continue
  timeout 600 "$sy" launch -n $ranks -- bench a2a --comm comm.nvlink,comm.nccl,comm.pcie,comm.ucx \
    --dtype bf16,fp8 --tokens 128,512,1024,4096,16384 2>&1 | tee -a "$out/bench_a2a_ep.log" ||
    status=1
done
# Mixtral-8x22B cut to its first 16 of 56 layers, so that EP 1 fits one GPU and every EP size
# decodes the same model.
if (( gpus >= 4 )); then
  for ep in 1 2 4 8; do
    (( gpus >= ep )) || continue
    launch=(); comm=()
    (( ep > 1 )) && launch=(launch -n $ep --) && comm=(--comm comm.nvlink)
    timeout 600 "$sy" "${launch[@]}" bench decode --device cuda --weights random \
      --model mixtral-8x22b --layers 16 --batch 1,16,64,256 --context 256 --steps 16 \
      "${comm[@]}" 2>&1 | tee -a "$out/bench_decode_scaling.log" || status=1
  done
fi
if (( gpus >= 8 )); then
  # DeepSeek-V3's shape (256 experts, top-8), its 3 dense and first 8 MoE layers, at EP 8
  # without and with EPLB (8 redundant experts, rebalanced every 8 steps over the last 8): rank
  # 0 logs each rebalance's max/mean tokens per rank before and after.
  for eplb in "" "--redundant-experts 8 --rebalance-interval 8 --rebalance-window 8"; do
    # shellcheck disable=SC2086  # $eplb is a list of options
    timeout 600 "$sy" launch -n 8 -- bench decode --device cuda --weights random \
      --model deepseek-v3 --layers 11 --batch 16,64,256 --context 256 --steps 16 \
      --comm comm.nvlink $eplb 2>&1 | tee -a "$out/bench_decode_eplb.log" ||
      status=1
  done
fi
exit $status
