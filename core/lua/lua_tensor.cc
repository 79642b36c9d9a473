#include "core/lua/lua_tensor.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"
#include "core/tensor/tensor_convert.h"
#include "core/tensor/tensor_random.h"

namespace sy::lua {
namespace {

Shape ArgShape(lua_State* L, int n) {
  ArgTable(L, n, "shape");
  Shape shape;
  const auto rank = static_cast<lua_Integer>(lua_rawlen(L, n));
  for (lua_Integer i = 1; i <= rank; ++i) {
    lua_rawgeti(L, n, i);
    int ok = 0;
    const lua_Integer d = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || d < 0) throw LuaError(absl::StrCat("shape[", i, "] must be a non-negative integer"));
    shape.push_back(d);
  }
  return shape;
}

DType ParseDType(const std::string& name) {
  const DType dtype = DTypeFromName(name);
  if (dtype == DType::kInvalid) {
    throw LuaError(absl::StrCat("unknown dtype '", name,
                                "' (f32, bf16, f16, fp8_e4m3, i8, i4, u4, i32, i64, u8)"));
  }
  return dtype;
}

// Reads option `key` of the options table at index n (absent or nil -> fallback).
double OptionNumber(lua_State* L, int n, const char* key, double fallback) {
  if (lua_isnoneornil(L, n)) return fallback;
  ArgTable(L, n, "options");
  RawField(L, n, key);
  int ok = 1;
  const double value = lua_isnil(L, -1) ? fallback : lua_tonumberx(L, -1, &ok);
  lua_pop(L, 1);
  if (!ok) throw LuaError(absl::StrCat("option '", key, "' must be a number"));
  return value;
}

DType OptionDType(lua_State* L, int n) {
  if (lua_isnoneornil(L, n)) return DType::kF32;
  ArgTable(L, n, "options");
  RawField(L, n, "dtype");
  const bool absent = lua_isnil(L, -1);
  const std::string name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)";
  lua_pop(L, 1);
  return absent ? DType::kF32 : ParseDType(name);
}

// Walks a nested table of numbers, recording the shape from the first element at each depth.
void Flatten(lua_State* L, int index, size_t depth, Shape& shape, std::vector<double>& values) {
  index = lua_absindex(L, index);
  const auto n = static_cast<lua_Integer>(lua_rawlen(L, index));
  if (shape.size() == depth) shape.push_back(n);
  if (shape[depth] != n) throw LuaError(absl::StrCat("ragged nested table at depth ", depth + 1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, index, i);
    if (lua_istable(L, -1)) {
      Flatten(L, -1, depth + 1, shape, values);
    } else {
      int ok = 0;
      const double x = lua_tonumberx(L, -1, &ok);
      if (!ok || shape.size() != depth + 1) {
        lua_pop(L, 1);
        throw LuaError("tensor values must be numbers in nested tables of equal length");
      }
      values.push_back(x);
    }
    lua_pop(L, 1);
  }
}

int NewTensor(lua_State* L) {
  ArgTable(L, 1, "values");
  Shape shape;
  std::vector<double> values;
  Flatten(L, 1, 0, shape, values);
  const DType dtype = lua_isnoneornil(L, 2) ? DType::kF32 : ParseDType(ArgString(L, 2, "dtype"));
  Tensor t = ValueOrThrow(Tensor::Zeros(shape, dtype));
  for (size_t i = 0; i < values.size(); ++i) WriteElement(t.raw_data(), dtype, i, values[i]);
  PushTensor(L, std::move(t));
  return 1;
}

uint64_t OptionSeed(lua_State* L, int n) {
  const double seed = OptionNumber(L, n, "seed", 0);
  if (seed < 0 || seed != std::floor(seed) || seed >= 18446744073709551616.0) {
    throw LuaError("option 'seed' must be a non-negative integer");
  }
  return static_cast<uint64_t>(seed);
}

int RandN(lua_State* L) {
  const Shape shape = ArgShape(L, 1);
  PushTensor(L, ValueOrThrow(RandomNormal(shape, OptionSeed(L, 2), OptionNumber(L, 2, "mean", 0),
                                          OptionNumber(L, 2, "std", 1), OptionDType(L, 2))));
  return 1;
}

int Rand(lua_State* L) {
  const Shape shape = ArgShape(L, 1);
  PushTensor(L, ValueOrThrow(RandomUniform(shape, OptionSeed(L, 2), OptionNumber(L, 2, "low", 0),
                                           OptionNumber(L, 2, "high", 1), OptionDType(L, 2))));
  return 1;
}

int Zeros(lua_State* L) {
  const Shape shape = ArgShape(L, 1);
  const DType dtype = lua_isnoneornil(L, 2) ? DType::kF32 : ParseDType(ArgString(L, 2, "dtype"));
  PushTensor(L, ValueOrThrow(Tensor::Zeros(shape, dtype)));
  return 1;
}

const Tensor& CpuTensor(lua_State* L) {
  const Tensor& t = ArgTensor(L, 1, "self");
  if (!t.device().is_cpu())
    throw LuaError(
        absl::StrCat("tensor is on ", t.device().ToString(), "; use :to(\"cpu\") first"));
  return t;
}

int ShapeOf(lua_State* L) {
  const Tensor& t = ArgTensor(L, 1, "self");
  lua_createtable(L, t.ndim(), 0);
  for (int i = 0; i < t.ndim(); ++i) {
    lua_pushinteger(L, t.dim(i));
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

int DTypeOf(lua_State* L) {
  lua_pushstring(L, std::string(DTypeName(ArgTensor(L, 1, "self").dtype())).c_str());
  return 1;
}

int NumelOf(lua_State* L) {
  lua_pushinteger(L, ArgTensor(L, 1, "self").numel());
  return 1;
}

int DeviceOf(lua_State* L) {
  lua_pushstring(L, ArgTensor(L, 1, "self").device().ToString().c_str());
  return 1;
}

void PushElement(lua_State* L, const Tensor& t, int64_t flat) {
  const double x = t.Get(flat);
  const DType d = t.dtype();
  if (d == DType::kI8 || d == DType::kI4 || d == DType::kU4 || d == DType::kI32 ||
      d == DType::kI64 || d == DType::kU8) {
    lua_pushinteger(L, static_cast<lua_Integer>(x));
  } else {
    lua_pushnumber(L, x);
  }
}

// t:get(i, j, ...) with 1-based indices, one per dimension.
int Get(lua_State* L) {
  const Tensor& t = CpuTensor(L);
  if (lua_gettop(L) - 1 != t.ndim()) {
    throw LuaError(absl::StrCat("get needs ", t.ndim(), " indices for ", t.Describe()));
  }
  int64_t flat = 0;
  for (int i = 0; i < t.ndim(); ++i) {
    const lua_Integer index = ArgInteger(L, i + 2, "index");
    if (index < 1 || index > t.dim(i)) {
      throw LuaError(
          absl::StrCat("index ", index, " out of range [1, ", t.dim(i), "] in dimension ", i + 1));
    }
    flat = flat * t.dim(i) + (index - 1);
  }
  PushElement(L, t, flat);
  return 1;
}

void PushNested(lua_State* L, const Tensor& t, int dim, int64_t& flat) {
  if (dim == t.ndim()) {
    PushElement(L, t, flat++);
    return;
  }
  lua_createtable(L, static_cast<int>(t.dim(dim)), 0);
  for (int64_t i = 0; i < t.dim(dim); ++i) {
    PushNested(L, t, dim + 1, flat);
    lua_rawseti(L, -2, i + 1);
  }
}

int ToTable(lua_State* L) {
  const Tensor& t = CpuTensor(L);
  int64_t flat = 0;
  PushNested(L, t, 0, flat);
  return 1;
}

// t:to("bf16") converts; t:to("cuda:0") / t:to("cpu") copies between devices.
int To(lua_State* L) {
  const Tensor& t = ArgTensor(L, 1, "self");
  const std::string target = ArgString(L, 2, "dtype or device");
  if (DTypeFromName(target) != DType::kInvalid) {
    PushTensor(L, ValueOrThrow(ConvertDType(CpuTensor(L), DTypeFromName(target))));
  } else {
    PushTensor(L, ValueOrThrow(t.To(ValueOrThrow(Device::Parse(target)))));
  }
  return 1;
}

std::string FormatTensor(const Tensor& t) {
  std::string out = t.Describe();
  if (!t.device().is_cpu() || t.ndim() == 0) return out;
  constexpr int64_t kShow = 6;
  const int64_t cols = t.dim(t.ndim() - 1);
  const int64_t rows = cols == 0 ? 0 : t.numel() / cols;
  for (int64_t r = 0; r < std::min(rows, kShow); ++r) {
    absl::StrAppend(&out, "\n  ");
    for (int64_t c = 0; c < std::min(cols, kShow); ++c)
      absl::StrAppend(&out, absl::StrFormat("%9.4g", t.Get(r * cols + c)));
    if (cols > kShow) absl::StrAppend(&out, "  ...");
  }
  if (rows > kShow) absl::StrAppend(&out, "\n  ...");
  return out;
}

int ToString(lua_State* L) {
  lua_pushstring(L, FormatTensor(ArgTensor(L, 1, "self")).c_str());
  return 1;
}

}  // namespace

void PushTensor(lua_State* L, Tensor tensor) { PushObject(L, kTensorMetatable, std::move(tensor)); }

Tensor& ArgTensor(lua_State* L, int n, const char* what) {
  return ArgObject<Tensor>(L, n, kTensorMetatable, what);
}

void RegisterTensorBindings(lua_State* L) {
  static const luaL_Reg methods[] = {{"shape", Wrap<ShapeOf>},
                                     {"dtype", Wrap<DTypeOf>},
                                     {"numel", Wrap<NumelOf>},
                                     {"device", Wrap<DeviceOf>},
                                     {"get", Wrap<Get>},
                                     {"to_table", Wrap<ToTable>},
                                     {"to", Wrap<To>},
                                     {"__tostring", Wrap<ToString>},
                                     {"__gc", DestroyObject<Tensor>},
                                     {nullptr, nullptr}};
  RegisterMetatable(L, kTensorMetatable, methods);

  static const luaL_Reg functions[] = {{"tensor", Wrap<NewTensor>},
                                       {"randn", Wrap<RandN>},
                                       {"rand", Wrap<Rand>},
                                       {"zeros", Wrap<Zeros>},
                                       {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
