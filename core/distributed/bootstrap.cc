#include "core/distributed/bootstrap.h"

#include <capnp/rpc-twoparty.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/log.h"
#include "core/base/status.h"
#include "core/distributed/event_loop_thread.h"
#include "core/distributed/rank_control_server.h"
#include "core/plugin_host/host_api.h"
#include "switchyard/rank_control.capnp.h"

namespace sy {
namespace {

// How much longer a rank waits for rank 0's answer than rank 0 waits for the other ranks, so
// that rank 0's message (which names the missing ranks) is the one that arrives.
constexpr kj::Duration kAnswerSlack = 5 * kj::SECONDS;
constexpr kj::Duration kRetryInterval = 100 * kj::MILLISECONDS;
constexpr kj::Duration kLeaveTimeout = 5 * kj::SECONDS;

kj::Duration ToKj(absl::Duration d) { return absl::ToInt64Milliseconds(d) * kj::MILLISECONDS; }

kj::Exception Failure(const std::string& message) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__, kj::str(message.c_str()));
}

template <typename T>
kj::Promise<T> WithDeadline(kj::Timer& timer, kj::Promise<T> promise, kj::Duration limit,
                            std::string message) {
  return promise.exclusiveJoin(
      timer.afterDelay(limit).then([message]() -> kj::Promise<T> { return Failure(message); }));
}

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToDoubleSeconds(d), " s"); }

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string NewGroupId() {
  std::random_device random;
  return absl::StrFormat("%x-%08x", static_cast<unsigned>(getpid()), random());
}

sy_error* AllGatherForComponents(void* self, const void* data, size_t bytes, void* out) {
  return StatusToPluginError(static_cast<Bootstrap*>(self)->AllGather(data, bytes, out));
}

// Connects to `address`, retrying while rank 0 is not listening yet, until `deadline`.
kj::Promise<kj::Own<kj::AsyncIoStream>> ConnectLoop(kj::Timer& timer, kj::NetworkAddress& address,
                                                    kj::TimePoint deadline, std::string limit) {
  using Stream = kj::Own<kj::AsyncIoStream>;
  return address.connect()
      .exclusiveJoin(timer.atTime(deadline).then(
          []() -> kj::Promise<Stream> { return Failure("the last attempt did not finish"); }))
      .catch_([&timer, &address, deadline, limit](kj::Exception&& e) -> kj::Promise<Stream> {
        if (timer.now() + kRetryInterval >= deadline) {
          return Failure(absl::StrCat("rank 0 did not accept a connection within ", limit, " (",
                                      e.getDescription().cStr(), ")"));
        }
        return timer.afterDelay(kRetryInterval).then([&timer, &address, deadline, limit] {
          return ConnectLoop(timer, address, deadline, limit);
        });
      });
}

}  // namespace

// What lives on the event loop thread.
struct Bootstrap::Connection {
  kj::Own<RankControlServer> server;  // rank 0 only
  kj::Own<kj::NetworkAddress> address;
  kj::Own<kj::AsyncIoStream> stream;
  kj::Own<capnp::TwoPartyClient> client;
  kj::Maybe<rpc::Session::Client> session;
};

Bootstrap::Bootstrap(const RankInfo& info, absl::Duration timeout)
    : info_(info), timeout_(timeout), group_{} {}

absl::StatusOr<std::unique_ptr<Bootstrap>> Bootstrap::Join(const RankInfo& info,
                                                           absl::Duration timeout) {
  if (info.world_size < 1 || info.rank < 0 || info.rank >= info.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", info.rank, " is not in a world of ", info.world_size));
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the bootstrap timeout must be positive");
  }
  std::unique_ptr<Bootstrap> bootstrap(new Bootstrap(info, timeout));
  if (info.world_size == 1) {
    if (bootstrap->info_.group_id.empty()) bootstrap->info_.group_id = NewGroupId();
    bootstrap->members_ = {{0, HostName(), getpid()}};
    return bootstrap;
  }
  SY_RETURN_IF_ERROR(bootstrap->Connect());
  return bootstrap;
}

std::string Bootstrap::MasterAddress() const {
  return absl::StrCat(info_.master_addr, ":", info_.master_port);
}

absl::Status Bootstrap::Connect() {
  loop_ = std::make_unique<EventLoopThread>();
  const std::string where = MasterAddress();
  const kj::Duration timeout = ToKj(timeout_);
  if (info_.rank == 0 && info_.group_id.empty()) info_.group_id = NewGroupId();
  try {
    loop_->Run([&](kj::AsyncIoContext& io) -> kj::Promise<void> {
      connection_ = std::make_unique<Connection>();
      kj::Timer& timer = io.provider->getTimer();
      const kj::TimePoint deadline = timer.now() + timeout;
      kj::Network& network = io.provider->getNetwork();
      kj::Promise<void> serving = kj::READY_NOW;
      if (info_.rank == 0) {
        serving = network.parseAddress("*", info_.master_port)
                      .then([&](kj::Own<kj::NetworkAddress> any) {
                        kj::Own<kj::ConnectionReceiver> listener = any->listen();
                        connection_->server = kj::heap<RankControlServer>(
                            info_.world_size, info_.group_id, timeout, timer);
                        connection_->server->Listen(kj::mv(listener));
                      })
                      .catch_([&](kj::Exception&& e) -> kj::Promise<void> {
                        return Failure(absl::StrCat(
                            "rank 0 cannot serve the group on MASTER_PORT ", info_.master_port,
                            " (", e.getDescription().cStr(), "); pick another MASTER_PORT"));
                      });
      }
      auto resolved =
          serving.then([&] { return network.parseAddress(info_.master_addr, info_.master_port); })
              .then(
                  [&](kj::Own<kj::NetworkAddress> address) -> kj::Promise<void> {
                    connection_->address = kj::mv(address);
                    return kj::READY_NOW;
                  },
                  [&](kj::Exception&& e) -> kj::Promise<void> {
                    if (connection_->server.get() == nullptr && info_.rank == 0) return kj::mv(e);
                    return Failure(absl::StrCat("cannot resolve MASTER_ADDR '", info_.master_addr,
                                                "': ", e.getDescription().cStr()));
                  });
      return WithDeadline(timer, kj::mv(resolved), timeout,
                          absl::StrCat("resolving MASTER_ADDR '", info_.master_addr,
                                       "' took longer than ", Seconds(timeout_)))
          .then([&, deadline] {
            return ConnectLoop(timer, *connection_->address, deadline, Seconds(timeout_));
          })
          .then([&](kj::Own<kj::AsyncIoStream> stream) {
            connection_->stream = kj::mv(stream);
            connection_->client = kj::heap<capnp::TwoPartyClient>(*connection_->stream);
            auto request =
                connection_->client->bootstrap().castAs<rpc::RankControl>().joinRequest();
            auto member = request.initMember();
            member.setRank(info_.rank);
            member.setHostname(HostName());
            member.setPid(getpid());
            request.setWorldSize(info_.world_size);
            auto joined =
                request.send().then([&](capnp::Response<rpc::RankControl::JoinResults>&& response) {
                  connection_->session = response.getSession();
                  info_.group_id = response.getGroupId().cStr();
                  for (auto m : response.getMembers()) {
                    members_.push_back({m.getRank(), m.getHostname().cStr(), m.getPid()});
                  }
                });
            return WithDeadline(timer, kj::mv(joined), timeout + kAnswerSlack,
                                absl::StrCat("rank 0 at ", where, " did not answer within ",
                                             Seconds(timeout_), " while the group formed"));
          });
    });
  } catch (const kj::Exception& e) {
    std::string message = e.getDescription().cStr();
    const std::string remote = "remote exception: ";
    if (absl::StartsWith(message, remote)) message.erase(0, remote.size());
    return absl::UnavailableError(
        absl::StrCat("rank ", info_.rank, " could not join the group of ", info_.world_size,
                     " at MASTER_ADDR:MASTER_PORT = ", where, ": ", message));
  }
  return absl::OkStatus();
}

Bootstrap::~Bootstrap() {
  if (loop_ == nullptr) return;
  try {
    loop_->Run([&](kj::AsyncIoContext& io) -> kj::Promise<void> {
      kj::Timer& timer = io.provider->getTimer();
      kj::Promise<void> left = kj::READY_NOW;
      KJ_IF_MAYBE (session, connection_->session) {
        left = WithDeadline(timer, session->leaveRequest().send().ignoreResult(), kLeaveTimeout,
                            "leaving timed out")
                   .catch_([](kj::Exception&&) {});  // rank 0 is gone: nothing to leave
      }
      return left.then([&]() -> kj::Promise<void> {
        connection_->session = nullptr;
        connection_->client = nullptr;
        connection_->stream = nullptr;
        if (connection_->server.get() == nullptr) return kj::READY_NOW;
        // The others still talk to rank 0's server until they have left too.
        return WithDeadline(timer, connection_->server->Drained(), ToKj(timeout_), "")
            .catch_([this](kj::Exception&&) {
              Log(LogLevel::kWarning, "bootstrap",
                  absl::StrCat("rank 0 stops serving the group with ranks still connected after ",
                               Seconds(timeout_)));
            });
      });
    });
  } catch (const kj::Exception& e) {
    Log(LogLevel::kWarning, "bootstrap", e.getDescription().cStr());
  }
  loop_->Run([&](kj::AsyncIoContext&) { connection_.reset(); });
}

absl::StatusOr<std::vector<std::string>> Bootstrap::Collective(Kind kind, std::string data) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t sequence = sequence_++;
  if (loop_ == nullptr) {  // a world of 1
    if (kind == Kind::kBarrier) return std::vector<std::string>();
    return std::vector<std::string>{std::move(data)};
  }
  try {
    return loop_->Run([&](kj::AsyncIoContext& io) -> kj::Promise<std::vector<std::string>> {
      KJ_IF_MAYBE (session, connection_->session) {
        auto request = session->collectiveRequest();
        request.setSequence(sequence);
        request.setKind(kind == Kind::kAllGather   ? rpc::Collective::ALL_GATHER
                        : kind == Kind::kBroadcast ? rpc::Collective::BROADCAST
                                                   : rpc::Collective::BARRIER);
        request.setData(
            capnp::Data::Reader(reinterpret_cast<const kj::byte*>(data.data()), data.size()));
        auto answer =
            request.send().then([](capnp::Response<rpc::Session::CollectiveResults>&& response) {
              std::vector<std::string> result;
              for (capnp::Data::Reader d : response.getResult()) {
                result.emplace_back(reinterpret_cast<const char*>(d.begin()), d.size());
              }
              return result;
            });
        return WithDeadline(io.provider->getTimer(), kj::mv(answer), ToKj(timeout_) + kAnswerSlack,
                            absl::StrCat("rank 0 at ", MasterAddress(), " did not answer within ",
                                         Seconds(timeout_)));
      }
      return Failure("the group has no session");
    });
  } catch (const kj::Exception& e) {
    std::string message = e.getDescription().cStr();
    const std::string remote = "remote exception: ";
    if (absl::StartsWith(message, remote)) message.erase(0, remote.size());
    if (e.getType() == kj::Exception::Type::DISCONNECTED) {
      const RankMember& root = members_[0];
      message =
          absl::StrCat("lost the connection to ", DescribeRank(0, root.pid, root.hostname), " at ",
                       MasterAddress(), ": rank 0 exited or was killed (", message, ")");
    }
    return absl::UnavailableError(
        absl::StrCat("rank ", info_.rank, ": collective #", sequence, " failed: ", message));
  }
}

absl::Status Bootstrap::AllGather(const void* data, size_t bytes, void* out) {
  SY_ASSIGN_OR_RETURN(
      std::vector<std::string> gathered,
      Collective(Kind::kAllGather, std::string(static_cast<const char*>(data), bytes)));
  if (gathered.size() != static_cast<size_t>(info_.world_size)) {
    return absl::InternalError(absl::StrCat("all_gather returned ", gathered.size(), " parts for ",
                                            info_.world_size, " ranks"));
  }
  for (size_t r = 0; r < gathered.size(); ++r) {
    if (gathered[r].size() != bytes) {
      return absl::InternalError(absl::StrCat("all_gather returned ", gathered[r].size(),
                                              " bytes of rank ", r, "; expected ", bytes));
    }
    if (bytes > 0) std::memcpy(static_cast<char*>(out) + r * bytes, gathered[r].data(), bytes);
  }
  return absl::OkStatus();
}

absl::Status Bootstrap::Barrier() { return Collective(Kind::kBarrier, "").status(); }

absl::StatusOr<std::string> Bootstrap::Broadcast(std::string data_on_rank0) {
  SY_ASSIGN_OR_RETURN(
      std::vector<std::string> result,
      Collective(Kind::kBroadcast, info_.rank == 0 ? std::move(data_on_rank0) : std::string()));
  if (result.size() != 1) return absl::InternalError("broadcast returned no data");
  return std::move(result[0]);
}

const sy_comm_group* Bootstrap::comm_group() {
  group_ = {sizeof(sy_comm_group),  info_.rank,
            info_.world_size,       info_.local_rank,
            info_.local_world_size, info_.node,
            info_.num_nodes,        absl::ToInt64Milliseconds(timeout_),
            info_.group_id.c_str(), this,
            &AllGatherForComponents};
  return &group_;
}

}  // namespace sy
