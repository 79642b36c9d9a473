// End-to-end tests of the switchyard executable: each test runs the real CLI in a child
// process and checks its output and exit status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/wait.h>
#include "core/include/switchyard/plugin_abi.h"
#include "core/model/test_files.h"
#include "tests/support/cli_runner.h"
#include "tests/support/scratch_dir.h"

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <utility>

namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

using Result = sy::testing_support::CliResult;
using sy::testing_support::RunCli;

// "ABI major.minor" of the host these tests were built with.
std::string HostAbi() {
  return "ABI " + std::to_string(SY_ABI_MAJOR) + "." + std::to_string(SY_ABI_MINOR);
}

std::string WriteScript(const std::string& name, const std::string& code) {
  const std::string path = sy::testing_support::ScratchDir() + "/" + name;
  std::ofstream(path) << code;
  return path;
}

TEST(CliTest, HelpListsEveryCommandAndEachCommandHasHelp) {
  const Result overview = RunCli("$SY --help");
  EXPECT_EQ(overview.status, 0);
  for (const char* command : {"run", "shell", "plugins"}) {
    EXPECT_THAT(overview.output, HasSubstr(std::string("  ") + command));
    const Result help = RunCli(std::string("$SY ") + command + " --help");
    EXPECT_EQ(help.status, 0) << command;
    EXPECT_THAT(help.output, AllOf(StartsWith(std::string("Usage: switchyard ") + command),
                                   HasSubstr("--plugin-path")));
  }
  EXPECT_EQ(RunCli("$SY").status, 2);
  const Result unknown = RunCli("$SY frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_THAT(unknown.output, HasSubstr("unknown command 'frobnicate'"));
  EXPECT_THAT(RunCli("$SY --version").output, HasSubstr(HostAbi()));
}

TEST(CliTest, PluginsListsTheRouterFromItsLibrary) {
  const Result r = RunCli("$SY plugins");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, ContainsRegex("KIND +NAME +PLUGIN +VERSION +SCORE +LIBRARY"));
  EXPECT_THAT(r.output, ContainsRegex("router +softmax_topk +builtin\\.softmax_topk +0\\.1\\.0"));
  EXPECT_THAT(r.output, ContainsRegex("experts +cpu +builtin\\.experts_cpu"));
  EXPECT_THAT(r.output, ContainsRegex("quantizer +fp8 "));
  EXPECT_THAT(r.output, HasSubstr("lib/switchyard/plugins/sy_router_softmax_topk.so"));
  EXPECT_THAT(r.output, Not(HasSubstr("Problems loading")));
}

TEST(CliTest, BrokenPluginsOnThePathAreReportedAndSkipped) {
  const Result r = RunCli("$SY plugins --plugin-path " SY_TEST_BINARY_DIR "/test_plugins");
  EXPECT_EQ(r.status, 0);
  // Built-in plugins load first: the test library's impostor cannot shadow softmax_topk.
  EXPECT_THAT(r.output, ContainsRegex("router +softmax_topk +builtin\\.softmax_topk"));
  EXPECT_THAT(r.output, ContainsRegex("router +faulty "));
  EXPECT_THAT(r.output, ContainsRegex("router +first_expert "));
  EXPECT_THAT(r.output,
              HasSubstr("Problems loading 7 plugin libraries (what they name was skipped):"));
  EXPECT_THAT(
      r.output,
      HasSubstr("sy_test_duplicate.so: duplicate component names, skipped: router.softmax_topk"));
  EXPECT_THAT(r.output, Not(HasSubstr("[warning")));  // listed once, in the summary
  EXPECT_THAT(r.output, HasSubstr("not_a_library.so: not a loadable shared library"));
  EXPECT_THAT(r.output,
              HasSubstr("sy_test_abi_major.so: plugin ABI 2." + std::to_string(SY_ABI_MINOR) +
                        " is incompatible with the host's " + HostAbi()));
}

TEST(CliTest, RunWarnsAboutSkippedPluginsAndStillRuns) {
  const Result r = RunCli("$SY run --plugin-path " SY_TEST_BINARY_DIR
                          "/test_plugins " SY_TEST_SOURCE_DIR "/examples/route_tokens.lua");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("[warning plugins] " SY_TEST_BINARY_DIR "/test_plugins/not_a_library.so"));
  EXPECT_THAT(r.output, HasSubstr("config     (k = 2, renormalize = true)"));
  EXPECT_THAT(r.output, HasSubstr("component  router.softmax_topk"));
}

TEST(CliTest, DescribePrintsTheConfigFields) {
  const Result r = RunCli("$SY plugins --describe router.softmax_topk");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output, HasSubstr("FIELD        TYPE    DEFAULT  RANGE"));
  EXPECT_THAT(r.output, HasSubstr("k            UInt32  2        [1, 1024]  experts per token"));
  EXPECT_THAT(r.output, HasSubstr("renormalize  Bool    true"));
  const Result missing = RunCli("$SY plugins --describe router.nope");
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output,
              ContainsRegex("no component 'router.nope' \\(available: .*router.softmax_topk"));
}

TEST(CliTest, RunsTheExampleScriptAndPrintsTheValidatedConfig) {
  const Result r = RunCli("$SY run " SY_TEST_SOURCE_DIR "/examples/route_tokens.lua");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("config     (k = 2, renormalize = true)"));
  EXPECT_THAT(r.output, HasSubstr("    0  0, 1     0.7311, 0.2689"));
  EXPECT_THAT(r.output, HasSubstr("    3  0, 1     0.5000, 0.5000"));
}

TEST(CliTest, TheMainPipelineRuns) {
  const Result r =
      RunCli("$SY run " SY_TEST_SOURCE_DIR "/scripts/pipelines/route_synthetic.lua 512 8");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("routed   512 tokens over 8 experts, top-2"));
  EXPECT_THAT(r.output, HasSubstr("dropped 0"));
}

TEST(CliTest, ScriptErrorsPrintFileLineAndExitNonZero) {
  const std::string syntax = WriteScript("syntax.lua", "local x = 1\nlocal = 2\n");
  const Result s = RunCli("$SY run " + syntax);
  EXPECT_EQ(s.status, 1);
  EXPECT_THAT(s.output, StartsWith(syntax + ":2:"));

  const std::string runtime =
      WriteScript("runtime.lua", "print('before')\nlocal t = nil\nprint(t.x)\n");
  const Result r = RunCli("$SY run " + runtime);
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, AllOf(HasSubstr("before\n"),
                              HasSubstr(runtime + ":3: attempt to index a nil value")));

  const std::string config = WriteScript("config.lua",
                                         "local sy = require 'switchyard'\n\nlocal r = "
                                         "sy.component('router.softmax_topk', {k = 2.5})\n");
  const Result c = RunCli("$SY run " + config);
  EXPECT_EQ(c.status, 1);
  EXPECT_THAT(
      c.output,
      HasSubstr(config + ":3: router.softmax_topk: field 'k' expected an integer, got 2.5"));

  const Result missing = RunCli("$SY run /nonexistent/script.lua");
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("cannot open /nonexistent/script.lua"));
  EXPECT_EQ(RunCli("$SY run").status, 2);
}

TEST(CliTest, ScriptsReceiveTheirArguments) {
  const std::string script =
      WriteScript("args.lua", "print(select('#', ...), arg[0] ~= nil, arg[1], arg[2])\n");
  const Result r = RunCli("$SY run " + script + " first --second");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "2\ttrue\tfirst\t--second\n");
}

TEST(CliTest, BenchQuantComparesEveryFormatWithBf16) {
  const Result r = RunCli("$SY bench quant --rows 64 --cols 256");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, ContainsRegex("FORMAT +BITS/WEIGHT +WEIGHT ERR +x BF16"));
  EXPECT_THAT(r.output, ContainsRegex("bf16 +16.00 +[0-9.e-]+ +1.0 "));
  for (const char* format :
       {"fp8 e4m3 block 128x128", "int8 per-channel", "int4 group 128 \\+ zero"}) {
    EXPECT_THAT(r.output, ContainsRegex(std::string(format) + " +[0-9.]+ +[0-9.e-]+ +[0-9.]+ "))
        << format;
  }
}

TEST(CliTest, BenchMoePrintsEachTokenCountBesideThePeak) {
  const Result r = RunCli(
      "$SY bench moe --experts 4 --hidden 64 --intermediate 128 --tokens 1,8 --iterations 2");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("measured on this machine: f32 GEMM"));
  EXPECT_THAT(r.output, ContainsRegex("\n1 +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+%"));
  EXPECT_THAT(r.output, ContainsRegex("\n8 +[0-9.]+ +[0-9]+ +[0-9.]+ +[0-9.]+%"));
  const Result bad = RunCli("$SY bench moe --tokens 1,x");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("bad token count 'x'"));
  // The CUDA bench checks its flags before it looks for a device.
  struct BadFlag {
    const char* flag;
    const char* value;
    const char* message;
  };
  for (const BadFlag& bad_flag :
       {BadFlag{"--row-groups", "3", "--row-groups: R or G/D"},
        BadFlag{"--row-groups", "2/x", "--row-groups: R or G/D"},
        BadFlag{"--row-groups", "1/2/4", "--row-groups: R or G/D"},
        BadFlag{"--half-tiles", "maybe", "--half-tiles: auto"},
        BadFlag{"--raster-group", "3", "--raster-group: 0"},
        BadFlag{"--raster-group", "16", "--raster-group: 0"},
        BadFlag{"--raster-group", "x", "--raster-group: 0"},
        BadFlag{"--block-m", "96", "--block-m: 0 .*got '96'"},
        BadFlag{"--block-m", "x", "--block-m: expected an integer >= 0, got 'x'"},
        BadFlag{"--token-tiles", "x", "--token-tiles: expected an integer >= 0, got 'x'"},
        BadFlag{"--token-tiles", "3", "--token-tiles: 0 .*got '3'"}}) {
    const std::string args = std::string(bad_flag.flag) + " " + bad_flag.value;
    const Result r = RunCli("$SY bench moe --device cuda " + args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_THAT(r.output, ContainsRegex(std::string(bad_flag.message) + "|this build has no CUDA"))
        << args;
  }
  EXPECT_EQ(RunCli("$SY bench nothing").status, 2);
}

TEST(CliTest, BenchEplbBalancesEachLayer) {
  const Result r =
      RunCli("$SY bench eplb --shape qwen3-30b-a3b --ranks 8 --redundant 8 --skew 1.2");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("128 experts, 8 ranks on 1 node(s), 8 redundant slots (17 per"));
  EXPECT_THAT(r.output, ContainsRegex("\n47 +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+x +[0-9.]+\n"));
  EXPECT_THAT(r.output, ContainsRegex("\nmean +[0-9.]+ +1\\.[0-9]+ +[0-9.]+x"));
  const Result text = RunCli("$SY bench eplb --text " SY_TEST_SOURCE_DIR
                             "/docs/moe-layer.md --text-tokens 512 --ranks 4 --redundant 4");
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("over " SY_TEST_SOURCE_DIR "/docs/moe-layer.md (512 tokens)"));
  const Result bad = RunCli("$SY bench eplb --ranks 3 --redundant 0");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("256 experts + 0 redundant slots do not split over 3 ranks"));
}

// Online: the built-in model's 256-token windows as steps through the online rebalancer.
TEST(CliTest, BenchEplbRebalancesOnlineOverTheModelsSteps) {
  const Result r = RunCli("$SY bench eplb --text " SY_TEST_SOURCE_DIR
                          "/docs/moe-layer.md --text-tokens 2048 --ranks 4 --redundant 4 "
                          "--rebalance-interval 2 --rebalance-window 4");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(2048 tokens, 256 a step): 8 steps"));
  EXPECT_THAT(r.output, HasSubstr("8 experts, 4 ranks on 1 node(s), 3 slots per rank; rebalance "
                                  "every 2 steps over the last 4"));
  // The first interval sees contiguous sharding of a skewed router: it must move experts.
  EXPECT_THAT(r.output, ContainsRegex("\nstep 2: moved [1-4] of 4 MoE layers; max/mean tokens per "
                                      "rank over the last 2 steps"));
  std::smatch summary;
  const std::regex figures(
      "contiguous, no replicas +([0-9.]+)\n +initial placement kept +([0-9.]+)\n +online "
      "rebalancing +([0-9.]+)");
  ASSERT_TRUE(std::regex_search(r.output, summary, figures)) << r.output;
  EXPECT_LT(std::stod(summary[3]), std::stod(summary[1])) << r.output;
  EXPECT_LT(std::stod(summary[3]), std::stod(summary[2])) << r.output;

  const std::pair<const char*, const char*> bad[] = {
      {"--rebalance-interval 0 --text x",
       "--rebalance-interval: expected an integer >= 1, got '0'"},
      {"--rebalance-interval 2 --rebalance-window -3 --text x",
       "--rebalance-window: expected an integer >= 1, got '-3'"},
      {"--rebalance-window 4 --text x", "--rebalance-window: only with --rebalance-interval N"},
      {"--rebalance-interval 2", "--rebalance-interval replays a model's steps: give --text FILE"},
  };
  for (const auto& [options, error] : bad) {
    const Result e = RunCli(std::string("$SY bench eplb ") + options);
    EXPECT_EQ(e.status, 2) << options;
    EXPECT_THAT(e.output, HasSubstr(error)) << options;
  }
}

TEST(CliTest, GenerateRunsAMadeDeepseekV3InFp8) {
  const std::string dir = sy::testing_support::ScratchDir() + "/deepseek_v3";
  RunCli("rm -rf " + dir);
  const Result made = RunCli("$SY make-model --arch deepseek_v3 --fp8 --dtype bf16 --out " + dir);
  ASSERT_EQ(made.status, 0) << made.output;
  EXPECT_THAT(RunCli("cat " + dir + "/config.json").output, HasSubstr("\"quant_method\": \"fp8\""));
  const Result r = RunCli("$SY generate --model " + dir + " --prompt 'Hello there' --max-tokens 8");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output,
              ContainsRegex("generated [0-8] tokens, [0-9.]+ tokens/s, finish: (length|stop)"));
}

TEST(CliTest, GenerateRunsAMadeGptOssInMxfp4) {
  const std::string dir = sy::testing_support::ScratchDir() + "/gpt_oss";
  RunCli("rm -rf " + dir);
  const Result made = RunCli("$SY make-model --arch gpt_oss --mxfp4 --dtype bf16 --out " + dir);
  ASSERT_EQ(made.status, 0) << made.output;
  EXPECT_THAT(RunCli("cat " + dir + "/config.json").output,
              HasSubstr("\"quant_method\": \"mxfp4\""));
  const Result r = RunCli("$SY generate --model " + dir + " --prompt 'Hello there' --max-tokens 8");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output,
              ContainsRegex("generated [0-8] tokens, [0-9.]+ tokens/s, finish: (length|stop)"));
}

// --device cuda runs the whole model on the GPU; without one it is a clear error, and options
// the GPU path does not take are refused by name rather than ignored.
TEST(CliTest, GenerateOnTheGpuOrAClearErrorWithoutOne) {
  const bool gpu = RunCli("nvidia-smi -L 2>/dev/null | grep -q GPU").status == 0;
  const Result r = RunCli("$SY generate --device cuda --prompt 'def main' --max-tokens 16");
  if (gpu) {
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("generated [0-9]+ tokens, [0-9.]+ tokens/s"));
    const Result random = RunCli(
        "$SY generate --device cuda --weights random --model qwen3-30b-a3b --prompt hi "
        "--max-tokens 4");
    EXPECT_EQ(random.status, 0) << random.output;
  } else {
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("--device cuda: this machine has 0 usable CUDA device"));
  }
  EXPECT_THAT(RunCli("$SY generate --device tpu --prompt x").output, HasSubstr("--device"));
  EXPECT_THAT(RunCli("$SY generate --weights random --model mixtral-8x7b --prompt x").output,
              HasSubstr("random weights are synthesized on a GPU"));
  EXPECT_THAT(RunCli("$SY generate --weights zeros --prompt x").output,
              HasSubstr("--weights: expected checkpoint or random"));
  // --layers cuts a random-weight model; out of range, or without --weights random, it is an
  // error before anything loads.
  EXPECT_THAT(
      RunCli("$SY generate --weights random --model gpt-oss-120b --layers 37 --prompt x").output,
      HasSubstr("--layers: expected an integer in [1, 36]"));
  EXPECT_THAT(RunCli("$SY generate --layers 2 --prompt x").output,
              HasSubstr("--layers applies to --weights random only"));
}

TEST(CliTest, GenerateRunsAMadeModelAndReportsBadInput) {
  const std::string dir = sy::testing_support::ScratchDir() + "/generate_model";
  RunCli("rm -rf " + dir);
  ASSERT_EQ(RunCli("$SY make-model --arch olmoe --out " + dir).status, 0);
  const Result r = RunCli("$SY generate --model " + dir + " --prompt 'Hello there' --max-tokens 8");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output,
              ContainsRegex("generated [0-8] tokens, [0-9.]+ tokens/s, finish: (length|stop)"));
  EXPECT_THAT(r.output, HasSubstr("loaded 2 layers"));

  const Result lua =
      RunCli("$SY run " SY_TEST_SOURCE_DIR "/examples/generate.lua " + dir + " 'Once upon'");
  EXPECT_EQ(lua.status, 0) << lua.output;
  EXPECT_THAT(lua.output, HasSubstr("OlmoeForCausalLM: 2 layers, hidden 64, 8 experts, top-2"));
  EXPECT_THAT(lua.output,
              ContainsRegex("[0-9]+ prompt tokens, [0-9]+ generated \\((length|stop)\\)"));
  EXPECT_THAT(lua.output, ContainsRegex("layer 1  max/mean [0-9.]+  tokens per expert \\{"));

  EXPECT_EQ(RunCli("$SY generate --max-tokens 2").status, 2);
  EXPECT_THAT(RunCli("$SY generate --model " + dir + " --prompt x --top-p 1.5").output,
              HasSubstr("top_p must be in (0, 1]"));
  const Result missing = RunCli("$SY generate --model /nonexistent/model --prompt x");
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/model"));
  const Result bad_utf8 =
      RunCli("$SY generate --model " + dir + " --prompt \"$(printf 'ab\\377c')\"");
  EXPECT_EQ(bad_utf8.status, 1);
  EXPECT_THAT(bad_utf8.output, HasSubstr("invalid UTF-8 at byte offset 2"));
}

// With no --model, the built-in model: transformers' greedy continuation of this prompt
// (core/model/testdata/hf/hf_pydoc_moe.json) begins " is a tuple of strings".
TEST(CliTest, GenerateDefaultsToTheBuiltInModel) {
  const Result r = RunCli("$SY generate --prompt 'The list type' --max-tokens 8");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\n is a tuple of strings")) << r.output;
}

TEST(CliTest, MainPipelineGeneratesAndPrintsExpertLoad) {
  const Result r =
      RunCli("$SY run " SY_TEST_SOURCE_DIR "/scripts/pipelines/builtin_model_demo.lua");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("model    pydoc-moe: Qwen3MoeForCausalLM, 4 layers, hidden 256, "
                                  "8 experts, top-2, vocab 4096"));
  EXPECT_THAT(r.output, ContainsRegex("\\[4\\] def read_config\\(path\\):"));
  EXPECT_THAT(r.output, ContainsRegex("\\(48 tokens, length, [0-9]+ tokens/s\\)"));
  EXPECT_THAT(r.output, HasSubstr("layer  e0"));
  for (const char* row : {"\n    0 ", "\n    1 ", "\n    2 ", "\n    3 "}) {
    EXPECT_THAT(r.output, ContainsRegex(std::string(row) + "( +[0-9]+){8}  [0-9.]+ "));
  }
  const Result int4 = RunCli("$SY run " SY_TEST_SOURCE_DIR
                             "/scripts/pipelines/builtin_model_demo.lua '' quantizer.int4");
  EXPECT_EQ(int4.status, 0) << int4.output;
  EXPECT_THAT(int4.output, HasSubstr("experts quantizer.int4"));
}

TEST(CliTest, PerplexityScoresATextFileAndReportsBadInput) {
  const std::string text = sy::testing_support::ScratchDir() + "/ppl.txt";
  sy::testing_support::WriteFile(
      text,
      "The list type is a mutable sequence. Lists may be constructed in several ways: using a "
      "pair of square brackets to denote the empty list, using square brackets and separating "
      "items with commas, or using a list comprehension.\n\n\nA dictionary maps hashable "
      "values to arbitrary objects. Mappings are mutable objects.\n");
  const Result r = RunCli("$SY perplexity --text " + text + " --window 32");
  EXPECT_EQ(r.status, 0) << r.output;
  // Documentation prose the model was trained on the style of: well below its vocabulary size.
  EXPECT_THAT(r.output, ContainsRegex("pydoc-moe +[^ ]+ppl.txt +[0-9]+ +[0-9]+ +[0-9.]+ +"
                                      "([1-9]|[1-9][0-9])\\.[0-9]+ +[0-9]+"));
  EXPECT_EQ(RunCli("$SY perplexity").status, 2);
  EXPECT_EQ(RunCli("$SY perplexity --text " + text + " --window 1").status, 2);
  const Result missing = RunCli("$SY perplexity --text /nonexistent/ppl.txt");
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/ppl.txt: cannot open the file"));
}

TEST(CliTest, ShellEvaluatesInputAndSurvivesErrors) {
  const Result r = RunCli(
      "printf '1 + 1\\nsy.component(\"router.softmax_topk\", {k = -1})\\n"
      "sy.describe(\"router.softmax_topk\").fields[2].name\\n' | $SY shell");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output,
            "2\nstdin:1: router.softmax_topk: field 'k' = -1 does not fit its type "
            "UInt32\nrenormalize\n");
}

TEST(CliTest, MakeModelWritesEachArchitecture) {
  const std::string root = sy::testing_support::ScratchDir() + "/make_model";
  RunCli("rm -rf " + root);
  const char* archs[][2] = {
      {"mixtral", "MixtralForCausalLM"},        {"qwen2_moe", "Qwen2MoeForCausalLM"},
      {"qwen3_moe", "Qwen3MoeForCausalLM"},     {"olmoe", "OlmoeForCausalLM"},
      {"deepseek_v3", "DeepseekV3ForCausalLM"}, {"gpt_oss", "GptOssForCausalLM"}};
  for (const auto& [arch, class_name] : archs) {
    const std::string dir = root + "/" + arch;
    const Result r = RunCli(std::string("$SY make-model --arch ") + arch +
                            " --layers 1 --experts 4 --shards 2 --dtype bf16 --out " + dir);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_THAT(r.output, ContainsRegex("FILE +TENSORS +PARAMETERS +BYTES"));
    EXPECT_THAT(r.output,
                ContainsRegex("model-00002-of-00002.safetensors +[0-9]+ +[0-9]+ +[0-9]+"));
    const Result files = RunCli("cd " + dir + " && ls && cat config.json");
    for (const char* file : {"config.json", "generation_config.json", "tokenizer.json",
                             "model-00001-of-00002.safetensors", "model.safetensors.index.json"}) {
      EXPECT_THAT(files.output, HasSubstr(file)) << arch;
    }
    EXPECT_THAT(files.output, HasSubstr(std::string("\"model_type\": \"") + arch + "\""));
    EXPECT_THAT(files.output, HasSubstr(class_name));
    EXPECT_THAT(files.output, HasSubstr("\"torch_dtype\": \"bfloat16\""));
  }
  const Result help = RunCli("$SY make-model --help");
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.output, StartsWith("Usage: switchyard make-model"));
  const Result bad = RunCli("$SY make-model --arch olmoe --top-k 9 --out " + root + "/bad");
  EXPECT_EQ(bad.status, 2);
  EXPECT_THAT(bad.output, HasSubstr("top_k (9) exceeds experts (8)"));
  EXPECT_EQ(RunCli("$SY make-model --arch gpt2 --out " + root + "/bad").status, 2);
  const Result taken = RunCli("$SY make-model --arch olmoe --out " + root + "/olmoe");
  EXPECT_EQ(taken.status, 1);
  EXPECT_THAT(taken.output, HasSubstr("not an empty directory"));
}

}  // namespace
