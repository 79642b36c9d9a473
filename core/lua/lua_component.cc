// Components in Lua: the plugin registry's contents, and component instances as userdata of
// metatable "switchyard.Component" (holding a shared_ptr, which keeps the library loaded).
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"
#include "core/lua/lua_tensor.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/router.h"

namespace sy::lua {
namespace {

constexpr const char* kComponentMetatable = "switchyard.Component";
using ComponentRef = std::shared_ptr<Component>;

void SetString(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

// sy.plugins() -> { {kind=, name=, full_name=, description=, score=, plugin=, version=, library=},
// ... }
int Plugins(lua_State* L) {
  const auto list = GetHostContext(L).registry->List();
  lua_createtable(L, static_cast<int>(list.size()), 0);
  int i = 0;
  for (const RegisteredComponent& c : list) {
    lua_createtable(L, 0, 8);
    SetString(L, "kind", std::string(KindName(c.info->kind)));
    SetString(L, "name", c.info->name);
    SetString(L, "full_name", c.info->full_name);
    SetString(L, "description", c.info->description);
    SetString(L, "plugin", c.library->name());
    SetString(L, "version", c.library->version());
    SetString(L, "library", c.library->path());
    lua_pushinteger(L, c.score);
    lua_setfield(L, -2, "score");
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// sy.load_errors() -> { {path=, message=}, ... } for libraries that were skipped.
int LoadErrors(lua_State* L) {
  const auto& errors = GetHostContext(L).registry->load_errors();
  lua_createtable(L, static_cast<int>(errors.size()), 0);
  int i = 0;
  for (const PluginLoadError& e : errors) {
    lua_createtable(L, 0, 2);
    SetString(L, "path", e.path);
    SetString(L, "message", e.message);
    lua_rawseti(L, -2, ++i);
  }
  return 1;
}

// sy.describe("router.softmax_topk") -> {full_name=, description=, fields={ {name=, type=,
// default=, doc=, min=, max=}, ... }}
int Describe(lua_State* L) {
  const RegisteredComponent c =
      ValueOrThrow(GetHostContext(L).registry->Find(ArgString(L, 1, "component name")));
  lua_createtable(L, 0, 4);
  SetString(L, "full_name", c.info->full_name);
  SetString(L, "description", c.info->description);
  SetString(L, "library", c.library->path());
  const auto fields = c.info->config.Fields();
  lua_createtable(L, static_cast<int>(fields.size()), 0);
  int i = 0;
  for (const ConfigFieldInfo& f : fields) {
    lua_createtable(L, 0, 6);
    SetString(L, "name", f.name);
    SetString(L, "type", f.type);
    SetString(L, "default", f.default_value);
    SetString(L, "doc", f.doc);
    if (!f.union_of.empty()) SetString(L, "union", f.union_of);
    if (f.min) {
      lua_pushnumber(L, *f.min);
      lua_setfield(L, -2, "min");
    }
    if (f.max) {
      lua_pushnumber(L, *f.max);
      lua_setfield(L, -2, "max");
    }
    lua_rawseti(L, -2, ++i);
  }
  lua_setfield(L, -2, "fields");
  return 1;
}

// sy.component("router.softmax_topk", {k = 2}) -> Component
int NewComponent(lua_State* L) {
  const std::string name = ArgString(L, 1, "component name");
  if (!lua_isnoneornil(L, 2)) ArgTable(L, 2, "config");
  const ConfigValue config = ToConfigValue(L, 2);
  const RegisteredComponent c = ValueOrThrow(GetHostContext(L).registry->Find(name));
  PushObject(L, kComponentMetatable, ValueOrThrow(Component::Create(c, config)));
  return 1;
}

Component& Self(lua_State* L) {
  return *ArgObject<ComponentRef>(L, 1, kComponentMetatable, "self");
}

Router SelfRouter(lua_State* L) {
  return ValueOrThrow(Router::From(ArgObject<ComponentRef>(L, 1, kComponentMetatable, "self")));
}

int KindOf(lua_State* L) {
  lua_pushstring(L, std::string(KindName(Self(L).kind())).c_str());
  return 1;
}

int NameOf(lua_State* L) {
  lua_pushstring(L, Self(L).full_name().c_str());
  return 1;
}

int LibraryOf(lua_State* L) {
  lua_pushstring(L, Self(L).library().path().c_str());
  return 1;
}

// c:config() -> the validated config with every default filled in.
int ConfigOf(lua_State* L) {
  PushConfigValue(L, Self(L).config().ToValue());
  return 1;
}

int ConfigText(lua_State* L) {
  lua_pushstring(L, Self(L).config().ToText().c_str());
  return 1;
}

int TopK(lua_State* L) {
  lua_pushinteger(L, SelfRouter(L).top_k());
  return 1;
}

// router:route(logits [, {token_ids = t, correction_bias = t}]) -> expert_ids, expert_weights
int Route(lua_State* L) {
  const Router router = SelfRouter(L);
  RouterInputs inputs;
  inputs.logits = ArgTensor(L, 2, "logits");
  if (!lua_isnoneornil(L, 3)) {
    ArgTable(L, 3, "options");
    RawField(L, 3, "token_ids");
    if (!lua_isnil(L, -1)) inputs.token_ids = ArgTensor(L, -1, "token_ids");
    RawField(L, 3, "correction_bias");
    if (!lua_isnil(L, -1)) inputs.correction_bias = ArgTensor(L, -1, "correction_bias");
    lua_pop(L, 2);
  }
  RouterOutput out = ValueOrThrow(router.Route(*GetHostContext(L).cpu, inputs));
  PushTensor(L, std::move(out.expert_ids));
  PushTensor(L, std::move(out.expert_weights));
  return 2;
}

int ToString(lua_State* L) {
  const Component& c = Self(L);
  lua_pushstring(L,
                 absl::StrCat("Component(", c.full_name(), " ", c.config().ToText(), ")").c_str());
  return 1;
}

}  // namespace

void RegisterComponentBindings(lua_State* L) {
  static const luaL_Reg methods[] = {{"kind", Wrap<KindOf>},
                                     {"name", Wrap<NameOf>},
                                     {"library", Wrap<LibraryOf>},
                                     {"config", Wrap<ConfigOf>},
                                     {"config_text", Wrap<ConfigText>},
                                     {"top_k", Wrap<TopK>},
                                     {"route", Wrap<Route>},
                                     {"__tostring", Wrap<ToString>},
                                     {"__gc", DestroyObject<ComponentRef>},
                                     {nullptr, nullptr}};
  RegisterMetatable(L, kComponentMetatable, methods);

  static const luaL_Reg functions[] = {{"plugins", Wrap<Plugins>},
                                       {"load_errors", Wrap<LoadErrors>},
                                       {"describe", Wrap<Describe>},
                                       {"component", Wrap<NewComponent>},
                                       {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
