#include "core/lua/lua_support.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace sy::lua {
namespace {

constexpr int kMaxConfigDepth = 32;

std::string ArgError(lua_State* L, int n, const char* what, const char* expected) {
  return absl::StrCat("bad argument #", n, " (", what, "): expected ", expected, ", got ",
                      luaL_typename(L, n));
}

ConfigValue ValueAt(lua_State* L, int index, const std::string& path, int depth);

ConfigValue TableToConfigValue(lua_State* L, int index, const std::string& path, int depth) {
  if (depth > kMaxConfigDepth)
    throw LuaError(absl::StrCat("config '", path, "' is nested too deeply"));
  index = lua_absindex(L, index);
  std::vector<std::string> string_keys;
  std::vector<lua_Integer> integer_keys;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);  // the value; keep the key for lua_next
    if (lua_type(L, -1) == LUA_TSTRING) {
      string_keys.emplace_back(lua_tostring(L, -1));
    } else if (lua_isinteger(L, -1)) {
      integer_keys.push_back(lua_tointeger(L, -1));
    } else {
      lua_pop(L, 1);
      throw LuaError(absl::StrCat("config table '", path,
                                  "' has a key that is neither a string nor an integer"));
    }
  }
  if (!string_keys.empty() && !integer_keys.empty()) {
    throw LuaError(absl::StrCat("config table '", path, "' mixes list items and named fields"));
  }
  if (!integer_keys.empty()) {
    std::sort(integer_keys.begin(), integer_keys.end());
    ConfigList list;
    for (size_t i = 0; i < integer_keys.size(); ++i) {
      if (integer_keys[i] != static_cast<lua_Integer>(i + 1)) {
        throw LuaError(
            absl::StrCat("config list '", path, "' has a hole or a key other than 1..n"));
      }
      lua_rawgeti(L, index, integer_keys[i]);
      list.push_back(ValueAt(L, -1, absl::StrCat(path, "[", i + 1, "]"), depth + 1));
      lua_pop(L, 1);
    }
    return {list};
  }
  std::sort(string_keys.begin(), string_keys.end());
  ConfigTable table;
  for (const std::string& key : string_keys) {
    lua_pushlstring(L, key.data(), key.size());
    lua_rawget(L, index);
    table.emplace_back(
        key, ValueAt(L, -1, path.empty() ? key : absl::StrCat(path, ".", key), depth + 1));
    lua_pop(L, 1);
  }
  return {table};
}

ConfigValue ValueAt(lua_State* L, int index, const std::string& path, int depth) {
  switch (lua_type(L, index)) {
    case LUA_TNONE:
    case LUA_TNIL:
      return {};
    case LUA_TBOOLEAN:
      return {lua_toboolean(L, index) != 0};
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return {static_cast<int64_t>(lua_tointeger(L, index))};
      return {static_cast<double>(lua_tonumber(L, index))};
    case LUA_TSTRING:
      return {std::string(lua_tostring(L, index))};
    case LUA_TTABLE:
      return TableToConfigValue(L, index, path, depth);
    default:
      throw LuaError(absl::StrCat("config value '", path, "' is a ", luaL_typename(L, index),
                                  "; only nil, booleans, numbers, strings and tables are allowed"));
  }
}

}  // namespace

void ThrowIfError(const absl::Status& status) {
  if (!status.ok()) throw LuaError(std::string(status.message()));
}

std::string ArgString(lua_State* L, int n, const char* what) {
  if (lua_type(L, n) != LUA_TSTRING) throw LuaError(ArgError(L, n, what, "string"));
  size_t size = 0;
  const char* s = lua_tolstring(L, n, &size);
  return std::string(s, size);
}

lua_Integer ArgInteger(lua_State* L, int n, const char* what) {
  int ok = 0;
  const lua_Integer value = lua_tointegerx(L, n, &ok);
  if (!ok) throw LuaError(ArgError(L, n, what, "integer"));
  return value;
}

lua_Number ArgNumber(lua_State* L, int n, const char* what) {
  int ok = 0;
  const lua_Number value = lua_tonumberx(L, n, &ok);
  if (!ok) throw LuaError(ArgError(L, n, what, "number"));
  return value;
}

lua_Number OptNumber(lua_State* L, int n, const char* what, lua_Number fallback) {
  return lua_isnoneornil(L, n) ? fallback : ArgNumber(L, n, what);
}

std::string OptionString(lua_State* L, int table, const char* key, const std::string& fallback) {
  if (lua_isnoneornil(L, table)) return fallback;
  RawField(L, table, key);
  const bool absent = lua_isnil(L, -1);
  const bool ok = absent || lua_type(L, -1) == LUA_TSTRING;
  const std::string value = ok && !absent ? lua_tostring(L, -1) : fallback;
  lua_pop(L, 1);
  if (!ok) throw LuaError(absl::StrCat("option '", key, "' must be a string"));
  return value;
}

int64_t OptionInteger(lua_State* L, int table, const char* key, int64_t fallback) {
  if (lua_isnoneornil(L, table)) return fallback;
  RawField(L, table, key);
  int ok = 1;
  const int64_t value = lua_isnil(L, -1) ? fallback : lua_tointegerx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok) throw LuaError(absl::StrCat("option '", key, "' must be an integer"));
  return value;
}

void ArgTable(lua_State* L, int n, const char* what) {
  if (!lua_istable(L, n)) throw LuaError(ArgError(L, n, what, "table"));
}

void RegisterMetatable(lua_State* L, const char* name, const luaL_Reg* methods) {
  luaL_newmetatable(L, name);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void RawField(lua_State* L, int index, const char* key) {
  index = lua_absindex(L, index);
  lua_pushstring(L, key);
  lua_rawget(L, index);
}

ConfigValue ToConfigValue(lua_State* L, int index, const std::string& path) {
  return ValueAt(L, index, path, 0);
}

void PushConfigValue(lua_State* L, const ConfigValue& value) {
  std::visit(
      [L](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::monostate>) {
          lua_pushnil(L);
        } else if constexpr (std::is_same_v<V, bool>) {
          lua_pushboolean(L, v);
        } else if constexpr (std::is_same_v<V, int64_t>) {
          lua_pushinteger(L, v);
        } else if constexpr (std::is_same_v<V, double>) {
          lua_pushnumber(L, v);
        } else if constexpr (std::is_same_v<V, std::string>) {
          lua_pushlstring(L, v.data(), v.size());
        } else if constexpr (std::is_same_v<V, ConfigList>) {
          lua_createtable(L, static_cast<int>(v.size()), 0);
          for (size_t i = 0; i < v.size(); ++i) {
            PushConfigValue(L, v[i]);
            lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
          }
        } else {
          lua_createtable(L, 0, static_cast<int>(v.size()));
          for (const auto& [key, item] : v) {
            PushConfigValue(L, item);
            lua_setfield(L, -2, key.c_str());
          }
        }
      },
      value.value);
}

}  // namespace sy::lua
