// switchyard serve [--model DIR] [--host H] [--port P] [--scheduler KIND.NAME] [engine options]
#include <cstdio>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/distributed/rank_environment.h"
#include "core/plugin_host/component.h"
#include "core/serving/serve.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"
#include "shells/switchyard/plan_tables.h"
#include "shells/switchyard/serve_plan.h"

namespace sy::cli {
namespace {

struct ServeSettings {
  HttpServerOptions http;
  EngineOptions engine;
  std::string scheduler = "scheduler.continuous";
  int64_t max_batch_tokens = 0;  // 0: the scheduler's default
  int64_t memory_limit = 0;      // bytes the plan may use; 0: all the device has
};

absl::StatusOr<ServeSettings> ReadSettings(const ParsedArgs& args) {
  ServeSettings s;
  s.http.host = args.Get("host", s.http.host);
  s.scheduler = args.Get("scheduler", s.scheduler);
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  SY_ASSIGN_OR_RETURN(s.http.port, args.GetInt("port", s.http.port, 0, 65535));
  SY_ASSIGN_OR_RETURN(s.http.threads, args.GetInt("http-threads", s.http.threads, 1, 4096));
  SY_ASSIGN_OR_RETURN(s.max_batch_tokens,
                      args.GetInt("max-batch-tokens", s.max_batch_tokens, 1, kMax));
  SY_ASSIGN_OR_RETURN(s.engine.kv_blocks, args.GetInt("kv-blocks", s.engine.kv_blocks, 1, kMax));
  SY_ASSIGN_OR_RETURN(s.engine.max_waiting,
                      args.GetInt("max-waiting", s.engine.max_waiting, 1, kMax));
  if (args.Has("memory-limit")) {
    double gb = 0;
    if (!absl::SimpleAtod(args.Get("memory-limit"), &gb) || !(gb > 0) || gb > 1e6) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--memory-limit: expected a size in GB > 0, got '", args.Get("memory-limit"), "'"));
    }
    s.memory_limit = static_cast<int64_t>(gb * 1e9);
  }
  return s;
}

absl::StatusOr<Scheduler> CreateScheduler(const ComponentRegistry& registry,
                                          const ServeSettings& settings) {
  SY_ASSIGN_OR_RETURN(RegisteredComponent found, registry.Find(settings.scheduler));
  ConfigTable config;
  if (settings.max_batch_tokens > 0) {
    config.push_back({"max_batch_tokens", ConfigValue{settings.max_batch_tokens}});
  }
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component,
                      Component::Create(found, ConfigValue{std::move(config)}));
  return Scheduler::From(std::move(component));
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "switchyard serve: %s\n", std::string(status.message()).c_str());
  return 1;
}

// An integer field of the scheduler's config (e.g. maxNumSeqs), or `fallback` when it has none.
int64_t SchedulerSetting(const Scheduler& scheduler, const std::string& field, int64_t fallback) {
  const ConfigValue config = scheduler.component().config().ToValue();
  if (!config.is_table()) return fallback;
  for (const auto& [name, value] : std::get<ConfigTable>(config.value)) {
    if (name == field && value.is_integer()) return std::get<int64_t>(value.value);
  }
  return fallback;
}

// Plans the memory of what is about to load (serve_plan.h). A configuration that cannot fit is
// refused with the plan's figures before any weight is read: returns 1, or 0 to go on.
int CheckMemoryPlan(const ParsedArgs& args, Device device, const Scheduler& scheduler,
                    const ServeSettings& settings) {
  // A scheduler without these settings is planned with the planner's defaults.
  const planning::PlanTarget defaults;
  ServeLoad load;
  load.max_batch_tokens =
      settings.max_batch_tokens > 0
          ? settings.max_batch_tokens
          : SchedulerSetting(scheduler, "maxBatchTokens", defaults.max_batch_tokens);
  load.max_sequences = SchedulerSetting(scheduler, "maxNumSeqs", defaults.concurrency);
  load.engine = settings.engine;
  load.memory_limit = settings.memory_limit;
  auto plan = PlanServe(args, device, load);
  if (!plan.ok()) {
    return Fail(absl::Status(plan.status().code(),
                             absl::StrCat("cannot plan the memory: ", plan.status().message(),
                                          " (--skip-plan-check serves without planning)")));
  }
  if (!plan->Fits()) {
    std::fprintf(stderr,
                 "switchyard serve: refusing to load %s: it does not fit (planned as `switchyard "
                 "plan` plans; --skip-plan-check serves anyway)\n\n%s%s\n%s\n",
                 plan->model.name.c_str(), PlanHeader(*plan).c_str(),
                 PlanMemoryTable(*plan).c_str(),
                 std::string(planning::CheckPlanFits(*plan).message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "plan: %s GB of %s GB (%s): weights %s, KV cache %s; headroom %s GB\n",
               planning::FormatGb(plan->total).c_str(),
               planning::FormatGb(plan->target.gpu.memory_bytes).c_str(),
               plan->target.gpu.display.c_str(), planning::FormatGb(plan->weights.Total()).c_str(),
               planning::FormatGb(plan->kv_cache).c_str(),
               planning::FormatGb(plan->headroom).c_str());
  return 0;
}

// Under launch, every rank refuses a group timeout too short for an idle server's keep-alive
// before it loads anything (Engine::Create would, on rank 0 only and after loading).
absl::Status CheckKeepAlive() {
  SY_ASSIGN_OR_RETURN(const RankInfo info, RankInfoFromEnvironment());
  if (info.world_size < 2) return absl::OkStatus();
  SY_ASSIGN_OR_RETURN(const absl::Duration timeout, TimeoutFromEnvironment(absl::Seconds(60)));
  return KeepAliveInterval(timeout).status();
}

}  // namespace

int ServeCommand(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> spec = {{"host", true},
                                  {"port", true},
                                  {"scheduler", true},
                                  {"max-batch-tokens", true},
                                  {"kv-blocks", true},
                                  {"max-waiting", true},
                                  {"http-threads", true},
                                  {"memory-limit", true},
                                  {"skip-plan-check", false}};
  for (OptionSpec& option : ModelOptionSpecs()) spec.push_back(std::move(option));
  auto args = Parse(argv, spec, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("serve", args.status().message());
  if (args->Has("help")) return PrintUsage("serve");
  if (!args->positional.empty()) return UsageError("serve", "unexpected argument");
  auto settings = ReadSettings(*args);
  if (!settings.ok()) return UsageError("serve", settings.status().message());

  if (absl::Status alive = CheckKeepAlive(); !alive.ok()) return Fail(alive);
  const auto registry = LoadPlugins(*args);
  auto scheduler = CreateScheduler(*registry, *settings);
  if (!scheduler.ok()) return Fail(scheduler.status());
  // The context the model was loaded with stays alive while its network serves.
  auto ctx = CreateContextFromArgs(*args);
  if (!ctx.ok()) return Fail(ctx.status());
  if (!args->Has("skip-plan-check")) {
    if (CheckMemoryPlan(*args, (*ctx)->device(), *scheduler, *settings) != 0) return 1;
  }
  ExpertParallelGroup group;
  auto model = LoadModelFromArgs(*args, *registry, **ctx, &group);
  if (!model.ok()) return Fail(model.status());
  // Ranks other than 0 serve nothing and need no engine (Serve would run the same for them).
  if (group.bootstrap && group.bootstrap->info().rank != 0) {
    if (absl::Status lent = LendExperts(**model, **ctx); !lent.ok()) return Fail(lent);
    return 0;
  }
  auto engine = Engine::Create(std::move(*model), *std::move(scheduler), settings->engine);
  if (!engine.ok()) return Fail(engine.status());
  if (absl::Status served = Serve(**engine, settings->http); !served.ok()) return Fail(served);
  return 0;
}

}  // namespace sy::cli
