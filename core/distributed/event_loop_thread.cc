#include "core/distributed/event_loop_thread.h"

namespace sy {

EventLoopThread::EventLoopThread() {
  thread_ = std::thread([this] {
    kj::AsyncIoContext io = kj::setupAsyncIo();
    auto stop = kj::newPromiseAndFulfiller<void>();
    {
      std::lock_guard<std::mutex> lock(start_mutex_);
      executor_ = &kj::getCurrentThreadExecutor();
      io_ = &io;
      stop_ = kj::mv(stop.fulfiller);
    }
    started_.notify_one();
    stop.promise.wait(io.waitScope);
    stop_ = nullptr;
  });
  std::unique_lock<std::mutex> lock(start_mutex_);
  started_.wait(lock, [this] { return executor_ != nullptr; });
}

EventLoopThread::~EventLoopThread() {
  executor_->executeSync([this] { stop_->fulfill(); });
  thread_.join();
}

}  // namespace sy
