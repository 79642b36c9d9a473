// Joining an expert-parallel group for a model: the bootstrap connection to rank 0, a comm
// component connected over it, and the starting placement of the model's experts on the ranks
// (each rank ceil(experts / ranks) slots plus any redundant ones), with the rebalancer that moves
// them online when asked for. What ModelOptions takes.
#ifndef SWITCHYARD_CORE_DISTRIBUTED_EXPERT_PARALLEL_GROUP_H_
#define SWITCHYARD_CORE_DISTRIBUTED_EXPERT_PARALLEL_GROUP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/distributed/bootstrap.h"
#include "core/distributed/rank_environment.h"
#include "core/model/model_config.h"
#include "core/moe/expert_parallel.h"
#include "core/plugin_host/component_registry.h"

namespace sy {

struct ExpertParallelOptions {
  std::string comm = "comm.auto";  // the backend, by kind.name
  int redundant_slots = 0;         // extra expert slots on every rank (replicas of hot experts)
  // How dispatched hidden rows travel (expert_parallel.h); the combine is always f32.
  DispatchDType dispatch_dtype = DispatchDType::kF32;
  // Joining, and each collective; commands pass SWITCHYARD_TIMEOUT (launch --timeout) here.
  absl::Duration timeout = absl::Seconds(60);
  // Online rebalancing (core/moe/online_rebalancer.h): every rebalance_interval steps the
  // placement scheduler may move experts, from the load of the last rebalance_window steps;
  // 0 = off. The component gets {window_steps, interval_steps} as its config.
  int64_t rebalance_interval = 0;
  int64_t rebalance_window = 1000;
  std::string placement_scheduler = "scheduler.eplb";
};

struct ExpertParallelGroup {
  std::shared_ptr<Bootstrap> bootstrap;
  std::shared_ptr<const ExpertParallelism> expert_parallel;
};

// Joins the group `info` describes and connects `options.comm` for a model of `config`.
// Collective. Errors name the backend, MASTER_ADDR:MASTER_PORT or the rank that failed.
absl::StatusOr<ExpertParallelGroup> JoinExpertParallelGroup(const RankInfo& info,
                                                            const ModelConfig& config,
                                                            const ComponentRegistry& registry,
                                                            const ExpertParallelOptions& options,
                                                            ExecContext& ctx);

}  // namespace sy

#endif  // SWITCHYARD_CORE_DISTRIBUTED_EXPERT_PARALLEL_GROUP_H_
