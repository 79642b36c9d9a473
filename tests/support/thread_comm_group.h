// An sy_comm_group whose ranks are threads of one process, for comm plugin unit tests: the
// all-gather is a shared buffer between barriers.
#ifndef SWITCHYARD_TESTS_SUPPORT_THREAD_COMM_GROUP_H_
#define SWITCHYARD_TESTS_SUPPORT_THREAD_COMM_GROUP_H_

#include <barrier>
#include <cstring>
#include <vector>

#include "switchyard/plugin_abi.h"

namespace sy::testing_support {

// An all-gather over threads: every rank writes its bytes at its offset, then all read.
class ThreadCommGroup {
 public:
  explicit ThreadCommGroup(int world) : sync_(world), members_(world) {
    for (int r = 0; r < world; ++r) members_[r] = {this, r};
  }

  sy_comm_group Member(int rank, int64_t timeout_ms) {
    const int world = static_cast<int>(members_.size());
    return {sizeof(sy_comm_group),
            rank,
            world,
            rank,
            world,
            0,
            1,
            timeout_ms,
            "thread-comm-group",
            &members_[rank],
            &ThreadCommGroup::AllGather};
  }

 private:
  struct MemberSlot {
    ThreadCommGroup* group;
    int rank;
  };

  static sy_error* AllGather(void* self, const void* data, size_t bytes, void* out) {
    auto* member = static_cast<MemberSlot*>(self);
    ThreadCommGroup& g = *member->group;
    const size_t world = g.members_.size();
    g.sync_.arrive_and_wait();  // readers of the previous round are done
    if (member->rank == 0) g.buffer_.assign(bytes * world, 0);
    g.sync_.arrive_and_wait();
    std::memcpy(g.buffer_.data() + member->rank * bytes, data, bytes);
    g.sync_.arrive_and_wait();
    std::memcpy(out, g.buffer_.data(), bytes * world);
    return nullptr;
  }

  std::barrier<> sync_;
  std::vector<MemberSlot> members_;
  std::vector<char> buffer_;
};

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_THREAD_COMM_GROUP_H_
