#include "core/lua/lua_module.h"

#include "core/device/cuda_runtime.h"
#include "core/lua/lua_support.h"
#include "switchyard/plugin_abi.h"

namespace sy::lua {
namespace {

constexpr const char* kHostContextKey = "switchyard.host_context";

int CudaDeviceCount(lua_State* L) {
  lua_pushinteger(L, cuda::DeviceCount());
  return 1;
}

int OpenCore(lua_State* L) {
  lua_newtable(L);
  lua_pushstring(L, SY_VERSION);
  lua_setfield(L, -2, "version");
  lua_pushfstring(L, "%d.%d", SY_ABI_MAJOR, SY_ABI_MINOR);
  lua_setfield(L, -2, "abi");
  lua_pushcfunction(L, Wrap<CudaDeviceCount>);
  lua_setfield(L, -2, "cuda_device_count");
  RegisterTensorBindings(L);
  RegisterComponentBindings(L);
  RegisterMoeBindings(L);
  RegisterModelBindings(L);
  RegisterServingBindings(L);
  RegisterAbBindings(L);
  return 1;
}

}  // namespace

void InstallCoreModule(lua_State* L, HostContext* host) {
  lua_pushlightuserdata(L, host);
  lua_setfield(L, LUA_REGISTRYINDEX, kHostContextKey);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, OpenCore);
  lua_setfield(L, -2, "switchyard.core");
  lua_pop(L, 1);
}

HostContext& GetHostContext(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kHostContextKey);
  auto* host = static_cast<HostContext*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (host == nullptr) throw LuaError("switchyard.core is not bound to a host");
  return *host;
}

}  // namespace sy::lua
