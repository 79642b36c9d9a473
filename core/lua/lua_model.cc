// Models in Lua: sy.load_model([dir [, options]]) and model:generate(prompt [, options]).
//
//   local model = sy.load_model("models/tiny", {quantizer = "quantizer.int8"})
//   local text, info = model:generate("Once upon a time", {max_tokens = 32, temperature = 0.7})
#include <capnp/message.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/base/install_layout.h"
#include "core/config/config_schema.h"
#include "core/distributed/expert_parallel_group.h"
#include "core/distributed/rank_environment.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"
#include "core/model/checkpoint.h"
#include "core/model/generation.h"
#include "core/model/language_model.h"

namespace sy::lua {
namespace {

constexpr const char* kModelMetatable = "switchyard.Model";

using ModelRef = std::shared_ptr<LanguageModel>;

template <typename T>
void OptionNumber(lua_State* L, int table, const char* key, T& out) {
  RawField(L, table, key);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      throw LuaError(absl::StrCat("option '", key, "' must be a number"));
    }
    out = static_cast<T>(lua_tonumber(L, -1));
  }
  lua_pop(L, 1);
}

// Under switchyard launch (the environment names several ranks), or with `comm` given, joins the
// expert-parallel group for the model in `dir` as the CLI's model commands do
// (JoinExpertParallelGroup; the timeout from SWITCHYARD_TIMEOUT) and returns it; else an empty
// group. Options: comm (default comm.auto), redundant_experts, dispatch_dtype.
ExpertParallelGroup JoinIfLaunched(lua_State* L, const std::string& dir, HostContext& host) {
  const RankInfo info = ValueOrThrow(RankInfoFromEnvironment());
  const bool options = !lua_isnoneornil(L, 2);
  ExpertParallelOptions ep;
  ep.comm = options ? OptionString(L, 2, "comm", "") : "";
  if (info.world_size < 2 && ep.comm.empty()) return {};
  if (ep.comm.empty()) ep.comm = "comm.auto";
  if (options) {
    ep.redundant_slots = static_cast<int>(OptionInteger(L, 2, "redundant_experts", 0));
    ep.dispatch_dtype =
        ValueOrThrow(ParseDispatchDType(OptionString(L, 2, "dispatch_dtype", "f32")));
  }
  ep.timeout = ValueOrThrow(TimeoutFromEnvironment(ep.timeout));
  const Checkpoint checkpoint = ValueOrThrow(Checkpoint::Open(dir));
  return ValueOrThrow(
      JoinExpertParallelGroup(info, checkpoint.config(), *host.registry, ep, *host.cpu));
}

// sy.load_model([dir [, {quantizer = "quantizer.int8", experts = "experts.cpu",
//   router = "router.hash", router_config = {k = 2}, experts_config = {cacheExperts = 4},
//   comm = "comm.pcie", redundant_experts = 0, dispatch_dtype = "f32"}]]);
// no dir (or nil): the built-in model. Under launch the model loads expert-parallel.
int LoadModel(lua_State* L) {
  const std::string dir =
      lua_isnoneornil(L, 1) ? BuiltinModelDir() : ArgString(L, 1, "model directory");
  if (!lua_isnoneornil(L, 2)) ArgTable(L, 2, "options");
  ModelOptions options;
  options.quantizer = OptionString(L, 2, "quantizer", "");
  options.experts = OptionString(L, 2, "experts", options.experts);
  options.router = OptionString(L, 2, "router", "");
  if (!lua_isnoneornil(L, 2)) {
    RawField(L, 2, "router_config");
    if (!lua_isnil(L, -1)) options.router_config = ToConfigValue(L, lua_gettop(L), "router_config");
    lua_pop(L, 1);
    RawField(L, 2, "experts_config");
    if (!lua_isnil(L, -1)) {
      options.experts_config = ToConfigValue(L, lua_gettop(L), "experts_config");
    }
    lua_pop(L, 1);
  }
  HostContext& host = GetHostContext(L);
  ExpertParallelGroup group = JoinIfLaunched(L, dir, host);
  options.expert_parallel = group.expert_parallel;
  std::unique_ptr<LanguageModel> loaded =
      ValueOrThrow(LanguageModel::Load(dir, *host.registry, options, *host.cpu));
  // The group (its bootstrap connection) outlives the model: the deleter holds it.
  ModelRef model(loaded.release(), [group](LanguageModel* m) { delete m; });
  PushObject(L, kModelMetatable, std::move(model));
  return 1;
}

LanguageModel& Self(lua_State* L) { return *ArgObject<ModelRef>(L, 1, kModelMetatable, "self"); }

SamplingParams ReadSampling(lua_State* L, int table) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 64;
  if (lua_isnoneornil(L, table)) return p;
  OptionNumber(L, table, "max_tokens", p.max_tokens);
  OptionNumber(L, table, "temperature", p.temperature);
  OptionNumber(L, table, "top_k", p.top_k);
  OptionNumber(L, table, "top_p", p.top_p);
  OptionNumber(L, table, "min_p", p.min_p);
  OptionNumber(L, table, "repetition_penalty", p.repetition_penalty);
  OptionNumber(L, table, "seed", p.seed);
  RawField(L, table, "stop");
  if (lua_istable(L, -1)) {
    const ConfigValue stops = ToConfigValue(L, -1, "stop");
    if (stops.is_list()) {
      for (const ConfigValue& s : std::get<ConfigList>(stops.value)) {
        if (!s.is_string()) throw LuaError("option 'stop' must be a list of strings");
        p.stop.push_back(std::get<std::string>(s.value));
      }
    }
  } else if (lua_type(L, -1) == LUA_TSTRING) {
    p.stop.push_back(lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  ThrowIfError(p.Validate());
  return p;
}

// model:generate(prompt [, {max_tokens=, temperature=, top_k=, top_p=, min_p=,
//   repetition_penalty=, seed=, stop=, chat=, stream=function(text)}]) -> text, info
int GenerateText(lua_State* L) {
  LanguageModel& m = Self(L);
  std::string prompt = ArgString(L, 2, "prompt");
  if (!lua_isnoneornil(L, 3)) ArgTable(L, 3, "options");
  const SamplingParams params = ReadSampling(L, 3);
  bool chat = false;
  int stream_ref = LUA_NOREF;
  if (!lua_isnoneornil(L, 3)) {
    RawField(L, 3, "chat");
    chat = lua_toboolean(L, -1) != 0;
    RawField(L, 3, "stream");
    if (lua_isfunction(L, -1)) {
      stream_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  const std::vector<int32_t> ids =
      ValueOrThrow(chat ? m.EncodeChat({{"user", prompt}}) : m.EncodeText(prompt));
  std::string stream_error;
  auto on_text = [&](const std::string& text) {
    if (stream_ref == LUA_NOREF || !stream_error.empty()) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, stream_ref);
    lua_pushlstring(L, text.data(), text.size());
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      stream_error = lua_tostring(L, -1) ? lua_tostring(L, -1) : "stream callback failed";
      lua_pop(L, 1);
    }
  };
  absl::StatusOr<GenerationResult> result =
      Generate(*m.network, m.tokenizer, *GetHostContext(L).cpu, ids, params, m.eos_ids, on_text);
  if (stream_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, stream_ref);
  if (!stream_error.empty()) throw LuaError(absl::StrCat("stream callback: ", stream_error));
  ThrowIfError(result.status());
  lua_pushlstring(L, result->text.data(), result->text.size());
  lua_createtable(L, 0, 6);
  lua_pushstring(L, result->finish_reason.c_str());
  lua_setfield(L, -2, "finish_reason");
  lua_pushinteger(L, result->prompt_tokens);
  lua_setfield(L, -2, "prompt_tokens");
  lua_pushinteger(L, static_cast<lua_Integer>(result->tokens.size()));
  lua_setfield(L, -2, "completion_tokens");
  lua_pushnumber(L, result->prefill_seconds * 1e3);
  lua_setfield(L, -2, "prefill_ms");
  lua_pushnumber(
      L, result->tokens.size() > 1 ? (result->tokens.size() - 1) / result->decode_seconds : 0.0);
  lua_setfield(L, -2, "decode_tokens_per_s");
  return 2;
}

// model:expert_load() -> one LayerLoad table per MoE layer: the tokens each expert received
// since the model loaded or the last model:reset_expert_load().
int ExpertLoadOf(lua_State* L) {
  LanguageModel& m = Self(L);
  const auto layers = m.network->moe_layers();
  lua_createtable(L, static_cast<int>(layers.size()), 0);
  int i = 0;
  for (const MoeLayer* layer : layers) {
    capnp::MallocMessageBuilder message;
    auto load = message.initRoot<schema::LayerLoad>();
    layer->WriteTotalLoad(load);
    PushConfigValue(L, CapnpToValue(capnp::toDynamic(load.asReader())));
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// model:reset_expert_load(): starts the expert_load() totals again from zero.
int ResetExpertLoad(lua_State* L) {
  for (MoeLayer* layer : Self(L).network->moe_layers()) layer->ResetTotalLoad();
  return 0;
}

// model:name() -> the model folder's name, e.g. "pydoc-moe".
int NameOf(lua_State* L) {
  lua_pushstring(L, Self(L).name.c_str());
  return 1;
}

// model:config() -> {architecture=, layers=, hidden=, experts=, top_k=, vocab=, context=}
int ConfigOf(lua_State* L) {
  const ModelConfig& c = Self(L).network->config();
  lua_createtable(L, 0, 7);
  lua_pushstring(L, ArchitectureName(c.architecture));
  lua_setfield(L, -2, "architecture");
  const std::pair<const char*, int64_t> fields[] = {
      {"layers", c.num_hidden_layers}, {"hidden", c.hidden_size},
      {"experts", c.num_experts},      {"top_k", c.num_experts_per_tok},
      {"vocab", c.vocab_size},         {"context", c.max_position_embeddings}};
  for (const auto& [name, value] : fields) {
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
  }
  return 1;
}

}  // namespace

void RegisterModelBindings(lua_State* L) {
  static const luaL_Reg methods[] = {{"generate", Wrap<GenerateText>},
                                     {"expert_load", Wrap<ExpertLoadOf>},
                                     {"reset_expert_load", Wrap<ResetExpertLoad>},
                                     {"name", Wrap<NameOf>},
                                     {"config", Wrap<ConfigOf>},
                                     {"__gc", DestroyObject<ModelRef>},
                                     {nullptr, nullptr}};
  RegisterMetatable(L, kModelMetatable, methods);
  static const luaL_Reg functions[] = {{"load_model", Wrap<LoadModel>}, {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
