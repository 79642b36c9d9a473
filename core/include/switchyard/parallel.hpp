// A minimal fork-join loop for CPU plugin code.
#ifndef SWITCHYARD_PARALLEL_HPP_
#define SWITCHYARD_PARALLEL_HPP_

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace sy {

// Calls body(begin, end) over [0, n) split into at most `threads` contiguous chunks, each on
// its own thread (the first on the caller's). Chunks hold at least `min_chunk` items, so small
// loops stay on one thread. The first exception thrown by a chunk is rethrown after all join.
template <typename Body>
void ParallelFor(int threads, int64_t n, int64_t min_chunk, Body&& body) {
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, n / std::max<int64_t>(min_chunk, 1)));
  if (chunks <= 1) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(chunks);
  auto run = [&](int64_t c) {
    try {
      body(n * c / chunks, n * (c + 1) / chunks);
    } catch (...) {
      errors[c] = std::current_exception();
    }
  };
  for (int64_t c = 1; c < chunks; ++c) workers.emplace_back(run, c);
  run(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace sy

#endif  // SWITCHYARD_PARALLEL_HPP_
