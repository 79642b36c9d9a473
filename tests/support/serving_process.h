// A `switchyard` child process that serves HTTP (serve, a Lua script that serves, or launch of
// either), with its stdout and stderr collected: the port comes from its "serving … on
// http://HOST:PORT" line. End-to-end serving tests drive the real server through it.
#ifndef SWITCHYARD_TESTS_SUPPORT_SERVING_PROCESS_H_
#define SWITCHYARD_TESTS_SUPPORT_SERVING_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

namespace sy::testing_support {

class ServingProcess {
 public:
  // Runs `switchyard args...` with no extra plugin path and waits (up to two minutes: loading
  // and binding) until it prints its address or exits. SY_TEST_SWITCHYARD points a copied build
  // (scripts/gpu_bundle.sh) at its own CLI.
  explicit ServingProcess(std::vector<std::string> args) {
    const char* cli = std::getenv("SY_TEST_SWITCHYARD");
    args.insert(args.begin(), cli != nullptr ? cli : SY_TEST_BINARY_DIR "/bin/switchyard");
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      setenv("SWITCHYARD_PLUGIN_PATH", "", 1);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    reader_ = std::thread([this, fd = fds[0]] {
      char buffer[4096];
      for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) {
        std::lock_guard lock(mutex_);
        output_.append(buffer, static_cast<size_t>(n));
      }
      close(fd);
    });
    // "serving NAME on http://...", or "serving NAME (first N of M layers) on http://...".
    const std::regex serving(R"(serving \S+(?: \([^)]*\))? on http://[^:]+:(\d+) )");
    for (auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
      std::smatch match;
      const std::string out = output();
      if (std::regex_search(out, match, serving)) {
        port_ = std::stoi(match[1]);
        return;
      }
      if (Exited()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ServingProcess(const ServingProcess&) = delete;
  ServingProcess& operator=(const ServingProcess&) = delete;

  ~ServingProcess() {
    if (!exited_ && pid_ > 0) {
      kill(pid_, SIGKILL);  // launch's ranks die with it (PR_SET_PDEATHSIG)
      waitpid(pid_, &status_, 0);
    }
    if (reader_.joinable()) reader_.join();
  }

  int port() const { return port_; }  // 0 until it serves
  std::string output() const {
    std::lock_guard lock(mutex_);
    return output_;
  }
  void Signal(int signal) const { kill(pid_, signal); }
  bool Exited() {
    if (!exited_ && waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    return exited_;
  }
  // The exit status, or -1 when it did not exit within `timeout` or was killed by a signal.
  int WaitForExit(std::chrono::seconds timeout) {
    for (auto deadline = Clock::now() + timeout; !Exited() && Clock::now() < deadline;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exited_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

  httplib::Client Client(int read_timeout_seconds = 60) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(read_timeout_seconds);
    return client;
  }

 private:
  using Clock = std::chrono::steady_clock;

  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = 0;
  bool exited_ = false;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::string output_;
};

// A greedy completion of `prompt` by `server`: its text, or the HTTP failure.
inline std::string GreedyCompletion(const ServingProcess& server, const std::string& prompt,
                                    int max_tokens = 12) {
  const nlohmann::json body = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}};
  httplib::Result res = server.Client(120).Post("/v1/completions", body.dump(), "application/json");
  if (!res) return "no answer: " + httplib::to_string(res.error());
  if (res->status != 200) return "HTTP " + std::to_string(res->status) + ": " + res->body;
  return nlohmann::json::parse(res->body)["choices"][0]["text"].get<std::string>();
}

// Under `launch -n 2 -- serve`: rank 1's pid, from the line it prints once it has loaded (maybe
// after rank 0's serving line); 0 when it does not say within 30 s.
inline pid_t RankOnePid(const ServingProcess& server) {
  const std::regex lending(R"(rank 1 \(pid (\d+)\): lending)");
  std::smatch match;
  std::string out;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       !std::regex_search(out = server.output(), match, lending) &&
       std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return match.empty() ? 0 : std::stoi(match[1]);
}

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_SERVING_PROCESS_H_
