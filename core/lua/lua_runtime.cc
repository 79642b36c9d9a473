#include "core/lua/lua_runtime.h"

#include <lua.hpp>

#include <cstdlib>
#include <filesystem>
#include <istream>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/install_layout.h"
#include "core/base/log.h"
#include "core/base/status.h"

namespace sy {
namespace {

// Message handler for lua_pcall: keeps "file:line: message" as the first line and adds the
// traceback when debug logging is on.
int ErrorHandler(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  if (message == nullptr) {
    message = luaL_tolstring(L, 1, nullptr);  // an error object that is not a string
  }
  if (LogThreshold() == LogLevel::kDebug) {
    luaL_traceback(L, L, message, 1);
  } else {
    lua_pushstring(L, message);
  }
  return 1;
}

bool IsIncomplete(lua_State* L, int status) {
  if (status != LUA_ERRSYNTAX) return false;
  size_t length = 0;
  const char* message = lua_tolstring(L, -1, &length);
  const absl::string_view eof = "<eof>";
  return length >= eof.size() && absl::string_view(message + length - eof.size()) == eof;
}

}  // namespace

std::vector<std::string> DefaultLuaPath() {
  std::vector<std::string> path;
  if (const char* env = std::getenv("SWITCHYARD_LUA_PATH")) {
    for (absl::string_view dir : absl::StrSplit(env, ':', absl::SkipEmpty()))
      path.emplace_back(dir);
  }
  const std::string installed = InstalledPath(SY_LUA_DIR_REL);
  if (!installed.empty()) path.push_back(installed);
  return path;
}

absl::StatusOr<std::unique_ptr<LuaRuntime>> LuaRuntime::Create(
    std::shared_ptr<const ComponentRegistry> registry, const std::vector<std::string>& lua_path) {
  std::unique_ptr<LuaRuntime> runtime(new LuaRuntime());
  runtime->registry_ = std::move(registry);
  SY_ASSIGN_OR_RETURN(runtime->cpu_, ExecContext::Create(Device::Cpu(), 0));
  runtime->host_ = {runtime->registry_.get(), runtime->cpu_.get()};
  runtime->L_ = luaL_newstate();
  if (runtime->L_ == nullptr) return absl::ResourceExhaustedError("cannot create a Lua state");
  lua_State* L = runtime->L_;
  luaL_openlibs(L);
  lua::InstallCoreModule(L, &runtime->host_);

  std::vector<std::string> patterns;
  for (const std::string& dir : lua_path) {
    patterns.push_back(dir + "/?.lua");
    patterns.push_back(dir + "/?/init.lua");
  }
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  const std::string path = absl::StrCat(absl::StrJoin(patterns, ";"), ";", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_pushstring(L, path.c_str());
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  return runtime;
}

LuaRuntime::~LuaRuntime() {
  if (L_ != nullptr) lua_close(L_);
}

absl::Status LuaRuntime::CallChunk(int nargs, int nresults) {
  const int base = lua_gettop(L_) - nargs;
  lua_pushcfunction(L_, ErrorHandler);
  lua_insert(L_, base);
  const int status = lua_pcall(L_, nargs, nresults, base);
  lua_remove(L_, base);
  if (status == LUA_OK) return absl::OkStatus();
  absl::Status error =
      absl::AbortedError(lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "Lua error");
  lua_pop(L_, 1);
  return error;
}

absl::Status LuaRuntime::RunFile(const std::string& path, const std::vector<std::string>& args) {
  // arg[0] is the script, arg[1..n] its arguments (the convention of the lua executable).
  lua_createtable(L_, static_cast<int>(args.size()), 1);
  lua_pushstring(L_, path.c_str());
  lua_rawseti(L_, -2, 0);
  for (size_t i = 0; i < args.size(); ++i) {
    lua_pushstring(L_, args[i].c_str());
    lua_rawseti(L_, -2, static_cast<lua_Integer>(i + 1));
  }
  lua_setglobal(L_, "arg");

  // The script's own folder comes first in package.path, so it can require its neighbours.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  SY_RETURN_IF_ERROR(RunString(
      absl::StrCat("package.path = ", "[[", dir.empty() ? "." : dir, "/?.lua;]] .. package.path"),
      "=package.path"));

  if (luaL_loadfile(L_, path.c_str()) != LUA_OK) {
    absl::Status error = absl::InvalidArgumentError(lua_tostring(L_, -1));
    lua_pop(L_, 1);
    return error;
  }
  for (const std::string& a : args) lua_pushstring(L_, a.c_str());
  return CallChunk(static_cast<int>(args.size()), 0);
}

absl::Status LuaRuntime::RunString(const std::string& code, const std::string& chunk_name) {
  if (luaL_loadbuffer(L_, code.data(), code.size(), chunk_name.c_str()) != LUA_OK) {
    absl::Status error = absl::InvalidArgumentError(lua_tostring(L_, -1));
    lua_pop(L_, 1);
    return error;
  }
  return CallChunk(0, 0);
}

void LuaRuntime::RunInteractive(std::istream& in, std::ostream& out, bool show_prompt) {
  std::string pending;
  std::string line;
  while (true) {
    if (show_prompt) out << (pending.empty() ? "sy> " : "... ") << std::flush;
    if (!std::getline(in, line)) break;
    pending += line;
    // Try the input as an expression first (so "1 + 1" prints 2), then as a statement.
    const std::string as_expression = "return " + pending;
    int status = luaL_loadbuffer(L_, as_expression.data(), as_expression.size(), "=stdin");
    if (status != LUA_OK) {
      lua_pop(L_, 1);
      status = luaL_loadbuffer(L_, pending.data(), pending.size(), "=stdin");
    }
    if (IsIncomplete(L_, status)) {
      lua_pop(L_, 1);
      pending += "\n";
      continue;
    }
    pending.clear();
    if (status != LUA_OK) {
      out << lua_tostring(L_, -1) << "\n";
      lua_pop(L_, 1);
      continue;
    }
    const int top = lua_gettop(L_) - 1;
    if (absl::Status s = CallChunk(0, LUA_MULTRET); !s.ok()) {
      out << s.message() << "\n";
      continue;
    }
    const int results = lua_gettop(L_) - top;
    for (int i = 1; i <= results; ++i) {
      out << luaL_tolstring(L_, top + i, nullptr) << (i < results ? "\t" : "\n");
      lua_pop(L_, 1);
    }
    lua_settop(L_, top);
  }
}

}  // namespace sy
