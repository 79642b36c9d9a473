// Rank 0's side of rank control (schemas/switchyard/rank_control.capnp): accepts the ranks'
// connections, forms the group once every rank has joined, and runs the group's collectives.
// It fails the whole group, naming the rank, as soon as one disconnects without leaving, calls
// collectives out of order, or keeps the others waiting past the timeout. Lives on the event
// loop thread and is only touched there.
#ifndef SWITCHYARD_CORE_DISTRIBUTED_RANK_CONTROL_SERVER_H_
#define SWITCHYARD_CORE_DISTRIBUTED_RANK_CONTROL_SERVER_H_

#include <kj/async-io.h>
#include <kj/timer.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/rank_control.capnp.h"

namespace sy {

// "rank 2 (pid 4711 on gpu07)"
std::string DescribeRank(int rank, int64_t pid, const std::string& hostname);

class RankControlServer {
 public:
  RankControlServer(int world_size, std::string group_id, kj::Duration timeout, kj::Timer& timer);
  ~RankControlServer();
  RankControlServer(const RankControlServer&) = delete;
  RankControlServer& operator=(const RankControlServer&) = delete;

  // Accepts connections from `listener` until the server is destroyed.
  void Listen(kj::Own<kj::ConnectionReceiver> listener);
  // Resolves once every connection has closed.
  kj::Promise<void> Drained();

 private:
  struct Connection;
  class RankControlImpl;
  class SessionImpl;
  struct Member {
    bool joined = false;
    bool left = false;
    int64_t pid = 0;
    std::string hostname;
  };
  struct Pending;
  class ErrorLogger : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& exception) override;
  };

  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& listener);
  kj::Promise<void> Join(Connection& connection, rpc::Member::Reader member, int world_size);
  kj::Promise<std::shared_ptr<Pending>> Collective(int rank, uint64_t sequence,
                                                   rpc::Collective kind, capnp::Data::Reader data);
  void Leave(int rank);
  void Disconnected(Connection* connection);
  void TimedOut(uint64_t sequence);
  // Fails every pending and later call of the group with `message` (the first failure wins).
  void Fail(const std::string& message);
  std::string Describe(int rank) const;
  std::string MissingRanks(const std::vector<char>& arrived) const;

  const int world_size_;
  const std::string group_id_;
  const kj::Duration timeout_;
  kj::Timer& timer_;
  std::vector<Member> members_;
  int joined_ = 0;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> join_waiters_;
  std::map<uint64_t, std::shared_ptr<Pending>> pending_;
  kj::Maybe<kj::Exception> failure_;
  kj::Maybe<kj::Own<kj::PromiseFulfiller<void>>> drained_;
  kj::Own<kj::ConnectionReceiver> listener_;
  std::list<kj::Own<Connection>> connections_;
  ErrorLogger error_logger_;
  kj::TaskSet tasks_;  // last: destroyed first, before what its tasks use
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_RANK_CONTROL_SERVER_H_
