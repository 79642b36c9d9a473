// Tensors in Lua: userdata of metatable "switchyard.Tensor" holding a sy::Tensor.
#ifndef SWITCHYARD_CORE_LUA_LUA_TENSOR_H_
#define SWITCHYARD_CORE_LUA_LUA_TENSOR_H_

#include <lua.hpp>

#include "core/tensor/tensor.h"

namespace sy::lua {

inline constexpr const char* kTensorMetatable = "switchyard.Tensor";

void PushTensor(lua_State* L, Tensor tensor);
Tensor& ArgTensor(lua_State* L, int n, const char* what);

}  // namespace sy::lua

#endif  // SWITCHYARD_CORE_LUA_LUA_TENSOR_H_
