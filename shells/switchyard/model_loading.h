// Loading the model a command works on: --model DIR (default: the built-in model), with
// --router, --quantizer and --experts, and a progress bar on stderr.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_MODEL_LOADING_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_MODEL_LOADING_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/device/device.h"
#include "core/distributed/expert_parallel_group.h"
#include "core/model/language_model.h"
#include "shells/switchyard/command_line.h"

// The help text describing those options, a literal so usage texts can splice it in.
#define SY_MODEL_OPTIONS_HELP                                                                     \
  "  --model DIR          a Hugging Face folder (config.json, *.safetensors, tokenizer.json:\n"   \
  "                       Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE); default: the built-in\n"         \
  "                       model (share/switchyard/models/pydoc-moe)\n"                            \
  "  --router K.N         every MoE layer's router (default: the architecture's; others\n"        \
  "                       get k = the model's top-k, e.g. router.hash)\n"                         \
  "  --quantizer K.N      convert the expert weights at load (e.g. quantizer.int8)\n"             \
  "  --experts K.N        the experts component (default experts.cpu: the model runs on the "     \
  "CPU)\n"                                                                                        \
  "  --comm K.N           under `switchyard launch`: the expert-parallel backend (default\n"      \
  "                       comm.auto: the best that scores here, e.g. comm.pcie, comm.ucx)\n"      \
  "  --redundant-experts N  under launch: extra expert slots per rank (replicas)\n"               \
  "  --dispatch-dtype D   under launch: how hidden rows travel to the experts: f32\n"             \
  "                       (CPU default, exact), bf16 (half the bytes; the GPU's default, which\n" \
  "                       is what its experts read) or fp8 (e4m3 + an f32 scale per 128\n"        \
  "                       values: ~1/4); expert results return as f32\n"                          \
  "  --rebalance-interval N  under launch: every N steps, move experts between the ranks to\n"    \
  "                       even their load (online EPLB; default 0 = off)\n"                       \
  "  --rebalance-window N  steps of expert load a rebalance looks at (default 1000)\n"            \
  "  --placement-scheduler K.N  with --rebalance-interval: the placement scheduler\n"             \
  "                       (default scheduler.eplb)\n"                                             \
  "  --device D           cpu (default) or cuda[:N]: the whole model on that GPU, bf16\n"         \
  "                       (Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V3; the architecture's\n"        \
  "                       router)\n"                                                              \
  "  --weights random     with --device cuda: weights synthesized on the GPU from the\n"          \
  "                       config of --model, a folder or a preset (mixtral-8x7b,\n"               \
  "                       qwen3-30b-a3b, ...; tokenizer: the folder's or the built-in one)\n"     \
  "  --layers N           with --weights random: only the config's first N decoder layers\n"      \
  "                       (a model larger than the GPU, cut to what fits)\n"

namespace sy::cli {

// The option specs commands that load a model accept: those SY_MODEL_OPTIONS_HELP describes.
std::vector<OptionSpec> ModelOptionSpecs();

// The device a --device value names for the rank at `local_rank` on its host: plain "cuda" is
// each rank its own GPU (its local rank, wrapping around, so ranks share GPUs when there are
// fewer); "cuda:N" is GPU N for every rank. An error names a device this machine does not have.
absl::StatusOr<Device> RankDevice(absl::string_view option, int local_rank);

// The execution context of --device (default cpu) for this process's rank (RankDevice): the
// model loads and runs there.
absl::StatusOr<std::unique_ptr<ExecContext>> CreateContextFromArgs(const ParsedArgs& args);

// Under `switchyard launch` (the environment names more than one rank) the model loads
// expert-parallel: this process joins the group into `group`, which must outlive the model; a
// command that passes no `group` refuses to run under launch, saying so.
absl::StatusOr<std::unique_ptr<LanguageModel>> LoadModelFromArgs(
    const ParsedArgs& args, const ComponentRegistry& registry, ExecContext& ctx,
    ExpertParallelGroup* group = nullptr);

// With online rebalancing (--rebalance-interval): "eplb: 3 rebalances in 25 steps; …" and the last
// rebalance's imbalance before -> after; empty otherwise.
std::string RebalanceSummary(const ExpertParallelGroup& group);

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_MODEL_LOADING_H_
