// switchyard plugins [--describe KIND.NAME]
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

std::string FormatBound(const std::optional<double>& bound) {
  return bound ? absl::StrCat(*bound) : "";
}

int Describe(const ComponentRegistry& registry, const std::string& name) {
  auto found = registry.Find(name);
  if (!found.ok()) {
    std::fprintf(stderr, "switchyard plugins: %s\n", std::string(found.status().message()).c_str());
    return 1;
  }
  const ComponentInfo& info = *found->info;
  std::printf("%s  (%s %s, score %d)\n  %s\n  library: %s\n\n", info.full_name.c_str(),
              found->library->name().c_str(), found->library->version().c_str(), found->score,
              info.description.c_str(), found->library->path().c_str());
  TextTable table({"FIELD", "TYPE", "DEFAULT", "RANGE", "DESCRIPTION"});
  for (const ConfigFieldInfo& f : info.config.Fields()) {
    std::string range;
    if (f.min || f.max)
      range = absl::StrCat("[", FormatBound(f.min), ", ", FormatBound(f.max), "]");
    std::string doc = f.doc;
    if (!f.union_of.empty()) doc = absl::StrCat("(one of ", f.union_of, ") ", doc);
    table.AddRow({f.name, f.type, f.default_value, range, doc});
  }
  std::printf("%s", table.Render().c_str());
  return 0;
}

int List(const ComponentRegistry& registry) {
  TextTable table({"KIND", "NAME", "PLUGIN", "VERSION", "SCORE", "LIBRARY"});
  for (const RegisteredComponent& c : registry.List()) {
    table.AddRow({std::string(KindName(c.info->kind)), c.info->name, c.library->name(),
                  c.library->version(), absl::StrCat(c.score), c.library->path()});
  }
  std::printf("%s", table.Render().c_str());
  if (!registry.load_errors().empty()) {
    std::printf("\nProblems loading %zu plugin librar%s (what they name was skipped):\n",
                registry.load_errors().size(), registry.load_errors().size() == 1 ? "y" : "ies");
    for (const PluginLoadError& e : registry.load_errors())
      std::printf("  %s\n", e.message.c_str());
  }
  return 0;
}

}  // namespace

int PluginsCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv, {{"describe", true}}, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("plugins", args.status().message());
  if (args->Has("help")) return PrintUsage("plugins");
  if (!args->positional.empty()) return UsageError("plugins", "takes no positional arguments");
  const auto registry = LoadPlugins(*args, /*warn_skipped=*/false);  // listed in the summary
  return args->Has("describe") ? Describe(*registry, args->Get("describe")) : List(*registry);
}

}  // namespace sy::cli
