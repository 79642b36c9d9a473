// switchyard launch -n N -- COMMAND [ARGS...]: runs N ranks of this switchyard executable on
// this host, as torchrun --standalone does for Python: each gets RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT. Rank 0's stdout passes through
// untouched (pipe it like a single process's); everything else is tagged "[rank r] " line by
// line on stderr. SIGINT/SIGTERM are forwarded to every rank. When a rank fails, the others get
// a grace period to report their own view (a peer's death) and exit, then are terminated.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/distributed/free_port.h"
#include "shells/switchyard/commands.h"

namespace sy::cli {

const char kLaunchUsage[] =
    "Usage: switchyard launch -n N [--master-port P] [--timeout S] [--grace S]\n"
    "                         -- COMMAND [ARGS...]\n\n"
    "Runs 'switchyard COMMAND ARGS...' as N ranks of one expert-parallel group on this host.\n"
    "Each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1,\n"
    "MASTER_PORT and SWITCHYARD_GROUP_ID; rank 0 serves the group's bootstrap on the port.\n"
    "Rank 0's standard output passes through untouched; the other output (rank 0's stderr and\n"
    "everything of the other ranks) goes to stderr, each line tagged \"[rank r] \". Ctrl-C and\n"
    "SIGTERM are forwarded to every rank. When a rank exits with an error or a signal, the\n"
    "others get --grace seconds to exit on their own (they report the rank they lost), then\n"
    "are terminated; launch prints the failed rank and exits with its status (128 + signal\n"
    "for a signal). Ranks on several hosts come from mpirun or srun instead "
    "(docs/expert-parallelism.md).\n\n"
    "Options:\n"
    "  -n, --nproc N        ranks to start (required)\n"
    "  --master-port P      rank 0's bootstrap port (default: a free port)\n"
    "  --timeout S          seconds a rank waits for the others, exported as\n"
    "                       SWITCHYARD_TIMEOUT (default: each command's own)\n"
    "  --grace S            seconds the other ranks get after one failed (default 10)\n"
    "e.g. switchyard launch -n 4 -- comm-check --comm comm.pcie\n";

namespace {

int signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  const char byte = static_cast<char>(sig);
  [[maybe_unused]] ssize_t n = write(signal_pipe[1], &byte, 1);
}

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
};

// Output of one rank's stream, cut into lines and tagged.
struct Stream {
  int fd;
  int rank;
  std::string partial;
};

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Tags and writes the complete lines of `s` (all of it at end of stream).
void Flush(Stream& s, bool at_end) {
  std::string out;
  size_t start = 0, newline;
  while ((newline = s.partial.find('\n', start)) != std::string::npos) {
    absl::StrAppend(&out, "[rank ", s.rank, "] ", s.partial.substr(start, newline + 1 - start));
    start = newline + 1;
  }
  s.partial.erase(0, start);
  if (at_end && !s.partial.empty()) {
    absl::StrAppend(&out, "[rank ", s.rank, "] ", s.partial, "\n");
    s.partial.clear();
  }
  WriteAll(STDERR_FILENO, out);
}

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(status));
}

int ExitCodeOf(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

// Starts rank `rank`: its stdout to ours (rank 0) or a pipe, its stderr to a pipe.
pid_t Spawn(int rank, int world, int port, const std::string& group_id, const std::string& timeout,
            const std::vector<std::string>& command, std::vector<Stream>& streams) {
  int out_pipe[2] = {-1, -1}, err_pipe[2];
  if ((rank != 0 && pipe2(out_pipe, O_CLOEXEC) != 0) || pipe2(err_pipe, O_CLOEXEC) != 0) return -1;
  std::vector<std::string> env = {
      absl::StrCat("RANK=", rank),       absl::StrCat("WORLD_SIZE=", world),
      absl::StrCat("LOCAL_RANK=", rank), absl::StrCat("LOCAL_WORLD_SIZE=", world),
      "MASTER_ADDR=127.0.0.1",           absl::StrCat("MASTER_PORT=", port),
      "SWITCHYARD_GROUP_ID=" + group_id};
  if (!timeout.empty()) env.push_back("SWITCHYARD_TIMEOUT=" + timeout);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);  // a terminal's Ctrl-C reaches launch only, which forwards it once
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    if (rank != 0) dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_pipe[1], STDERR_FILENO);
    for (std::string& e : env) putenv(e.data());
    std::vector<char*> args;
    static char self[] = "/proc/self/exe";
    args.push_back(self);
    for (const std::string& a : command) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(self, args.data());
    std::fprintf(stderr, "switchyard launch: cannot start rank %d: %s\n", rank,
                 std::strerror(errno));
    _exit(127);
  }
  if (rank != 0) {
    close(out_pipe[1]);
    streams.push_back({out_pipe[0], rank, ""});
  }
  close(err_pipe[1]);
  streams.push_back({err_pipe[0], rank, ""});
  return pid;
}

// How long a rank's error exit waits to be reported, in case a rank killed by a signal (the
// cause) is reaped just after it; and how much longer while another rank is still exiting.
constexpr absl::Duration kSettle = absl::Milliseconds(300);
constexpr absl::Duration kSettleWhileExiting = absl::Seconds(5);

// Whether `pid` is already on its way out (PF_EXITING in the flags of /proc/PID/stat). A rank
// killed by a signal becomes reapable only once its memory is unmapped, which under load can
// take longer than kSettle: the peer that noticed its death exits first.
bool IsExiting(pid_t pid) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(file, line)) return false;
  const size_t comm_end = line.rfind(')');  // the command name may hold spaces and parentheses
  if (comm_end == std::string::npos) return false;
  std::istringstream fields(line.substr(comm_end + 1));
  std::string state;
  long ppid, pgrp, session, tty, tpgid;
  unsigned long flags = 0;
  fields >> state >> ppid >> pgrp >> session >> tty >> tpgid >> flags;
  constexpr unsigned long kPfExiting = 0x4;
  return fields && (flags & kPfExiting) != 0;
}

int Launch(int world, int port, const std::string& timeout, absl::Duration grace,
           const std::vector<std::string>& command) {
  if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const std::string group_id = absl::StrCat("launch-", getpid(), "-", port);
  std::vector<Rank> ranks(world);
  std::vector<Stream> streams;
  for (int r = 0; r < world; ++r) {
    ranks[r].pid = Spawn(r, world, port, group_id, timeout, command, streams);
    if (ranks[r].pid < 0) {
      std::fprintf(stderr, "switchyard launch: cannot start rank %d: %s\n", r,
                   std::strerror(errno));
      for (int k = 0; k < r; ++k) kill(ranks[k].pid, SIGKILL);
      return 1;
    }
    ranks[r].running = true;
  }

  int failed = -1;                                   // the rank reported as the failure
  absl::Time report_at = absl::InfiniteFuture();     // when `failed` is reported
  absl::Time settle_until = absl::InfiniteFuture();  // the latest report_at while ranks exit
  absl::Time terminate_at = absl::InfiniteFuture();  // then SIGTERM, 5 s later SIGKILL
  bool terminated = false;
  int running = world;
  auto report_failure = [&] {
    std::fprintf(stderr, "switchyard launch: rank %d (pid %d) %s\n", failed, ranks[failed].pid,
                 DescribeExit(ranks[failed].status).c_str());
    if (running > 0) {
      std::fprintf(stderr, "switchyard launch: stopping the other ranks (grace %s)\n",
                   absl::FormatDuration(grace).c_str());
      terminate_at = std::min(terminate_at, absl::Now() + grace);
    }
    report_at = absl::InfinitePast();  // reported
  };
  while (running > 0 || !streams.empty()) {
    std::vector<pollfd> fds = {{signal_pipe[0], POLLIN, 0}};
    for (const Stream& s : streams) fds.push_back({s.fd, POLLIN, 0});
    poll(fds.data(), fds.size(), 100);
    if (fds[0].revents & POLLIN) {
      char sig;
      while (read(signal_pipe[0], &sig, 1) == 1) {
        for (const Rank& r : ranks) {
          if (r.running) kill(r.pid, sig);
        }
        if (terminate_at == absl::InfiniteFuture()) terminate_at = absl::Now() + grace;
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      Stream& s = streams[i - 1];
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[65536];
      const ssize_t n = read(s.fd, buffer, sizeof(buffer));
      if (n > 0) {
        s.partial.append(buffer, static_cast<size_t>(n));
        Flush(s, false);
      } else if (n == 0 || errno != EINTR) {
        Flush(s, true);
        close(s.fd);
        s.fd = -1;
      }
    }
    std::erase_if(streams, [](const Stream& s) { return s.fd < 0; });
    int status;
    pid_t pid;
    while (running > 0 && (pid = waitpid(-1, &status, WNOHANG)) > 0) {
      for (int r = 0; r < world; ++r) {
        if (ranks[r].pid != pid) continue;
        ranks[r].running = false;
        ranks[r].status = status;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        // A rank killed by a signal is the likelier cause: the others fail because it went
        // (and a killed process can become reapable after a peer that noticed its death
        // exited), so it takes over the report from an error exit until the report is made.
        const bool signaled = WIFSIGNALED(status);
        if (!ok && (failed < 0 || (report_at != absl::InfinitePast() && signaled &&
                                   !WIFSIGNALED(ranks[failed].status)))) {
          failed = r;
          if (report_at == absl::InfiniteFuture()) {
            report_at = absl::Now() + kSettle;
            settle_until = report_at + kSettleWhileExiting;
          }
        }
      }
    }
    if (failed >= 0 && absl::Now() >= report_at && report_at != absl::InfinitePast()) {
      const bool other_exiting = std::any_of(
          ranks.begin(), ranks.end(), [](const Rank& r) { return r.running && IsExiting(r.pid); });
      if (!WIFSIGNALED(ranks[failed].status) && other_exiting && absl::Now() < settle_until) {
        report_at = absl::Now() + absl::Milliseconds(50);
      } else {
        report_failure();
      }
    }
    if (running > 0 && absl::Now() >= terminate_at) {
      for (const Rank& r : ranks) {
        if (r.running) kill(r.pid, terminated ? SIGKILL : SIGTERM);
      }
      terminate_at = absl::Now() + absl::Seconds(5);
      terminated = true;
    }
    if (running == 0 && !streams.empty() && absl::Now() >= terminate_at)
      break;  // output held open by a grandchild
  }
  if (failed < 0) return 0;
  if (report_at != absl::InfinitePast()) report_failure();  // every rank was gone before
  return ExitCodeOf(ranks[failed].status) == 0 ? 1 : ExitCodeOf(ranks[failed].status);
}

}  // namespace

int LaunchCommand(const std::vector<std::string>& argv) {
  std::vector<std::string> own, command;
  bool in_command = false;
  for (const std::string& a : argv) {
    if (in_command) {
      command.push_back(a);
    } else if (a == "--") {
      in_command = true;
    } else {
      own.push_back(a == "-n" ? "--nproc" : a);
    }
  }
  auto args =
      Parse(own, {{"nproc", true}, {"master-port", true}, {"timeout", true}, {"grace", true}},
            /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("launch", args.status().message());
  if (args->Has("help")) return PrintUsage("launch");
  if (!args->positional.empty()) {
    return UsageError("launch", "put the command to run after '--' (launch -n N -- COMMAND ...)");
  }
  if (!args->Has("nproc")) return UsageError("launch", "-n N (1 to 4096 ranks) is required");
  const absl::StatusOr<int> nproc = args->GetInt("nproc", 0, 1, 4096);
  if (!nproc.ok()) return UsageError("launch", nproc.status().message());
  const absl::StatusOr<int> master_port = args->GetInt("master-port", 0, 1, 65535);
  if (!master_port.ok()) return UsageError("launch", master_port.status().message());
  const int world = *nproc;
  int port = *master_port;
  double timeout = 0, grace = 10;
  if ((args->Has("timeout") &&
       (!absl::SimpleAtod(args->Get("timeout"), &timeout) || timeout <= 0)) ||
      (args->Has("grace") && (!absl::SimpleAtod(args->Get("grace"), &grace) || grace < 0))) {
    return UsageError("launch", "--timeout and --grace take seconds");
  }
  if (command.empty()) return UsageError("launch", "no command after '--'");
  if (command[0] == "launch") return UsageError("launch", "a rank cannot launch ranks itself");
  if (port == 0) {
    auto free_port = FreeTcpPort();
    if (!free_port.ok()) {
      std::fprintf(stderr, "switchyard launch: %s\n",
                   std::string(free_port.status().message()).c_str());
      return 1;
    }
    port = *free_port;
  }
  std::fflush(stdout);
  return Launch(world, port, args->Has("timeout") ? args->Get("timeout") : "", absl::Seconds(grace),
                command);
}

}  // namespace sy::cli
