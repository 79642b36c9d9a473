// comm.ucx: expert-parallel all-to-all and all-reduce over UCX, for ranks on any number of
// hosts (InfiniBand, TCP, shared memory: whatever transports UCX finds and the config allows).
//
// connect: a UCP context and worker per rank; the worker addresses are exchanged through the
// host's bootstrap all-gather, every rank opens an endpoint to every other with peer error
// handling, and a first exchange checks that all of them answer within the group's timeout.
// all_to_all: every nonempty block goes as one tagged message (tag = step, sender) and the
// worker is progressed until all arrive; a peer that dies or stays silent past timeout_ms
// fails the call with SY_UNAVAILABLE naming it. all_reduce_sum: every rank sends its buffer
// to every other and each sums all of them in rank order, so every rank holds bit-identical
// results. Device tensors go straight through UCX when its build supports CUDA memory, else
// through pinned host buffers.
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/comm_support.hpp"
#include "switchyard/plugin.hpp"
#include "ucx.capnp.h"
#include "ucx_transport.h"
#if SY_COMM_UCX_CUDA
#include "host_staging.h"
#endif

namespace sy::plugins {
namespace {

// Calls the host's all-gather, turning its error into an exception.
void AllGather(const sy_comm_group& group, const void* data, size_t bytes, void* out) {
  sy_error* error = group.all_gather(group.self, data, bytes, out);
  if (error == nullptr) return;
  const sy_status_code code = Host()->error_code(error);
  const std::string message =
      std::string("comm.ucx: bootstrap all-gather: ") + Host()->error_message(error);
  Host()->error_free(error);
  throw PluginError(code, message);
}

class UcxComm : public Comm {
 public:
  using Config = UcxCommConfig;

  explicit UcxComm(Config::Reader config)
      : transports_(config.getTransports().cStr()), devices_(config.getDevices().cStr()) {}

  // Runs everywhere; preferred across hosts without GPUs, behind shared memory (comm.pcie)
  // and the GPU backends on one host (docs/plugin-guide.md has the table).
  static int32_t Score(const sy_host*) {
    const EnvTopology topology = TopologyFromEnv();
    if (topology.world_size == 1) return 5;
    return topology.multi_node() ? 40 : 20;
  }

  void Connect(const ExecContext&, const sy_comm_group& group) override {
    if (transport_ != nullptr)
      throw PluginError(SY_FAILED_PRECONDITION, "comm.ucx: connected twice");
    rank_ = group.rank;
    world_ = group.world_size;
    timeout_ = std::chrono::milliseconds(group.timeout_ms > 0 ? group.timeout_ms : 60000);
    transport_ = std::make_unique<UcxTransport>(transports_, devices_);

    // Worker addresses differ in length: gather the lengths, then the padded addresses.
    const std::vector<uint8_t> address = transport_->WorkerAddress();
    const uint64_t length = address.size();
    std::vector<uint64_t> lengths(world_);
    AllGather(group, &length, sizeof(length), lengths.data());
    uint64_t longest = 0;
    for (uint64_t l : lengths) longest = std::max(longest, l);
    std::vector<uint8_t> padded(longest), all(longest * world_);
    std::memcpy(padded.data(), address.data(), address.size());
    AllGather(group, padded.data(), longest, all.data());
    std::vector<std::vector<uint8_t>> addresses(world_);
    for (int r = 0; r < world_; ++r) {
      addresses[r].assign(all.begin() + r * longest, all.begin() + r * longest + lengths[r]);
    }
    transport_->Connect(rank_, addresses);

    // Every peer answers once now, so an unreachable one fails connect, not the first step.
    std::vector<int32_t> heard(world_, -1);
    std::vector<UcxTransport::Transfer> sends, receives;
    for (int p = 0; p < world_; ++p) {
      if (p == rank_) continue;
      sends.push_back({p, &rank_, sizeof(rank_)});
      receives.push_back({p, &heard[p], sizeof(int32_t)});
    }
    Exchange(sends, receives, UCS_MEMORY_TYPE_HOST);
    cuda_memory_ = transport_->SupportsCudaMemory();
  }

  void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) override {
    RequireConnected();
    const AllToAllLayout layout = AllToAllLayoutOf(args, world_);
    if (layout.send_bytes[rank_] != layout.recv_bytes[rank_]) {
      throw std::invalid_argument("comm.ucx: rank " + std::to_string(rank_) + " sends itself " +
                                  std::to_string(layout.send_bytes[rank_]) +
                                  " bytes but receives " +
                                  std::to_string(layout.recv_bytes[rank_]));
    }
    const bool on_device = args.send->device.type == SY_DEVICE_CUDA;
    if (on_device != (args.recv->device.type == SY_DEVICE_CUDA))
      throw std::invalid_argument("comm.ucx: send and recv must be on the same device");
    if (!on_device) {
      Move(layout, static_cast<const char*>(args.send->data), static_cast<char*>(args.recv->data),
           UCS_MEMORY_TYPE_HOST);
      return;
    }
#if SY_COMM_UCX_CUDA
    auto stream = static_cast<cudaStream_t>(ctx.stream());
    if (cuda_memory_) {  // UCX moves device memory itself, outside stream order
      CheckCuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
      Move(layout, static_cast<const char*>(args.send->data), static_cast<char*>(args.recv->data),
           UCS_MEMORY_TYPE_CUDA);
      return;
    }
    const void* send =
        staging_.FromDevice(args.send->device.index, stream, args.send->data, layout.send_extent);
    void* recv = staging_.ReceiveArea(layout.recv_extent);
    Move(layout, static_cast<const char*>(send), static_cast<char*>(recv), UCS_MEMORY_TYPE_HOST);
    for (int p = 0; p < world_; ++p)  // only the blocks: rows between them keep their values
      staging_.ToDevice(stream, args.recv->data, layout.recv_offset[p], layout.recv_bytes[p]);
    staging_.Finish(stream);
#else
    (void)ctx;
    throw PluginError(SY_FAILED_PRECONDITION,
                      "comm.ucx was built without CUDA: device tensors need a CUDA build");
#endif
  }

  void AllReduceSum(const ExecContext& ctx, sy_tensor& data) override {
    RequireConnected();
    const size_t bytes = AllReduceBytes(data);
    const bool on_device = data.device.type == SY_DEVICE_CUDA;
    void* host = data.data;
#if SY_COMM_UCX_CUDA
    auto stream = static_cast<cudaStream_t>(ctx.stream());
    if (on_device) host = staging_.FromDevice(data.device.index, stream, data.data, bytes);
#else
    (void)ctx;
    if (on_device)
      throw PluginError(SY_FAILED_PRECONDITION,
                        "comm.ucx was built without CUDA: device tensors need a CUDA build");
#endif
    std::vector<char> gathered(bytes * world_);
    std::vector<UcxTransport::Transfer> sends, receives;
    for (int p = 0; p < world_; ++p) {
      if (p == rank_ || bytes == 0) continue;
      sends.push_back({p, host, bytes});
      receives.push_back({p, gathered.data() + p * bytes, bytes});
    }
    Exchange(sends, receives, UCS_MEMORY_TYPE_HOST);
    std::memcpy(gathered.data() + rank_ * bytes, host, bytes);
    void* sum = host;
#if SY_COMM_UCX_CUDA
    if (on_device) sum = staging_.ReceiveArea(bytes);
#endif
    std::memcpy(sum, gathered.data(), bytes);  // rank order on every rank: identical results
    for (int p = 1; p < world_; ++p) SumInto(data.dtype, sum, gathered.data() + p * bytes, bytes);
#if SY_COMM_UCX_CUDA
    if (on_device) {
      staging_.ToDevice(stream, data.data, 0, bytes);
      staging_.Finish(stream);
    }
#endif
  }

 private:
  void RequireConnected() const {
    if (transport_ == nullptr) throw PluginError(SY_FAILED_PRECONDITION, "comm.ucx: not connected");
  }

  // The blocks of one all-to-all between host (or, with CUDA-capable UCX, device) buffers.
  void Move(const AllToAllLayout& layout, const char* send, char* recv, ucs_memory_type_t memory) {
    std::vector<UcxTransport::Transfer> sends, receives;
    for (int p = 0; p < world_; ++p) {
      if (p == rank_) continue;
      if (layout.send_bytes[p] > 0)
        sends.push_back({p, const_cast<char*>(send) + layout.send_offset[p], layout.send_bytes[p]});
      if (layout.recv_bytes[p] > 0)
        receives.push_back({p, recv + layout.recv_offset[p], layout.recv_bytes[p]});
    }
    if (layout.send_bytes[rank_] > 0) {
      // A rank has no endpoint to itself: its own block is a copy.
      char* to = recv + layout.recv_offset[rank_];
      const char* from = send + layout.send_offset[rank_];
      if (memory == UCS_MEMORY_TYPE_HOST) {
        std::memmove(to, from, layout.send_bytes[rank_]);
      } else {
#if SY_COMM_UCX_CUDA
        CheckCuda(cudaMemcpy(to, from, layout.send_bytes[rank_], cudaMemcpyDeviceToDevice),
                  "cudaMemcpy");
#endif
      }
    }
    Exchange(sends, receives, memory);
  }

  void Exchange(const std::vector<UcxTransport::Transfer>& sends,
                const std::vector<UcxTransport::Transfer>& receives, ucs_memory_type_t memory) {
    transport_->Exchange(++step_, sends, receives, UcxTransport::Clock::now() + timeout_, memory);
  }

  std::string transports_, devices_;
  std::unique_ptr<UcxTransport> transport_;
  int32_t rank_ = 0;
  int world_ = 1;
  std::chrono::milliseconds timeout_{60000};
  uint32_t step_ = 0;
  bool cuda_memory_ = false;
#if SY_COMM_UCX_CUDA
  HostStaging staging_;
#endif
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("comm_ucx", "1.0.0",
                 sy::CommComponent<sy::plugins::UcxComm>(
                     "ucx", "all-to-all over UCX (InfiniBand, TCP, shared memory) across hosts"))
