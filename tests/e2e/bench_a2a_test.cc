// `switchyard launch -n 2 -- bench a2a` as a user runs it, over the CPU backends: every backend x
// dtype x token count gets a row with positive sizes, times and bandwidth.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/cli_runner.h"

namespace sy {
namespace {

using ::testing::HasSubstr;
using testing_support::CliResult;
using testing_support::RunSwitchyard;

// The rows of the table headed "BACKEND, DTYPE dispatch": tokens -> the other cells.
std::vector<std::vector<std::string>> TableRows(const std::string& output,
                                                const std::string& title) {
  std::vector<std::vector<std::string>> rows;
  const size_t at = output.find(title);
  if (at == std::string::npos) return rows;
  const std::vector<std::string> lines = absl::StrSplit(output.substr(at), '\n');
  for (size_t i = 3; i < lines.size() && !lines[i].empty(); ++i) {  // title, header, rule
    rows.push_back(absl::StrSplit(lines[i], ' ', absl::SkipEmpty()));
  }
  return rows;
}

TEST(BenchA2aTest, TwoRanksOverCpuBackendsGiveARowPerBackendDtypeAndTokenCount) {
  const CliResult r = RunSwitchyard(
      "launch -n 2 --timeout 30 -- bench a2a --comm comm.pcie,comm.ucx --tokens 64,128 "
      "--hidden 512 --iters 3");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("targets (2 x H200"));
  for (const char* backend : {"comm.pcie", "comm.ucx"}) {
    for (const char* dtype : {"bf16", "fp8"}) {
      const std::string title = absl::StrCat(backend, ", ", dtype, " dispatch (2 ranks on cpu");
      const auto rows = TableRows(r.output, title);
      ASSERT_EQ(rows.size(), 2u) << title << "\n" << r.output;
      for (size_t i = 0; i < rows.size(); ++i) {
        ASSERT_EQ(rows[i].size(), 5u) << title;  // tokens, MB, dispatch, combine, GB/s
        EXPECT_EQ(rows[i][0], i == 0 ? "64" : "128");
        for (size_t c = 1; c < rows[i].size(); ++c) {
          double v = 0;
          EXPECT_TRUE(absl::SimpleAtod(rows[i][c], &v) && v > 0)
              << title << " row " << i << " column " << c << ": " << rows[i][c];
        }
      }
    }
  }
}

}  // namespace
}  // namespace sy
