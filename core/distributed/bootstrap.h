// Forms an expert-parallel group over Cap'n Proto RPC (schemas/switchyard/rank_control.capnp):
// rank 0 serves rank control at MASTER_ADDR:MASTER_PORT on a background event loop and joins
// it like every other rank; every rank learns the members (rank, host, pid) and then runs the
// group's out-of-band collectives (all-gather, broadcast, barrier) through rank 0. Comm
// components exchange their addresses and handles through comm_group().
//
// Nothing waits forever: joining, every collective and leaving have deadlines, and a rank
// whose connection drops fails every collective of the others at once, naming it (rank 0
// watches the ranks' connections; the others see rank 0's death as their own disconnect).
#ifndef SWITCHYARD_CORE_DISTRIBUTED_BOOTSTRAP_H_
#define SWITCHYARD_CORE_DISTRIBUTED_BOOTSTRAP_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/distributed/rank_environment.h"
#include "switchyard/plugin_abi.h"

namespace sy {

class EventLoopThread;

// A process of the group, as it joined.
struct RankMember {
  int rank;
  std::string hostname;
  int64_t pid;
};

class Bootstrap {
 public:
  // Joins the group described by `info` (rank 0 also serves it). Fails with a clear message
  // naming MASTER_ADDR:MASTER_PORT when rank 0 cannot be reached within `timeout`
  // (an unresolvable address fails at once). A world of 1 needs no network.
  static absl::StatusOr<std::unique_ptr<Bootstrap>> Join(const RankInfo& info,
                                                         absl::Duration timeout);
  // Leaves the group; rank 0 first waits (up to the timeout) for the others to leave.
  ~Bootstrap();
  Bootstrap(const Bootstrap&) = delete;
  Bootstrap& operator=(const Bootstrap&) = delete;

  // `info` as given, with group_id set to the group's (rank 0's choice when it was empty).
  const RankInfo& info() const { return info_; }
  // Every rank, in rank order.
  const std::vector<RankMember>& members() const { return members_; }

  // Collective: every rank gives `bytes` bytes; out gets world_size * bytes, rank r's at r*bytes.
  absl::Status AllGather(const void* data, size_t bytes, void* out);
  absl::Status Barrier();
  // Broadcast from rank 0 of a byte string (rank control: batch broadcast, placement updates).
  absl::StatusOr<std::string> Broadcast(std::string data_on_rank0);
  // The sy_comm_group a comm component's connect() takes; its all_gather calls AllGather.
  // Valid while this Bootstrap lives.
  const sy_comm_group* comm_group();
  absl::Duration collective_timeout() const { return timeout_; }  // sy_comm_group.timeout_ms

 private:
  struct Connection;
  enum class Kind { kAllGather, kBroadcast, kBarrier };

  Bootstrap(const RankInfo& info, absl::Duration timeout);
  absl::Status Connect();
  // Runs collective `kind` with this rank's `data`; returns what rank control answered.
  absl::StatusOr<std::vector<std::string>> Collective(Kind kind, std::string data);
  std::string MasterAddress() const;

  RankInfo info_;
  absl::Duration timeout_;
  std::vector<RankMember> members_;
  std::mutex mutex_;  // one collective at a time
  uint64_t sequence_ = 0;
  sy_comm_group group_;
  std::unique_ptr<EventLoopThread> loop_;   // absent in a world of 1
  std::unique_ptr<Connection> connection_;  // lives on the loop thread
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_BOOTSTRAP_H_
