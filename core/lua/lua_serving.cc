// Serving in Lua: sy.engine{...} assembles an engine from a model and a scheduler component,
// sy.serve{...} serves it over HTTP until SIGTERM/SIGINT.
//
//   local engine = sy.engine {
//     model = sy.load_model(),                                   -- the built-in model
//     scheduler = sy.component("scheduler.continuous", { max_batch_tokens = 512 }),
//     on_step = function(report) ... end,                        -- optional, each step
//   }
//   sy.serve { engine = engine, port = 8000 }
//
// The engine loop runs on the thread that called sy.serve — this Lua state's own — so on_step
// runs there, between steps, never concurrently with other Lua code.
#include <capnp/message.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "core/config/config_schema.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"
#include "core/serving/engine.h"
#include "core/serving/serve.h"

namespace sy::lua {
namespace {

constexpr const char* kEngineMetatable = "switchyard.Engine";

// The engine and the Lua function on_step refers to (a registry reference, or LUA_NOREF).
struct LuaEngine {
  std::shared_ptr<Engine> engine;
  int on_step = LUA_NOREF;
};
using EngineRef = std::shared_ptr<LuaEngine>;

// sy.engine{model=, scheduler= (default scheduler.continuous), on_step=, kv_blocks=,
//   kv_cache_mb=, block_size=, max_waiting=}
int NewEngine(lua_State* L) {
  ArgTable(L, 1, "engine options");
  auto* model = FieldObject<std::shared_ptr<LanguageModel>>(L, 1, "model", "switchyard.Model", true,
                                                            "sy.engine");
  std::shared_ptr<Component> component;
  if (auto* given = FieldObject<std::shared_ptr<Component>>(
          L, 1, "scheduler", "switchyard.Component", false, "sy.engine")) {
    component = *given;
  } else {
    const RegisteredComponent found =
        ValueOrThrow(GetHostContext(L).registry->Find("scheduler.continuous"));
    component = ValueOrThrow(Component::Create(found, {}));
  }
  EngineOptions options;
  options.kv_blocks = OptionInteger(L, 1, "kv_blocks", 0);
  options.kv_cache_bytes = OptionInteger(L, 1, "kv_cache_mb", options.kv_cache_bytes >> 20) << 20;
  options.block_size = OptionInteger(L, 1, "block_size", options.block_size);
  options.max_waiting = OptionInteger(L, 1, "max_waiting", options.max_waiting);
  auto ref = std::make_shared<LuaEngine>();
  ref->engine =
      ValueOrThrow(Engine::Create(*model, ValueOrThrow(Scheduler::From(component)), options));
  RawField(L, 1, "on_step");
  if (lua_isfunction(L, -1)) {
    ref->on_step = luaL_ref(L, LUA_REGISTRYINDEX);
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    throw LuaError("sy.engine: 'on_step' must be a function");
  } else {
    lua_pop(L, 1);
  }
  PushObject(L, kEngineMetatable, std::move(ref));
  return 1;
}

// sy.serve{engine=, host= ("127.0.0.1"), port= (8000; 0 picks a free one), threads=}: serves
// until SIGTERM or SIGINT, then drains and returns.
int Serve(lua_State* L) {
  ArgTable(L, 1, "serve options");
  EngineRef ref = *FieldObject<EngineRef>(L, 1, "engine", kEngineMetatable, true, "sy.serve");
  HttpServerOptions options;
  options.host = OptionString(L, 1, "host", options.host);
  options.port = static_cast<int>(OptionInteger(L, 1, "port", options.port));
  options.threads = static_cast<int>(OptionInteger(L, 1, "threads", options.threads));
  std::string hook_error;
  auto on_step = [&](schema::StepReport::Reader report) {
    if (ref->on_step == LUA_NOREF || !hook_error.empty()) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref->on_step);
    PushConfigValue(L, CapnpToValue(capnp::toDynamic(report)));
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      hook_error = lua_tostring(L, -1) ? lua_tostring(L, -1) : "on_step failed";
      lua_pop(L, 1);
      ref->engine->Shutdown(/*drain=*/true);  // a broken policy hook stops serving cleanly
    }
  };
  ThrowIfError(sy::Serve(*ref->engine, options, on_step));
  if (!hook_error.empty()) throw LuaError(absl::StrCat("on_step: ", hook_error));
  return 0;
}

// engine:metrics() -> the Prometheus text /metrics serves.
int Metrics(lua_State* L) {
  const std::string text =
      ArgObject<EngineRef>(L, 1, kEngineMetatable, "self")->engine->RenderMetrics();
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int DestroyEngine(lua_State* L) {
  EngineRef& ref = *static_cast<EngineRef*>(lua_touserdata(L, 1));
  if (ref && ref->on_step != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, ref->on_step);
  return DestroyObject<EngineRef>(L);
}

}  // namespace

void RegisterServingBindings(lua_State* L) {
  static const luaL_Reg methods[] = {
      {"metrics", Wrap<Metrics>}, {"__gc", DestroyEngine}, {nullptr, nullptr}};
  RegisterMetatable(L, kEngineMetatable, methods);
  static const luaL_Reg functions[] = {
      {"engine", Wrap<NewEngine>}, {"serve", Wrap<Serve>}, {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
