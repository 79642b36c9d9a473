#include "core/dense/paged_kv_cache.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/check.h"

namespace sy {

BlockAllocator::BlockAllocator(int32_t num_blocks) : in_use_(num_blocks, false) {
  // Pushed in reverse so that block 0 is handed out first, which keeps tests readable.
  free_.reserve(num_blocks);
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

absl::StatusOr<int32_t> BlockAllocator::Allocate() {
  if (free_.empty()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "KV cache: no free blocks (", num_blocks() - num_free(), " in use of ", num_blocks(), ")"));
  }
  const int32_t block = free_.back();
  free_.pop_back();
  in_use_[block] = true;
  return block;
}

absl::Status BlockAllocator::Free(int32_t block) {
  if (block < 0 || block >= num_blocks() || !in_use_[block]) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: block ", block, " is not allocated (", num_blocks(), " blocks)"));
  }
  in_use_[block] = false;
  free_.push_back(block);
  return absl::OkStatus();
}

namespace {

uint64_t NextCacheId() {
  static std::atomic<uint64_t> next{1};
  return next++;
}

}  // namespace

absl::StatusOr<PagedKvCache> PagedKvCache::Create(const KvCacheShape& s) {
  if (s.num_layers <= 0 || s.num_blocks <= 0 || s.block_size <= 0 || s.kv_heads <= 0 ||
      s.head_dim <= 0 || s.num_blocks * s.block_size > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache: bad shape (layers ", s.num_layers, ", blocks ", s.num_blocks, ", block_size ",
        s.block_size, ", kv_heads ", s.kv_heads, ", head_dim ", s.head_dim, ")"));
  }
  const bool host = s.device.is_cpu();
  if (host != (s.dtype == DType::kF32) || (!host && s.dtype != DType::kBF16)) {
    return absl::InvalidArgumentError(absl::StrCat("KV cache: ", DTypeName(s.dtype), " on ",
                                                   s.device.ToString(),
                                                   " (f32 on the CPU or bf16 on a GPU)"));
  }
  std::vector<Tensor> k, v;
  const Shape layer_shape = {s.num_blocks, s.block_size, s.kv_heads, s.head_dim};
  auto allocate = [&]() -> absl::StatusOr<Tensor> {
    if (host) return Tensor::Zeros(layer_shape, s.dtype);
    return Tensor::Empty(layer_shape, s.dtype, s.device);
  };
  for (int64_t l = 0; l < s.num_layers; ++l) {
    SY_ASSIGN_OR_RETURN(Tensor kl, allocate());
    k.push_back(std::move(kl));
    if (!s.has_values) continue;
    SY_ASSIGN_OR_RETURN(Tensor vl, allocate());
    v.push_back(std::move(vl));
  }
  return PagedKvCache(s, std::move(k), std::move(v));
}

PagedKvCache::PagedKvCache(const KvCacheShape& shape, std::vector<Tensor> k, std::vector<Tensor> v)
    : shape_(shape),
      id_(NextCacheId()),
      allocator_(static_cast<int32_t>(shape.num_blocks)),
      k_(std::move(k)),
      v_(std::move(v)) {}

absl::Status PagedKvCache::AddSequence(int64_t sequence) {
  if (!sequences_.try_emplace(sequence, Sequence{{}, std::vector<int64_t>(shape_.num_layers, 0)})
           .second) {
    return absl::AlreadyExistsError(absl::StrCat("KV cache: sequence ", sequence, " exists"));
  }
  return absl::OkStatus();
}

absl::StatusOr<const PagedKvCache::Sequence*> PagedKvCache::Find(int64_t sequence,
                                                                 int64_t layer) const {
  auto it = sequences_.find(sequence);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("KV cache: no sequence ", sequence));
  }
  if (layer < 0 || layer >= shape_.num_layers) {
    return absl::OutOfRangeError(
        absl::StrCat("KV cache: layer ", layer, " out of range (", shape_.num_layers, " layers)"));
  }
  return &it->second;
}

int64_t PagedKvCache::BlocksNeeded(int64_t sequence, int64_t tokens) const {
  const auto it = sequences_.find(sequence);
  const int64_t held = it == sequences_.end() ? 0 : it->second.block_table.size();
  return std::max<int64_t>(0, (tokens + shape_.block_size - 1) / shape_.block_size - held);
}

absl::Status PagedKvCache::Reserve(int64_t sequence, int64_t tokens) {
  const auto it = sequences_.find(sequence);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("KV cache: no sequence ", sequence));
  }
  const int64_t missing = BlocksNeeded(sequence, tokens);
  if (missing > allocator_.num_free()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KV cache: no free blocks (", allocator_.num_blocks() - allocator_.num_free(),
                     " in use of ", allocator_.num_blocks(), "); sequence ", sequence, " needs ",
                     missing, " more"));
  }
  for (int64_t i = 0; i < missing; ++i) {
    SY_ASSIGN_OR_RETURN(int32_t block, allocator_.Allocate());
    it->second.block_table.push_back(block);
  }
  return absl::OkStatus();
}

absl::Status PagedKvCache::Append(int64_t sequence, int64_t layer, const Tensor& k,
                                  const Tensor& v) {
  SY_RETURN_IF_ERROR(Find(sequence, layer).status());
  Sequence* seq = &sequences_.at(sequence);
  if (!shape_.device.is_cpu()) {
    return absl::FailedPreconditionError(
        absl::StrCat("KV cache: Append writes a host cache; this one is on ",
                     shape_.device.ToString(), " (its model's kernels write it, then Commit)"));
  }
  SY_RETURN_IF_ERROR(CheckCpuTensor(k, "KV cache append k", 2, {DType::kF32}));
  const int64_t row = shape_.kv_heads * shape_.head_dim;
  if (!shape_.has_values) {
    if (v.defined() || k.dim(1) != row) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache append: k ", k.Describe(),
                                                     " must be [n, ", row,
                                                     "] and v empty (the cache holds keys only)"));
    }
  } else {
    SY_RETURN_IF_ERROR(CheckCpuTensor(v, "KV cache append v", 2, {DType::kF32}));
    if (k.dim(1) != row || v.shape() != k.shape()) {
      return absl::InvalidArgumentError(absl::StrCat("KV cache append: k ", k.Describe(), " and v ",
                                                     v.Describe(), " must both be [n, ", row, "]"));
    }
  }
  const int64_t n = k.dim(0);
  const int64_t start = seq->lengths[layer];
  SY_RETURN_IF_ERROR(Reserve(sequence, start + n));
  float* kd = k_[layer].data<float>();
  float* vd = shape_.has_values ? v_[layer].data<float>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pos = start + i;
    const int64_t slot =
        seq->block_table[pos / shape_.block_size] * shape_.block_size + pos % shape_.block_size;
    std::memcpy(kd + slot * row, k.data<float>() + i * row, row * sizeof(float));
    if (vd != nullptr) std::memcpy(vd + slot * row, v.data<float>() + i * row, row * sizeof(float));
  }
  seq->lengths[layer] = start + n;
  return absl::OkStatus();
}

absl::Status PagedKvCache::Commit(int64_t sequence, int64_t tokens) {
  SY_ASSIGN_OR_RETURN(const Sequence* seq, Find(sequence, 0));
  const int64_t start = seq->lengths[0];
  if (std::any_of(seq->lengths.begin(), seq->lengths.end(),
                  [&](int64_t l) { return l != start; })) {
    return absl::FailedPreconditionError(
        absl::StrCat("KV cache: sequence ", sequence, " has layers of different lengths"));
  }
  const int64_t held = static_cast<int64_t>(seq->block_table.size()) * shape_.block_size;
  if (tokens < 0 || start + tokens > held) {
    return absl::FailedPreconditionError(absl::StrCat("KV cache: sequence ", sequence, " holds ",
                                                      held, " reserved slots; committing ", tokens,
                                                      " after ", start, " needs more"));
  }
  for (int64_t& l : sequences_.at(sequence).lengths) l = start + tokens;
  return absl::OkStatus();
}

absl::Status PagedKvCache::Free(int64_t sequence) {
  auto it = sequences_.find(sequence);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("KV cache: no sequence ", sequence));
  }
  for (int32_t block : it->second.block_table) SY_RETURN_IF_ERROR(allocator_.Free(block));
  sequences_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> PagedKvCache::Length(int64_t sequence, int64_t layer) const {
  SY_ASSIGN_OR_RETURN(const Sequence* seq, Find(sequence, layer));
  return seq->lengths[layer];
}

absl::StatusOr<const std::vector<int32_t>*> PagedKvCache::BlockTable(int64_t sequence) const {
  auto it = sequences_.find(sequence);
  if (it == sequences_.end()) {
    return absl::NotFoundError(absl::StrCat("KV cache: no sequence ", sequence));
  }
  return &it->second.block_table;
}

}  // namespace sy
