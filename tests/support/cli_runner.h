// Running the real `switchyard` executable from end-to-end tests, in a child process, with the
// plugin search path limited to the build tree's own plugin folder.
#ifndef SWITCHYARD_TESTS_SUPPORT_CLI_RUNNER_H_
#define SWITCHYARD_TESTS_SUPPORT_CLI_RUNNER_H_

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace sy::testing_support {

struct CliResult {
  int status;          // the exit status; -1 when the process did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `shell_command` (sh syntax) with the CLI available as $SY.
inline CliResult RunCli(const std::string& shell_command) {
  // SY_TEST_SWITCHYARD points a copied build (scripts/gpu_bundle.sh) at its own CLI.
  const std::string command = "export SY=${SY_TEST_SWITCHYARD:-" SY_TEST_BINARY_DIR
                              "/bin/switchyard} SWITCHYARD_PLUGIN_PATH=; " +
                              shell_command + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  CliResult result{-1, ""};
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    result.output.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// `switchyard ARGUMENTS`.
inline CliResult RunSwitchyard(const std::string& arguments) { return RunCli("$SY " + arguments); }

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_CLI_RUNNER_H_
