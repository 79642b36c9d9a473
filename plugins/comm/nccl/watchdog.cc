#include "watchdog.h"

#include "plugins/comm/cuda_support/cuda_support.h"

namespace sy::plugins {

Watchdog::Watchdog(int device, std::function<void(const std::string&)> on_timeout)
    : device_(device), on_timeout_(std::move(on_timeout)), thread_([this] { Run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
  for (const Entry& e : entries_) cudaEventDestroy(e.done);
}

void Watchdog::Watch(cudaStream_t stream, std::chrono::steady_clock::time_point deadline,
                     std::string what) {
  cudaEvent_t done = nullptr;
  comm_cuda::Check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "comm.nccl",
                   "cudaEventCreate");
  comm_cuda::Check(cudaEventRecord(done, stream), "comm.nccl", "cudaEventRecord");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_back({done, deadline, std::move(what)});
  }
  wake_.notify_all();
}

void Watchdog::Run() {
  cudaSetDevice(device_);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    if (entries_.empty()) {
      wake_.wait(lock);
      continue;
    }
    Entry& front = entries_.front();
    const cudaError_t status = cudaEventQuery(front.done);
    if (status != cudaErrorNotReady) {  // done (or the context failed: nothing left to watch)
      cudaEventDestroy(front.done);
      entries_.pop_front();
      continue;
    }
    if (!fired_ && std::chrono::steady_clock::now() > front.deadline) {
      fired_ = true;
      const std::string what = front.what;
      lock.unlock();
      on_timeout_(what);
      lock.lock();
      continue;
    }
    wake_.wait_for(lock, std::chrono::milliseconds(5));
  }
}

}  // namespace sy::plugins
