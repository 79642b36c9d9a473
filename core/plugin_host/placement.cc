#include "core/plugin_host/placement.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/host_api.h"

namespace sy {

absl::Status ValidateShape(const PlacementShape& s) {
  if (s.num_layers < 1 || s.num_experts < 1 || s.num_ranks < 1 || s.num_nodes < 1 ||
      s.slots_per_rank < 1 || s.num_ranks % s.num_nodes != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "placement shape: ", s.num_layers, " layers, ", s.num_experts, " experts, ", s.num_ranks,
        " ranks on ", s.num_nodes, " nodes, ", s.slots_per_rank,
        " slots per rank: every size must be positive and the nodes must divide the ranks"));
  }
  if (s.slots_per_layer() < s.num_experts) {
    return absl::InvalidArgumentError(absl::StrCat(s.num_ranks, " ranks of ", s.slots_per_rank,
                                                   " slots cannot hold ", s.num_experts,
                                                   " experts"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePlacement(const Placement& p, absl::string_view name) {
  SY_RETURN_IF_ERROR(ValidateShape(p.shape));
  const int32_t width = p.shape.slots_per_layer();
  if (p.slots.size() != static_cast<size_t>(p.shape.num_layers) * width) {
    return absl::InternalError(absl::StrCat(name, " placed ", p.slots.size(), " slots; ",
                                            p.shape.num_layers, " layers have ",
                                            p.shape.num_layers * width));
  }
  std::vector<int32_t> replicas(p.shape.num_experts);
  for (int32_t layer = 0; layer < p.shape.num_layers; ++layer) {
    std::fill(replicas.begin(), replicas.end(), 0);
    for (int32_t slot = 0; slot < width; ++slot) {
      const int32_t e = p.expert(layer, slot);
      if (e < 0 || e >= p.shape.num_experts) {
        return absl::InternalError(absl::StrCat(name, " put expert ", e, " in layer ", layer,
                                                " slot ", slot, "; experts are 0..",
                                                p.shape.num_experts - 1));
      }
      ++replicas[e];
    }
    for (int32_t e = 0; e < p.shape.num_experts; ++e) {
      if (replicas[e] == 0) {
        return absl::InternalError(
            absl::StrCat(name, " left expert ", e, " of layer ", layer, " without a slot"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPlacementScheduler(const ComponentInfo& info) {
  if (info.kind != SY_KIND_SCHEDULER) {
    return absl::InvalidArgumentError(absl::StrCat(info.full_name, " is not a scheduler"));
  }
  // A 1.2 vtable ends before `place`.
  const auto* vtable = static_cast<const sy_scheduler_vtable*>(info.desc->vtable);
  if (vtable->struct_size < sizeof(sy_scheduler_vtable) || vtable->place == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(info.full_name,
                     " is a batch scheduler; expert placement needs a placement scheduler "
                     "(e.g. scheduler.eplb)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PlacementScheduler> PlacementScheduler::From(std::shared_ptr<Component> component) {
  SY_RETURN_IF_ERROR(CheckPlacementScheduler(component->info()));
  return PlacementScheduler(std::move(component));
}

absl::StatusOr<std::optional<Placement>> PlacementScheduler::Observe(
    const Placement& current, const std::vector<double>& step_load, uint64_t step) const {
  SY_RETURN_IF_ERROR(ValidatePlacement(current, "the current placement"));
  const PlacementShape& s = current.shape;
  if (step_load.size() != static_cast<size_t>(s.num_layers) * s.num_experts) {
    return absl::InvalidArgumentError(absl::StrCat("step load has ", step_load.size(),
                                                   " entries; expected ", s.num_layers,
                                                   " layers x ", s.num_experts, " experts"));
  }
  const sy_placement_state state = {
      sizeof(sy_placement_state), s.num_layers,     s.num_experts,        s.num_ranks, s.num_nodes,
      s.slots_per_rank,           step_load.data(), current.slots.data(), step};
  Placement next{s, current.slots};
  sy_placement_decision out = {sizeof(sy_placement_decision), next.slots.data(), 0};
  const auto* vtable = static_cast<const sy_scheduler_vtable*>(component_->vtable());
  SY_RETURN_IF_ERROR(TakePluginError(vtable->place(component_->instance(), &state, &out),
                                     absl::StrCat(component_->full_name(), ": place")));
  if (out.changed == 0) return std::nullopt;
  SY_RETURN_IF_ERROR(ValidatePlacement(next, component_->full_name()));
  return next;
}

}  // namespace sy
