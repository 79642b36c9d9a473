// A/B tests in Lua: sy.ab{...} runs core/ab's experiment, as `switchyard ab` does, and returns
// its figures as a table.
//
//   local r = sy.ab { a = "", b = "quantizer=quantizer.int4", max_tokens = 16,
//                     html = "ab.html" }
//   print(r.quality.mean_kl, r.quality.top1_agreement, r.b.perplexity)
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/ab/ab_experiment.h"
#include "core/ab/ab_prompts.h"
#include "core/ab/ab_report_html.h"
#include "core/ab/ab_report_json.h"
#include "core/ab/ab_spec.h"
#include "core/base/install_layout.h"
#include "core/lua/lua_module.h"
#include "core/lua/lua_support.h"

namespace sy::lua {
namespace {

void SetNumber(lua_State* L, const char* key, double value) {
  lua_pushnumber(L, value);
  lua_setfield(L, -2, key);
}

// prompts = {"...", ...}, or prompts_file = "FILE" (as --prompts), or the built-in prompts.
std::vector<std::string> ReadPrompts(lua_State* L) {
  const std::string file = OptionString(L, 1, "prompts_file", "");
  RawField(L, 1, "prompts");
  const bool listed = !lua_isnil(L, -1);
  std::vector<std::string> prompts;
  if (listed) {
    const ConfigValue list = ToConfigValue(L, lua_gettop(L), "prompts");
    if (list.is_list()) {
      for (const ConfigValue& p : std::get<ConfigList>(list.value)) {
        if (!p.is_string()) throw LuaError("option 'prompts' must be a list of strings");
        prompts.push_back(std::get<std::string>(p.value));
      }
    }
    if (prompts.empty()) throw LuaError("option 'prompts' must be a non-empty list of strings");
  }
  lua_pop(L, 1);
  if (listed && !file.empty()) throw LuaError("give 'prompts' or 'prompts_file', not both");
  if (!file.empty()) return ValueOrThrow(ab::LoadPrompts(file));
  return listed ? prompts : ab::BuiltinPrompts();
}

void WriteReport(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.good()) throw LuaError(absl::StrCat(path, ": cannot write"));
}

void PushSide(lua_State* L, const ab::Side& side) {
  lua_createtable(L, 0, 8);
  lua_pushlstring(L, side.spec.data(), side.spec.size());
  lua_setfield(L, -2, "spec");
  SetNumber(L, "perplexity", side.run.perplexity.perplexity);
  SetNumber(L, "tokens_per_second", side.speed.tokens_per_second);
  SetNumber(L, "p50_ms", side.speed.p50_ms);
  SetNumber(L, "p90_ms", side.speed.p90_ms);
  SetNumber(L, "p99_ms", side.speed.p99_ms);
  // Per MoE layer (1-based), its max/mean expert load.
  lua_createtable(L, static_cast<int>(side.run.layer_loads.size()), 0);
  for (size_t l = 0; l < side.run.layer_loads.size(); ++l) {
    lua_pushnumber(L, side.run.layer_loads[l].max_over_mean);
    lua_rawseti(L, -2, static_cast<lua_Integer>(l + 1));
  }
  lua_setfield(L, -2, "max_over_mean");
}

// sy.ab{model=, a=, b=, prompts= | prompts_file=, text=, text_tokens=, window=, max_tokens=,
//   html=, json=}
int RunAb(lua_State* L) {
  ArgTable(L, 1, "A/B options");
  ab::Experiment in;
  in.model_dir = OptionString(L, 1, "model", BuiltinModelDir());
  in.a = OptionString(L, 1, "a", "");
  in.b = OptionString(L, 1, "b", "");
  for (const auto& [key, spec] : {std::pair{"a", &in.a}, std::pair{"b", &in.b}}) {
    if (auto parsed = ab::ParseSide(*spec); !parsed.ok())
      throw LuaError(absl::StrCat("option '", key, "': ", parsed.status().message()));
  }
  in.prompts = ReadPrompts(L);
  in.heldout_path = OptionString(L, 1, "text", "");
  in.heldout_tokens = OptionInteger(L, 1, "text_tokens", in.heldout_tokens);
  in.options.window = OptionInteger(L, 1, "window", in.options.window);
  in.options.max_tokens =
      static_cast<int32_t>(OptionInteger(L, 1, "max_tokens", in.options.max_tokens));
  if (in.options.max_tokens < 1) throw LuaError("option 'max_tokens' must be at least 1");
  if (in.options.window < 2) throw LuaError("option 'window' must be at least 2");
  if (in.heldout_tokens < 2) throw LuaError("option 'text_tokens' must be at least 2");
  const std::string html = OptionString(L, 1, "html", "");
  const std::string json = OptionString(L, 1, "json", "");

  HostContext& host = GetHostContext(L);
  const ab::Report report =
      ValueOrThrow(ab::RunExperiment(in, *host.registry, *host.cpu, [](const std::string&) {}));
  WriteReport(html, ab::ReportHtml(report));
  WriteReport(json, ab::ReportJson(report));

  lua_createtable(L, 0, 4);
  lua_pushlstring(L, report.model.data(), report.model.size());
  lua_setfield(L, -2, "model");
  lua_createtable(L, 0, 7);
  const ab::Quality& q = report.quality;
  SetNumber(L, "positions", static_cast<double>(q.positions));
  SetNumber(L, "mean_kl", q.mean_kl);
  SetNumber(L, "max_kl", q.max_kl);
  SetNumber(L, "top1_agreement", q.top1_agreement);
  SetNumber(L, "greedy_agreement", q.greedy_agreement());
  SetNumber(L, "mean_matching_prefix", q.mean_matching_prefix);
  lua_setfield(L, -2, "quality");
  PushSide(L, report.a);
  lua_setfield(L, -2, "a");
  PushSide(L, report.b);
  lua_setfield(L, -2, "b");
  return 1;
}

}  // namespace

void RegisterAbBindings(lua_State* L) {
  static const luaL_Reg functions[] = {{"ab", Wrap<RunAb>}, {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace sy::lua
