#include "core/plugin_host/comm.h"

#include <cstddef>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {
namespace {

absl::Status CheckBuffer(const Tensor& t, const char* what, const Device& device) {
  if (!t.defined() || t.ndim() < 1 || !t.is_contiguous()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a contiguous tensor of rows, got ", t.Describe()));
  }
  if (t.device() != device) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is on ", t.device().ToString(),
                                                   ", the call runs on ", device.ToString()));
  }
  return absl::OkStatus();
}

// Counts (and displacements, when given) of one side: world_size entries, none negative, every
// range inside the tensor's rows. Packed counts must fit the rows together.
absl::Status CheckLayout(const char* side, std::span<const int64_t> counts,
                         std::optional<std::span<const int64_t>> displs, int world_size,
                         int64_t rows) {
  if (counts.size() != static_cast<size_t>(world_size) ||
      (displs && displs->size() != static_cast<size_t>(world_size))) {
    return absl::InvalidArgumentError(absl::StrCat(side, " counts and displacements need ",
                                                   world_size, " entries (one per rank), got ",
                                                   counts.size()));
  }
  int64_t total = 0;
  for (int p = 0; p < world_size; ++p) {
    const int64_t start = displs ? (*displs)[p] : total;
    if (counts[p] < 0 || start < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(side, " count or displacement for rank ", p, " is negative"));
    }
    if (start + counts[p] > rows) {
      return absl::InvalidArgumentError(absl::StrCat(side, " rows [", start, ", ",
                                                     start + counts[p], ") for rank ", p,
                                                     " exceed the tensor's ", rows, " rows"));
    }
    total += counts[p];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Comm> Comm::From(std::shared_ptr<Component> component) {
  if (component->kind() != SY_KIND_COMM) {
    return absl::InvalidArgumentError(
        absl::StrCat(component->full_name(), " is not a comm component"));
  }
  return Comm(std::move(component));
}

absl::Status Comm::RequireConnected(absl::string_view call) const {
  if (world_size_ == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(component_->full_name(), ": ", call, " before connect"));
  }
  return absl::OkStatus();
}

absl::Status Comm::Connect(ExecContext& ctx, const sy_comm_group& group) {
  if (world_size_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(component_->full_name(), " is already connected"));
  }
  if (group.world_size < 1 || group.rank < 0 || group.rank >= group.world_size ||
      group.all_gather == nullptr || group.group_id == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(component_->full_name(),
                                                   ": connect: malformed group (rank ", group.rank,
                                                   " of ", group.world_size, ")"));
  }
  SY_RETURN_IF_ERROR(
      TakePluginError(vtable().connect(component_->instance(), ctx.BeginCall(), &group),
                      absl::StrCat(component_->full_name(), ": connect")));
  rank_ = group.rank;
  world_size_ = group.world_size;
  return absl::OkStatus();
}

absl::Status Comm::AllToAll(ExecContext& ctx, const Tensor& send,
                            std::span<const int64_t> send_counts, Tensor& recv,
                            std::span<const int64_t> recv_counts,
                            std::optional<std::span<const int64_t>> send_displs,
                            std::optional<std::span<const int64_t>> recv_displs) {
  SY_RETURN_IF_ERROR(RequireConnected("all_to_all"));
  const std::string name = absl::StrCat(component_->full_name(), ": all_to_all");
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(name, ": ", s.message()));
  };
  if (absl::Status s = CheckBuffer(send, "send", ctx.device()); !s.ok()) return fail(s);
  if (absl::Status s = CheckBuffer(recv, "recv", ctx.device()); !s.ok()) return fail(s);
  const Shape send_row(send.shape().begin() + 1, send.shape().end());
  const Shape recv_row(recv.shape().begin() + 1, recv.shape().end());
  if (send.dtype() != recv.dtype() || NumElements(send_row) != NumElements(recv_row)) {
    return fail(absl::InvalidArgumentError(
        absl::StrCat("send and recv rows differ: ", send.Describe(), " and ", recv.Describe())));
  }
  if (absl::Status s = CheckLayout("send", send_counts, send_displs, world_size_, send.dim(0));
      !s.ok())
    return fail(s);
  if (absl::Status s = CheckLayout("recv", recv_counts, recv_displs, world_size_, recv.dim(0));
      !s.ok())
    return fail(s);
  if (send_counts[rank_] != recv_counts[rank_]) {
    return fail(absl::InvalidArgumentError(absl::StrCat(
        "this rank sends itself ", send_counts[rank_], " rows but expects ", recv_counts[rank_])));
  }
  const sy_tensor c_send = send.ToC();
  sy_tensor c_recv = recv.ToC();
  const sy_comm_all_to_all_args args = {sizeof(sy_comm_all_to_all_args),
                                        &c_send,
                                        send_counts.data(),
                                        send_displs ? send_displs->data() : nullptr,
                                        &c_recv,
                                        recv_counts.data(),
                                        recv_displs ? recv_displs->data() : nullptr};
  return TakePluginError(vtable().all_to_all(component_->instance(), ctx.BeginCall(), &args), name);
}

absl::Status Comm::AllReduceSum(ExecContext& ctx, Tensor& data) {
  SY_RETURN_IF_ERROR(RequireConnected("all_reduce_sum"));
  const std::string name = absl::StrCat(component_->full_name(), ": all_reduce_sum");
  if (absl::Status s = CheckBuffer(data, "data", ctx.device()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(name, ": ", s.message()));
  }
  if (data.dtype() != DType::kF32 && data.dtype() != DType::kI64) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": sums f32 or i64 tensors, got ", data.Describe()));
  }
  sy_tensor c_data = data.ToC();
  return TakePluginError(vtable().all_reduce_sum(component_->instance(), ctx.BeginCall(), &c_data),
                         name);
}

absl::StatusOr<void*> Comm::RegisteredBuffer(ExecContext& ctx, size_t bytes) {
  SY_RETURN_IF_ERROR(RequireConnected("registered_buffer"));
  if (vtable().registered_buffer == nullptr) return nullptr;
  void* out = nullptr;
  SY_RETURN_IF_ERROR(TakePluginError(
      vtable().registered_buffer(component_->instance(), ctx.BeginCall(), bytes, &out),
      absl::StrCat(component_->full_name(), ": registered_buffer")));
  return out;
}

absl::StatusOr<Comm::PeerMemoryView> Comm::PeerMemory(ExecContext& ctx) {
  SY_RETURN_IF_ERROR(RequireConnected("peer_memory"));
  const sy_comm_vtable& v = vtable();
  PeerMemoryView view;
  if (v.struct_size < offsetof(sy_comm_vtable, peer_memory) + sizeof(v.peer_memory) ||
      v.peer_memory == nullptr) {
    return view;
  }
  std::vector<void*> peers(world_size_, nullptr);
  size_t bytes = 0;
  SY_RETURN_IF_ERROR(
      TakePluginError(v.peer_memory(component_->instance(), ctx.BeginCall(), peers.data(), &bytes),
                      absl::StrCat(component_->full_name(), ": peer_memory")));
  if (bytes == 0) return view;
  for (int r = 0; r < world_size_; ++r) {
    if (peers[r] == nullptr) {
      return absl::InternalError(
          absl::StrCat(component_->full_name(), ": peer_memory left rank ", r, "'s address empty"));
    }
  }
  view.peers = std::move(peers);
  view.bytes = bytes;
  return view;
}

}  // namespace sy
