#include "core/distributed/expert_parallel_group.h"

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {

absl::StatusOr<ExpertParallelGroup> JoinExpertParallelGroup(const RankInfo& info,
                                                            const ModelConfig& config,
                                                            const ComponentRegistry& registry,
                                                            const ExpertParallelOptions& options,
                                                            ExecContext& ctx) {
  if (options.redundant_slots < 0) {
    return absl::InvalidArgumentError("redundant expert slots must not be negative");
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
  group.expert_parallel = std::move(ep);
  return group;
}

}  // namespace sy
