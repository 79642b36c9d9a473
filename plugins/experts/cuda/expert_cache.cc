#include "expert_cache.h"

#include <stdexcept>
#include <string>

namespace sy::plugins {
namespace {

size_t Aligned(size_t bytes) { return (bytes + 255) / 256 * 256; }

}  // namespace

ExpertCache::ExpertCache(int32_t capacity, int32_t experts, size_t gate_up_bytes, size_t down_bytes,
                         int device)
    : policy_(capacity, experts),
      gate_up_bytes_(gate_up_bytes),
      down_bytes_(down_bytes),
      device_(device),
      ready_(capacity, nullptr),
      queued_(capacity, false) {
  CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
  slots_.Grow(capacity * (Aligned(gate_up_bytes_) + Aligned(down_bytes_)), device_);
  for (cudaEvent_t& event : ready_) {
    CheckCuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "cudaEventCreate");
  }
  CheckCuda(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  worker_ = std::thread([this] { Work(); });
}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
  cudaSetDevice(device_);
  cudaStreamSynchronize(copy_stream_);
  cudaStreamDestroy(copy_stream_);
  for (cudaEvent_t event : ready_) cudaEventDestroy(event);
}

void* ExpertCache::SlotGateUp(int32_t slot) const {
  return static_cast<char*>(slots_.data()) +
         slot * (Aligned(gate_up_bytes_) + Aligned(down_bytes_));
}

void* ExpertCache::SlotDown(int32_t slot) const {
  return static_cast<char*>(SlotGateUp(slot)) + Aligned(gate_up_bytes_);
}

void ExpertCache::WaitForCopy(int32_t slot) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !queued_[slot] || !worker_error_.empty(); });
  if (!worker_error_.empty()) throw std::runtime_error("expert prefetch: " + worker_error_);
}

std::vector<HostExpert> ExpertCache::Acquire(std::span<const int32_t> experts,
                                             std::span<const HostExpert> host,
                                             cudaStream_t stream) {
  std::vector<bool> pinned(capacity(), false);
  std::vector<HostExpert> out;
  for (const int32_t expert : experts) {
    int32_t slot = policy_.SlotOf(expert);
    if (slot >= 0) {
      WaitForCopy(slot);
      ++stats_.hits;
    } else {
      slot = policy_.Admit(expert, pinned).slot;
      if (slot < 0) throw std::logic_error("expert cache: more experts acquired than slots");
      WaitForCopy(slot);  // a prefetch still headed for this slot goes in first
      CheckCuda(cudaStreamWaitEvent(stream, ready_[slot]), "cudaStreamWaitEvent");
      CheckCuda(cudaMemcpyAsync(SlotGateUp(slot), host[expert].gate_up, gate_up_bytes_,
                                cudaMemcpyHostToDevice, stream),
                "expert upload");
      CheckCuda(cudaMemcpyAsync(SlotDown(slot), host[expert].down, down_bytes_,
                                cudaMemcpyHostToDevice, stream),
                "expert upload");
      CheckCuda(cudaEventRecord(ready_[slot], stream), "cudaEventRecord");
      ++stats_.misses;
    }
    pinned[slot] = true;
    CheckCuda(cudaStreamWaitEvent(stream, ready_[slot]), "cudaStreamWaitEvent");
    out.push_back({SlotGateUp(slot), SlotDown(slot)});
  }
  return out;
}

void ExpertCache::Prefetch(std::span<const int32_t> experts, std::span<const HostExpert> host) {
  std::vector<bool> pinned(capacity(), false);
  int32_t taken = 0;
  for (const int32_t expert : experts) {
    if (taken == capacity()) break;
    ++taken;
    const int32_t cached = policy_.SlotOf(expert);
    if (cached >= 0) {
      pinned[cached] = true;
      continue;
    }
    const int32_t slot = policy_.Admit(expert, pinned).slot;
    if (slot < 0) break;
    pinned[slot] = true;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back({slot, host[expert]});
      queued_[slot] = true;
    }
    ++stats_.prefetched;
  }
  changed_.notify_all();
}

void ExpertCache::Work() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left
    const Job job = jobs_.front();
    jobs_.pop_front();
    lock.unlock();
    // The worker never throws: a failure is reported to the next forward that waits on it.
    std::string error;
    cudaError_t err = cudaSetDevice(device_);
    if (err == cudaSuccess) {
      err = cudaMemcpyAsync(SlotGateUp(job.slot), job.from.gate_up, gate_up_bytes_,
                            cudaMemcpyHostToDevice, copy_stream_);
    }
    if (err == cudaSuccess) {
      err = cudaMemcpyAsync(SlotDown(job.slot), job.from.down, down_bytes_, cudaMemcpyHostToDevice,
                            copy_stream_);
    }
    if (err == cudaSuccess) err = cudaEventRecord(ready_[job.slot], copy_stream_);
    // The slot is complete before the job counts as issued, so a forward that finds the expert
    // cached does not rely on an event's ordering of a staged copy from pageable memory. The
    // worker waits, not the host.
    if (err == cudaSuccess) err = cudaStreamSynchronize(copy_stream_);
    if (err != cudaSuccess) error = cudaGetErrorString(err);
    lock.lock();
    queued_[job.slot] = false;
    if (!error.empty()) worker_error_ = error;
    changed_.notify_all();
  }
}

}  // namespace sy::plugins
