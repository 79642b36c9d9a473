// The Lua side end to end inside one process: the module, component creation from tables,
// errors with file:line, tensors, and the interactive loop.
#include "core/lua/lua_runtime.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/scratch_dir.h"

#include <fstream>
#include <sstream>

namespace sy {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class LuaRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = std::make_shared<ComponentRegistry>();
    registry->Discover({SY_TEST_BINARY_DIR "/lib/switchyard/plugins"});
    auto runtime = LuaRuntime::Create(registry, {SY_TEST_BINARY_DIR "/share/switchyard/lua"});
    ASSERT_TRUE(runtime.ok()) << runtime.status();
    runtime_ = *std::move(runtime);
    ASSERT_TRUE(runtime_->RunString("sy = require 'switchyard'", "=setup").ok());
  }
  // Runs `code`, which must leave its answer in the global `result`, and returns it.
  std::string Eval(const std::string& code) {
    const absl::Status s = runtime_->RunString(code + "\nresult = tostring(result)", "=test");
    EXPECT_TRUE(s.ok()) << s;
    lua_getglobal(runtime_->state(), "result");
    std::string value =
        lua_tostring(runtime_->state(), -1) ? lua_tostring(runtime_->state(), -1) : "nil";
    lua_pop(runtime_->state(), 1);
    return value;
  }
  std::string Error(const std::string& code) {
    const absl::Status s = runtime_->RunString(code, "=test");
    EXPECT_FALSE(s.ok()) << code;
    return std::string(s.message());
  }
  std::unique_ptr<LuaRuntime> runtime_;
};

TEST_F(LuaRuntimeTest, CreatesAComponentFromATableAndReadsBackItsConfig) {
  EXPECT_EQ(
      Eval("local r = sy.component('router.softmax_topk', {k = 3})\n"
           "local c = r:config()\n"
           "result = r:name() .. ' ' .. c.k .. ' ' .. tostring(c.renormalize) .. ' ' .. r:top_k()"),
      "router.softmax_topk 3 true 3");
}

TEST_F(LuaRuntimeTest, RoutesATensor) {
  EXPECT_EQ(Eval("local r = sy.component('router.softmax_topk', {k = 1})\n"
                 "local ids, w = r:route(sy.tensor({{0, 5, 1}, {9, 0, 0}}))\n"
                 "result = ids:get(1, 1) .. ',' .. ids:get(2, 1) .. ',' .. w:get(1, 1)"),
            "1,0,1.0");
}

TEST_F(LuaRuntimeTest, ConfigErrorsNameTheScriptLineAndTheField) {
  EXPECT_EQ(Error("local x = 1\nlocal r = sy.component('router.softmax_topk', {k = 0})"),
            "test:2: router.softmax_topk: field 'k' = 0 is below its minimum 1");
  EXPECT_EQ(Error("sy.component('router.softmax_topk', {topk = 2})"),
            "test:1: router.softmax_topk: unknown field 'topk' (known fields: k, renormalize)");
  EXPECT_EQ(Error("sy.component('router.softmax_topk', {k = 'two'})"),
            "test:1: router.softmax_topk: field 'k' expected a number, got string");
  EXPECT_THAT(Error("sy.component('router.softmax_topk', {k = print})"),
              HasSubstr("config value 'k' is a function"));
  EXPECT_THAT(Error("sy.component('router.softmax_topk', {1, k = 2})"),
              HasSubstr("mixes list items and named fields"));
  EXPECT_THAT(Error("sy.component('router.missing')"),
              StartsWith("test:1: no component 'router.missing'"));
}

TEST_F(LuaRuntimeTest, BadArgumentsAreLuaErrorsNotCrashes) {
  EXPECT_THAT(Error("sy.component(42)"),
              HasSubstr("bad argument #1 (component name): expected string, got number"));
  EXPECT_THAT(
      Error("local r = sy.component('router.softmax_topk')\nr:route('x')"),
      HasSubstr("test:2: bad argument #2 (logits): expected switchyard.Tensor, got string"));
  EXPECT_THAT(Error("local r = sy.component('router.softmax_topk')\nr.route(nil)"),
              HasSubstr("expected switchyard.Component"));
  EXPECT_THAT(Error("sy.tensor({{1, 2}, {3}})"), HasSubstr("ragged"));
  EXPECT_THAT(Error("sy.randn({2, -1})"), HasSubstr("shape[2] must be a non-negative integer"));
  EXPECT_THAT(Error("sy.zeros({2}, 'f8')"), HasSubstr("unknown dtype 'f8'"));
  EXPECT_THAT(Error("local t = sy.zeros({2, 2})\nt:get(3, 1)"),
              HasSubstr("index 3 out of range [1, 2]"));
}

TEST_F(LuaRuntimeTest, SyntaxAndRuntimeErrorsCarryTheLine) {
  EXPECT_THAT(Error("local x = = 1"), StartsWith("test:1:"));
  EXPECT_EQ(Error("local x = 1\nerror('boom')"), "test:2: boom");
  EXPECT_THAT(Error("local t = nil\nlocal y = t.field"),
              StartsWith("test:2: attempt to index a nil value"));
}

TEST_F(LuaRuntimeTest, TensorsConvertAndPrint) {
  EXPECT_EQ(Eval("local t = sy.tensor({{1.5, -2}, {3, 4}}, 'bf16')\n"
                 "result = t:dtype() .. ' ' .. table.concat(t:shape(), 'x') .. ' ' .. "
                 "t:to('f32'):get(1, 2) .. ' ' .. t:numel()"),
            "bf16 2x2 -2.0 4");
  EXPECT_THAT(Eval("result = sy.randn({3, 4}, {seed = 1})"), StartsWith("f32[3,4] on cpu\n"));
  EXPECT_EQ(Eval("local a, b = sy.randn({8}, {seed = 5}), sy.randn({8}, {seed = 5})\n"
                 "result = a:get(3) == b:get(3)"),
            "true");
  EXPECT_EQ(Eval("result = sy.tensor({1, 2, 3, -4}, 'i4'):to_table()[4]"), "-4");
}

TEST_F(LuaRuntimeTest, DescribeAndPluginsListTheRegistry) {
  EXPECT_EQ(Eval("local d = sy.describe('router.softmax_topk')\n"
                 "result = d.fields[1].name .. ' ' .. d.fields[1].type .. ' ' .. "
                 "d.fields[1].default .. ' ' .. d.fields[1].min"),
            "k UInt32 2 1.0");
  EXPECT_EQ(Eval("for _, p in ipairs(sy.plugins()) do\n"
                 "  if p.full_name == 'router.softmax_topk' then result = p.plugin end\n"
                 "end"),
            "builtin.softmax_topk");
}

TEST_F(LuaRuntimeTest, RunFilePassesArgumentsAndReportsTheFileName) {
  const std::string path = sy::testing_support::ScratchDir() + "/args.lua";
  std::ofstream(path) << "local a, b = ...\nassert(arg[1] == a and arg[2] == b)\n"
                         "result = a .. b\nif a == 'x' then error('bad arg') end\n";
  ASSERT_TRUE(runtime_->RunFile(path, {"p", "q"}).ok());
  EXPECT_EQ(Eval(""), "pq");
  const absl::Status s = runtime_->RunFile(path, {"x", "y"});
  EXPECT_EQ(std::string(s.message()), path + ":4: bad arg");
  EXPECT_THAT(std::string(runtime_->RunFile("/nonexistent.lua", {}).message()),
              HasSubstr("cannot open /nonexistent.lua"));
}

constexpr const char* kLayerSetup = R"(
  weights = sy.moe_weights {experts = 4, hidden = 32, intermediate = 16, seed = 3}
  x = sy.randn({10, 32}, {seed = 4})
  function make(router, quantizer, extra)
    local spec = {router = router, quantizer = quantizer, experts = sy.component('experts.cpu'), weights = weights}
    for key, value in pairs(extra or {}) do spec[key] = value end
    return sy.moe(spec)
  end
  function max_diff(a, b)
    local d = 0
    for i, row in ipairs(a:to_table()) do
      for j, v in ipairs(row) do d = math.max(d, math.abs(v - b:get(i, j))) end
    end
    return d
  end
  function rel_error(a, b)
    local d, n = 0, 0
    for i, row in ipairs(a:to_table()) do
      for j, v in ipairs(row) do d, n = d + (v - b:get(i, j))^2, n + v^2 end
    end
    return math.sqrt(d / n)
  end
)";

TEST_F(LuaRuntimeTest, MoeLayerForwardsAndReportsItsLoad) {
  ASSERT_TRUE(runtime_->RunString(kLayerSetup, "=setup").ok());
  EXPECT_EQ(Eval("local layer = make(sy.component('router.softmax_topk', {k = 2}))\n"
                 "local y = layer:forward(x)\n"
                 "local load, total = layer:load(), 0\n"
                 "for _, c in ipairs(load.tokensPerExpert) do total = total + c end\n"
                 "result = table.concat(y:shape(), 'x') .. ' ' .. total .. ' ' .. load.tokens .. ' "
                 "' .. load.topK"),
            "10x32 20 10 2");
}

TEST_F(LuaRuntimeTest, SwappingTheQuantizerIsOneLineAndStaysClose) {
  ASSERT_TRUE(runtime_->RunString(kLayerSetup, "=setup").ok());
  EXPECT_EQ(Eval("local r = sy.component('router.softmax_topk', {k = 2})\n"
                 "local exact = make(r):forward(x)\n"
                 "local fp8 = make(r, sy.component('quantizer.fp8')):forward(x)\n"
                 "local int8 = make(r, sy.component('quantizer.int8')):forward(x)\n"
                 "local e8, e = rel_error(exact, fp8), rel_error(exact, int8)\n"
                 "result = e8 > 0 and e8 < 0.1 and e > 0 and e < 0.02"),
            "true");
}

TEST_F(LuaRuntimeTest, LuaRoutersPrototypeRouting) {
  ASSERT_TRUE(runtime_->RunString(kLayerSetup, "=setup").ok());
  // Every token to expert 2 with weight 1: the load lands on one expert.
  EXPECT_EQ(Eval("local router = {k = 1, route = function(logits)\n"
                 "  local n = logits:shape()[1]\n"
                 "  local ids, w = {}, {}\n"
                 "  for t = 1, n do ids[t] = {2}; w[t] = {1.0} end\n"
                 "  return sy.tensor(ids, 'i32'), sy.tensor(w)\n"
                 "end}\n"
                 "local layer = make(router)\n"
                 "layer:forward(x)\n"
                 "result = layer:load().tokensPerExpert[3]"),
            "10");
  EXPECT_THAT(Error("local layer = make({k = 2, route = function(l) return sy.zeros({1, 1}, "
                    "'i32'), sy.zeros({1, 1}) end})\n"
                    "layer:forward(x)"),
              HasSubstr("test:2: lua router must return i32 and f32 tensors of shape [10,2]"));
  EXPECT_THAT(Error("local layer = make({k = 1, route = function(l) error('no idea') "
                    "end})\nlayer:forward(x)"),
              HasSubstr("lua router: test:1: no idea"));
}

TEST_F(LuaRuntimeTest, TraceRecordThenReplayIsIdentical) {
  ASSERT_TRUE(runtime_->RunString(kLayerSetup, "=setup").ok());
  const std::string path = sy::testing_support::ScratchDir() + "/lua.trace";
  EXPECT_EQ(Eval("local trace = sy.trace_writer('" + path +
                 "', {model = 'lua-test', experts = 4, top_k = 2})\n"
                 "local recorded = make(sy.component('router.softmax_topk', {k = 2}), nil, {trace "
                 "= trace}):forward(x)\n"
                 "trace:close()\n"
                 "local replayed = make(sy.component('router.replay', {path = '" +
                 path +
                 "'})):forward(x)\n"
                 "result = max_diff(recorded, replayed) == 0"),
            "true");
}

TEST_F(LuaRuntimeTest, MoeSpecErrorsAreClear) {
  ASSERT_TRUE(runtime_->RunString(kLayerSetup, "=setup").ok());
  EXPECT_THAT(Error("sy.moe {router = sy.component('router.softmax_topk'), weights = weights}"),
              HasSubstr("sy.moe needs 'experts'"));
  EXPECT_THAT(Error("make(sy.component('router.softmax_topk'), nil, {capacity = {factor = 1, "
                    "overflow = 'spill'}})"),
              HasSubstr("capacity.overflow must be 'drop' or 'reroute'"));
  EXPECT_THAT(Error("make(sy.component('experts.cpu'))"), HasSubstr("experts.cpu is not a router"));
}

TEST_F(LuaRuntimeTest, InteractiveLoopEvaluatesExpressionsAndContinuesLines) {
  std::istringstream in(
      "1 + 2\nlocal r = sy.component('router.softmax_topk', {k = 0})\n"
      "function f(x)\nreturn x * 10\nend\nf(4)\n");
  std::ostringstream out;
  runtime_->RunInteractive(in, out, false);
  EXPECT_EQ(out.str(),
            "3\nstdin:1: router.softmax_topk: field 'k' = 0 is below its minimum 1\n40\n");
}

}  // namespace
}  // namespace sy
