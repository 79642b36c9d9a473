// End-to-end tests of `switchyard plan`: each runs the real CLI in a child process and checks
// its output and exit status (0 success, 1 failure, 2 bad usage).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/support/cli_runner.h"
#include "tests/support/scratch_dir.h"

namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::StartsWith;

using Result = sy::testing_support::CliResult;
using sy::testing_support::RunSwitchyard;

// Mixtral-8x7B's published config.json, as a file.
nlohmann::json Mixtral8x7b() {
  return {{"architectures", {"MixtralForCausalLM"}},
          {"model_type", "mixtral"},
          {"hidden_size", 4096},
          {"intermediate_size", 14336},
          {"max_position_embeddings", 32768},
          {"num_attention_heads", 32},
          {"num_experts_per_tok", 2},
          {"num_hidden_layers", 32},
          {"num_key_value_heads", 8},
          {"num_local_experts", 8},
          {"tie_word_embeddings", false},
          {"vocab_size", 32000}};
}

TEST(PlanCliTest, HelpDescribesTheOptions) {
  const Result r = RunSwitchyard("plan --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.output,
              AllOf(StartsWith("Usage: switchyard plan MODEL"), HasSubstr("--precision P"),
                    HasSubstr("deepseek-v3"), HasSubstr("--plugin-path")));
  EXPECT_THAT(RunSwitchyard("--help").output, HasSubstr("  plan "));
}

TEST(PlanCliTest, APresetPrintsEveryTable) {
  const Result r = RunSwitchyard("plan mixtral-8x7b --context 32768 --concurrency 16");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("plan for mixtral-8x7b (MixtralForCausalLM, "
                                  "mistralai/Mixtral-8x7B-v0.1 config.json)"));
  EXPECT_THAT(r.output,
              ContainsRegex("routed experts +45,097,156,608 +90\\.19 +sharded over EP 8"));
  EXPECT_THAT(r.output,
              ContainsRegex("total +46,702,792,704 +93\\.41 +46\\.70 B, 12\\.88 B active"));
  EXPECT_THAT(r.output, ContainsRegex("weights: routed experts +11\\.27 +1 of 8 experts"));
  EXPECT_THAT(r.output, ContainsRegex("KV cache +8\\.59 +2 sequences x 4\\.29 GB"));
  EXPECT_THAT(r.output, ContainsRegex("total +26\\.89"));
  EXPECT_THAT(r.output, ContainsRegex("headroom +114\\.11 +fits"));
  EXPECT_THAT(r.output, ContainsRegex("bf16 +93\\.41 +2 +86\\.48"));
  EXPECT_THAT(r.output, ContainsRegex("fp8 +48\\.32 +1 +120\\.85"));
  EXPECT_THAT(r.output, ContainsRegex("\n *7 +7 +1\n"));  // rank 7 holds expert 7
}

TEST(PlanCliTest, AConfigFileOrFolderPlansLikeThePreset) {
  sy::testing_support::ScopedScratchDir dir;
  std::filesystem::create_directories(dir.path() / "Mixtral-8x7B");
  std::ofstream(dir.File("Mixtral-8x7B/config.json")) << Mixtral8x7b().dump(2);
  const Result r =
      RunSwitchyard("plan " + dir.File("Mixtral-8x7B") +
                    " --gpu h100 --gpus 4 --precision int4 --context 4096 --concurrency 32");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("plan for Mixtral-8x7B (MixtralForCausalLM, " +
                                  dir.File("Mixtral-8x7B/config.json") + ")"));
  EXPECT_THAT(r.output,
              HasSubstr("4 x H100 (80.00 GB), EP 4; weights int4 (experts; the rest bf16)"));
  EXPECT_THAT(r.output, ContainsRegex("total +46,702,792,704"));
  // The same numbers from the file as from the preset, as JSON.
  const Result file = RunSwitchyard("plan " + dir.File("Mixtral-8x7B/config.json") + " --json");
  const Result preset = RunSwitchyard("plan mixtral-8x7b --json");
  ASSERT_EQ(file.status, 0) << file.output;
  const nlohmann::json a = nlohmann::json::parse(file.output);
  const nlohmann::json b = nlohmann::json::parse(preset.output);
  EXPECT_EQ(a["per_gpu"], b["per_gpu"]);
  EXPECT_EQ(a["model"]["parameters"], 46'702'792'704);
  EXPECT_EQ(a["per_gpu"]["fits"], true);
  EXPECT_EQ(a["minimum_gpus"][0]["precision"], "bf16");
  EXPECT_EQ(a["placement"]["ranks"][3]["experts"], nlohmann::json({3}));
}

TEST(PlanCliTest, APlanThatDoesNotFitSaysByHowMuch) {
  const Result r = RunSwitchyard("plan deepseek-v3 --gpus 1 --context 4096");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("DOES NOT FIT"));
  EXPECT_THAT(r.output, HasSubstr("1 multi-token-prediction layer(s) not counted"));
  EXPECT_THAT(r.output,
              ContainsRegex("deepseek-v3 does not fit on 1 x H200 \\(141\\.00 GB each\\): "
                            "each GPU needs [0-9.]+ GB"));
}

TEST(PlanCliTest, AnyGpuCanBeNamedWithItsMemory) {
  const Result r =
      RunSwitchyard("plan qwen3-235b-a22b --gpu b200 --gpu-memory 192 --gpus 4 --context 8192");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("4 x b200 (192.00 GB), EP 4"));
  EXPECT_THAT(r.output, ContainsRegex("total +235,093,634,560"));
}

TEST(PlanCliTest, UnknownPresetListsThePresets) {
  const Result r = RunSwitchyard("plan mixtral-9x9b");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr("switchyard plan: 'mixtral-9x9b' is neither a config.json, a "
                                  "model folder nor a preset (presets: mixtral-8x7b, "
                                  "mixtral-8x22b, qwen3-30b-a3b, qwen3-235b-a22b, deepseek-v3, "
                                  "kimi-k2, gpt-oss-120b)"));
}

TEST(PlanCliTest, AConfigMissingAFieldNamesTheFieldAndTheFile) {
  sy::testing_support::ScopedScratchDir dir;
  nlohmann::json config = Mixtral8x7b();
  config.erase("num_local_experts");
  std::ofstream(dir.File("config.json")) << config.dump();
  const Result r = RunSwitchyard("plan " + dir.File("config.json"));
  EXPECT_EQ(r.status, 1);
  EXPECT_THAT(r.output, HasSubstr("switchyard plan: " + dir.File("config.json") +
                                  ": missing required field 'num_local_experts' "
                                  "(MixtralForCausalLM)"));
  std::filesystem::create_directories(dir.path() / "empty");
  const Result empty_folder = RunSwitchyard("plan " + dir.File("empty"));
  EXPECT_EQ(empty_folder.status, 1);
  EXPECT_THAT(empty_folder.output, HasSubstr("config.json: cannot open the file"));
}

TEST(PlanCliTest, NonsenseTargetsAreUsageErrors) {
  const std::pair<const char*, const char*> cases[] = {
      {"--gpus 0", "--gpus: expected an integer >= 1, got '0'"},
      {"--precision fp16",
       "--precision: unknown precision 'fp16' (bf16, fp8, int8, int4 or mxfp4)"},
      {"--gpu tpu",
       "--gpu: unknown GPU 'tpu' (presets: h200, h100, a100-80g, l40s); for another GPU, give "
       "its memory with --gpu-memory"},
      {"--kv-dtype int3", "--kv-dtype: unknown KV-cache dtype 'int3' (bf16 or fp8)"},
      {"--gpu-memory lots", "--gpu-memory: expected a size in GB, got 'lots'"},
      {"--ep 3", "EP size 3 does not divide the GPU count 8"},
      {"--context 100000", "context 100000 exceeds mixtral-8x7b's max_position_embeddings (32768)"},
      {"--ep 1 --redundant 1",
       "1 redundant replicas over EP 1 would put more than 8 experts on a rank; each rank can "
       "hold each of the 8 experts once"},
      {"--frobnicate", "unknown option --frobnicate"},
  };
  for (const auto& [options, message] : cases) {
    const Result r = RunSwitchyard(std::string("plan mixtral-8x7b ") + options);
    EXPECT_EQ(r.status, 2) << options << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(std::string("switchyard plan: ") + message)) << options;
  }
  EXPECT_EQ(RunSwitchyard("plan").status, 2);
}

}  // namespace
