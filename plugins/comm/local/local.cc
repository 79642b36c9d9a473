// comm.local: the communication backend of a world of one rank. all_to_all copies this rank's
// rows to itself, all_reduce_sum is the identity; connecting to a larger group is refused. It
// lets a pipeline written for expert parallelism run unchanged on one process.
#include <cstring>
#include <string>

#include "local.capnp.h"
#include "switchyard/comm_support.hpp"
#include "switchyard/dtype.hpp"
#include "switchyard/plugin.hpp"
#include "switchyard/tensor_view.hpp"
#if SY_COMM_LOCAL_CUDA
#include <cuda_runtime_api.h>
#endif

namespace sy::plugins {
namespace {

void CopyRows(const ExecContext& ctx, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (ctx.device().type == SY_DEVICE_CPU) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if SY_COMM_LOCAL_CUDA
  auto stream = static_cast<cudaStream_t>(ctx.stream());
  cudaError_t err = cudaSetDevice(ctx.device().index);
  if (err == cudaSuccess) err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw PluginError(SY_INTERNAL,
                      std::string("comm.local: cudaMemcpyAsync: ") + cudaGetErrorString(err));
  }
#else
  throw PluginError(SY_FAILED_PRECONDITION,
                    "comm.local was built without CUDA; it copies CPU tensors only");
#endif
}

class LocalComm : public Comm {
 public:
  using Config = LocalConfig;
  explicit LocalComm(Config::Reader) {}
  // The best choice for a world of 1 (no copies through anything), useless in a larger one.
  static int32_t Score(const sy_host*) { return TopologyFromEnv().world_size == 1 ? 100 : 0; }

  void Connect(const ExecContext&, const sy_comm_group& group) override {
    if (group.world_size != 1) {
      throw PluginError(SY_FAILED_PRECONDITION,
                        "comm.local runs a world of 1 rank; this group has " +
                            std::to_string(group.world_size) +
                            " (pick a backend that connects processes, e.g. comm.pcie)");
    }
    connected_ = true;
  }

  void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) override {
    RequireConnected();
    const TensorView send(*args.send);
    const int64_t row = static_cast<int64_t>(comm_internal::RowBytes(*args.send));
    if (args.send_counts[0] != args.recv_counts[0]) {
      throw std::invalid_argument("comm.local: send and recv counts differ");
    }
    const int64_t from = args.send_displs ? args.send_displs[0] : 0;
    const int64_t to = args.recv_displs ? args.recv_displs[0] : 0;
    CopyRows(ctx, static_cast<char*>(args.recv->data) + to * row,
             static_cast<const char*>(args.send->data) + from * row,
             static_cast<size_t>(args.send_counts[0] * row));
  }

  void AllReduceSum(const ExecContext&, sy_tensor&) override { RequireConnected(); }

 private:
  void RequireConnected() const {
    if (!connected_) throw PluginError(SY_FAILED_PRECONDITION, "comm.local: not connected");
  }
  bool connected_ = false;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN(
    "local", "1.0.0",
    sy::CommComponent<sy::plugins::LocalComm>(
        "local", "A world of one rank: all-to-all copies to itself, all-reduce is the identity"))
