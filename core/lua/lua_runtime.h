// One Lua interpreter with the switchyard module available: runs scripts (`switchyard run`)
// and the interactive shell (`switchyard shell`).
//
// Script errors come back as a Status whose message starts with "file:line:". Lua runs at
// assembly time and in hooks; one LuaRuntime per thread.
#ifndef SWITCHYARD_CORE_LUA_LUA_RUNTIME_H_
#define SWITCHYARD_CORE_LUA_LUA_RUNTIME_H_

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/exec_context.h"
#include "core/lua/lua_module.h"
#include "core/plugin_host/component_registry.h"

struct lua_State;

namespace sy {

class LuaRuntime {
 public:
  // `lua_path` lists folders searched by require (DefaultLuaPath() gives the installed one).
  static absl::StatusOr<std::unique_ptr<LuaRuntime>> Create(
      std::shared_ptr<const ComponentRegistry> registry, const std::vector<std::string>& lua_path);
  ~LuaRuntime();
  LuaRuntime(const LuaRuntime&) = delete;
  LuaRuntime& operator=(const LuaRuntime&) = delete;

  // Runs a script file with `args` as the global `arg` table (arg[0] = path) and as `...`.
  absl::Status RunFile(const std::string& path, const std::vector<std::string>& args);
  // Runs a chunk of code; `chunk_name` appears in error messages.
  absl::Status RunString(const std::string& code, const std::string& chunk_name);
  // A read-eval-print loop over `in`, printing results and errors to `out`. Expressions print
  // their values; incomplete statements continue on the next line. Ends at end of input.
  void RunInteractive(std::istream& in, std::ostream& out, bool show_prompt);

  lua_State* state() const { return L_; }

 private:
  LuaRuntime() = default;
  absl::Status CallChunk(int nargs, int nresults);

  std::shared_ptr<const ComponentRegistry> registry_;
  std::unique_ptr<ExecContext> cpu_;
  lua::HostContext host_{};
  lua_State* L_ = nullptr;
};

// The Lua library folder installed beside the running executable
// (<exe>/../share/switchyard/lua), plus $SWITCHYARD_LUA_PATH entries first.
std::vector<std::string> DefaultLuaPath();

}  // namespace sy

#endif  // SWITCHYARD_CORE_LUA_LUA_RUNTIME_H_
