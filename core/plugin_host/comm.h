// The host's view of a comm component: joins a group once, then runs the data collectives of
// expert parallelism (all-to-all-v dispatch/combine, all-reduce), every argument checked
// before the plugin sees it, errors naming the component.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_COMM_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_COMM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/tensor/tensor.h"

namespace sy {

class Comm {
 public:
  // Fails unless `component` is a comm component.
  static absl::StatusOr<Comm> From(std::shared_ptr<Component> component);

  // Joins `group` (Bootstrap::comm_group()); once, before anything else.
  absl::Status Connect(ExecContext& ctx, const sy_comm_group& group);
  // All-to-all-v over rows of contiguous tensors on ctx's device (plugin_abi.h): peer p gets
  // send_counts[p] rows of `send` from row send_displs[p], and recv_counts[p] rows from p land
  // in `recv` at row recv_displs[p]. Counts and displacements have world_size entries; without
  // displacements the rows are packed in rank order. Collective.
  absl::Status AllToAll(ExecContext& ctx, const Tensor& send, std::span<const int64_t> send_counts,
                        Tensor& recv, std::span<const int64_t> recv_counts,
                        std::optional<std::span<const int64_t>> send_displs = std::nullopt,
                        std::optional<std::span<const int64_t>> recv_displs = std::nullopt);
  // Sums `data` (contiguous f32 or i64, the same shape on every rank) over the ranks, in place.
  absl::Status AllReduceSum(ExecContext& ctx, Tensor& data);
  // Memory on ctx's device peers write into directly, or nullptr when the backend has none.
  absl::StatusOr<void*> RegisteredBuffer(ExecContext& ctx, size_t bytes);
  // Device memory every rank's kernels reach (plugin_abi.h, 1.5): each rank's base as mapped
  // here (peers[rank] is this rank's) and its size. Empty peers when the backend has none.
  struct PeerMemoryView {
    std::vector<void*> peers;
    size_t bytes = 0;
  };
  absl::StatusOr<PeerMemoryView> PeerMemory(ExecContext& ctx);

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  const Component& component() const { return *component_; }

 private:
  explicit Comm(std::shared_ptr<Component> component) : component_(std::move(component)) {}
  const sy_comm_vtable& vtable() const {
    return *static_cast<const sy_comm_vtable*>(component_->vtable());
  }
  absl::Status RequireConnected(absl::string_view call) const;

  std::shared_ptr<Component> component_;
  int rank_ = 0;
  int world_size_ = 0;  // 0 until connected
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_COMM_H_
