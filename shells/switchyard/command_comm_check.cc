// switchyard comm-check: joins the group this process belongs to (rank environment variables,
// as `switchyard launch` sets them), connects a comm component and checks its all-to-all-v and
// all-reduce on known patterns, step after step, as nccl-tests does for NCCL. Every backend
// runs through it, so it is also how the comm conformance suite drives them across processes.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/base/status.h"
#include "core/distributed/bootstrap.h"
#include "core/plugin_host/comm.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"

namespace sy::cli {

const char kCommCheckUsage[] =
    "Usage: switchyard comm-check [--comm KIND.NAME] [--steps N] [--rows R] [--width W]\n"
    "                             [--device cpu|cuda[:N]] [--timeout S]\n"
    "                             [--die-rank R --die-after-steps N]\n\n"
    "Checks a communication backend across the ranks of a group: run it under\n"
    "'switchyard launch -n N -- comm-check ...' (or mpirun/srun with MASTER_ADDR set). Each rank\n"
    "joins the group, connects the backend, then per step runs an all-to-all-v with uneven\n"
    "counts (rank s sends up to R rows of W f32 to rank d, every value known) and an\n"
    "all-reduce-sum, and compares every element with what it must be. Prints one line per rank\n"
    "and exits 0 when all matched, 1 on a mismatch or an error (a dead or unreachable rank\n"
    "included: the message names it).\n\n"
    "Options:\n"
    "  --comm KIND.NAME     the backend (default comm.pcie; comm.auto: the best scored)\n"
    "  --steps N            exchanges to check (default 10)\n"
    "  --rows R             most rows one rank sends another per step (default 64)\n"
    "  --width W            f32 values per row (default 1024)\n"
    "  --device D           where the tensors live: cpu (default), cuda (the local rank's\n"
    "                       GPU, wrapping around) or cuda:N\n"
    "  --timeout S          seconds to wait for the other ranks (default $SWITCHYARD_TIMEOUT,\n"
    "                       else 60)\n"
    "  --die-rank R         for failure tests: rank R kills itself (SIGKILL) ...\n"
    "  --die-after-steps N  ... after N steps (default 0)\n";

namespace {

// The value rank `from` puts in element `col` of row `row` of its step-`step` message to `to`.
float Pattern(int from, int to, int64_t row, int64_t col, int step) {
  return static_cast<float>(((from * 131 + to * 31 + row * 7 + col + step * 3) % 4093) - 2046);
}

int64_t RowsBetween(int from, int to, int step, int64_t max_rows) {
  return (from * 5 + to * 3 + step) % (max_rows + 1);  // 0 included
}

struct Options {
  std::string comm = "comm.pcie";
  int steps = 10;
  int64_t rows = 64;
  int64_t width = 1024;
  std::string device = "cpu";
  absl::Duration timeout;
  int die_rank = -1;
  int die_after = 0;
};

absl::Status Step(Comm& comm, ExecContext& ctx, const Options& o, int step) {
  const int me = comm.rank(), world = comm.world_size();
  std::vector<int64_t> send_counts(world), recv_counts(world);
  int64_t send_rows = 0, recv_rows = 0;
  for (int p = 0; p < world; ++p) {
    send_rows += send_counts[p] = RowsBetween(me, p, step, o.rows);
    recv_rows += recv_counts[p] = RowsBetween(p, me, step, o.rows);
  }
  SY_ASSIGN_OR_RETURN(Tensor send, Tensor::Empty({send_rows, o.width}, DType::kF32));
  float* s = send.data<float>();
  for (int p = 0; p < world; ++p) {
    for (int64_t r = 0; r < send_counts[p]; ++r) {
      for (int64_t c = 0; c < o.width; ++c) *s++ = Pattern(me, p, r, c, step);
    }
  }
  SY_ASSIGN_OR_RETURN(Tensor send_on_device, send.To(ctx.device()));
  SY_ASSIGN_OR_RETURN(Tensor recv, Tensor::Zeros({recv_rows, o.width}, DType::kF32, ctx.device()));
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, send_on_device, send_counts, recv, recv_counts));
  SY_RETURN_IF_ERROR(ctx.Synchronize());
  SY_ASSIGN_OR_RETURN(Tensor got, recv.To(Device::Cpu()));
  const float* g = got.data<float>();
  for (int p = 0; p < world; ++p) {
    for (int64_t r = 0; r < recv_counts[p]; ++r) {
      for (int64_t c = 0; c < o.width; ++c, ++g) {
        if (*g != Pattern(p, me, r, c, step)) {
          return absl::DataLossError(absl::StrCat("step ", step, ": all_to_all row ", r,
                                                  " from rank ", p, " element ", c, " is ", *g,
                                                  ", expected ", Pattern(p, me, r, c, step)));
        }
      }
    }
  }
  // All-reduce: rank r gives r + 1 + i at element i; the sum is known.
  std::vector<float> mine(o.width);
  for (int64_t i = 0; i < o.width; ++i) mine[i] = static_cast<float>(me + 1 + i % 64 + step);
  SY_ASSIGN_OR_RETURN(Tensor values, Tensor::FromF32({o.width}, mine));
  SY_ASSIGN_OR_RETURN(Tensor reduced, values.To(ctx.device()));
  SY_RETURN_IF_ERROR(comm.AllReduceSum(ctx, reduced));
  SY_RETURN_IF_ERROR(ctx.Synchronize());
  SY_ASSIGN_OR_RETURN(Tensor sum, reduced.To(Device::Cpu()));
  for (int64_t i = 0; i < o.width; ++i) {
    const double expected = world * (world + 1) / 2.0 + world * static_cast<double>(i % 64 + step);
    if (sum.Get(i) != expected) {
      return absl::DataLossError(absl::StrCat("step ", step, ": all_reduce_sum element ", i, " is ",
                                              sum.Get(i), ", expected ", expected));
    }
  }
  return absl::OkStatus();
}

absl::Status Check(const ParsedArgs& args, const Options& o) {
  SY_ASSIGN_OR_RETURN(RankInfo info, RankInfoFromEnvironment());
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Bootstrap> bootstrap, Bootstrap::Join(info, o.timeout));
  const auto registry = LoadPlugins(args);
  SY_ASSIGN_OR_RETURN(RegisteredComponent registered, registry->Find(o.comm));
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component, Component::Create(registered, {}));
  SY_ASSIGN_OR_RETURN(Comm comm, Comm::From(component));
  SY_ASSIGN_OR_RETURN(const Device device, RankDevice(o.device, info.local_rank));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<ExecContext> ctx, ExecContext::Create(device, 1));
  SY_RETURN_IF_ERROR(comm.Connect(*ctx, *bootstrap->comm_group()));
  const absl::Time start = absl::Now();
  for (int step = 0; step < o.steps; ++step) {
    if (info.rank == o.die_rank && step == o.die_after) {
      std::fprintf(stderr, "rank %d: killing itself after %d steps (--die-rank)\n", info.rank,
                   step);
      std::raise(SIGKILL);
    }
    SY_RETURN_IF_ERROR(Step(comm, *ctx, o, step));
  }
  const double per_step_us = absl::ToDoubleMicroseconds(absl::Now() - start) / std::max(o.steps, 1);
  SY_RETURN_IF_ERROR(bootstrap->Barrier());
  std::printf(
      "rank %d/%d (pid %lld on %s): %s OK, %d steps of all_to_all + all_reduce_sum on %s, %.0f us "
      "per step\n",
      info.rank, info.world_size, static_cast<long long>(bootstrap->members()[info.rank].pid),
      bootstrap->members()[info.rank].hostname.c_str(), registered.info->full_name.c_str(), o.steps,
      device.ToString().c_str(), per_step_us);
  return absl::OkStatus();
}

// The numeric options into `o` (defaults where absent), or an error naming the option.
absl::Status ReadNumbers(const ParsedArgs& args, Options& o) {
  SY_ASSIGN_OR_RETURN(o.steps, args.GetInt("steps", o.steps, 0));
  SY_ASSIGN_OR_RETURN(o.rows, args.GetInt("rows", o.rows, 0));
  SY_ASSIGN_OR_RETURN(o.width, args.GetInt("width", o.width, 1));
  SY_ASSIGN_OR_RETURN(o.die_rank, args.GetInt("die-rank", o.die_rank, -1));
  SY_ASSIGN_OR_RETURN(o.die_after, args.GetInt("die-after-steps", o.die_after, 0));
  return absl::OkStatus();
}

}  // namespace

int CommCheckCommand(const std::vector<std::string>& argv) {
  auto args = Parse(argv,
                    {{"comm", true},
                     {"steps", true},
                     {"rows", true},
                     {"width", true},
                     {"device", true},
                     {"timeout", true},
                     {"die-rank", true},
                     {"die-after-steps", true}},
                    /*stop_at_positional=*/false);
  if (!args.ok()) return UsageError("comm-check", args.status().message());
  if (args->Has("help")) return PrintUsage("comm-check");
  if (!args->positional.empty()) return UsageError("comm-check", "takes no positional arguments");
  Options o;
  o.comm = args->Get("comm", o.comm);
  o.device = args->Get("device", o.device);
  if (absl::Status s = ReadNumbers(*args, o); !s.ok()) return UsageError("comm-check", s.message());
  double timeout_s = 0;
  if (args->Has("timeout") &&
      (!absl::SimpleAtod(args->Get("timeout"), &timeout_s) || !(timeout_s > 0))) {
    return UsageError("comm-check", absl::StrCat("--timeout: expected seconds > 0, got '",
                                                 args->Get("timeout"), "'"));
  }
  auto timeout = TimeoutFromEnvironment(absl::Seconds(60));
  if (!timeout.ok()) {
    std::fprintf(stderr, "switchyard comm-check: %s\n",
                 std::string(timeout.status().message()).c_str());
    return 1;
  }
  o.timeout = args->Has("timeout") ? absl::Seconds(timeout_s) : *timeout;
  const absl::Status status = Check(*args, o);
  if (!status.ok()) {
    std::fprintf(stderr, "switchyard comm-check: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace sy::cli
