// comm.nccl: expert-parallel all-to-all as NCCL grouped send/recv, all_reduce_sum as
// ncclAllReduce, on the call's CUDA stream (the call returns once the work is queued).
//
// connect: rank 0's ncclUniqueId reaches every rank through the host's bootstrap all-gather;
// the communicator is created non-blocking (ncclConfig_t.blocking = 0) and polled with
// ncclCommGetAsyncError against the group's timeout, so a rank that never joins fails the
// others with SY_UNAVAILABLE instead of hanging them. Every collective is watched the same
// way afterwards (watchdog.h): past the timeout the communicator is aborted and the next call
// reports the failure. NCCL_NVLS_ENABLE defaults to 0 (NVLink multicast stays off).
// Host tensors are staged through device memory and the call waits for them.
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "nccl.capnp.h"
#include "plugins/comm/cuda_support/cuda_support.h"
#include "switchyard/comm_support.hpp"
#include "switchyard/plugin.hpp"
#include "watchdog.h"

namespace sy::plugins {
namespace {

constexpr const char* kName = "comm.nccl";
using Clock = std::chrono::steady_clock;

void CheckCuda(cudaError_t err, const std::string& what) { comm_cuda::Check(err, kName, what); }

class NcclComm : public Comm {
 public:
  using Config = NcclCommConfig;

  explicit NcclComm(Config::Reader config)
      : max_ctas_(static_cast<int>(config.getMaxCtas())), net_name_(config.getNetName().cStr()) {}

  ~NcclComm() override {
    watchdog_.reset();  // no abort from its thread once destruction starts
    if (comm_ != nullptr && failed_.empty()) {
      // Non-blocking: finalize completes outstanding work; a hung peer ends in an abort.
      ncclResult_t state = ncclCommFinalize(comm_);
      const Clock::time_point deadline = Clock::now() + timeout_;
      while (state == ncclInProgress || state == ncclSuccess) {
        if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess || state != ncclInProgress) break;
        if (Clock::now() > deadline) break;
      }
      if (state == ncclSuccess) {
        ncclCommDestroy(comm_);
      } else {
        ncclCommAbort(comm_);
      }
    }
    if (own_stream_ != nullptr) cudaStreamDestroy(own_stream_);
  }

  // Needs a GPU per local rank. Behind comm.nvlink on one host with peer access, ahead of the
  // host-staged backends; the first choice across hosts with GPUs (docs/plugin-guide.md).
  static int32_t Score(const sy_host* host) {
    const int devices = comm_cuda::DeviceCount();
    if (host->device_count(SY_DEVICE_CUDA) <= 0 || devices <= 0) return 0;
    const EnvTopology topology = TopologyFromEnv();
    if (topology.local_world_size > devices) return 0;  // NCCL needs one device per rank
    if (topology.world_size == 1) return 5;
    return topology.multi_node() ? 80 : 70;
  }

  void Connect(const ExecContext& ctx, const sy_comm_group& group) override {
    if (comm_ != nullptr) throw PluginError(SY_FAILED_PRECONDITION, "comm.nccl: connected twice");
    setenv("NCCL_NVLS_ENABLE", "0", /*overwrite=*/0);
    rank_ = group.rank;
    world_ = group.world_size;
    timeout_ = std::chrono::milliseconds(group.timeout_ms > 0 ? group.timeout_ms : 60000);
    device_ = comm_cuda::DeviceFor(*ctx.c_context(), group, kName);
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    CheckCuda(cudaStreamCreateWithFlags(&own_stream_, cudaStreamNonBlocking), "cudaStreamCreate");

    ncclUniqueId id{};
    if (rank_ == 0) CheckNccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    std::vector<ncclUniqueId> ids(world_);
    sy_error* error = group.all_gather(group.self, &id, sizeof(id), ids.data());
    if (error != nullptr) {
      const sy_status_code code = Host()->error_code(error);
      const std::string message =
          std::string("comm.nccl: bootstrap all-gather: ") + Host()->error_message(error);
      Host()->error_free(error);
      throw PluginError(code, message);
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    if (max_ctas_ > 0) config.maxCTAs = max_ctas_;
    if (!net_name_.empty()) config.netName = net_name_.c_str();
    const ncclResult_t result = ncclCommInitRankConfig(&comm_, world_, ids[0], rank_, &config);
    if (result != ncclSuccess && result != ncclInProgress) {
      comm_ = nullptr;
      CheckNccl(result, "ncclCommInitRankConfig");
    }
    WaitReady("joining the communicator (ncclCommInitRankConfig): a rank did not join");
    watchdog_ = std::make_unique<Watchdog>(device_, [this](const std::string& what) {
      AbortQuietly(what + " did not finish within " + std::to_string(timeout_.count()) +
                   " ms (a peer died or is not calling the same collective)");
    });
  }

  void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) override {
    RequireHealthy();
    const AllToAllLayout layout = AllToAllLayoutOf(args, world_);
    const bool on_device = args.send->device.type == SY_DEVICE_CUDA;
    if (on_device != (args.recv->device.type == SY_DEVICE_CUDA))
      throw std::invalid_argument(
          "comm.nccl: send and recv must both be on the device or the host");
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaStream_t stream = StreamOf(ctx, on_device);
    const char* send = static_cast<const char*>(args.send->data);
    char* recv = static_cast<char*>(args.recv->data);
    if (!on_device) {
      char* staged_send = static_cast<char*>(send_stage_.Reserve(layout.send_extent, kName));
      char* staged_recv = static_cast<char*>(recv_stage_.Reserve(layout.recv_extent, kName));
      CheckCuda(
          cudaMemcpyAsync(staged_send, send, layout.send_extent, cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync to the device");
      Exchange(layout, staged_send, staged_recv, stream);
      for (int p = 0; p < world_; ++p) {
        if (layout.recv_bytes[p] == 0) continue;
        CheckCuda(cudaMemcpyAsync(recv + layout.recv_offset[p], staged_recv + layout.recv_offset[p],
                                  layout.recv_bytes[p], cudaMemcpyDeviceToHost, stream),
                  "cudaMemcpyAsync to the host");
      }
      Wait(stream, "all_to_all");
      return;
    }
    Exchange(layout, send, recv, stream);
    watchdog_->Watch(stream, Clock::now() + timeout_, "all_to_all " + std::to_string(step_));
  }

  void AllReduceSum(const ExecContext& ctx, sy_tensor& data) override {
    RequireHealthy();
    const size_t bytes = AllReduceBytes(data);
    const bool on_device = data.device.type == SY_DEVICE_CUDA;
    CheckCuda(cudaSetDevice(device_), "cudaSetDevice");
    cudaStream_t stream = StreamOf(ctx, on_device);
    void* buffer = data.data;
    if (!on_device) {
      buffer = send_stage_.Reserve(bytes, kName);
      CheckCuda(cudaMemcpyAsync(buffer, data.data, bytes, cudaMemcpyHostToDevice, stream),
                "cudaMemcpyAsync");
    }
    const bool f32 = data.dtype == SY_DTYPE_F32;
    const size_t count = bytes / (f32 ? sizeof(float) : sizeof(int64_t));
    ncclResult_t queued;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++step_;
      queued = ncclAllReduce(buffer, buffer, count, f32 ? ncclFloat32 : ncclInt64, ncclSum, comm_,
                             stream);
    }
    Enqueued(queued, "ncclAllReduce");
    if (!on_device) {
      CheckCuda(cudaMemcpyAsync(data.data, buffer, bytes, cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync");
      Wait(stream, "all_reduce_sum");
      return;
    }
    watchdog_->Watch(stream, Clock::now() + timeout_, "all_reduce_sum " + std::to_string(step_));
  }

 private:
  void CheckNccl(ncclResult_t result, const std::string& what) {
    if (result == ncclSuccess || result == ncclInProgress) return;
    const sy_status_code code =
        result == ncclInvalidArgument || result == ncclInvalidUsage ? SY_INVALID_ARGUMENT
        : result == ncclRemoteError || result == ncclSystemError    ? SY_UNAVAILABLE
                                                                    : SY_INTERNAL;
    throw PluginError(
        code, "comm.nccl rank " + std::to_string(rank_) + ": " + what + ": " +
                  ncclGetErrorString(result) +
                  (comm_ != nullptr ? std::string(" (") + ncclGetLastError(comm_) + ")" : ""));
  }

  // Polls a non-blocking operation until it completes, fails, or the timeout passes.
  void WaitReady(const std::string& what) {
    const Clock::time_point deadline = Clock::now() + timeout_;
    for (;;) {
      const ncclResult_t state = AsyncState();
      if (state == ncclSuccess) return;
      if (state != ncclInProgress) Abort(what + ": " + ncclGetErrorString(state));
      if (state == ncclInProgress && Clock::now() > deadline)
        Abort(what + " within " + std::to_string(timeout_.count()) + " ms");
    }
  }

  // The communicator's state (ncclInProgress while an operation is pending); throws once failed.
  ncclResult_t AsyncState() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_.empty()) throw PluginError(SY_UNAVAILABLE, failed_ + " (communicator aborted)");
    ncclResult_t state = ncclSuccess;
    CheckNccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError");
    return state;
  }

  // After queueing an operation on a non-blocking communicator.
  void Enqueued(ncclResult_t result, const char* what) {
    CheckNccl(result, what);
    if (result == ncclInProgress) WaitReady(std::string(what) + " did not complete");
  }

  void Exchange(const AllToAllLayout& layout, const char* send, char* recv, cudaStream_t stream) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++step_;
    CheckNccl(ncclGroupStart(), "ncclGroupStart");
    for (int p = 0; p < world_; ++p) {
      if (layout.send_bytes[p] > 0)
        CheckNccl(ncclSend(send + layout.send_offset[p], layout.send_bytes[p], ncclUint8, p, comm_,
                           stream),
                  "ncclSend");
      if (layout.recv_bytes[p] > 0)
        CheckNccl(ncclRecv(recv + layout.recv_offset[p], layout.recv_bytes[p], ncclUint8, p, comm_,
                           stream),
                  "ncclRecv");
    }
    const ncclResult_t queued = ncclGroupEnd();
    lock.unlock();
    Enqueued(queued, "ncclGroupEnd");
  }

  cudaStream_t StreamOf(const ExecContext& ctx, bool on_device) const {
    if (on_device && ctx.stream() != nullptr) return static_cast<cudaStream_t>(ctx.stream());
    return own_stream_;
  }

  // Waits for staged host work, failing with the peer's error or at the timeout.
  void Wait(cudaStream_t stream, const std::string& what) {
    comm_cuda::WaitStream(
        stream, Clock::now() + timeout_,
        [&] {
          const ncclResult_t state = AsyncState();
          if (state != ncclSuccess && state != ncclInProgress)
            Abort(what + ": " + ncclGetErrorString(state));
        },
        kName,
        "rank " + std::to_string(rank_) + ": " + what + " " + std::to_string(step_) +
            " did not finish within " + std::to_string(timeout_.count()) +
            " ms (a peer died or is not calling the same collective)");
  }

  // Aborts the communicator (from the watchdog's thread too) and throws; later calls fail
  // with `why`.
  [[noreturn]] void Abort(const std::string& why) {
    AbortQuietly(why);
    RequireHealthy();
    throw PluginError(SY_INTERNAL, "comm.nccl: unreachable");
  }

  void AbortQuietly(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_.empty()) return;
    failed_ = "comm.nccl rank " + std::to_string(rank_) + ": " + why;
    ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  void RequireHealthy() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!failed_.empty()) throw PluginError(SY_UNAVAILABLE, failed_ + " (communicator aborted)");
    if (comm_ == nullptr) throw PluginError(SY_FAILED_PRECONDITION, "comm.nccl: not connected");
  }

  int max_ctas_;
  std::string net_name_;
  int32_t rank_ = 0;
  int world_ = 1;
  int device_ = 0;
  std::chrono::milliseconds timeout_{60000};
  ncclComm_t comm_ = nullptr;
  cudaStream_t own_stream_ = nullptr;  // for host tensors, and device tensors on a CPU context
  comm_cuda::DeviceBuffer send_stage_, recv_stage_;
  std::mutex mutex_;  // comm_, failed_, step_: the watchdog aborts from its thread
  std::string failed_;
  uint64_t step_ = 0;
  std::unique_ptr<Watchdog> watchdog_;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("comm_nccl", "1.0.0",
                 sy::CommComponent<sy::plugins::NcclComm>(
                     "nccl", "all-to-all as NCCL grouped send/recv on the CUDA stream"))
