// switchyard run SCRIPT.lua [ARGS...]
#include <cstdio>

#include "core/lua/lua_runtime.h"
#include "shells/switchyard/commands.h"

namespace sy::cli {

int RunCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv, {}, /*stop_at_positional=*/true);
  if (!args.ok()) return UsageError("run", args.status().message());
  if (args->Has("help")) return PrintUsage("run");
  if (args->positional.empty()) return UsageError("run", "missing SCRIPT.lua");

  auto runtime = LuaRuntime::Create(LoadPlugins(*args), DefaultLuaPath());
  if (!runtime.ok()) {
    std::fprintf(stderr, "switchyard run: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  const std::string script = args->positional[0];
  const std::vector<std::string> script_args(args->positional.begin() + 1, args->positional.end());
  if (absl::Status s = (*runtime)->RunFile(script, script_args); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace sy::cli
