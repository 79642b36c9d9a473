#include "core/serving/serve.h"

#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/base/log.h"
#include "core/base/status.h"

namespace sy {
namespace {

// The write end of the self-pipe. A signal handler may only do async-signal-safe work, so it
// writes the signal number here and a thread does the rest.
std::atomic<int> g_signal_pipe{-1};

void OnSignal(int signal) {
  const int saved_errno = errno;
  const int fd = g_signal_pipe.load();
  const char byte = static_cast<char>(signal);
  if (fd >= 0) (void)!write(fd, &byte, 1);
  errno = saved_errno;
}

// Turns SIGTERM/SIGINT into engine shutdowns while it lives: the first drains, the second
// aborts. Handlers (not sigwait) because threads the model and engine already started do not
// block these signals, and any of them may receive one.
class SignalWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<SignalWatcher>> Install(Engine& engine) {
    int fds[2];
    if (pipe(fds) != 0) {
      return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
    }
    return std::unique_ptr<SignalWatcher>(new SignalWatcher(engine, fds[0], fds[1]));
  }

  ~SignalWatcher() {
    sigaction(SIGTERM, &old_term_, nullptr);
    sigaction(SIGINT, &old_int_, nullptr);
    g_signal_pipe = -1;
    const char stop = 0;  // not a signal number: tells the thread to end
    (void)!write(write_fd_, &stop, 1);
    thread_.join();
    close(read_fd_);
    close(write_fd_);
  }

 private:
  SignalWatcher(Engine& engine, int read_fd, int write_fd)
      : read_fd_(read_fd), write_fd_(write_fd) {
    g_signal_pipe = write_fd_;
    struct sigaction action = {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, &old_term_);
    sigaction(SIGINT, &action, &old_int_);
    thread_ = std::thread([this, &engine] { Watch(engine); });
  }

  void Watch(Engine& engine) {
    int received = 0;
    for (;;) {
      char byte = 0;
      const ssize_t n = read(read_fd_, &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == 0) return;
      const char* name = byte == SIGINT ? "SIGINT" : "SIGTERM";
      if (++received == 1) {
        Log(LogLevel::kInfo, "serve",
            absl::StrCat(name,
                         ": draining (requests in flight finish, new ones get 503); "
                         "send it again to abort them"));
        engine.Shutdown(/*drain=*/true);
      } else {
        Log(LogLevel::kWarning, "serve", absl::StrCat(name, " again: aborting the requests left"));
        engine.Shutdown(/*drain=*/false);
      }
    }
  }

  int read_fd_;
  int write_fd_;
  struct sigaction old_term_ = {};
  struct sigaction old_int_ = {};
  std::thread thread_;
};

}  // namespace

absl::Status LendExperts(const LanguageModel& model, ExecContext& ctx) {
  const int rank = model.expert_parallel != nullptr ? model.expert_parallel->rank() : 0;
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  std::fprintf(stderr, "rank %d (pid %d): lending its experts to rank 0's engine\n", rank,
               static_cast<int>(getpid()));
  std::fflush(stderr);
  const absl::Status followed = model.network->FinishSteps(ctx);
  if (followed.ok()) return followed;
  return absl::Status(
      followed.code(),
      absl::StrCat("rank ", rank, " lost the expert-parallel group: ", followed.message()));
}

absl::Status Serve(Engine& engine, const HttpServerOptions& options,
                   const std::function<void(schema::StepReport::Reader)>& on_step) {
  if (const auto& ep = engine.model().expert_parallel; ep != nullptr && ep->rank() != 0) {
    // The engine's own context belongs to its loop, which never runs here.
    SY_ASSIGN_OR_RETURN(std::unique_ptr<ExecContext> ctx,
                        ExecContext::Create(engine.model().network->device(), 0));
    return LendExperts(engine.model(), *ctx);
  }
  SY_ASSIGN_OR_RETURN(std::unique_ptr<SignalWatcher> signals, SignalWatcher::Install(engine));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<HttpServer> server, HttpServer::Start(engine, options));
  std::fprintf(stderr,
               "serving %s on http://%s:%d (context %lld tokens; SIGTERM or Ctrl-C drains and "
               "stops)\n",
               engine.model().name.c_str(), options.host.c_str(), server->port(),
               static_cast<long long>(engine.context_length()));
  std::fflush(stderr);
  const absl::Status status = engine.Run(on_step);
  server->Stop();
  return status;
}

}  // namespace sy
