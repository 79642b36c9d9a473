// comm.pcie: expert-parallel exchange between ranks on one host through POSIX shared memory.
// Every rank owns a region (shared_region.h) with two slots per peer; a sender copies chunks of
// its rows into the receiver's slots and publishes them with sequence counters, the receiver
// copies them out and frees the slots. One progress loop drives every send and receive, so no
// pair of ranks can deadlock on full slots; a rank with nothing to do sleeps on a futex and,
// every 10 ms, checks that the peers it waits for are alive and that the timeout has not
// passed. CUDA tensors are copied (on the call's stream) straight into and out of the mapped
// regions, which are page-locked with cudaHostRegister: pinned host staging.
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "device_copy.h"
#include "pcie.capnp.h"
#include "shared_region.h"
#include "switchyard/comm_support.hpp"
#include "switchyard/dtype.hpp"
#include "switchyard/plugin.hpp"
#include "switchyard/tensor_view.hpp"

namespace sy::plugins {
namespace {

constexpr int64_t kCheckIntervalUs = 10000;

// What every rank tells the others when it connects.
struct PeerInfo {
  int64_t pid;
  uint64_t slot_bytes;
  char hostname[64];
};

std::string SafeName(const char* text) {
  std::string name;
  for (const char* c = text; *c != '\0' && name.size() < 160; ++c) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '_' || *c == '.';
    name += ok ? *c : '_';
  }
  return name;
}

// False once `pid` has exited (a zombie not yet reaped by its parent counts as exited).
bool Alive(int64_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() ||
         (line[paren + 2] != 'Z' && line[paren + 2] != 'X');
}

// One message to or from a peer: `bytes` at `data`, `done` of them moved so far.
struct Transfer {
  char* data = nullptr;
  uint64_t bytes = 0;
  uint64_t done = 0;
};

class PcieComm : public Comm {
 public:
  using Config = PcieConfig;

  explicit PcieComm(Config::Reader config)
      : slot_bytes_(uint64_t{config.getChunkKb()} * 1024), spin_(config.getSpinIterations()) {}

  ~PcieComm() override {
    if (pinned_) {
      for (const SharedRegion& region : regions_) UnpinHostMemory(region.base());
    }
  }

  // One host only; there above comm.ucx (no network stack) and below the GPU-direct backends.
  static int32_t Score(const sy_host*) {
    const EnvTopology topology = TopologyFromEnv();
    if (topology.multi_node()) return 0;
    return topology.world_size == 1 ? 1 : 30;
  }

  void Connect(const ExecContext& ctx, const sy_comm_group& group) override {
    if (!regions_.empty())
      throw PluginError(SY_FAILED_PRECONDITION, "comm.pcie: already connected");
    me_ = group.rank;
    timeout_ms_ = group.timeout_ms;
    const std::string prefix = "/sy-" + SafeName(group.group_id) + "-pcie-r";
    regions_.resize(group.world_size);
    regions_[me_] =
        SharedRegion::Create(prefix + std::to_string(me_), me_, group.world_size, slot_bytes_);

    PeerInfo mine{getpid(), slot_bytes_, {}};
    gethostname(mine.hostname, sizeof(mine.hostname) - 1);
    peers_.resize(group.world_size);
    GroupCall(group, group.all_gather(group.self, &mine, sizeof(mine), peers_.data()));
    for (int p = 0; p < group.world_size; ++p) {
      if (std::strncmp(peers_[p].hostname, mine.hostname, sizeof(mine.hostname)) != 0) {
        throw PluginError(SY_FAILED_PRECONDITION,
                          "comm.pcie connects ranks on one host only: rank " + std::to_string(p) +
                              " runs on " + peers_[p].hostname + ", rank " + std::to_string(me_) +
                              " on " + mine.hostname + " (use a network backend across hosts)");
      }
      if (peers_[p].slot_bytes != slot_bytes_) {
        throw PluginError(SY_INVALID_ARGUMENT, "comm.pcie: ranks " + std::to_string(p) + " and " +
                                                   std::to_string(me_) +
                                                   " have different chunk_kb");
      }
    }
    for (int p = 0; p < group.world_size; ++p) {
      if (p != me_)
        regions_[p] =
            SharedRegion::Open(prefix + std::to_string(p), p, group.world_size, slot_bytes_);
    }
    // Once every rank has mapped every region the names can go: nothing stays in /dev/shm,
    // however the processes end.
    char mapped = 1;
    std::vector<char> all(group.world_size);
    GroupCall(group, group.all_gather(group.self, &mapped, 1, all.data()));
    regions_[me_].Unlink();
    if (ctx.device().type == SY_DEVICE_CUDA) {
      for (const SharedRegion& region : regions_) PinHostMemory(region.base(), region.size());
      pinned_ = true;
    }
  }

  void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) override {
    Guarded("all_to_all", [&] {
      const TensorView send(*args.send), recv(*args.recv);
      if (!send.is_contiguous() || !recv.is_contiguous() || send.ndim() < 1 || recv.ndim() < 1 ||
          send.dtype() != recv.dtype()) {
        throw std::invalid_argument(
            "comm.pcie: all_to_all needs contiguous send and recv of one dtype");
      }
      // From the shape, not numel / rows: a rank sending no rows still receives whole ones.
      const uint64_t row = comm_internal::RowBytes(*args.send);
      const int world = static_cast<int>(regions_.size());
      std::vector<Transfer> out(world), in(world);
      int64_t send_at = 0, recv_at = 0;
      for (int p = 0; p < world; ++p) {
        const int64_t s = args.send_displs ? args.send_displs[p] : send_at;
        const int64_t r = args.recv_displs ? args.recv_displs[p] : recv_at;
        out[p] = {static_cast<char*>(args.send->data) + s * row, args.send_counts[p] * row, 0};
        in[p] = {static_cast<char*>(args.recv->data) + r * row, args.recv_counts[p] * row, 0};
        send_at += args.send_counts[p];
        recv_at += args.recv_counts[p];
      }
      if (out[me_].bytes != in[me_].bytes) {
        throw std::invalid_argument(
            "comm.pcie: this rank's send and recv counts for itself differ");
      }
      const bool cuda = ctx.device().type == SY_DEVICE_CUDA;
      if (out[me_].bytes > 0) {
        if (cuda) {
          CudaToCuda(ctx.device(), ctx.stream(), in[me_].data, out[me_].data, out[me_].bytes);
        } else {
          std::memcpy(in[me_].data, out[me_].data, out[me_].bytes);
        }
      }
      out[me_].bytes = in[me_].bytes = 0;
      Exchange(ctx, cuda, out, in, "all_to_all");
    });
  }

  void AllReduceSum(const ExecContext& ctx, sy_tensor& data) override {
    Guarded("all_reduce_sum", [&] {
      const TensorView view(data);
      if (!view.is_contiguous() || (view.dtype() != DType::kF32 && view.dtype() != DType::kI64)) {
        throw std::invalid_argument("comm.pcie: all_reduce_sum sums contiguous f32 or i64 tensors");
      }
      const int world = static_cast<int>(regions_.size());
      const uint64_t bytes = static_cast<uint64_t>(DTypeBytes(view.dtype(), view.numel()));
      const bool cuda = ctx.device().type == SY_DEVICE_CUDA;
      // Every rank gets every contribution and adds them in rank order, so all ranks hold the
      // same bits.
      std::vector<char> parts(world * bytes);
      char* own = parts.data() + me_ * bytes;
      if (cuda) {
        CudaToHost(ctx.device(), ctx.stream(), own, data.data, bytes);
      } else if (bytes > 0) {
        std::memcpy(own, data.data, bytes);
      }
      std::vector<Transfer> out(world), in(world);
      for (int p = 0; p < world; ++p) {
        if (p == me_) continue;
        out[p] = {own, bytes, 0};
        in[p] = {parts.data() + p * bytes, bytes, 0};
      }
      Exchange(ctx, /*cuda=*/false, out, in, "all_reduce_sum");
      std::vector<char> sum(parts.begin(), parts.begin() + bytes);
      if (view.dtype() == DType::kF32) {
        AddInRankOrder<float>(parts, sum, world, view.numel());
      } else {
        AddInRankOrder<int64_t>(parts, sum, world, view.numel());
      }
      if (cuda) {
        HostToCuda(ctx.device(), ctx.stream(), data.data, sum.data(), bytes);
      } else if (bytes > 0) {
        std::memcpy(data.data, sum.data(), bytes);
      }
    });
  }

 private:
  template <typename T>
  static void AddInRankOrder(const std::vector<char>& parts, std::vector<char>& sum, int world,
                             int64_t n) {
    T* acc = reinterpret_cast<T*>(sum.data());
    for (int p = 1; p < world; ++p) {
      const T* part = reinterpret_cast<const T*>(parts.data()) + p * n;
      for (int64_t i = 0; i < n; ++i) acc[i] += part[i];
    }
  }

  // Turns an error of the group's all_gather into an exception.
  static void GroupCall(const sy_comm_group&, sy_error* error) {
    if (error == nullptr) return;
    const sy_status_code code = Host()->error_code(error);
    const std::string message = Host()->error_message(error);
    Host()->error_free(error);
    throw PluginError(code, "comm.pcie: connect: " + message);
  }

  // Runs a data call; after a failure the exchange state is unknown, so every later call fails.
  template <typename Body>
  void Guarded(const char* call, Body&& body) {
    if (regions_.empty())
      throw PluginError(SY_FAILED_PRECONDITION,
                        std::string("comm.pcie: ") + call + " before connect");
    if (!broken_.empty()) {
      throw PluginError(SY_FAILED_PRECONDITION,
                        "comm.pcie: unusable after an earlier error: " + broken_);
    }
    try {
      body();
    } catch (const PluginError& e) {  // argument checks throw std::invalid_argument instead
      broken_ = e.what();
      throw;
    }
  }

  std::string Describe(int p) const {
    return "rank " + std::to_string(p) + " (pid " + std::to_string(peers_[p].pid) + ")";
  }

  // Moves every outgoing and incoming message until all are done.
  void Exchange(const ExecContext& ctx, bool cuda, std::vector<Transfer>& out,
                std::vector<Transfer>& in, const char* call) {
    const SharedRegion& mine = regions_[me_];
    const int world = static_cast<int>(regions_.size());
    auto last_progress = std::chrono::steady_clock::now();
    uint32_t idle_polls = 0;
    for (;;) {
      const uint32_t bell = mine.header().doorbell.load(std::memory_order_seq_cst);
      bool pending = false, progress = false;
      for (int p = 0; p < world; ++p) {
        if (p == me_) continue;
        bool moved = false;
        Transfer& o = out[p];
        if (o.done < o.bytes) {
          Channel& ch = regions_[p].channel(me_);
          uint64_t n = ch.sent.load(std::memory_order_relaxed);
          while (o.done < o.bytes && n - ch.received.load(std::memory_order_acquire) < kBuffers) {
            const uint64_t len = std::min<uint64_t>(slot_bytes_, o.bytes - o.done);
            char* slot = regions_[p].slot(me_, n);
            if (cuda) {
              CudaToHost(ctx.device(), ctx.stream(), slot, o.data + o.done, len);
            } else {
              std::memcpy(slot, o.data + o.done, len);
            }
            ch.chunk_bytes[n % kBuffers] = len;
            ch.message_bytes[n % kBuffers] = o.bytes;
            ch.sent.store(++n, std::memory_order_release);
            o.done += len;
            moved = true;
          }
          pending |= o.done < o.bytes;
        }
        Transfer& i = in[p];
        if (i.done < i.bytes) {
          Channel& ch = mine.channel(p);
          uint64_t n = ch.received.load(std::memory_order_relaxed);
          while (i.done < i.bytes && ch.sent.load(std::memory_order_acquire) > n) {
            const uint64_t len = ch.chunk_bytes[n % kBuffers];
            if (ch.message_bytes[n % kBuffers] != i.bytes || len > i.bytes - i.done) {
              throw PluginError(SY_INVALID_ARGUMENT,
                                Describe(p) + " sends " +
                                    std::to_string(ch.message_bytes[n % kBuffers]) +
                                    " bytes, this rank expects " + std::to_string(i.bytes) +
                                    " (send and recv counts disagree between the ranks)");
            }
            const char* slot = mine.slot(p, n);
            if (cuda) {
              HostToCuda(ctx.device(), ctx.stream(), i.data + i.done, slot, len);
            } else {
              std::memcpy(i.data + i.done, slot, len);
            }
            ch.received.store(++n, std::memory_order_release);
            i.done += len;
            moved = true;
          }
          pending |= i.done < i.bytes;
        }
        if (moved) regions_[p].Ring();  // data for p, or a slot p may refill
        progress |= moved;
      }
      if (!pending) return;
      if (progress) {
        last_progress = std::chrono::steady_clock::now();
        idle_polls = 0;
        continue;
      }
      if (++idle_polls < spin_) continue;
      CheckPeers(out, in, call, last_progress);
      mine.Sleep(bell, kCheckIntervalUs);
    }
  }

  // Fails when a peer this rank waits for has exited, or nothing has moved for the timeout.
  void CheckPeers(const std::vector<Transfer>& out, const std::vector<Transfer>& in,
                  const char* call, std::chrono::steady_clock::time_point last_progress) const {
    std::string waiting_for;
    for (size_t p = 0; p < out.size(); ++p) {
      if (out[p].done == out[p].bytes && in[p].done == in[p].bytes) continue;
      if (!Alive(peers_[p].pid)) {
        throw PluginError(SY_UNAVAILABLE, Describe(static_cast<int>(p)) + " exited during " + call);
      }
      waiting_for += (waiting_for.empty() ? "" : ", ") + Describe(static_cast<int>(p));
    }
    const auto idle = std::chrono::steady_clock::now() - last_progress;
    if (timeout_ms_ > 0 && idle > std::chrono::milliseconds(timeout_ms_)) {
      throw PluginError(SY_UNAVAILABLE, std::string(call) + ": nothing moved for " +
                                            std::to_string(timeout_ms_) + " ms waiting for " +
                                            waiting_for);
    }
  }

  const uint64_t slot_bytes_;
  const uint32_t spin_;
  int me_ = 0;
  int64_t timeout_ms_ = 0;
  std::vector<SharedRegion> regions_;  // every rank's, indexed by rank; empty until connected
  std::vector<PeerInfo> peers_;
  bool pinned_ = false;
  std::string broken_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN(
    "pcie", "1.0.0",
    sy::CommComponent<sy::plugins::PcieComm>(
        "pcie", "Ranks on one host exchange through shared memory (pinned host staging for CUDA)"))
