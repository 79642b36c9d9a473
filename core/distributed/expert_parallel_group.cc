#include "core/distributed/expert_parallel_group.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/moe/online_rebalancer.h"

namespace sy {
namespace {

// The placement scheduler, configured with the window and interval the host measures by.
absl::StatusOr<std::shared_ptr<OnlineRebalancer>> CreateRebalancer(
    const ComponentRegistry& registry, const ExpertParallelOptions& options) {
  SY_ASSIGN_OR_RETURN(RegisteredComponent found, registry.Find(options.placement_scheduler));
  SY_RETURN_IF_ERROR(CheckPlacementScheduler(*found.info));
  const ConfigValue config{
      ConfigTable{{"window_steps", ConfigValue{options.rebalance_window}},
                  {"interval_steps", ConfigValue{options.rebalance_interval}}}};
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component, Component::Create(found, config));
  SY_ASSIGN_OR_RETURN(PlacementScheduler scheduler, PlacementScheduler::From(std::move(component)));
  return std::make_shared<OnlineRebalancer>(
      std::move(scheduler), RebalanceOptions{.window_steps = options.rebalance_window,
                                             .interval_steps = options.rebalance_interval});
}

}  // namespace

absl::StatusOr<ExpertParallelGroup> JoinExpertParallelGroup(const RankInfo& info,
                                                            const ModelConfig& config,
                                                            const ComponentRegistry& registry,
                                                            const ExpertParallelOptions& options,
                                                            ExecContext& ctx) {
  if (options.redundant_slots < 0) {
    return absl::InvalidArgumentError("redundant expert slots must not be negative");
  }
  if (options.rebalance_interval < 0 || options.rebalance_window < 1) {
    return absl::InvalidArgumentError(
        "the rebalancing interval must not be negative and the window must be at least 1 step");
  }
  // Before joining: a bad scheduler or config fails at once rather than after the others wait.
  std::shared_ptr<OnlineRebalancer> rebalancer;
  if (options.rebalance_interval > 0) {
    SY_ASSIGN_OR_RETURN(rebalancer, CreateRebalancer(registry, options));
  }
  ExpertParallelGroup group;
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Bootstrap> bootstrap, Bootstrap::Join(info, options.timeout));
  group.bootstrap = std::move(bootstrap);

  SY_ASSIGN_OR_RETURN(RegisteredComponent found, registry.Find(options.comm));
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component, Component::Create(found, {}));
  SY_ASSIGN_OR_RETURN(Comm comm, Comm::From(std::move(component)));
  SY_RETURN_IF_ERROR(comm.Connect(ctx, *group.bootstrap->comm_group()));

  PlacementShape shape;
  for (int64_t l = 0; l < config.num_hidden_layers; ++l) shape.num_layers += config.IsMoeLayer(l);
  shape.num_experts = static_cast<int32_t>(config.num_experts);
  shape.num_ranks = info.world_size;
  shape.num_nodes = info.num_nodes;
  shape.slots_per_rank =
      static_cast<int32_t>((config.num_experts + info.world_size - 1) / info.world_size) +
      options.redundant_slots;
  SY_ASSIGN_OR_RETURN(ExpertPlacement placement, ExpertPlacement::Initial(shape));

  auto ep = std::make_shared<ExpertParallelism>();
  ep->comm = std::make_shared<Comm>(std::move(comm));
  ep->placement = std::make_shared<const ExpertPlacement>(std::move(placement));
  ep->rebalancer = std::move(rebalancer);
  ep->dispatch_dtype = options.dispatch_dtype;
  ep->timeout = options.timeout;
  group.expert_parallel = std::move(ep);
  return group;
}

}  // namespace sy
