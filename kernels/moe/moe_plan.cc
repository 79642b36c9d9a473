// Host-side planning: which kernels run a problem, and where their scratch lives.
#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/moe/moe_cuda.h"
#include "kernels/moe/moe_launchers.h"

namespace sy::kernels {
namespace {

size_t Align(size_t bytes) { return (bytes + 255) / 256 * 256; }

// sizeof(CUtensorMap): the driver's opaque tensor map (this file is plain C++).
constexpr size_t kWeightMapBytes = 128;

// Decode tiles of 8 tokens per expert block. Measured on the H200 (docs/cuda-kernels.md):
// one tile (two CTAs per SM) streams fastest up to ~6 tokens per expert; two tiles win
// from there to ~24; beyond that the prefill tiles do (see PlanMoe). An expert over its
// block takes a second block, launched next to the first so its weight tile comes from L2.
int32_t DecodeTokenTiles(double slots_per_expert) { return slots_per_expert <= 6 ? 1 : 2; }

// Decode row groups per CTA (MoePlan::gate_up_row_groups): the fewest that give each warp at
// least 16 k-steps of its GEMM's K, while the grid keeps at least 192 CTAs (about 1.5 an SM of
// the H200) for the experts a batch is expected to touch. Measured on the H200 (bench moe --path
// decode --row-groups G/D, every pair, docs/cuda-kernels.md):
//   - Qwen3-30B-A3B bf16 (down K = 768, 3 steps a warp at R = 1): 16 / 64 tokens 219 / 331 µs
//     at 1/1, 198 / 292 at 2/8; 1 token 33.0 at 1/1, 28.0 at 2/2 (2/8's 64 down CTAs: 32.7);
//   - DeepSeek-V3 bf16 (down K = 2048): 64 / 256 tokens 4,590 / 5,883 at 1/1, 4,547 / 5,711 at
//     1/2; int4 16 tokens 1,398 at 1/1, 1,159 at 4/4; fp8 1 token 141.9 at 1/1, 131.9 at 2/2;
//   - Mixtral-8x7B (K = 4096 and 14336): 1/1 best, 1 token 176 vs 181-207 with more groups.
// A forced count the GEMM's rows do not divide is halved until they do.
int32_t DecodeRowGroups(bool gate_up, const MoeProblem& p, int32_t token_tiles,
                        const MoePlanOptions& options) {
  int32_t groups = gate_up ? options.gate_up_row_groups : options.down_row_groups;
  if (groups <= 0) {  // not forced
    const int64_t k = gate_up ? p.hidden : p.intermediate;
    const int64_t step_k = options.format == MoeWeightFormat::kU4Group128    ? 128
                           : options.format == MoeWeightFormat::kFp8Block128 ? 64
                                                                             : 32;
    const int64_t steps = (k + step_k - 1) / step_k;
    groups = 1;
    while (groups < 8 && steps * groups / 8 < 16) groups *= 2;
    // Experts touched under uniform routing: each token picks top_k of them.
    const double touched =
        p.experts * (1.0 - std::pow(1.0 - static_cast<double>(p.top_k) / p.experts, p.tokens));
    const int64_t row_tiles = gate_up ? p.intermediate / 16 : p.hidden / 32;
    while (groups > 1 && touched * static_cast<double>(row_tiles) / groups < 192) groups /= 2;
  }
  groups = std::min(groups, MaxDecodeRowGroups(token_tiles));
  while (groups > 1 && !CheckDecodeRowGroups(gate_up, p, token_tiles, groups).empty()) groups /= 2;
  return groups;
}

bool PrefillFits(const MoeProblem& p) { return p.intermediate % 64 == 0 && p.hidden % 128 == 0; }

// Slots per expert from which the prefill tiles beat the decode kernels. Measured on the H200
// (bench moe --path prefill against the plan's decode, docs/cuda-kernels.md):
//   - bf16 on the wgmma tile: 8, with its 64-slot tiles (PrefillHalfTiles): DeepSeek-V3 at 256
//     tokens (8 per expert) 5,194 vs decode/2's 5,660-5,845 µs, at 64 tokens (2) 4,461 vs
//     4,518-4,535, Mixtral at 64 tokens (16) 689 vs 906; ties from 1-4 per expert (Qwen3-30B-A3B
//     at 64 tokens 317 vs 311-330, Mixtral at 16 tokens 676 vs 666-670), and decode still wins
//     Qwen3-30B-A3B at 16 tokens (221 vs 203-220);
//   - fp8 on the w8a8 wgmma tile: 1. It streams fp8 weights at 2.8-3.0 TB/s from 16 tokens on,
//     as fast as the w8a16 decode kernel does at its best (Qwen3-30B-A3B at 16 tokens 173 vs
//     206 µs, at 64 tokens 250 vs 313; Mixtral at 64 tokens 509 vs 1,049; decode still wins by
//     under 3% at Mixtral's and DeepSeek-V3's 16 tokens);
//   - the mma.sync tile (bf16 or fp8), and fp8 weights with bf16 activations (w8a16): 25.
double PrefillFromSlotsPerExpert(const MoeProblem& p, const MoePlanOptions& options) {
  if (!WgmmaPrefillShapeFits(p, options.format)) return 25;
  if (options.format == MoeWeightFormat::kBf16) return 8;
  return options.fp8_activations ? 1 : 25;
}

int64_t W8a8ScalesLd(int64_t slots) { return (slots + 3) / 4 * 4; }

size_t W8a8ScaleBytes(int64_t slots, int64_t k) {
  return sizeof(float) * static_cast<size_t>(k / kMoeFp8Block * W8a8ScalesLd(slots));
}

// bf16 prefill on the wgmma tile: the one kernel with a choice of tiles (the 64-slot half tile,
// the 256 x 128 tall tile).
bool ChoosesPrefillTile(const MoeProblem& p, const MoePlanOptions& options) {
  return options.format == MoeWeightFormat::kBf16 && WgmmaPrefillShapeFits(p, options.format);
}

// Prefill blocks. bf16 on the wgmma kernel: 256 slots, each CTA fitting its tile to its block
// (more than 128 slots: the 256 x 128 tall tile in as many 64-row chunks as the block fills; 65
// to 128: 128 x 256; at most 64: 64 x 256), unless forced to 128 or 64. Every other kernel: 128.
// Blocks of 128 padded an expert's leftover slots to a whole tile, or ran them as a half tile
// that stopped sharing the expert's weight tiles through L2. Measured on the H200 (bench moe
// --path prefill --block-m 0 with 256 against 128 and half tiles where experts average under 128
// slots; layer µs over two rounds, one run): at 128 slots an expert DeepSeek-V3 at 4096 tokens
// 8,678-8,696 against 9,169-9,189, Mixtral-8x7B at 512 1,114-1,125 against 1,132-1,136,
// Qwen3-30B-A3B at 4096 (256 an expert) 967-979 against 987-997; every other case from 128 to
// 4096 tokens within 1% either way.
int32_t PrefillBlockM(const MoeProblem& p, const MoePlanOptions& options) {
  if (!ChoosesPrefillTile(p, options)) return 128;
  const int32_t forced = options.prefill_block_m;
  return forced == 64 || forced == 128 ? forced : 256;
}

// Half tiles (bf16 on the wgmma tile, blocks of 128 forced): blocks of at most 64 slots run the
// 64-slot tile, where experts average under 128 slots. An expert's leftover block is then a large
// share of its blocks, and the half tile does half the MMA work of a mostly empty 128-slot one.
// Where blocks are mostly full the leftover half tiles lose: they run at their own pace beside the
// expert's full 128-slot tiles, which then no longer share its weight tiles through L2 (DeepSeek-V3
// at 4096 tokens, 128 slots an expert: gate_up 5.25 -> 5.95 ms). Measured on the H200 (bench moe
// --path prefill --block-m 128 --half-tiles on|off, and --block-m 64; layer µs, 64 / 256 / 1024
// tokens over two rounds, then 4096 tokens from one):
//   - Mixtral-8x7B: on 701-702 / 790-791 / 1,714-1,729, off 762-765 / 832-833 / 1,722-1,731,
//     blocks of 64 703-704 / 873-875 / 1,893-1,896; 4096: on 5,207, off 5,233, 64: 6,054;
//   - Qwen3-30B-A3B: on 330-342 / 354-355 / 422-423, off 372-392 / 405-407 / 450-452, 64:
//     324-325 / 354-355 / 454-455; 4096: on 977, off 993, 64: 1,043;
//   - DeepSeek-V3: on 4,621-4,637 / 5,539-5,554 / 5,736-5,757, off 5,333-5,360 / 6,035-6,075 /
//     6,396-6,415, 64: 4,717-4,812 / 5,454 / 5,720-5,765; 4096: on 9,517, off 9,134, 64: 10,403.
// Where experts get at most 64 slots, blocks of 128 with half tiles are blocks of 64; from 65 to
// 127 they are faster (Mixtral at 256 tokens, Qwen3-30B-A3B at 1024), so blocks of 64 are only
// run when forced.
bool PrefillHalfTiles(const MoeProblem& p, const MoePlanOptions& options, int32_t block_m,
                      double per_expert) {
  if (!ChoosesPrefillTile(p, options) || block_m == 256) return false;
  if (block_m == 64) return true;
  return options.prefill_half_tiles.value_or(per_expert < 128);
}

// The raster's groups: an expert's blocks in one group read each of its weight tiles together
// (the second from L2), while the group's A rows must stay in L2 as the weights stream by. So
// a group is about as many blocks as an expert has: where it has fewer than one, grouping shares
// no weight tile and the rows of 8 blocks (DeepSeek-V3: 8 x 192 rows of 14 KiB) crowd L2. The
// sweep of G = 1, 2, 4, 8 behind it: docs/benchmarks.md ("Prefill tiles fitted to each block, and
// raster groups").
int32_t PrefillRasterGroup(double per_expert, int32_t block_m) {
  const double blocks = per_expert / block_m;
  return blocks >= 4 ? 8 : blocks >= 2 ? 4 : blocks >= 1 ? 2 : 1;
}

}  // namespace

bool WgmmaPrefillShapeFits(const MoeProblem& p, MoeWeightFormat format) {
  // 128 x 256 tiles: gate_up's pair 128 gate rows with their 128 up rows.
  return (format == MoeWeightFormat::kBf16 || format == MoeWeightFormat::kFp8Block128) &&
         p.intermediate % 128 == 0 && p.hidden % 256 == 0;
}

std::string CheckMoeProblem(const MoeProblem& p) {
  if (p.tokens < 0) return "tokens must be >= 0";
  if (p.experts < 1 || p.experts > kMaxMoeExperts) return "experts must be in [1, 1024]";
  if (p.top_k < 1 || p.top_k > 32 || p.top_k > p.experts)
    return "top_k must be in [1, min(32, experts)]";
  if (p.hidden <= 0 || p.hidden % 32 != 0) return "hidden must be a positive multiple of 32";
  if (p.intermediate <= 0 || p.intermediate % 16 != 0)
    return "intermediate must be a positive multiple of 16";
  if (p.tokens * p.top_k >= (int64_t{1} << 31)) return "tokens * top_k must fit in 31 bits";
  return "";
}

std::string CheckDecodeRowGroups(bool gate_up, const MoeProblem& p, int32_t token_tiles,
                                 int32_t row_groups) {
  if (!IsPow2UpTo8(row_groups)) return "row groups must be 1, 2, 4 or 8";
  if (row_groups > MaxDecodeRowGroups(token_tiles))
    return "more than one row group needs token_tiles <= 2";
  const int64_t rows = gate_up ? p.intermediate : p.hidden, tile = gate_up ? 16 : 32;
  if (rows % (tile * row_groups) != 0) {
    return std::string(gate_up ? "I" : "H") + " = " + std::to_string(rows) +
           " is not a multiple of " + std::to_string(tile * row_groups) + " rows (" +
           std::to_string(row_groups) + " row groups)";
  }
  return "";
}

MoePlan PlanMoe(const MoeProblem& p, const MoePlanOptions& options) {
  MoePlan plan;
  const int64_t slots = p.tokens * p.top_k;
  const double per_expert = static_cast<double>(slots) / std::max(p.experts, 1);
  const bool prefill_fits = PrefillFits(p) && options.format != MoeWeightFormat::kU4Group128;
  plan.path = per_expert >= PrefillFromSlotsPerExpert(p, options) && prefill_fits
                  ? MoePath::kPrefill
                  : MoePath::kDecode;
  if (options.path) {
    plan.path =
        *options.path == MoePath::kPrefill && !prefill_fits ? MoePath::kDecode : *options.path;
  }
  plan.programmatic_launch = options.programmatic_launch;
  if (plan.path == MoePath::kDecode) {
    plan.token_tiles = options.token_tiles > 0 ? options.token_tiles : DecodeTokenTiles(per_expert);
    plan.block_m = 8 * plan.token_tiles;
    plan.gate_up_row_groups = DecodeRowGroups(true, p, plan.token_tiles, options);
    plan.down_row_groups = DecodeRowGroups(false, p, plan.token_tiles, options);
  } else {
    plan.token_tiles = 0;
    plan.block_m = PrefillBlockM(p, options);
    plan.prefill_half_tiles = PrefillHalfTiles(p, options, plan.block_m, per_expert);
    const int32_t group = options.prefill_raster_group;
    plan.prefill_raster_group =
        IsPow2UpTo8(group) ? group : PrefillRasterGroup(per_expert, plan.block_m);
    plan.fp8_activations = options.format == MoeWeightFormat::kFp8Block128 &&
                           options.fp8_activations && WgmmaPrefillShapeFits(p, options.format);
  }
  plan.max_blocks = slots / plan.block_m + std::min<int64_t>(p.experts, slots);
  MoeWorkspaceView view = LayoutMoeWorkspace(p, plan, nullptr);
  size_t end = reinterpret_cast<size_t>(view.rows_out);
  if (plan.path == MoePath::kPrefill) {
    // rows_out: the bf16 rows by slot, and before them gate_up's A (bf16, or w8a8's e4m3 and
    // scales).
    const size_t gate_up_a = plan.fp8_activations ? Align(static_cast<size_t>(slots * p.hidden)) +
                                                        W8a8ScaleBytes(slots, p.hidden)
                                                  : 0;
    end += std::max(Align(sizeof(uint16_t) * slots * p.hidden), Align(gate_up_a));
  }
  plan.workspace_bytes = std::max<size_t>(end, 256);
  return plan;
}

int64_t MoeMatrixBytes(MoeWeightFormat format, int64_t rows, int64_t cols) {
  switch (format) {
    case MoeWeightFormat::kFp8Block128:
      return rows * cols;
    case MoeWeightFormat::kU4Group128:
      return rows * cols / 2;
    default:
      return rows * cols * 2;
  }
}

int64_t MoeScaleCount(MoeWeightFormat format, int64_t rows, int64_t cols) {
  switch (format) {
    case MoeWeightFormat::kFp8Block128:
      return (rows + kMoeFp8Block - 1) / kMoeFp8Block * ((cols + kMoeFp8Block - 1) / kMoeFp8Block);
    case MoeWeightFormat::kU4Group128:
      return rows * (cols / kMoeU4Group);
    default:
      return 0;
  }
}

size_t MoeWorkspaceStateBytes() { return Align(sizeof(int32_t) * (kMaxMoeExperts + 1)); }

MoeWorkspaceView LayoutMoeWorkspace(const MoeProblem& p, const MoePlan& plan, void* workspace) {
  // Offsets from `workspace`; with nullptr the pointers are the offsets themselves.
  char* base = static_cast<char*>(workspace);
  const size_t slots = static_cast<size_t>(p.tokens * p.top_k);
  size_t offset = 0;
  auto take = [&](size_t bytes) {
    char* at = base + offset;
    offset += Align(bytes);
    return at;
  };
  MoeWorkspaceView v{};
  // The state has one place whatever E is, so problems of different expert counts (a dense
  // MLP, a shared expert, the routed experts) can share one workspace: a smaller E's slot lists
  // never land on a larger E's counters.
  char* state = take(MoeWorkspaceStateBytes());
  v.counts = reinterpret_cast<int32_t*>(state);
  v.done = reinterpret_cast<uint32_t*>(state + sizeof(int32_t) * kMaxMoeExperts);
  v.topk_ids = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * slots));
  v.topk_weights = reinterpret_cast<float*>(take(sizeof(float) * slots));
  v.sorted_slots = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * slots));
  v.num_blocks = reinterpret_cast<int32_t*>(take(sizeof(int32_t)));
  v.blocks = reinterpret_cast<BlockInfo*>(take(sizeof(BlockInfo) * plan.max_blocks));
  v.act = reinterpret_cast<uint16_t*>(take(sizeof(uint16_t) * slots * p.intermediate));
  if (plan.fp8_activations) {
    // x quantized in token order for gate_up (then gathered into rows_out), later act for down.
    v.a_fp8 = reinterpret_cast<uint8_t*>(
        take(std::max<size_t>(p.tokens * p.hidden, slots * p.intermediate)));
    v.a_scales = reinterpret_cast<float*>(
        take(std::max(W8a8ScaleBytes(p.tokens, p.hidden), W8a8ScaleBytes(slots, p.intermediate))));
  }
  if (plan.path == MoePath::kPrefill) v.weight_maps = take(kWeightMapBytes * 2 * p.experts);
  v.rows_out = reinterpret_cast<uint16_t*>(base + offset);
  return v;
}

W8a8Operand W8a8TokenRowsOf(const MoeProblem& p, const MoeWorkspaceView& ws) {
  return {ws.a_fp8, ws.a_scales, W8a8ScalesLd(p.tokens)};
}

W8a8Operand W8a8OperandOf(bool gate_up, const MoeProblem& p, const MoeWorkspaceView& ws) {
  const int64_t slots = p.tokens * p.top_k;
  if (!gate_up) return {ws.a_fp8, ws.a_scales, W8a8ScalesLd(slots)};
  auto* rows = reinterpret_cast<uint8_t*>(ws.rows_out);
  return {rows, reinterpret_cast<float*>(rows + Align(static_cast<size_t>(slots * p.hidden))),
          W8a8ScalesLd(slots)};
}

}  // namespace sy::kernels
