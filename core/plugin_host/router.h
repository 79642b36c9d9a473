// The host's view of a router component: route logits to top-k experts, with every output
// checked before anyone uses it.
#ifndef SWITCHYARD_CORE_PLUGIN_HOST_ROUTER_H_
#define SWITCHYARD_CORE_PLUGIN_HOST_ROUTER_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/plugin_host/component.h"
#include "core/tensor/tensor.h"

namespace sy {

struct RouterOutput {
  Tensor expert_ids;      // [tokens, k] i32; -1 = dropped
  Tensor expert_weights;  // [tokens, k] f32
};

struct RouterInputs {
  RouterInputs() = default;
  RouterInputs(Tensor logits, std::optional<Tensor> token_ids = std::nullopt,
               std::optional<Tensor> correction_bias = std::nullopt)
      : logits(std::move(logits)),
        token_ids(std::move(token_ids)),
        correction_bias(std::move(correction_bias)) {}

  Tensor logits;                          // [tokens, experts] f32 or bf16
  std::optional<Tensor> token_ids;        // [tokens] i32
  std::optional<Tensor> correction_bias;  // [experts] f32
};

// Checks a CPU routing result over `experts` experts: ids in [-1, experts), finite weights,
// weight 0 in dropped (-1) slots. `name` names the router in the error.
absl::Status ValidateRouterOutput(const RouterOutput& out, int64_t experts, absl::string_view name);

class Router {
 public:
  // Fails unless `component` is a router.
  static absl::StatusOr<Router> From(std::shared_ptr<Component> component);

  int top_k() const;
  // Runs the router. Outputs live on the context's device; on the CPU they are checked:
  // ids in [-1, experts), weights finite, dropped slots weighted 0.
  absl::StatusOr<RouterOutput> Route(ExecContext& ctx, const RouterInputs& inputs) const;
  const Component& component() const { return *component_; }

 private:
  explicit Router(std::shared_ptr<Component> component) : component_(std::move(component)) {}
  const sy_router_vtable& vtable() const {
    return *static_cast<const sy_router_vtable*>(component_->vtable());
  }

  std::shared_ptr<Component> component_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_PLUGIN_HOST_ROUTER_H_
