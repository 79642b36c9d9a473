// A background thread running a kj event loop with async I/O, for the Cap'n Proto RPC of rank
// control. Other threads hand it work with Run(); objects created there must also be destroyed
// there (by a Run()) before the thread stops.
#ifndef SWITCHYARD_CORE_DISTRIBUTED_EVENT_LOOP_THREAD_H_
#define SWITCHYARD_CORE_DISTRIBUTED_EVENT_LOOP_THREAD_H_

#include <kj/async-io.h>

#include <thread>

namespace sy {

class EventLoopThread {
 public:
  // Starts the thread and returns once its loop runs.
  EventLoopThread();
  // Stops the loop (whatever still runs on it is canceled) and joins the thread.
  ~EventLoopThread();
  EventLoopThread(const EventLoopThread&) = delete;
  EventLoopThread& operator=(const EventLoopThread&) = delete;

  // Runs func(io) on the loop thread and blocks until it returns; when it returns a promise,
  // until that resolves (give every promise a deadline). A kj::Exception from either is
  // rethrown here.
  template <typename Func>
  auto Run(Func&& func) {
    return executor_->executeSync([&] { return func(*io_); });
  }

 private:
  std::thread thread_;
  const kj::Executor* executor_ = nullptr;
  kj::AsyncIoContext* io_ = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> stop_;  // lives on the loop thread
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_EVENT_LOOP_THREAD_H_
