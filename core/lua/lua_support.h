// The rules every Lua C function in Switchyard follows, as code.
//
// Lua reports errors with longjmp, which skips C++ destructors. So binding bodies never call
// raising luaL_check* functions: they read arguments with the Arg* helpers below, which throw
// LuaError, and every function is registered through Wrap<F>, which catches any exception
// and raises the Lua error only after the C++ frames have unwound. Errors carry the calling
// script's "file:line:" prefix.
#ifndef SWITCHYARD_CORE_LUA_LUA_SUPPORT_H_
#define SWITCHYARD_CORE_LUA_LUA_SUPPORT_H_

#include <lua.hpp>

#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config/config_value.h"

namespace sy::lua {

class LuaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws LuaError with the status message unless `status` is OK.
void ThrowIfError(const absl::Status& status);
template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  ThrowIfError(value.status());
  return *std::move(value);
}

template <lua_CFunction F>
int Wrap(lua_State* L) {
  std::string message;
  try {
    return F(L);
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown C++ exception";
  }
  luaL_where(L, 1);
  lua_pushlstring(L, message.data(), message.size());
  lua_concat(L, 2);
  message.clear();
  message.shrink_to_fit();
  return lua_error(L);
}

// Argument readers; `n` is the 1-based argument index, `what` names it in errors.
std::string ArgString(lua_State* L, int n, const char* what);
lua_Integer ArgInteger(lua_State* L, int n, const char* what);
lua_Number ArgNumber(lua_State* L, int n, const char* what);
void ArgTable(lua_State* L, int n, const char* what);
// Optional variants: the fallback when the argument is nil or absent.
lua_Number OptNumber(lua_State* L, int n, const char* what, lua_Number fallback);

// Fields of an options table at `table` (which may be absent or nil): the fallback when the
// field is nil, an error naming the option when it has another type.
std::string OptionString(lua_State* L, int table, const char* key, const std::string& fallback);
int64_t OptionInteger(lua_State* L, int table, const char* key, int64_t fallback);

// Pushes field `key` of the table at `index` without metamethods (which could raise).
void RawField(lua_State* L, int index, const char* key);

// Creates the metatable `name` with `methods` (which include __gc) as its own __index.
void RegisterMetatable(lua_State* L, const char* name, const luaL_Reg* methods);

// Userdata holding a C++ object, destroyed by __gc. The metatable must be registered.
template <typename T>
T* PushObject(lua_State* L, const char* metatable, T value) {
  void* memory = lua_newuserdatauv(L, sizeof(T), 1);
  T* object = new (memory) T(std::move(value));
  luaL_setmetatable(L, metatable);
  return object;
}

template <typename T>
T& ArgObject(lua_State* L, int n, const char* metatable, const char* what) {
  void* p = luaL_testudata(L, n, metatable);
  if (p == nullptr) {
    throw LuaError(std::string("bad argument #") + std::to_string(n) + " (" + what +
                   "): expected " + metatable + ", got " + luaL_typename(L, n));
  }
  return *static_cast<T*>(p);
}

// Field `key` of the table at `table` as userdata of `metatable`; nullptr when the field is
// nil and not `required` (then an error naming `owner` and the key).
template <typename T>
T* FieldObject(lua_State* L, int table, const char* key, const char* metatable, bool required,
               const char* owner) {
  RawField(L, table, key);
  T* object = nullptr;
  if (!lua_isnil(L, -1)) {
    object = &ArgObject<T>(L, lua_gettop(L), metatable, key);
  } else if (required) {
    lua_pop(L, 1);
    throw LuaError(std::string(owner) + " needs '" + key + "'");
  }
  lua_pop(L, 1);  // the userdata stays alive: the table holds it
  return object;
}

template <typename T>
int DestroyObject(lua_State* L) {
  static_cast<T*>(lua_touserdata(L, 1))->~T();
  return 0;
}

// A Lua value (nil, boolean, number, string, or a table of them) as plain config data. Tables
// with keys 1..n are lists; tables with string keys are tables, visited in key order (Lua
// tables have no order of their own).
ConfigValue ToConfigValue(lua_State* L, int index, const std::string& path = "");
void PushConfigValue(lua_State* L, const ConfigValue& value);

}  // namespace sy::lua

#endif  // SWITCHYARD_CORE_LUA_LUA_SUPPORT_H_
