// The `switchyard.core` Lua module: plugins, components and tensors.
#ifndef SWITCHYARD_CORE_LUA_LUA_MODULE_H_
#define SWITCHYARD_CORE_LUA_LUA_MODULE_H_

#include <lua.hpp>

#include "core/device/exec_context.h"
#include "core/plugin_host/component_registry.h"

namespace sy::lua {

// What the bindings of one lua_State use; owned by whoever owns the state, and must outlive it.
struct HostContext {
  const ComponentRegistry* registry;
  ExecContext* cpu;  // CPU calls made from Lua
};

// Makes `require "switchyard.core"` load the module in L, bound to `host`.
void InstallCoreModule(lua_State* L, HostContext* host);
HostContext& GetHostContext(lua_State* L);

// Parts of the module, one file each.
void RegisterTensorBindings(lua_State* L);     // lua_tensor.cc: adds to the module table on top
void RegisterComponentBindings(lua_State* L);  // lua_component.cc: likewise
void RegisterMoeBindings(lua_State* L);        // lua_moe.cc: likewise
void RegisterModelBindings(lua_State* L);      // lua_model.cc: likewise
void RegisterServingBindings(lua_State* L);    // lua_serving.cc: likewise
void RegisterAbBindings(lua_State* L);         // lua_ab.cc: likewise

}  // namespace sy::lua

#endif  // SWITCHYARD_CORE_LUA_LUA_MODULE_H_
