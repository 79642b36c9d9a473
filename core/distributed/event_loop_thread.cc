#include "core/distributed/event_loop_thread.h"

#include <condition_variable>
#include <mutex>

namespace sy {

EventLoopThread::EventLoopThread() {
  std::mutex mutex;
  std::condition_variable started;
  thread_ = std::thread([&, this] {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    auto stop = kj::newPromiseAndFulfiller<void>();
    {
      std::lock_guard<std::mutex> lock(mutex);
      executor_ = &kj::getCurrentThreadExecutor();
      io_ = &io;
      stop_ = kj::mv(stop.fulfiller);
      // Under the lock: once the constructor sees executor_ set it returns, and `started`
      // (on its stack) is gone; notified after the unlock, it was signalled in the caller's
      // next frames (the rare SEGV of multi-rank tests under ASan).
      started.notify_one();
    }
    stop.promise.wait(io.waitScope);
    stop_ = nullptr;
  });
  std::unique_lock<std::mutex> lock(mutex);
  started.wait(lock, [this] { return executor_ != nullptr; });
}

EventLoopThread::~EventLoopThread() {
  executor_->executeSync([this] { stop_->fulfill(); });
  thread_.join();
}

}  // namespace sy
