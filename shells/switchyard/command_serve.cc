// switchyard serve [--model DIR] [--host H] [--port P] [--scheduler KIND.NAME] [engine options]
#include <cstdio>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/plugin_host/component.h"
#include "core/serving/serve.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"

namespace sy::cli {
namespace {

// "--name N" as an integer in [min, max], or a usage error naming the option.
absl::Status ReadInteger(const ParsedArgs& args, const std::string& name, int64_t min, int64_t max,
                         int64_t& out) {
  if (!args.Has(name)) return absl::OkStatus();
  int64_t value = 0;
  if (!absl::SimpleAtoi(args.Get(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected an integer in [", min,
                                                   ", ", max, "], got '", args.Get(name), "'"));
  }
  out = value;
  return absl::OkStatus();
}

struct ServeSettings {
  HttpServerOptions http;
  EngineOptions engine;
  std::string scheduler = "scheduler.continuous";
  int64_t max_batch_tokens = 0;  // 0: the scheduler's default
};

absl::StatusOr<ServeSettings> ReadSettings(const ParsedArgs& args) {
  ServeSettings s;
  s.http.host = args.Get("host", s.http.host);
  s.scheduler = args.Get("scheduler", s.scheduler);
  int64_t port = s.http.port;
  int64_t threads = s.http.threads;
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  SY_RETURN_IF_ERROR(ReadInteger(args, "port", 0, 65535, port));
  SY_RETURN_IF_ERROR(ReadInteger(args, "http-threads", 1, 4096, threads));
  SY_RETURN_IF_ERROR(ReadInteger(args, "max-batch-tokens", 1, kMax, s.max_batch_tokens));
  SY_RETURN_IF_ERROR(ReadInteger(args, "kv-blocks", 1, kMax, s.engine.kv_blocks));
  SY_RETURN_IF_ERROR(ReadInteger(args, "max-waiting", 1, kMax, s.engine.max_waiting));
  s.http.port = static_cast<int>(port);
  s.http.threads = static_cast<int>(threads);
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

}  // namespace

int ServeCommand(const std::vector<std::string>& argv) {
  std::vector<OptionSpec> spec = {
      {"host", true},      {"port", true},        {"scheduler", true},   {"max-batch-tokens", true},
      {"kv-blocks", true}, {"max-waiting", true}, {"http-threads", true}};
  for (OptionSpec& option : ModelOptionSpecs()) spec.push_back(std::move(option));
  auto args = Parse(argv, spec, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("serve", args.status().message());
  if (args->Has("help")) return PrintUsage("serve");
  if (!args->positional.empty()) return UsageError("serve", "unexpected argument");
  auto settings = ReadSettings(*args);
  if (!settings.ok()) return UsageError("serve", settings.status().message());

  const auto registry = LoadPlugins(*args);
  auto scheduler = CreateScheduler(*registry, *settings);
  if (!scheduler.ok()) return Fail(scheduler.status());
  // The context the model was loaded with stays alive while its network serves.
  auto ctx = CreateContextFromArgs(*args);
  if (!ctx.ok()) return Fail(ctx.status());
  auto model = LoadModelFromArgs(*args, *registry, **ctx);
  if (!model.ok()) return Fail(model.status());
  auto engine = Engine::Create(std::move(*model), *std::move(scheduler), settings->engine);
  if (!engine.ok()) return Fail(engine.status());
  if (absl::Status served = Serve(**engine, settings->http); !served.ok()) return Fail(served);
  return 0;
}

}  // namespace sy::cli
