// What the expert-parallel end-to-end tests score: a seeded make-model Qwen2-MoE (8 experts, a
// shared expert) and a text, made once per test binary, the perplexity column of `perplexity`'s
// result line, and the rebalances rank 0 logged.
#ifndef SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_
#define SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/cli_runner.h"
#include "tests/support/scratch_dir.h"

namespace sy::testing_support {

struct ExpertParallelFiles {
  std::string model, text;
};

inline const ExpertParallelFiles& SeededQwen2MoeAndText() {
  static const ExpertParallelFiles files = [] {
    ExpertParallelFiles f;
    const std::string dir = ScratchDir() + "/ep";
    f.model = dir + "/qwen2";
    f.text = dir + "/text.txt";
    const CliResult made = RunCli("rm -rf " + dir + " && mkdir -p " + dir + " && $SY make-model " +
                                  "--arch qwen2_moe --seed 7 --out " + f.model + " >/dev/null");
    EXPECT_EQ(made.status, 0) << made.output;
    RunCli(
        "for i in 1 2 3 4 5 6 7 8; do echo 'The list type is a mutable sequence; a tuple is "
        "not. Dictionaries map keys to values, sets hold unique items.'; done > " +
        f.text);
    return f;
  }();
  return files;
}

// The perplexity column of `perplexity`'s result line with all its decimals.
inline double PerplexityOf(const std::string& output) {
  static const std::regex line(R"(text\.txt +\d+ +\d+ +[0-9.]+ +([0-9.]+) )");
  std::smatch m;
  EXPECT_TRUE(std::regex_search(output, m, line)) << output;
  return m.empty() ? 0 : std::stod(m[1]);
}

// Every rebalance rank 0 logged ("[info eplb] step 2: moved ... over the last 2 steps 1.285 ->
// 1.020 ..."), as (max/mean before, after) averaged over the MoE layers.
inline std::vector<std::pair<double, double>> Rebalances(const std::string& output) {
  static const std::regex line(
      R"(\[info eplb\] step \d+: moved \d+ of \d+ MoE layers; max/mean tokens per rank over the )"
      R"(last \d+ steps ([0-9.]+) -> ([0-9.]+))");
  std::vector<std::pair<double, double>> found;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), line);
       it != std::sregex_iterator(); ++it) {
    found.emplace_back(std::stod((*it)[1]), std::stod((*it)[2]));
  }
  return found;
}

// At least one rebalance, each of which left the ranks more evenly loaded over its window.
inline void ExpectRebalancedForTheBetter(const std::string& output) {
  const auto rebalances = Rebalances(output);
  EXPECT_FALSE(rebalances.empty()) << output;
  for (const auto& [before, after] : rebalances) EXPECT_LT(after, before) << output;
  EXPECT_THAT(output, ::testing::ContainsRegex("eplb: [1-9][0-9]* rebalances? in"));
}

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_
