// A block-paged KV cache (vLLM's PagedAttention layout), for every layer of a model.
//
// Memory is a pool of num_blocks blocks of block_size token slots. Per layer, K and V are each
// one tensor [num_blocks, block_size, kv_heads, head_dim], row-major: the slot of token j of
// a sequence is block_table[j / block_size] * block_size + j % block_size, and its head h starts
// at element (slot * kv_heads + h) * head_dim. The CUDA path uses the same layout, so a block
// table means the same thing on either device.
//
// A sequence owns one block table shared by all layers (block b of the table holds the same
// tokens in every layer) and a length per layer: layer l's Append writes the next n tokens of
// that layer, so layers advance independently during a forward pass and attention of layer l
// sees exactly what layer l has appended. Blocks come from one BlockAllocator shared by all
// sequences and go back on Free(sequence).
//
// The cache lives on the CPU in f32 (the CPU model's) or on a CUDA device in bf16 (the GPU
// model's, core/model/cuda_network.h): a device cache is written by the model's kernels, which
// take their slots from BlockTable and Length, and the step then advances the lengths with
// Commit; Append is the host path only.
//
// A cache without values (has_values = false) holds one tensor per layer: DeepSeek's latent
// cache (mla_attention.h) stores the compressed kv latent and the rotated rope key of each token
// as a single head [kv_lora_rank + qk_rope_head_dim] and rebuilds keys and values from it.
#ifndef SWITCHYARD_CORE_DENSE_PAGED_KV_CACHE_H_
#define SWITCHYARD_CORE_DENSE_PAGED_KV_CACHE_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// Hands out block ids in [0, num_blocks). Not thread-safe; the scheduler owns it.
class BlockAllocator {
 public:
  explicit BlockAllocator(int32_t num_blocks);

  // A free block, or ResourceExhausted "KV cache: no free blocks (N in use of M)".
  absl::StatusOr<int32_t> Allocate();
  // Returns `block`; an error for an id out of range or already free.
  absl::Status Free(int32_t block);

  int32_t num_blocks() const { return static_cast<int32_t>(in_use_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }

 private:
  std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
  std::vector<bool> in_use_;
};

struct KvCacheShape {
  int64_t num_layers = 1;
  int64_t num_blocks = 0;
  int64_t block_size = 16;
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  bool has_values = true;     // false: keys only (a latent cache)
  DType dtype = DType::kF32;  // kBF16 on a CUDA device
  Device device = Device::Cpu();

  // Bytes one token takes in all layers (keys, and values when present).
  int64_t BytesPerToken() const {
    return (has_values ? 2 : 1) * num_layers * DTypeBytes(dtype, kv_heads * head_dim);
  }
};

class PagedKvCache {
 public:
  // Allocates K and V for every layer: zeroed f32 on the CPU, or bf16 on shape.device (left
  // uninitialised: attention reads only the positions a sequence has written).
  static absl::StatusOr<PagedKvCache> Create(const KvCacheShape& shape);

  PagedKvCache(PagedKvCache&&) = default;
  PagedKvCache& operator=(PagedKvCache&&) = default;
  PagedKvCache(const PagedKvCache&) = delete;
  PagedKvCache& operator=(const PagedKvCache&) = delete;

  // Starts an empty sequence; an error if `sequence` already exists.
  absl::Status AddSequence(int64_t sequence);
  // Writes k, v [n, kv_heads * head_dim] f32 at positions [Length(sequence, layer), + n) and
  // advances that layer's length, taking blocks as the table needs them. When blocks run out it
  // returns ResourceExhausted and changes nothing. Without values, v must be an empty Tensor().
  absl::Status Append(int64_t sequence, int64_t layer, const Tensor& k, const Tensor& v);
  // Advances every layer's length of `sequence` by `tokens` whose keys and values a device
  // kernel wrote into the reserved slots; an error (changing nothing) when the layers' lengths
  // differ or the blocks are not reserved.
  absl::Status Commit(int64_t sequence, int64_t tokens);
  // Takes the blocks `sequence` needs to hold `tokens` positions in all, all or nothing
  // (ResourceExhausted, changing nothing, when the pool is short). A scheduler reserves a step's
  // blocks before the step, so no Append in it can fail half-way through the layers.
  absl::Status Reserve(int64_t sequence, int64_t tokens);
  // Blocks Reserve(sequence, tokens) would take; for a sequence not added yet, all of them.
  int64_t BlocksNeeded(int64_t sequence, int64_t tokens) const;
  // Returns the sequence's blocks to the allocator and forgets it.
  absl::Status Free(int64_t sequence);

  bool HasSequence(int64_t sequence) const { return sequences_.contains(sequence); }
  // Tokens layer `layer` of `sequence` holds; an error for an unknown sequence or layer.
  absl::StatusOr<int64_t> Length(int64_t sequence, int64_t layer) const;
  absl::StatusOr<const std::vector<int32_t>*> BlockTable(int64_t sequence) const;

  // [num_blocks, block_size, kv_heads, head_dim] of one layer; v only when has_values.
  const Tensor& k(int64_t layer) const { return k_[layer]; }
  const Tensor& v(int64_t layer) const { return v_[layer]; }
  const KvCacheShape& shape() const { return shape_; }
  // Unique per cache created in this process: what a CUDA graph that writes into it is keyed by.
  uint64_t id() const { return id_; }
  const BlockAllocator& allocator() const { return allocator_; }

 private:
  struct Sequence {
    std::vector<int32_t> block_table;
    std::vector<int64_t> lengths;  // per layer
  };

  PagedKvCache(const KvCacheShape& shape, std::vector<Tensor> k, std::vector<Tensor> v);
  absl::StatusOr<const Sequence*> Find(int64_t sequence, int64_t layer) const;

  KvCacheShape shape_;
  uint64_t id_;
  BlockAllocator allocator_;
  std::vector<Tensor> k_;
  std::vector<Tensor> v_;
  std::unordered_map<int64_t, Sequence> sequences_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DENSE_PAGED_KV_CACHE_H_
