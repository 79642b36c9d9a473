// MoE layers in Lua: sy.moe_weights{...}, sy.trace_writer(path, {...}) and sy.moe{...}.
//
//   local layer = sy.moe {
//     router = sy.component("router.softmax_topk", {k = 2}),   -- or {k = 2, route =
//     function(logits) ... end} quantizer = sy.component("quantizer.fp8"),                --
//     optional experts = sy.component("experts.cpu"), weights = sy.moe_weights {experts = 8, hidden
//     = 256, intermediate = 512, seed = 1}, capacity = {factor = 1.25, overflow = "drop"}, --
//     optional; or "reroute" trace = writer,                                           -- optional
//     routing trace
//   }
//   local y = layer:forward(x)
#include <capnp/message.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/config/config_schema.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"
#include "core/lua/lua_tensor.h"
#include "core/moe/moe_layer.h"

namespace sy::lua {
namespace {

constexpr const char* kWeightsMetatable = "switchyard.MoeWeights";
constexpr const char* kLayerMetatable = "switchyard.MoeLayer";
constexpr const char* kTraceMetatable = "switchyard.TraceWriter";

using WeightsRef = std::shared_ptr<MoeWeights>;
using TraceRef = std::shared_ptr<TraceWriter>;

// A Lua router: a function kept in the registry, called with the logits tensor; it returns
// expert ids and weights tensors. The layer's routing function owns it, and the layer is
// collected (by __gc) while the state is still open, so the reference is released in time.
struct LuaRouter {
  lua_State* L;
  int function_ref;
  LuaRouter(lua_State* state, int ref) : L(state), function_ref(ref) {}
  LuaRouter(const LuaRouter&) = delete;
  LuaRouter& operator=(const LuaRouter&) = delete;
  ~LuaRouter() { luaL_unref(L, LUA_REGISTRYINDEX, function_ref); }
};

struct LayerHandle {
  std::shared_ptr<MoeLayer> layer;
};

bool OptionBoolean(lua_State* L, int table, const char* key) {
  RawField(L, table, key);
  const bool value = lua_toboolean(L, -1) != 0;
  lua_pop(L, 1);
  return value;
}

// sy.moe_weights{experts=, hidden=, intermediate=, shared_intermediate=, shared_gate=, seed=}
int NewWeights(lua_State* L) {
  ArgTable(L, 1, "shape");
  MoeShape shape;
  shape.experts = static_cast<int>(OptionInteger(L, 1, "experts", shape.experts));
  shape.hidden = OptionInteger(L, 1, "hidden", shape.hidden);
  shape.intermediate = OptionInteger(L, 1, "intermediate", shape.intermediate);
  shape.shared_intermediate = OptionInteger(L, 1, "shared_intermediate", 0);
  shape.shared_gate = OptionBoolean(L, 1, "shared_gate");
  const int64_t seed = OptionInteger(L, 1, "seed", 0);
  if (seed < 0) throw LuaError("option 'seed' must be non-negative");
  PushObject(L, kWeightsMetatable,
             std::make_shared<MoeWeights>(
                 ValueOrThrow(MoeWeights::Random(shape, static_cast<uint64_t>(seed)))));
  return 1;
}

// sy.trace_writer(path, {model=, experts=, top_k=})
int NewTraceWriter(lua_State* L) {
  const std::string path = ArgString(L, 1, "path");
  ArgTable(L, 2, "info");
  TraceInfo info;
  RawField(L, 2, "model");
  if (lua_type(L, -1) == LUA_TSTRING) info.model = lua_tostring(L, -1);
  lua_pop(L, 1);
  info.num_experts = static_cast<int>(OptionInteger(L, 2, "experts", 0));
  info.top_k = static_cast<int>(OptionInteger(L, 2, "top_k", 0));
  if (info.num_experts < 1 || info.top_k < 1)
    throw LuaError("trace_writer needs experts >= 1 and top_k >= 1");
  PushObject(L, kTraceMetatable, TraceRef(ValueOrThrow(TraceWriter::Create(path, info))));
  return 1;
}

int TraceClose(lua_State* L) {
  ThrowIfError(ArgObject<TraceRef>(L, 1, kTraceMetatable, "self")->Close());
  return 0;
}

int TraceRecords(lua_State* L) {
  lua_pushinteger(L, ArgObject<TraceRef>(L, 1, kTraceMetatable, "self")->records());
  return 1;
}

std::shared_ptr<Component> FieldComponent(lua_State* L, int table, const char* key, bool required) {
  auto* component = FieldObject<std::shared_ptr<Component>>(L, table, key, "switchyard.Component",
                                                            required, "sy.moe");
  return component ? *component : nullptr;
}

RoutingFunction LuaRoutingFunction(lua_State* L, int table) {
  const int k = static_cast<int>(OptionInteger(L, table, "k", 0));
  RawField(L, table, "route");
  if (!lua_isfunction(L, -1) || k < 1) {
    lua_pop(L, 1);
    throw LuaError("a Lua router is {k = N, route = function(logits) return ids, weights end}");
  }
  auto handle = std::make_shared<LuaRouter>(L, luaL_ref(L, LUA_REGISTRYINDEX));
  RoutingFunction f;
  f.name = "lua router";
  f.top_k = k;
  f.route = [router = handle, k](ExecContext&,
                                 const RouterInputs& in) -> absl::StatusOr<RouterOutput> {
    lua_State* L = router->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, router->function_ref);
    PushTensor(L, in.logits);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
      absl::Status error = absl::AbortedError(absl::StrCat("lua router: ", lua_tostring(L, -1)));
      lua_pop(L, 1);
      return error;
    }
    auto* ids = static_cast<Tensor*>(luaL_testudata(L, -2, kTensorMetatable));
    auto* weights = static_cast<Tensor*>(luaL_testudata(L, -1, kTensorMetatable));
    RouterOutput out;
    if (ids && weights) out = {*ids, *weights};
    lua_pop(L, 2);
    const Shape expected = {in.logits.dim(0), k};
    if (!ids || !weights || out.expert_ids.dtype() != DType::kI32 ||
        out.expert_weights.dtype() != DType::kF32 || out.expert_ids.shape() != expected ||
        out.expert_weights.shape() != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "lua router must return i32 and f32 tensors of shape ", ShapeToString(expected)));
    }
    if (absl::Status s = ValidateRouterOutput(out, in.logits.dim(1), "lua router"); !s.ok())
      return s;
    return out;
  };
  return f;
}

std::optional<CapacityLimit> CapacityOption(lua_State* L, int table) {
  RawField(L, table, "capacity");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return std::nullopt;
  }
  if (!lua_istable(L, -1))
    throw LuaError("capacity must be a table {factor = F, overflow = 'drop' | 'reroute'}");
  const int index = lua_gettop(L);
  CapacityLimit limit;
  RawField(L, index, "factor");
  const bool factor_ok = lua_isnil(L, -1) || lua_type(L, -1) == LUA_TNUMBER;
  limit.factor = lua_isnil(L, -1) ? 1.0 : lua_tonumber(L, -1);
  RawField(L, index, "overflow");
  const bool overflow_ok = lua_isnil(L, -1) || lua_type(L, -1) == LUA_TSTRING;
  const std::string overflow = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "drop";
  lua_pop(L, 3);
  if (!factor_ok || !overflow_ok)
    throw LuaError("capacity must be a table {factor = F, overflow = 'drop' | 'reroute'}");
  if (overflow != "drop" && overflow != "reroute")
    throw LuaError("capacity.overflow must be 'drop' or 'reroute'");
  if (!(limit.factor > 0)) throw LuaError("capacity.factor must be positive");
  limit.overflow =
      overflow == "drop" ? CapacityLimit::Overflow::kDrop : CapacityLimit::Overflow::kReroute;
  return limit;
}

int NewLayer(lua_State* L) {
  ArgTable(L, 1, "layer");
  LayerHandle handle;
  RoutingFunction routing;
  RawField(L, 1, "router");
  if (lua_istable(L, -1)) {
    routing = LuaRoutingFunction(L, lua_gettop(L));
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
    routing = RoutingFunction::FromRouter(
        ValueOrThrow(Router::From(FieldComponent(L, 1, "router", true))));
  }
  std::optional<Quantizer> quantizer;
  if (auto q = FieldComponent(L, 1, "quantizer", false))
    quantizer = ValueOrThrow(Quantizer::From(q));
  Experts experts = ValueOrThrow(Experts::From(FieldComponent(L, 1, "experts", true)));
  RawField(L, 1, "weights");
  auto* weights_slot = static_cast<WeightsRef*>(luaL_testudata(L, -1, kWeightsMetatable));
  if (weights_slot == nullptr) {
    throw LuaError(absl::StrCat("sy.moe: 'weights' must be made by sy.moe_weights, got ",
                                luaL_typename(L, -1)));
  }
  const WeightsRef weights = *weights_slot;
  lua_pop(L, 1);
  MoeLayerOptions options;
  options.layer = static_cast<int>(OptionInteger(L, 1, "layer", 0));
  options.capacity = CapacityOption(L, 1);
  RawField(L, 1, "trace");
  if (!lua_isnil(L, -1))
    options.trace = ArgObject<TraceRef>(L, lua_gettop(L), kTraceMetatable, "trace");
  lua_pop(L, 1);
  handle.layer =
      ValueOrThrow(MoeLayer::Create(std::move(routing), std::move(quantizer), std::move(experts),
                                    *weights, std::move(options), *GetHostContext(L).cpu));
  PushObject(L, kLayerMetatable, std::move(handle));
  return 1;
}

MoeLayer& Layer(lua_State* L) {
  return *ArgObject<LayerHandle>(L, 1, kLayerMetatable, "self").layer;
}

// layer:forward(x [, token_ids]) -> y
int Forward(lua_State* L) {
  MoeLayer& layer = Layer(L);
  const Tensor& x = ArgTensor(L, 2, "hidden");
  std::optional<Tensor> token_ids;
  if (!lua_isnoneornil(L, 3)) token_ids = ArgTensor(L, 3, "token_ids");
  PushTensor(L, ValueOrThrow(layer.Forward(*GetHostContext(L).cpu, x, token_ids)));
  return 1;
}

// layer:load() -> the last forward's LayerLoad as a table (tokensPerExpert is 1-based by expert).
int Load(lua_State* L) {
  capnp::MallocMessageBuilder message;
  auto load = message.initRoot<schema::LayerLoad>();
  Layer(L).WriteLastLoad(load);
  PushConfigValue(L, CapnpToValue(capnp::toDynamic(load.asReader())));
  return 1;
}

// layer:routing() -> expert_ids, expert_weights of the last forward
int LastRouting(lua_State* L) {
  const RouterOutput& r = Layer(L).last_routing();
  if (!r.expert_ids.defined()) throw LuaError("the layer has not run yet");
  PushTensor(L, r.expert_ids);
  PushTensor(L, r.expert_weights);
  return 2;
}

int Describe(lua_State* L) {
  const MoeLayer& layer = Layer(L);
  const ExpertWeights& w = layer.expert_weights();
  const std::string text = absl::StrCat(
      "MoE layer: ", layer.shape().experts, " experts, H=", layer.shape().hidden,
      " I=", layer.shape().intermediate,
      layer.shape().shared_intermediate
          ? absl::StrCat(" + shared I=", layer.shape().shared_intermediate)
          : "",
      "\n  router     ", layer.router().name, " (top-", layer.router().top_k, ")",
      "\n  quantizer  ", layer.quantizer() ? layer.quantizer()->component().full_name() : "none",
      "\n  experts    ", layer.experts().component().full_name(), "\n  weights    ",
      w.gate_up[0].DescribeLayout(), ", ", w.nbytes(), " bytes");
  lua_pushstring(L, text.c_str());
  return 1;
}

int WeightsBytes(lua_State* L) {
  lua_pushinteger(L, Layer(L).expert_weights().nbytes());
  return 1;
}

}  // namespace

void RegisterMoeBindings(lua_State* L) {
  static const luaL_Reg weights_methods[] = {{"__gc", DestroyObject<WeightsRef>},
                                             {nullptr, nullptr}};
  RegisterMetatable(L, kWeightsMetatable, weights_methods);
  static const luaL_Reg trace_methods[] = {{"close", Wrap<TraceClose>},
                                           {"records", Wrap<TraceRecords>},
                                           {"__gc", DestroyObject<TraceRef>},
                                           {nullptr, nullptr}};
  RegisterMetatable(L, kTraceMetatable, trace_methods);
  static const luaL_Reg layer_methods[] = {{"forward", Wrap<Forward>},
                                           {"load", Wrap<Load>},
                                           {"routing", Wrap<LastRouting>},
                                           {"describe", Wrap<Describe>},
                                           {"weights_bytes", Wrap<WeightsBytes>},
                                           {"__tostring", Wrap<Describe>},
                                           {"__gc", DestroyObject<LayerHandle>},
                                           {nullptr, nullptr}};
  RegisterMetatable(L, kLayerMetatable, layer_methods);
  static const luaL_Reg functions[] = {{"moe", Wrap<NewLayer>},
                                       {"moe_weights", Wrap<NewWeights>},
                                       {"trace_writer", Wrap<NewTraceWriter>},
                                       {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
