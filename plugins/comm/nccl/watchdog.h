// Fails a NCCL communicator whose work has not finished by a deadline. A peer that died leaves
// NCCL's kernels spinning on the GPU, and the caller's stream with them; like torch's NCCL
// watchdog, a thread watches an event recorded after each collective and, past the group's
// timeout, calls on_timeout (which aborts the communicator, so the kernels exit and the
// stream drains; the next call then reports the failure).
#ifndef SWITCHYARD_PLUGINS_COMM_NCCL_WATCHDOG_H_
#define SWITCHYARD_PLUGINS_COMM_NCCL_WATCHDOG_H_

#include <cuda_runtime_api.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace sy::plugins {

class Watchdog {
 public:
  // on_timeout(what) runs on the watchdog's thread, at most once.
  Watchdog(int device, std::function<void(const std::string&)> on_timeout);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Watches the work queued on `stream` so far; `what` names it in the failure.
  void Watch(cudaStream_t stream, std::chrono::steady_clock::time_point deadline, std::string what);

 private:
  struct Entry {
    cudaEvent_t done;
    std::chrono::steady_clock::time_point deadline;
    std::string what;
  };
  void Run();

  int device_;
  std::function<void(const std::string&)> on_timeout_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Entry> entries_;
  bool stop_ = false;
  bool fired_ = false;
  std::thread thread_;
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_COMM_NCCL_WATCHDOG_H_
