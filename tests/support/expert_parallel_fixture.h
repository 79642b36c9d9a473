// What the expert-parallel end-to-end tests score: a seeded make-model Qwen2-MoE (8 experts, a
// shared expert) and a text, made once per test binary, and the perplexity column of
// `perplexity`'s result line.
#ifndef SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_
#define SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_

#include <gtest/gtest.h>

#include <regex>
#include <string>

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

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_EXPERT_PARALLEL_FIXTURE_H_
