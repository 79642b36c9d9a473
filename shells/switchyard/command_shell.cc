// switchyard shell: a Lua read-eval-print loop with `sy` bound to the switchyard module.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "core/lua/lua_runtime.h"
#include "shells/switchyard/commands.h"

namespace sy::cli {

int ShellCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv, {}, /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("shell", args.status().message());
  if (args->Has("help")) return PrintUsage("shell");
  if (!args->positional.empty())
    return UsageError("shell", "takes no arguments (use 'switchyard run' for scripts)");

  auto runtime = LuaRuntime::Create(LoadPlugins(*args), DefaultLuaPath());
  if (!runtime.ok()) {
    std::fprintf(stderr, "switchyard shell: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  if (absl::Status s = (*runtime)->RunString("sy = require 'switchyard'", "=shell"); !s.ok()) {
    std::fprintf(stderr, "switchyard shell: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) {
    std::cout << "switchyard " << SY_VERSION
              << " Lua shell; `sy` is the switchyard module. Ctrl-D exits.\n";
  }
  (*runtime)->RunInteractive(std::cin, std::cout, interactive);
  if (interactive) std::cout << "\n";
  return 0;
}

}  // namespace sy::cli
