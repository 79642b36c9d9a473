// comm.nvlink: expert-parallel all-to-all as one-sided writes into peers' GPU memory, as
// TensorRT-LLM's NVLinkOneSided does, for the ranks of one host whose GPUs reach each other
// (NVLink, or PCIe peer-to-peer).
//
// connect: every rank allocates one symmetric workspace — a control block (flags), the
// registered area registered_buffer hands out, a staging area, all-reduce slots, the
// peer_memory area — exports it with cudaIpcGetMemHandle, and maps every peer's through the
// host's bootstrap all-gather.
// all_to_all is one kernel (one_sided.h has the protocol): receivers publish where each
// sender's rows go, senders write them straight there, flags in peer memory say they landed.
// peer_memory hands the host a further area of every rank's workspace, mapped here, for its
// own one-sided kernels (expert parallelism's direct dispatch); no collective touches it.
// A recv inside the registered area is written in place; elsewhere rows land in the staging
// area and are copied out by block. all_reduce_sum writes every rank's buffer into every
// peer's slots and sums them in rank order (identical results on every rank). Everything is
// ordered on the call's stream; a peer that stays silent past the group's timeout makes the
// kernel give up and the next call fail with SY_UNAVAILABLE naming it. Host tensors are staged
// through device memory and the call waits for them.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "nvlink.capnp.h"
#include "one_sided.h"
#include "plugins/comm/cuda_support/cuda_support.h"
#include "switchyard/comm_support.hpp"
#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

using nvlink::Control;
using nvlink::ExchangeParams;
using nvlink::kMaxRanks;
constexpr const char* kName = "comm.nvlink";
constexpr size_t kAlign = 4096;

void CheckCuda(cudaError_t err, const std::string& what) { comm_cuda::Check(err, kName, what); }
size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

class NvlinkComm : public Comm {
 public:
  using Config = NvlinkCommConfig;

  explicit NvlinkComm(Config::Reader config)
      : registered_bytes_(size_t{config.getRegisteredMib()} << 20),
        staging_bytes_(size_t{config.getStagingMib()} << 20),
        slot_bytes_(size_t{config.getAllReduceKib()} << 10),
        peer_bytes_(size_t{config.getPeerMib()} << 20),
        blocks_(static_cast<int>(config.getBlocks())) {}

  ~NvlinkComm() override {
    if (workspace_ == nullptr) return;
    cudaSetDevice(device_);
    cudaStreamSynchronize(own_stream_);
    cudaDeviceSynchronize();
    // A connect that failed part way (a peer gone before the all-gather) mapped fewer peers.
    for (size_t q = 0; q < peers_.size(); ++q) {
      if (static_cast<int>(q) != rank_ && peers_[q] != nullptr) cudaIpcCloseMemHandle(peers_[q]);
    }
    cudaFree(workspace_);
    cudaFreeHost(error_);
    cudaStreamDestroy(own_stream_);
  }

  // One host whose GPUs all reach each other, one GPU per rank: the fastest backend there.
  static int32_t Score(const sy_host* host) {
    const int devices = comm_cuda::DeviceCount();
    if (host->device_count(SY_DEVICE_CUDA) <= 0 || devices <= 0) return 0;
    const EnvTopology topology = TopologyFromEnv();
    if (topology.world_size == 1) return 5;
    if (topology.multi_node() || topology.local_world_size > devices ||
        topology.local_world_size > kMaxRanks ||
        !comm_cuda::PeerAccessAmong(topology.local_world_size))
      return 0;
    return 90;
  }

  void Connect(const ExecContext& ctx, const sy_comm_group& group) override {
    if (workspace_ != nullptr)
      throw PluginError(SY_FAILED_PRECONDITION, "comm.nvlink: connected twice");
    if (group.world_size > kMaxRanks || group.num_nodes != 1) {
      throw PluginError(SY_FAILED_PRECONDITION,
                        "comm.nvlink joins up to " + std::to_string(kMaxRanks) +
                            " ranks of one host; this group has " +
                            std::to_string(group.world_size) + " ranks on " +
                            std::to_string(group.num_nodes) + " hosts (use comm.nccl or comm.ucx)");
    }
    rank_ = group.rank;
    world_ = group.world_size;
    timeout_ns_ = static_cast<unsigned long long>(group.timeout_ms > 0 ? group.timeout_ms : 60000) *
                  1000000ull;
    device_ = comm_cuda::DeviceFor(*ctx.c_context(), group, kName);
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    CheckCuda(cudaStreamCreateWithFlags(&own_stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    CheckCuda(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, device_),
              "SM count");
    CheckCuda(cudaHostAlloc(reinterpret_cast<void**>(&error_), sizeof(int), cudaHostAllocMapped),
              "cudaHostAlloc");
    *error_ = 0;
    CheckCuda(cudaHostGetDevicePointer(reinterpret_cast<void**>(&error_device_), error_, 0),
              "cudaHostGetDevicePointer");

    registered_offset_ = AlignUp(sizeof(Control));
    staging_offset_ = registered_offset_ + AlignUp(registered_bytes_);
    slots_offset_ = staging_offset_ + AlignUp(staging_bytes_);
    peer_offset_ = slots_offset_ + AlignUp(slot_bytes_ * world_);
    const uint64_t total = peer_offset_ + AlignUp(peer_bytes_);
    CheckCuda(cudaMalloc(&workspace_, total),
              "cudaMalloc of the " + std::to_string(total >> 20) + " MiB workspace");
    CheckCuda(cudaMemset(workspace_, 0, sizeof(Control)), "cudaMemset");
    CheckCuda(cudaMemset(static_cast<char*>(workspace_) + peer_offset_, 0, peer_bytes_),
              "cudaMemset");
    CheckCuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");

    struct Exported {
      cudaIpcMemHandle_t handle;
      uint64_t total;
      int32_t device;
    } mine{};
    CheckCuda(cudaIpcGetMemHandle(&mine.handle, workspace_), "cudaIpcGetMemHandle");
    mine.total = total;
    mine.device = device_;
    std::vector<Exported> all(world_);
    AllGather(group, &mine, sizeof(mine), all.data());
    peers_.assign(world_, nullptr);
    for (int q = 0; q < world_; ++q) {
      if (all[q].total != total) {
        throw PluginError(SY_FAILED_PRECONDITION,
                          "comm.nvlink: rank " + std::to_string(q) +
                              " has another workspace size: give every rank the same config");
      }
      if (q == rank_) {
        peers_[q] = workspace_;
        continue;
      }
      const cudaError_t err =
          cudaIpcOpenMemHandle(&peers_[q], all[q].handle, cudaIpcMemLazyEnablePeerAccess);
      if (err != cudaSuccess) {
        cudaGetLastError();
        throw PluginError(SY_FAILED_PRECONDITION, "comm.nvlink: rank " + std::to_string(rank_) +
                                                      " cannot map rank " + std::to_string(q) +
                                                      "'s memory (" + cudaGetErrorString(err) +
                                                      "): its GPU is not reachable peer-to-peer "
                                                      "from this one (use comm.nccl or comm.pcie)");
      }
    }
  }

  void* RegisteredBuffer(const ExecContext&, size_t bytes) override {
    RequireHealthy();
    if (bytes > registered_bytes_) {
      throw PluginError(SY_RESOURCE_EXHAUSTED,
                        "comm.nvlink: registered_buffer of " + std::to_string(bytes) +
                            " bytes exceeds registeredMib (" +
                            std::to_string(registered_bytes_ >> 20) + " MiB)");
    }
    return static_cast<char*>(workspace_) + registered_offset_;
  }

  size_t PeerMemory(const ExecContext&, void** peers) override {
    RequireHealthy();
    if (peer_bytes_ == 0) return 0;
    for (int q = 0; q < world_; ++q) peers[q] = static_cast<char*>(peers_[q]) + peer_offset_;
    return peer_bytes_;
  }

  void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) override {
    RequireHealthy();
    const AllToAllLayout layout = AllToAllLayoutOf(args, world_);
    const bool on_device = args.send->device.type == SY_DEVICE_CUDA;
    if (on_device != (args.recv->device.type == SY_DEVICE_CUDA))
      throw std::invalid_argument(
          "comm.nvlink: send and recv must both be on the device or the host");
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaStream_t stream = on_device && ctx.stream() != nullptr
                              ? static_cast<cudaStream_t>(ctx.stream())
                              : own_stream_;
    const char* send = static_cast<const char*>(args.send->data);
    char* recv = static_cast<char*>(args.recv->data);
    if (!on_device) {
      char* staged = static_cast<char*>(send_stage_.Reserve(layout.send_extent, kName));
      CheckCuda(cudaMemcpyAsync(staged, send, layout.send_extent, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync");
      send = staged;
    }
    // Where the rows land: in place when recv lies in the registered area, else staging.
    char* base = static_cast<char*>(workspace_);
    const bool in_place =
        on_device && recv >= base + registered_offset_ &&
        recv + layout.recv_extent <= base + registered_offset_ + registered_bytes_;
    const size_t landing = in_place ? static_cast<size_t>(recv - base) : staging_offset_;
    if (!in_place && layout.recv_extent > staging_bytes_) {
      throw PluginError(
          SY_RESOURCE_EXHAUSTED,
          "comm.nvlink: receiving " + std::to_string(layout.recv_extent) +
              " bytes needs stagingMib >= " + std::to_string((layout.recv_extent >> 20) + 1) +
              " (or a recv inside registered_buffer)");
    }
    ExchangeParams params = Params(send);
    size_t remote_bytes = 0;
    for (int q = 0; q < world_; ++q) {
      params.send_offset[q] = layout.send_offset[q];
      params.send_bytes[q] = layout.send_bytes[q];
      params.my_dest[q] = landing + layout.recv_offset[q];
      if (q != rank_) remote_bytes += layout.send_bytes[q];
    }
    Launch(params, remote_bytes + layout.send_bytes[rank_], stream);
    if (!in_place) {
      for (int q = 0; q < world_; ++q) {
        if (layout.recv_bytes[q] == 0) continue;
        CheckCuda(
            cudaMemcpyAsync(recv + layout.recv_offset[q],
                            base + staging_offset_ + layout.recv_offset[q], layout.recv_bytes[q],
                            on_device ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost, stream),
            "cudaMemcpyAsync out of the staging area");
      }
    }
    if (!on_device) Wait(stream, "all_to_all");
  }

  void AllReduceSum(const ExecContext& ctx, sy_tensor& data) override {
    RequireHealthy();
    const size_t bytes = AllReduceBytes(data);
    const bool on_device = data.device.type == SY_DEVICE_CUDA;
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaStream_t stream = on_device && ctx.stream() != nullptr
                              ? static_cast<cudaStream_t>(ctx.stream())
                              : own_stream_;
    char* buffer = static_cast<char*>(data.data);
    if (!on_device) {
      buffer = static_cast<char*>(send_stage_.Reserve(bytes, kName));
      CheckCuda(cudaMemcpyAsync(buffer, data.data, bytes, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync");
    }
    const bool f32 = data.dtype == SY_DTYPE_F32;
    const size_t element = f32 ? sizeof(float) : sizeof(int64_t);
    char* slots = static_cast<char*>(workspace_) + slots_offset_;
    for (size_t offset = 0; offset < bytes; offset += slot_bytes_) {
      const size_t chunk = std::min(slot_bytes_, bytes - offset);
      ExchangeParams params = Params(buffer + offset);
      for (int q = 0; q < world_; ++q) {
        params.send_bytes[q] = chunk;
        params.my_dest[q] = slots_offset_ + q * slot_bytes_;
      }
      Launch(params, chunk * world_, stream);
      CheckCuda(nvlink::LaunchSumSlots(slots, world_, slot_bytes_ / element, chunk / element, f32,
                                       buffer + offset, stream),
                "the all-reduce sum kernel");
    }
    if (!on_device) {
      CheckCuda(cudaMemcpyAsync(data.data, buffer, bytes, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync");
      Wait(stream, "all_reduce_sum");
    }
  }

 private:
  static void AllGather(const sy_comm_group& group, const void* data, size_t bytes, void* out) {
    sy_error* error = group.all_gather(group.self, data, bytes, out);
    if (error == nullptr) return;
    const sy_status_code code = Host()->error_code(error);
    const std::string message =
        std::string("comm.nvlink: bootstrap all-gather: ") + Host()->error_message(error);
    Host()->error_free(error);
    throw PluginError(code, message);
  }

  ExchangeParams Params(const char* send) {
    ExchangeParams params;
    params.rank = rank_;
    params.world = world_;
    params.seq = ++seq_;
    params.timeout_ns = timeout_ns_;
    for (int q = 0; q < world_; ++q) {
      params.control[q] = reinterpret_cast<Control*>(peers_[q]);
      params.workspace[q] = static_cast<char*>(peers_[q]);
    }
    params.send = send;
    params.error = error_device_;
    return params;
  }

  void Launch(const ExchangeParams& params, size_t bytes, cudaStream_t stream) {
    const int wanted =
        static_cast<int>(std::min<size_t>((bytes + (64 << 10) - 1) >> 16, sm_count_));
    const int blocks = blocks_ > 0 ? blocks_ : std::max(1, wanted);
    CheckCuda(nvlink::LaunchExchange(params, blocks, stream), "the exchange kernel");
  }

  // Fails once a kernel gave up on a peer (the flags are then out of step for good).
  void RequireHealthy() const {
    if (workspace_ == nullptr)
      throw PluginError(SY_FAILED_PRECONDITION, "comm.nvlink: not connected");
    const int peer = *static_cast<volatile int*>(error_);
    if (peer != 0) {
      throw PluginError(SY_UNAVAILABLE, "comm.nvlink rank " + std::to_string(rank_) + ": rank " +
                                            std::to_string(peer - 1) + " did not answer within " +
                                            std::to_string(timeout_ns_ / 1000000) +
                                            " ms (dead, or not calling the same collective)");
    }
  }

  void Wait(cudaStream_t stream, const std::string& what) {
    comm_cuda::WaitStream(
        stream, std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns_) * 2,
        [&] { RequireHealthy(); }, kName,
        "rank " + std::to_string(rank_) + ": " + what + " did not finish");
    RequireHealthy();
  }

  size_t registered_bytes_, staging_bytes_, slot_bytes_, peer_bytes_;
  int blocks_;
  int rank_ = 0, world_ = 1, device_ = 0, sm_count_ = 1;
  unsigned long long timeout_ns_ = 0, seq_ = 0;
  size_t registered_offset_ = 0, staging_offset_ = 0, slots_offset_ = 0, peer_offset_ = 0;
  void* workspace_ = nullptr;
  std::vector<void*> peers_;  // every rank's workspace mapped here (mine at [rank_])
  int* error_ = nullptr;      // host-mapped: peer + 1 once a kernel gave up
  int* error_device_ = nullptr;
  cudaStream_t own_stream_ = nullptr;
  comm_cuda::DeviceBuffer send_stage_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("comm_nvlink", "1.0.0",
                 sy::CommComponent<sy::plugins::NvlinkComm>(
                     "nvlink", "one-sided writes into peers' GPU memory (CUDA IPC), one host"))
