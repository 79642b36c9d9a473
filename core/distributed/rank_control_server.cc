#include "core/distributed/rank_control_server.h"

#include <capnp/rpc-twoparty.h>

#include "absl/strings/str_cat.h"
#include "core/base/log.h"

namespace sy {
namespace {

kj::Exception Failure(const std::string& message) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str(message.c_str()));
}

const char* CollectiveName(rpc::Collective kind) {
  switch (kind) {
    case rpc::Collective::ALL_GATHER:
      return "all_gather";
    case rpc::Collective::BROADCAST:
      return "broadcast";
    case rpc::Collective::BARRIER:
      return "barrier";
    default:
      return "an unspecified collective";
  }
}

}  // namespace

std::string DescribeRank(int rank, int64_t pid, const std::string& hostname) {
  return absl::StrCat("rank ", rank, " (pid ", pid, " on ", hostname, ")");
}

// One collective that not every rank has reached yet.
struct RankControlServer::Pending {
  rpc::Collective kind;
  size_t bytes;
  int first_rank;
  std::vector<std::string> data;
  std::vector<char> arrived;
  int count = 0;
  std::vector<kj::Own<kj::PromiseFulfiller<void>>> waiters;
  kj::Canceler timer;
};

struct RankControlServer::Connection {
  Connection(RankControlServer& server, kj::Own<kj::AsyncIoStream> stream_in);
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  int rank = -1;
};

class RankControlServer::SessionImpl final : public rpc::Session::Server {
 public:
  SessionImpl(RankControlServer& server, int rank) : server_(server), rank_(rank) {}

  kj::Promise<void> collective(CollectiveContext context) override {
    auto params = context.getParams();
    const rpc::Collective kind = params.getKind();
    return server_.Collective(rank_, params.getSequence(), kind, params.getData())
        .then([context, kind](std::shared_ptr<Pending> done) mutable {
          if (kind == rpc::Collective::BARRIER) return;
          const size_t n = kind == rpc::Collective::BROADCAST ? 1 : done->data.size();
          auto result = context.getResults().initResult(n);
          for (size_t r = 0; r < n; ++r) {
            result.set(r,
                       capnp::Data::Reader(reinterpret_cast<const kj::byte*>(done->data[r].data()),
                                           done->data[r].size()));
          }
        });
  }

  kj::Promise<void> leave(LeaveContext) override {
    server_.Leave(rank_);
    return kj::READY_NOW;
  }

 private:
  RankControlServer& server_;
  int rank_;
};

class RankControlServer::RankControlImpl final : public rpc::RankControl::Server {
 public:
  RankControlImpl(RankControlServer& server, Connection& connection)
      : server_(server), connection_(connection) {}

  kj::Promise<void> join(JoinContext context) override {
    auto params = context.getParams();
    const int rank = params.getMember().getRank();
    return server_.Join(connection_, params.getMember(), params.getWorldSize())
        .then([this, context, rank]() mutable {
          auto results = context.getResults();
          results.setSession(kj::heap<SessionImpl>(server_, rank));
          results.setGroupId(server_.group_id_);
          auto members = results.initMembers(server_.members_.size());
          for (size_t r = 0; r < server_.members_.size(); ++r) {
            members[r].setRank(static_cast<int32_t>(r));
            members[r].setHostname(server_.members_[r].hostname);
            members[r].setPid(server_.members_[r].pid);
          }
        });
  }

 private:
  RankControlServer& server_;
  Connection& connection_;
};

RankControlServer::Connection::Connection(RankControlServer& server,
                                          kj::Own<kj::AsyncIoStream> stream_in)
    : stream(kj::mv(stream_in)),
      network(*stream, capnp::rpc::twoparty::Side::SERVER),
      rpc(capnp::makeRpcServer(network, kj::heap<RankControlImpl>(server, *this))) {}

void RankControlServer::ErrorLogger::taskFailed(kj::Exception&& exception) {
  Log(LogLevel::kWarning, "bootstrap", exception.getDescription().cStr());
}

RankControlServer::RankControlServer(int world_size, std::string group_id, kj::Duration timeout,
                                     kj::Timer& timer)
    : world_size_(world_size),
      group_id_(std::move(group_id)),
      timeout_(timeout),
      timer_(timer),
      members_(world_size),
      tasks_(error_logger_) {}

RankControlServer::~RankControlServer() = default;

void RankControlServer::Listen(kj::Own<kj::ConnectionReceiver> listener) {
  listener_ = kj::mv(listener);
  tasks_.add(AcceptLoop(*listener_));
}

kj::Promise<void> RankControlServer::AcceptLoop(kj::ConnectionReceiver& listener) {
  return listener.accept().then([this, &listener](kj::Own<kj::AsyncIoStream>&& stream) {
    connections_.push_back(kj::heap<Connection>(*this, kj::mv(stream)));
    Connection* connection = connections_.back().get();
    tasks_.add(connection->network.onDisconnect().then([this, connection] {
      // Destroyed in a later turn, not inside its own network's callback.
      tasks_.add(kj::evalLater([this, connection] { Disconnected(connection); }));
    }));
    return AcceptLoop(listener);
  });
}

std::string RankControlServer::Describe(int rank) const {
  const Member& m = members_[rank];
  return m.joined ? DescribeRank(rank, m.pid, m.hostname) : absl::StrCat("rank ", rank);
}

std::string RankControlServer::MissingRanks(const std::vector<char>& arrived) const {
  std::string text;
  for (int r = 0; r < world_size_; ++r) {
    if (!arrived[r]) absl::StrAppend(&text, text.empty() ? "" : ", ", Describe(r));
  }
  return text;
}

kj::Promise<void> RankControlServer::Join(Connection& connection, rpc::Member::Reader member,
                                          int world_size) {
  KJ_IF_MAYBE (failure, failure_) {
    return kj::cp(*failure);
  }
  const int rank = member.getRank();
  if (world_size != world_size_) {
    return Failure(absl::StrCat("rank ", rank, " was started with WORLD_SIZE=", world_size,
                                ", rank 0 with ", world_size_));
  }
  if (rank < 0 || rank >= world_size_) {
    return Failure(absl::StrCat("rank ", rank, " is outside the group of ", world_size_));
  }
  if (members_[rank].joined || connection.rank != -1) {
    return Failure(absl::StrCat("rank ", rank, " joined twice (", Describe(rank), " and pid ",
                                member.getPid(), "): two processes were given the same RANK"));
  }
  members_[rank] = {true, false, member.getPid(), member.getHostname().cStr()};
  connection.rank = rank;
  if (++joined_ == world_size_) {
    for (auto& waiter : join_waiters_) waiter->fulfill();
    join_waiters_.clear();
    return kj::READY_NOW;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  join_waiters_.push_back(kj::mv(paf.fulfiller));
  return paf.promise.exclusiveJoin(timer_.afterDelay(timeout_).then([this]() -> kj::Promise<void> {
    std::vector<char> arrived(world_size_);
    for (int r = 0; r < world_size_; ++r) arrived[r] = members_[r].joined;
    return Failure(absl::StrCat("timed out after ", timeout_ / kj::MILLISECONDS,
                                " ms waiting for ranks to join: ", joined_, " of ", world_size_,
                                " joined; missing ", MissingRanks(arrived)));
  }));
}

kj::Promise<std::shared_ptr<RankControlServer::Pending>> RankControlServer::Collective(
    int rank, uint64_t sequence, rpc::Collective kind, capnp::Data::Reader data) {
  KJ_IF_MAYBE (failure, failure_) {
    return kj::cp(*failure);
  }
  for (int r = 0; r < world_size_; ++r) {
    if (members_[r].left) {
      Fail(absl::StrCat(Describe(r), " has left the group; collective #", sequence, " (",
                        CollectiveName(kind), ") cannot complete"));
      return kj::cp(KJ_ASSERT_NONNULL(failure_));
    }
  }
  if (kind == rpc::Collective::UNSPECIFIED) {
    return Failure(absl::StrCat(Describe(rank), " called an unspecified collective"));
  }
  std::shared_ptr<Pending>& slot = pending_[sequence];
  if (slot == nullptr) {
    slot = std::make_shared<Pending>();
    slot->kind = kind;
    slot->bytes = data.size();
    slot->first_rank = rank;
    slot->data.resize(world_size_);
    slot->arrived.assign(world_size_, 0);
    tasks_.add(slot->timer.wrap(timer_.afterDelay(timeout_))
                   .then([this, sequence] { TimedOut(sequence); }, [](kj::Exception&&) {}));
  }
  std::shared_ptr<Pending> pending = slot;
  if (pending->kind != kind) {
    Fail(absl::StrCat("collective #", sequence, ": ", Describe(pending->first_rank), " called ",
                      CollectiveName(pending->kind), ", ", Describe(rank), " called ",
                      CollectiveName(kind),
                      " (every rank must call the same collectives in the "
                      "same order)"));
    return kj::cp(KJ_ASSERT_NONNULL(failure_));
  }
  if (kind == rpc::Collective::ALL_GATHER && data.size() != pending->bytes) {
    Fail(absl::StrCat("collective #", sequence, " (all_gather): ", Describe(pending->first_rank),
                      " gave ", pending->bytes, " bytes, ", Describe(rank), " gave ", data.size()));
    return kj::cp(KJ_ASSERT_NONNULL(failure_));
  }
  if (pending->arrived[rank]) {
    Fail(absl::StrCat(Describe(rank), " called collective #", sequence, " twice"));
    return kj::cp(KJ_ASSERT_NONNULL(failure_));
  }
  pending->arrived[rank] = 1;
  pending->data[rank].assign(reinterpret_cast<const char*>(data.begin()), data.size());
  if (++pending->count == world_size_) {
    pending_.erase(sequence);
    pending->timer.cancel("completed");
    for (auto& waiter : pending->waiters) waiter->fulfill();
    pending->waiters.clear();
    return pending;
  }
  auto paf = kj::newPromiseAndFulfiller<void>();
  pending->waiters.push_back(kj::mv(paf.fulfiller));
  return paf.promise.then([pending] { return pending; });
}

void RankControlServer::TimedOut(uint64_t sequence) {
  auto it = pending_.find(sequence);
  if (it == pending_.end()) return;
  const Pending& p = *it->second;
  Fail(absl::StrCat("collective #", sequence, " (", CollectiveName(p.kind), ") timed out after ",
                    timeout_ / kj::MILLISECONDS, " ms waiting for ", MissingRanks(p.arrived)));
}

void RankControlServer::Leave(int rank) {
  members_[rank].left = true;
  if (!pending_.empty()) {
    Fail(absl::StrCat(Describe(rank), " left the group during collective #",
                      pending_.begin()->first, ", which it never joined"));
  }
}

void RankControlServer::Disconnected(Connection* connection) {
  const int rank = connection->rank;
  if (rank >= 0 && !members_[rank].left) {
    Fail(absl::StrCat(Describe(rank),
                      " disconnected without leaving the group (it exited or "
                      "was killed)"));
  }
  connections_.remove_if(
      [connection](const kj::Own<Connection>& c) { return c.get() == connection; });
  if (connections_.empty()) {
    KJ_IF_MAYBE (drained, drained_) {
      (*drained)->fulfill();
    }
    drained_ = nullptr;
  }
}

kj::Promise<void> RankControlServer::Drained() {
  if (connections_.empty()) return kj::READY_NOW;
  auto paf = kj::newPromiseAndFulfiller<void>();
  drained_ = kj::mv(paf.fulfiller);
  return kj::mv(paf.promise);
}

void RankControlServer::Fail(const std::string& message) {
  if (failure_ != nullptr) return;
  Log(LogLevel::kWarning, "bootstrap", message);
  failure_ = Failure(message);
  const kj::Exception& failure = KJ_ASSERT_NONNULL(failure_);
  for (auto& waiter : join_waiters_) waiter->reject(kj::cp(failure));
  join_waiters_.clear();
  for (auto& [sequence, pending] : pending_) {
    for (auto& waiter : pending->waiters) waiter->reject(kj::cp(failure));
    pending->waiters.clear();
  }
}

}  // namespace sy
