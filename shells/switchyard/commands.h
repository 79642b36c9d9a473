// The switchyard subcommands. Each returns the process exit code: 0 success, 1 failure,
// 2 bad usage.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_COMMANDS_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_COMMANDS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/plugin_host/component_registry.h"
#include "shells/switchyard/command_line.h"

namespace sy::cli {

struct Command {
  const char* name;
  const char* summary;
  const char* usage;  // the full --help text
  int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& Commands();

int RunCommand(const std::vector<std::string>& args);      // command_run.cc
int ShellCommand(const std::vector<std::string>& args);    // command_shell.cc
int PluginsCommand(const std::vector<std::string>& args);  // command_plugins.cc
int BenchCommand(const std::vector<std::string>& args);    // command_bench.cc
int GenerateCommand(const std::vector<std::string>& args); // command_generate.cc
int MakeModelCommand(const std::vector<std::string>& args);  // command_make_model.cc
int PerplexityCommand(const std::vector<std::string>& args); // command_perplexity.cc
int PlanCommand(const std::vector<std::string>& args);       // command_plan.cc
int AbCommand(const std::vector<std::string>& args);         // command_ab.cc
int ServeCommand(const std::vector<std::string>& args);      // command_serve.cc
int LaunchCommand(const std::vector<std::string>& args);     // command_launch.cc
int CommCheckCommand(const std::vector<std::string>& args);  // command_comm_check.cc
extern const char kLaunchUsage[];     // command_launch.cc
extern const char kCommCheckUsage[];  // command_comm_check.cc

// Applies the common options (--log, --plugin-path) and discovers plugins. With
// `warn_skipped`, libraries that failed to load are reported on stderr as warnings.
std::shared_ptr<ComponentRegistry> LoadPlugins(const ParsedArgs& args, bool warn_skipped = true);
// Prints "switchyard NAME: message" and the usage hint; returns 2.
int UsageError(const char* command, absl::string_view message);
// Prints the command's usage text; returns 0.
int PrintUsage(const char* command);

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_COMMANDS_H_
