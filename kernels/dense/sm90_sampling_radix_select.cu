// Token sampling on the device: core/runtime/sampler's pipeline (repetition penalty,
// temperature, top-k, top-p, min-p, a draw from splitmix64 at (seed, step)) for one row per
// cluster of kCtas CTAs (Hopper thread block clusters).
//
// The CPU sorts the candidates and walks them in order (score descending, id ascending). Every
// cut it makes — the k-th candidate, the prefix reaching top_p, the token the draw lands on — is
// "the element at which a running sum over that order reaches a target": a count for top-k, a
// probability mass for top-p and the draw. Each is found here without sorting by a radix select
// on the order key of the scores: four passes of 8-bit digits, each summing the mass of the set's
// elements per digit (per-warp f64 histograms in shared memory), then the digit where the running
// sum crosses the target. Equal scores are one key; they are then told apart by id, as the CPU's
// tie order does. Min-p keeps a prefix of the same order, so it is a predicate on the set rather
// than a cut. Probabilities are exp((x - max) / T) in f64 as the CPU computes them; only the
// order of the sums differs, so a seeded draw gives the CPU's token unless it lands within
// rounding of a boundary between two tokens.
//
// Why a cluster: the passes' f64 exps over a 152K-token row kept one SM busy for 1.6 ms a step
// (Qwen3), 0.3 ms for Mixtral's 32K. The row's elements are dealt over the cluster's CTAs; each
// pass's per-CTA histograms, sums and counts meet through distributed shared memory, added in
// CTA rank order, so every CTA holds the same totals and takes the same cuts without another
// launch, and the result does not depend on scheduling.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <climits>

#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/sm90_common.cuh"

namespace sy::kernels {
namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr int kCtas = 8;  // a row's cluster (the portable cluster size)
constexpr int kRowThreads = kThreads * kCtas;
constexpr int kDigitBits = 8;
constexpr int kBins = 1 << kDigitBits;
// Shared memory an SM gives one CTA on sm_90, of which the seen-token bitmap gets what the
// static part leaves.
constexpr size_t kMaxSharedBytes = 227 * 1024;
// What the compiler adds to the static part beyond SelectShared (8 bytes with the cluster's
// synchronisation), kept free so the dynamic part never overruns the SM's limit.
constexpr size_t kStaticSlack = 256;

struct SelectShared {
  double warp_mass[kWarps][kBins];  // per warp, so warps never contend on a bin
  double bin_mass[kBins];
  int32_t bin_count[kBins];   // the last pass: elements per key ...
  int32_t bin_min_id[kBins];  // ... and the lowest id among them
  int32_t chunk_count[kThreads];
  double reduce[kWarps];
  int32_t reduce_id[kWarps];
  uint32_t reduce_key[kWarps];
  // This CTA's share of a cluster-wide reduction, read by every CTA of the cluster.
  double cta_mass;
  int32_t cta_count, cta_id;
  uint32_t cta_key;
  // This pass's bins summed over the cluster (bin_mass above is this CTA's alone).
  double row_bin_mass[kBins];
  int32_t row_bin_count[kBins];
  int32_t row_bin_min_id[kBins];
  // Results one thread computes for all.
  uint32_t digit;
  double above;
  int32_t found;
  int32_t id;
  int32_t ties_index;
};

// The CPU's candidate set: scores that are neither NaN nor -inf.
__device__ __forceinline__ bool Live(float x) { return !isnan(x) && x > -INFINITY; }

// A key whose unsigned order is the scores' order (+0 and -0 are one score, as on the CPU).
__device__ __forceinline__ uint32_t OrderKey(float x) {
  if (x == 0.0f) x = 0.0f;
  const uint32_t bits = __float_as_uint(x);
  return (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
}

__device__ __forceinline__ float KeyScore(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) != 0 ? key & 0x7fffffffu : ~key);
}

// The last element of a set in sorted order: an element is in iff it sorts at or before it.
struct Cut {
  uint32_t key;
  int32_t id;
};
constexpr Cut kEverything{0u, INT_MAX};

__device__ __forceinline__ bool AtOrBefore(uint32_t key, int32_t id, Cut cut) {
  return key > cut.key || (key == cut.key && id <= cut.id);
}

// One row's scores after the repetition penalty: a token in `seen` has its logit divided by
// the penalty when positive and multiplied when not (HF's processor, as the CPU applies it).
struct RowView {
  const float* logits;
  int32_t vocab;
  const uint32_t* seen;  // null: no penalty
  float penalty;

  __device__ __forceinline__ float Score(int32_t i) const {
    const float x = __ldg(logits + i);
    if (seen == nullptr || (seen[i >> 5] >> (i & 31) & 1u) == 0) return x;
    return x > 0 ? x / penalty : x * penalty;
  }
};

// Uniform in [0, 1) from splitmix64 at (seed, step): Sampler::NextUniform, bit for bit.
__device__ double Uniform(uint64_t seed, uint64_t step) {
  uint64_t x = seed + step * 0x9E3779B97F4A7C15ull;
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

// This thread's place among the row's kRowThreads: it visits elements place, place + kRowThreads..
__device__ __forceinline__ int32_t RowThread() {
  return static_cast<int32_t>(cg::this_cluster().block_rank()) * kThreads +
         static_cast<int32_t>(threadIdx.x);
}

// The cluster's sum of every thread's `v`: each CTA's in warp order, then the CTAs' in rank
// order, so every thread of every CTA gets the same bits.
__device__ double ClusterSum(double v, SelectShared& sh) {
  for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(~0u, v, off);
  if (threadIdx.x % 32 == 0) sh.reduce[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    double cta = 0;
    for (int w = 0; w < kWarps; ++w) cta += sh.reduce[w];
    sh.cta_mass = cta;
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  double total = 0;
  for (int r = 0; r < kCtas; ++r) total += cluster.map_shared_rank(&sh, r)->cta_mass;
  cluster.sync();  // every CTA has read: cta_mass and reduce are free again
  return total;
}

// The mass of the set's elements, summed over the row.
template <typename InSet, typename Weight>
__device__ double SetMass(const RowView& row, InSet in_set, Weight weight, SelectShared& sh) {
  double mass = 0;
  for (int32_t i = RowThread(); i < row.vocab; i += kRowThreads) {
    const float x = row.Score(i);
    if (Live(x) && in_set(OrderKey(x), i, x)) mass += weight(x);
  }
  return ClusterSum(mass, sh);
}

// The CPU's Argmax: the highest score, the lowest id among equals, NaN below everything (a row
// of NaN gives the last id, as the CPU's loop ends there). Also counts the live scores.
struct Best {
  int32_t id;
  int32_t live;
};

__device__ Best Argmax(const RowView& row, SelectShared& sh) {
  uint32_t key = 0;  // NaN's rank; every other score's key is above it
  int32_t id = INT_MAX, live = 0;
  for (int32_t i = RowThread(); i < row.vocab; i += kRowThreads) {
    const float x = row.Score(i);
    live += Live(x) ? 1 : 0;
    const uint32_t k = isnan(x) ? 0u : OrderKey(x);
    if (k > key || id == INT_MAX) key = k, id = i;  // ascending ids: the first of equals stays
  }
  auto better = [](uint32_t k, int32_t i, uint32_t key, int32_t id) {
    return k > key || (k == key && i < id);
  };
  for (int off = 16; off > 0; off /= 2) {
    const uint32_t k = __shfl_xor_sync(~0u, key, off);
    const int32_t i = __shfl_xor_sync(~0u, id, off);
    live += __shfl_xor_sync(~0u, live, off);
    if (better(k, i, key, id)) key = k, id = i;
  }
  const int warp = threadIdx.x / 32;
  if (threadIdx.x % 32 == 0) {
    sh.reduce_key[warp] = key;
    sh.reduce_id[warp] = id;
    sh.chunk_count[warp] = live;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    key = sh.reduce_key[0], id = sh.reduce_id[0], live = sh.chunk_count[0];
    for (int w = 1; w < kWarps; ++w) {
      live += sh.chunk_count[w];
      if (better(sh.reduce_key[w], sh.reduce_id[w], key, id))
        key = sh.reduce_key[w], id = sh.reduce_id[w];
    }
    sh.cta_key = key, sh.cta_id = id, sh.cta_count = live;
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const SelectShared* first = cluster.map_shared_rank(&sh, 0);
  key = first->cta_key, id = first->cta_id, live = first->cta_count;
  for (int r = 1; r < kCtas; ++r) {
    const SelectShared* other = cluster.map_shared_rank(&sh, r);
    live += other->cta_count;
    if (better(other->cta_key, other->cta_id, key, id)) key = other->cta_key, id = other->cta_id;
  }
  cluster.sync();                    // every CTA has read
  if (key == 0) id = row.vocab - 1;  // every score is NaN
  return {id, live};
}

// Thread 0's scan of one pass's digits from the highest: the digit whose bin takes the running
// mass to the target. Without one (rounding left the set's total short of it) the last bin with
// mass, and every later pass follows that fallback.
__device__ void ChooseDigit(double target, bool inclusive, SelectShared& sh) {
  double run = sh.above, before_last = sh.above;
  int chosen = -1, last = -1;
  for (int d = kBins - 1; d >= 0 && sh.found; --d) {
    const double m = sh.row_bin_mass[d];
    if (m <= 0) continue;
    const double after = run + m;
    if (inclusive ? after >= target : after > target) {
      chosen = d;
      break;
    }
    before_last = run;
    last = d;
    run = after;
  }
  if (chosen >= 0) {
    sh.digit = static_cast<uint32_t>(chosen);
    sh.above = run;
    return;
  }
  sh.found = 0;
  if (last < 0) {  // a pass after a fallback: the last bin with mass
    run = sh.above;
    for (int d = kBins - 1; d >= 0; --d) {
      if (sh.row_bin_mass[d] <= 0) continue;
      before_last = run;
      last = d;
      run += sh.row_bin_mass[d];
    }
  }
  sh.digit = static_cast<uint32_t>(max(last, 0));
  sh.above = before_last;
}

// Among the set's elements whose key is `key`, the `index`-th by id (they are in one bin; a
// chunk of ids per thread of the cluster, so prefix sums of per-thread counts, then of per-CTA
// counts, order them).
template <typename InSet>
__device__ int32_t NthTie(const RowView& row, InSet in_set, uint32_t key, int32_t index,
                          SelectShared& sh) {
  const int32_t chunk = (row.vocab + kRowThreads - 1) / kRowThreads;
  const int32_t begin = min(row.vocab, RowThread() * chunk), end = min(row.vocab, begin + chunk);
  const auto is_tie = [&](int32_t i) {
    const float x = row.Score(i);
    return Live(x) && OrderKey(x) == key && in_set(key, i, x);
  };
  int32_t count = 0;
  for (int32_t i = begin; i < end; ++i) count += is_tie(i) ? 1 : 0;
  sh.chunk_count[threadIdx.x] = count;
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t run = 0;
    for (int t = 0; t < kThreads; ++t) {
      const int32_t c = sh.chunk_count[t];
      sh.chunk_count[t] = run;
      run += c;
    }
    sh.cta_count = run;
    sh.cta_id = -1;
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  int32_t seen = sh.chunk_count[threadIdx.x];
  for (unsigned r = 0; r < cluster.block_rank(); ++r) {
    seen += cluster.map_shared_rank(&sh, static_cast<int>(r))->cta_count;
  }
  if (index >= seen && index < seen + count) {
    for (int32_t i = begin; i < end; ++i) {
      if (!is_tie(i)) continue;
      if (seen++ == index) sh.cta_id = i;
    }
  }
  cluster.sync();
  int32_t id = -1;
  for (int r = 0; r < kCtas && id < 0; ++r) id = cluster.map_shared_rank(&sh, r)->cta_id;
  cluster.sync();  // every CTA has read
  return id;
}

// The element of the set at which the running mass in sorted order reaches `target`
// (inclusive: >=) or passes it (>); the set's last element of nonzero mass when rounding keeps
// the total below the target.
template <typename InSet, typename Weight>
__device__ Cut SelectByMass(const RowView& row, InSet in_set, Weight weight, double target,
                            bool inclusive, SelectShared& sh) {
  uint32_t prefix = 0, mask = 0;
  if (threadIdx.x == 0) sh.above = 0, sh.found = 1;
  for (int shift = 32 - kDigitBits; shift >= 0; shift -= kDigitBits) {
    const bool last_pass = shift == 0;
    for (int i = threadIdx.x; i < kWarps * kBins; i += kThreads) (&sh.warp_mass[0][0])[i] = 0;
    if (threadIdx.x < kBins) sh.bin_count[threadIdx.x] = 0, sh.bin_min_id[threadIdx.x] = INT_MAX;
    __syncthreads();
    double* mine = sh.warp_mass[threadIdx.x / 32];
    for (int32_t i = RowThread(); i < row.vocab; i += kRowThreads) {
      const float x = row.Score(i);
      if (!Live(x)) continue;
      const uint32_t key = OrderKey(x);
      if ((key & mask) != prefix || !in_set(key, i, x)) continue;
      const uint32_t digit = key >> shift & (kBins - 1);
      atomicAdd(&mine[digit], weight(x));
      if (last_pass) {
        atomicAdd(&sh.bin_count[digit], 1);
        atomicMin(&sh.bin_min_id[digit], i);
      }
    }
    __syncthreads();
    if (threadIdx.x < kBins) {
      double m = 0;
      for (int w = 0; w < kWarps; ++w) m += sh.warp_mass[w][threadIdx.x];
      sh.bin_mass[threadIdx.x] = m;
    }
    cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();  // every CTA's bins are complete
    if (threadIdx.x < kBins) {
      const int d = threadIdx.x;
      double m = 0;
      int32_t count = 0, min_id = INT_MAX;
      for (int r = 0; r < kCtas; ++r) {
        const SelectShared* other = cluster.map_shared_rank(&sh, r);
        m += other->bin_mass[d];
        count += other->bin_count[d];
        min_id = min(min_id, other->bin_min_id[d]);
      }
      sh.row_bin_mass[d] = m;
      sh.row_bin_count[d] = count;
      sh.row_bin_min_id[d] = min_id;
    }
    __syncthreads();
    if (threadIdx.x == 0) ChooseDigit(target, inclusive, sh);
    cluster.sync();  // every CTA has read the bins (the next pass clears them), and the digit
    prefix |= sh.digit << shift;
    mask |= static_cast<uint32_t>(kBins - 1) << shift;
  }
  // Every element left has the score `prefix`, hence one weight; ids order them.
  if (threadIdx.x == 0) {
    const int32_t ties = sh.row_bin_count[sh.digit];
    const double w = weight(KeyScore(prefix)), need = (target - sh.above) / w;
    int32_t index = ties - 1;
    if (sh.found && w > 0) {
      const double skip = inclusive ? ceil(need) - 1 : floor(need);
      index = static_cast<int32_t>(fmin(fmax(skip, 0.0), static_cast<double>(ties - 1)));
    }
    sh.ties_index = index;
    sh.id = sh.row_bin_min_id[sh.digit];
  }
  __syncthreads();
  const int32_t index = sh.ties_index;
  const int32_t id = index == 0 ? sh.id : NthTie(row, in_set, prefix, index, sh);
  __syncthreads();
  return {prefix, id};
}

__global__ void __launch_bounds__(kThreads)
    sm90_sample_rows_radix_select(const float* logits, int64_t vocab, const SamplingRow* rows,
                                  const int32_t* history, int32_t* out) {
  extern __shared__ uint32_t seen[];  // one bit per token of the penalized history
  __shared__ SelectShared sh;
  const int64_t row_index = blockIdx.x / kCtas;
  const bool speaks = cg::this_cluster().block_rank() == 0 && threadIdx.x == 0;
  const SamplingRow p = rows[row_index];
  const bool penalize = p.repetition_penalty != 1.0f && p.history_length > 0;
  if (penalize) {
    const int32_t words = static_cast<int32_t>((vocab + 31) / 32);
    for (int32_t w = threadIdx.x; w < words; w += kThreads) seen[w] = 0;
    __syncthreads();
    for (int32_t h = threadIdx.x; h < p.history_length; h += kThreads) {
      const int32_t id = history[p.history_begin + h];
      if (id >= 0 && id < vocab) atomicOr(&seen[id >> 5], 1u << (id & 31));  // repeats: once
    }
    __syncthreads();
  }
  const RowView row{logits + p.logits_row * vocab, static_cast<int32_t>(vocab),
                    penalize ? seen : nullptr, p.repetition_penalty};
  const Best best = Argmax(row, sh);
  const float top = row.Score(best.id);
  // Greedy; nothing to sample from (all -inf or NaN); +inf, which is certain.
  if (p.temperature == 0 || best.live == 0 || isinf(top)) {
    if (speaks) out[row_index] = best.id;
    return;
  }
  const double max = top, temperature = p.temperature;
  const auto weight = [=](float x) { return exp((static_cast<double>(x) - max) / temperature); };
  const auto count = [](float) { return 1.0; };
  const auto any = [](uint32_t, int32_t, float) { return true; };
  Cut cut = kEverything;
  if (p.top_k > 0 && p.top_k < best.live) cut = SelectByMass(row, any, count, p.top_k, true, sh);
  const auto in_top_k = [=](uint32_t key, int32_t id, float) { return AtOrBefore(key, id, cut); };
  const double z = SetMass(row, in_top_k, weight, sh);  // the softmax's denominator
  if (p.top_p < 1) cut = SelectByMass(row, in_top_k, weight, p.top_p * z, true, sh);
  // Min-p as the CPU compares it: p < min_p * p_max, with p = weight / z and p_max = 1 / z.
  const double min_p = static_cast<double>(p.min_p) * (1.0 / z);
  const auto kept = [=](uint32_t key, int32_t id, float x) {
    return AtOrBefore(key, id, cut) && (min_p == 0 || !(weight(x) / z < min_p));
  };
  const double total = SetMass(row, kept, weight, sh);
  const Cut drawn = SelectByMass(row, kept, weight, Uniform(p.seed, p.step) * total, false, sh);
  if (speaks) out[row_index] = drawn.id;
}

// The dynamic shared memory the seen-token bitmap may take.
constexpr size_t SeenBudget() { return kMaxSharedBytes - sizeof(SelectShared) - kStaticSlack; }

size_t SeenBytes(int64_t vocab) { return static_cast<size_t>((vocab + 31) / 32) * 4; }

}  // namespace

int64_t MaxSamplingVocab() { return static_cast<int64_t>(SeenBudget() / 4 * 32); }

std::string LaunchSampleRows(const SampleRowsArgs& a, void* stream) {
  if (a.count == 0) return "";
  if (a.vocab <= 0 || a.vocab > MaxSamplingVocab()) {
    return "sm90_sample_rows_radix_select: vocab " + std::to_string(a.vocab) + " is not in [1, " +
           std::to_string(MaxSamplingVocab()) + "]";
  }
  if (a.count > INT_MAX / kCtas) {
    return "sm90_sample_rows_radix_select: " + std::to_string(a.count) + " rows is too many";
  }
  // Once per process, for the largest vocabulary: not a stream operation, so it may run while a
  // graph is being captured.
  static const cudaError_t opted_in = cudaFuncSetAttribute(
      sm90_sample_rows_radix_select, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(SeenBudget()));
  if (opted_in != cudaSuccess) {
    return std::string("sm90_sample_rows_radix_select: shared memory: ") +
           cudaGetErrorString(opted_in);
  }
  return LaunchInClusters("sm90_sample_rows_radix_select", sm90_sample_rows_radix_select,
                          dim3(static_cast<unsigned>(a.count * kCtas)), dim3(kThreads),
                          SeenBytes(a.vocab), stream, kCtas, a.logits, a.vocab, a.rows, a.history,
                          a.out);
}

}  // namespace sy::kernels
