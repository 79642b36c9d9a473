// experts.cuda's GPU cache of one MoE layer's experts whose weights stay in host memory
// (config cacheExperts > 0): `capacity` slots of device memory, each one expert's gate_up and
// down (bf16), managed by ExpertCachePolicy (evict the coldest by observed load).
//
// A forward acquires the experts its batch routes to: a miss is copied on the forward's stream
// (that copy is on the critical path). Prefetch hints (the host's prediction of the next
// forward's routing) start copies early on a worker thread with its own stream: a copy from
// pageable host memory occupies the thread that issues it, so the worker, not the host's
// thread, waits while the host computes attention. Each slot's last copy is recorded by an
// event the forward's stream waits for; the host's forwards synchronise before returning, so
// no kernel still reads a slot a prefetch overwrites.
#ifndef SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_H_
#define SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_H_

#include <cuda_runtime_api.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "device_buffer.h"
#include "expert_cache_policy.h"

namespace sy::plugins {

// Where expert e's matrices are in host memory.
struct HostExpert {
  const void* gate_up = nullptr;
  const void* down = nullptr;
};

struct ExpertCacheStats {
  int64_t hits = 0;        // acquired experts already in their slot (or arriving by prefetch)
  int64_t misses = 0;      // copied on the forward's critical path
  int64_t prefetched = 0;  // copies started by a hint
};

class ExpertCache {
 public:
  ExpertCache(int32_t capacity, int32_t experts, size_t gate_up_bytes, size_t down_bytes,
              int device);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  int32_t capacity() const { return policy_.capacity(); }

  // Device (gate_up, down) of each of `experts` (distinct, at most capacity()), in order:
  // `stream` waits for their copies; the missing ones are copied on it.
  std::vector<HostExpert> Acquire(std::span<const int32_t> experts,
                                  std::span<const HostExpert> host, cudaStream_t stream);
  // One forward's load per expert, for the eviction order.
  void Observe(std::span<const int64_t> tokens_per_expert) { policy_.Observe(tokens_per_expert); }
  // Starts copying `experts` (most wanted first; those cached are skipped) on the worker,
  // evicting colder ones; never more than capacity() of them.
  void Prefetch(std::span<const int32_t> experts, std::span<const HostExpert> host);

  ExpertCacheStats stats() const { return stats_; }

 private:
  struct Job {
    int32_t slot;
    HostExpert from;
  };
  void* SlotGateUp(int32_t slot) const;
  void* SlotDown(int32_t slot) const;
  void WaitForCopy(int32_t slot);  // until the worker has issued its copy into `slot`
  void Work();

  ExpertCachePolicy policy_;
  const size_t gate_up_bytes_, down_bytes_;
  const int device_;
  DeviceBuffer slots_;
  std::vector<cudaEvent_t> ready_;  // per slot: its last copy
  cudaStream_t copy_stream_ = nullptr;
  ExpertCacheStats stats_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> jobs_;
  std::vector<bool> queued_;  // per slot: a job not yet issued
  std::string worker_error_;  // a copy the worker could not issue
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_EXPERTS_CUDA_EXPERT_CACHE_H_
