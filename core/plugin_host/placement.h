// The host's view of a placement scheduler component (EPLB): it observes each engine step's
// per-expert load and now and then proposes a new placement of expert replicas on ranks,
// which is checked against the rules of plugin_abi.h before anything moves.
//
// The host applies a placement between steps: Observe() returns it, the EP runtime copies the
// replicas' weights to their new ranks in the background and switches to the new placement at
// a step boundary, passing the placement in force as `current` meanwhile. Serving never waits
// for the algorithm or for the copies.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_PLACEMENT_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_PLACEMENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/plugin_host/component.h"

namespace sy {

// How the expert slots of every MoE layer lie over the ranks: slot s of a layer on rank
// s / slots_per_rank; num_nodes hosts of num_ranks / num_nodes ranks each.
struct PlacementShape {
  int32_t num_layers = 0;
  int32_t num_experts = 0;
  int32_t num_ranks = 1;
  int32_t num_nodes = 1;
  int32_t slots_per_rank = 0;

  int32_t slots_per_layer() const { return num_ranks * slots_per_rank; }
};

// One logical expert id per slot: [num_layers, slots_per_layer] row-major.
struct Placement {
  PlacementShape shape;
  std::vector<int32_t> slots;

  int32_t expert(int32_t layer, int32_t slot) const {
    return slots[static_cast<size_t>(layer) * shape.slots_per_layer() + slot];
  }
};

// Positive sizes, num_nodes dividing num_ranks, and at least one slot per expert.
absl::Status ValidateShape(const PlacementShape& shape);
// `slots` has the shape's size, every id is an expert, and every expert has a slot in every
// layer. `name` names who made the placement in the error.
absl::Status ValidatePlacement(const Placement& placement, absl::string_view name);

// Fails unless `info` is a scheduler with a placement function: before configuring one with
// placement fields, so a batch scheduler is refused as such rather than for its fields.
absl::Status CheckPlacementScheduler(const ComponentInfo& info);

class PlacementScheduler {
 public:
  // Fails unless `component` is a scheduler with a placement function.
  static absl::StatusOr<PlacementScheduler> From(std::shared_ptr<Component> component);

  // Hands the component one step's load, `step_load` [num_layers, num_experts] tokens per
  // expert, beside the placement in force. Returns the component's new placement when it
  // moved experts (validated), std::nullopt when it kept `current`.
  absl::StatusOr<std::optional<Placement>> Observe(const Placement& current,
                                                   const std::vector<double>& step_load,
                                                   uint64_t step) const;
  const Component& component() const { return *component_; }

 private:
  explicit PlacementScheduler(std::shared_ptr<Component> component)
      : component_(std::move(component)) {}
  std::shared_ptr<Component> component_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_PLACEMENT_H_
