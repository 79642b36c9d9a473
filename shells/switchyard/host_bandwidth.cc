#include "shells/switchyard/host_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

namespace sy::cli {

double MeasureCopyGBps() {
  using Clock = std::chrono::steady_clock;
  const size_t bytes = size_t{256} << 20;
  std::vector<char> a(bytes, 1), b(bytes, 0);
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    std::memcpy(b.data(), a.data(), bytes);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, 2.0 * bytes / seconds / 1e9);
  }
  return best + 0 * b[bytes / 2];  // reads b so the copy cannot be elided
}

}  // namespace sy::cli
