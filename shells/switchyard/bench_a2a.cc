// switchyard bench a2a: the dispatch and combine all-to-alls of expert parallelism, timed per
// comm backend, payload dtype and tokens per rank, across the ranks `switchyard launch` (or
// mpirun/srun) started; beside torch's NCCL all_to_all_single on the same exchange when torch
// and GPUs are there, and the GPU model's direct exchange where a backend offers peer memory.
// Rank 0 prints the tables.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"
#include "core/distributed/bootstrap.h"
#include "core/model/cuda_direct_exchange.h"
#include "core/moe/expert_placement.h"
#include "core/plugin_host/comm.h"
#include "shells/switchyard/a2a_torch_reference.h"
#include "shells/switchyard/a2a_workload.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/model_loading.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

struct Options {
  std::vector<std::string> comms;  // empty: every comm component that scores > 0 here
  std::vector<int64_t> tokens;     // empty: the device's default list
  std::vector<A2aPayload> payloads = {A2aPayload::kBf16, A2aPayload::kFp8};
  A2aShape shape;
  std::string device;  // empty: cuda:LOCAL_RANK when a GPU exists, else cpu
  int warmup = 5;
  int iters = 20;
  uint64_t seed = 1;
  absl::Duration timeout;
};

// One row of a table: a backend's figures for a dtype and a token count, over the group.
struct Row {
  std::string backend;
  std::string dtype;
  int64_t tokens;
  double sent_mb;  // dispatch bytes a rank sends to the other ranks, mean over ranks
  double dispatch_us;
  double combine_us;
};

// Times one collective: after a barrier of the group, on CUDA between two events on the stream
// (once a small all-reduce has lined the GPUs up), on the CPU by the clock (the CPU backends
// have finished when they return).
class Stopwatch {
 public:
  Stopwatch(ExecContext& ctx, Bootstrap& bootstrap, Comm& comm)
      : ctx_(ctx), bootstrap_(bootstrap), comm_(comm) {}
  ~Stopwatch() {
    for (void* e : {start_, end_}) {
      if (e != nullptr) cuda::EventDestroy(e, ctx_.device().index);
    }
  }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

  absl::StatusOr<double> TimeUs(const std::function<absl::Status()>& exchange) {
    SY_RETURN_IF_ERROR(bootstrap_.Barrier());
    if (!ctx_.device().is_cuda()) {
      const auto t0 = std::chrono::steady_clock::now();
      SY_RETURN_IF_ERROR(exchange());
      return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
          .count();
    }
    const int gpu = ctx_.device().index;
    if (start_ == nullptr) {
      SY_ASSIGN_OR_RETURN(start_, cuda::EventCreate(gpu));
      SY_ASSIGN_OR_RETURN(end_, cuda::EventCreate(gpu));
      SY_ASSIGN_OR_RETURN(line_up_, Tensor::Zeros({1}, DType::kF32, ctx_.device()));
    }
    SY_RETURN_IF_ERROR(comm_.AllReduceSum(ctx_, line_up_));
    SY_RETURN_IF_ERROR(cuda::EventRecord(start_, ctx_.stream(), gpu));
    SY_RETURN_IF_ERROR(exchange());
    SY_RETURN_IF_ERROR(cuda::EventRecord(end_, ctx_.stream(), gpu));
    SY_ASSIGN_OR_RETURN(const float ms, cuda::EventElapsedMs(start_, end_, gpu));
    return ms * 1e3;
  }

 private:
  ExecContext& ctx_;
  Bootstrap& bootstrap_;
  Comm& comm_;
  void* start_ = nullptr;
  void* end_ = nullptr;
  Tensor line_up_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int64_t Sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

// This rank's medians over o.iters rounds of `dispatch` then `combine`, after o.warmup
// untimed rounds; `begin_round`, when set, runs untimed before each round.
struct Medians {
  double dispatch_us = 0, combine_us = 0;
};
absl::StatusOr<Medians> TimeRounds(Stopwatch& stopwatch, const Options& o,
                                   const std::function<absl::Status()>& dispatch,
                                   const std::function<absl::Status()>& combine,
                                   const std::function<absl::Status()>& begin_round = nullptr) {
  std::vector<double> d_us, c_us;
  for (int i = 0; i < o.warmup + o.iters; ++i) {
    if (begin_round) SY_RETURN_IF_ERROR(begin_round());
    SY_ASSIGN_OR_RETURN(const double d, stopwatch.TimeUs(dispatch));
    SY_ASSIGN_OR_RETURN(const double c, stopwatch.TimeUs(combine));
    if (i >= o.warmup) {
      d_us.push_back(d);
      c_us.push_back(c);
    }
  }
  return Medians{Median(d_us), Median(c_us)};
}

// `row` (its names set) with the group's figures: the slowest rank's medians and the mean over
// ranks of the dispatch bytes a rank sends the others (`sent_bytes`: this rank's).
absl::StatusOr<Row> GatherRow(Bootstrap& bootstrap, int world, Row row, const Medians& mine,
                              double sent_bytes) {
  const double figures[3] = {mine.dispatch_us, mine.combine_us, sent_bytes};
  std::vector<double> every(3 * world);
  SY_RETURN_IF_ERROR(bootstrap.AllGather(figures, sizeof(figures), every.data()));
  for (int r = 0; r < world; ++r) {
    row.dispatch_us = std::max(row.dispatch_us, every[3 * r]);
    row.combine_us = std::max(row.combine_us, every[3 * r + 1]);
    row.sent_mb += every[3 * r + 2] / 1e6 / world;
  }
  return row;
}

// Every rank's dispatch counts: counts[r][p] rows from rank r to rank p.
std::vector<std::vector<int64_t>> AllCounts(A2aShape shape, int64_t tokens, uint64_t seed) {
  shape.tokens = tokens;
  std::vector<std::vector<int64_t>> counts;
  for (int r = 0; r < shape.world; ++r) counts.push_back(DispatchCounts(shape, r, seed));
  return counts;
}

// The counts all-to-all a real dispatch starts with (one i64 per peer); checks that every peer
// announces what its seeded routing gives.
absl::StatusOr<std::vector<int64_t>> ExchangeCounts(Comm& comm, ExecContext& ctx,
                                                    const std::vector<std::vector<int64_t>>& all) {
  const int me = comm.rank(), world = comm.world_size();
  const std::vector<int64_t> ones(world, 1);
  SY_ASSIGN_OR_RETURN(Tensor mine, Tensor::Empty({world, 1}, DType::kI64));
  std::copy(all[me].begin(), all[me].end(), mine.data<int64_t>());
  SY_ASSIGN_OR_RETURN(Tensor send, mine.To(ctx.device()));
  SY_ASSIGN_OR_RETURN(Tensor recv, Tensor::Zeros({world, 1}, DType::kI64, ctx.device()));
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, send, ones, recv, ones));
  SY_RETURN_IF_ERROR(ctx.Synchronize());
  SY_ASSIGN_OR_RETURN(Tensor got, recv.To(Device::Cpu()));
  std::vector<int64_t> recv_counts(world);
  for (int p = 0; p < world; ++p) {
    recv_counts[p] = got.data<int64_t>()[p];
    if (recv_counts[p] != all[p][me]) {
      return absl::DataLossError(absl::StrCat("counts exchange: rank ", p, " announced ",
                                              recv_counts[p], " rows, expected ", all[p][me]));
    }
  }
  return recv_counts;
}

// A u8 tensor of `rows` rows: inside the backend's registered area at `offset` when it has one
// (peers write there directly), else new memory.
absl::StatusOr<Tensor> RowsIn(void* area, size_t area_bytes, size_t offset, int64_t rows,
                              int64_t row_bytes, Device device) {
  if (area == nullptr) return Tensor::Zeros({rows, row_bytes}, DType::kU8, device);
  return Tensor::FromBuffer(Buffer::Wrap(area, area_bytes, nullptr, device),
                            static_cast<int64_t>(offset), {rows, row_bytes}, DType::kU8);
}

// Dispatch and combine for one dtype and token count; the figures of every rank, gathered.
absl::StatusOr<Row> Measure(Comm& comm, ExecContext& ctx, Bootstrap& bootstrap,
                            Stopwatch& stopwatch, const Options& o, const std::string& backend,
                            A2aPayload payload, int64_t tokens) {
  const int me = comm.rank(), world = comm.world_size();
  const auto all = AllCounts(o.shape, tokens, o.seed);
  SY_ASSIGN_OR_RETURN(const std::vector<int64_t> recv_counts, ExchangeCounts(comm, ctx, all));
  const std::vector<int64_t>& send_counts = all[me];
  const int64_t drow = DispatchRowBytes(payload, o.shape.hidden);
  const int64_t crow = CombineRowBytes(o.shape.hidden);
  // The registered area is collective: the same size on every rank, the largest one's need.
  int64_t most_recv = 0, most_send = 0;
  for (int r = 0; r < world; ++r) {
    int64_t in = 0;
    for (int p = 0; p < world; ++p) in += all[p][r];
    most_recv = std::max(most_recv, in);
    most_send = std::max(most_send, Sum(all[r]));
  }
  const size_t combine_offset = (static_cast<size_t>(most_recv * drow) + 255) / 256 * 256;
  const size_t area_bytes = combine_offset + static_cast<size_t>(most_send * crow);
  SY_ASSIGN_OR_RETURN(void* area, comm.RegisteredBuffer(ctx, area_bytes));
  const int64_t send_rows = Sum(send_counts), recv_rows = Sum(recv_counts);
  SY_ASSIGN_OR_RETURN(Tensor dispatch_send,
                      Tensor::Zeros({send_rows, drow}, DType::kU8, ctx.device()));
  SY_ASSIGN_OR_RETURN(Tensor dispatch_recv,
                      RowsIn(area, area_bytes, 0, recv_rows, drow, ctx.device()));
  SY_ASSIGN_OR_RETURN(Tensor combine_send,  // the experts' outputs
                      Tensor::Zeros({recv_rows, crow}, DType::kU8, ctx.device()));
  SY_ASSIGN_OR_RETURN(Tensor combine_recv,
                      RowsIn(area, area_bytes, combine_offset, send_rows, crow, ctx.device()));
  SY_ASSIGN_OR_RETURN(
      const Medians mine,
      TimeRounds(
          stopwatch, o,
          [&] {
            return comm.AllToAll(ctx, dispatch_send, send_counts, dispatch_recv, recv_counts);
          },
          [&] {
            return comm.AllToAll(ctx, combine_send, recv_counts, combine_recv, send_counts);
          }));
  SY_RETURN_IF_ERROR(ctx.Synchronize());
  return GatherRow(bootstrap, world, {backend, A2aPayloadName(payload), tokens, 0, 0, 0}, mine,
                   static_cast<double>((send_rows - send_counts[me]) * drow));
}

// The direct exchange of the GPU model (core/model/cuda_direct_exchange.h) over the backend's
// peer memory, on the same routing: dispatch = each token's row (bf16, or fp8 encoded before
// and decoded after, as the model does), with its slot ids and weights, written into every rank
// that holds one of its experts, until every rank's rows have arrived; combine = each received
// row's f32 sum written back and added to its token. Token counts whose rows do not fit the
// peer memory are left out (`skipped`).
absl::Status MeasureDirect(const std::shared_ptr<Comm>& comm, ExecContext& ctx,
                           Bootstrap& bootstrap, Stopwatch& stopwatch, const Options& o,
                           const std::string& backend, A2aPayload payload, std::vector<Row>& rows,
                           std::vector<std::string>& skipped) {
  const int me = comm->rank(), world = comm->world_size();
  const auto k = static_cast<int32_t>(std::min(o.shape.top_k, o.shape.experts));
  auto ep = std::make_shared<ExpertParallelism>();
  ep->comm = comm;
  ep->dispatch_dtype = payload == A2aPayload::kBf16 ? DispatchDType::kBF16 : DispatchDType::kFP8;
  ep->timeout = o.timeout;
  SY_ASSIGN_OR_RETURN(
      const ExpertPlacement placement,
      ExpertPlacement::Initial(
          {.num_layers = 1,
           .num_experts = static_cast<int32_t>(o.shape.experts),
           .num_ranks = world,
           .slots_per_rank = static_cast<int32_t>((o.shape.experts + world - 1) / world)}));
  ep->placement = std::make_shared<const ExpertPlacement>(placement);
  SY_ASSIGN_OR_RETURN(std::unique_ptr<CudaDirectExchange> direct,
                      CudaDirectExchange::Connect(ctx, ep, k, o.shape.hidden));
  if (direct == nullptr) {
    if (payload == A2aPayload::kFp8 && o.shape.hidden % 8 != 0) {
      skipped.push_back(
          absl::StrCat("every count (fp8: hidden ", o.shape.hidden, " is not a multiple of 8)"));
    }
    return absl::OkStatus();
  }
  for (int64_t tokens : o.tokens) {
    const std::vector<int64_t> rank_tokens(world, tokens);
    SY_ASSIGN_OR_RETURN(const bool fits,
                        direct->BeginStep(rank_tokens, ctx.device(), ctx.stream()));
    if (!fits) {
      skipped.push_back(absl::StrCat(tokens, " (", A2aPayloadName(payload), ")"));
      continue;
    }
    A2aShape shape = o.shape;
    shape.tokens = tokens;
    const std::vector<int32_t> routed = RoutedExperts(shape, me, o.seed);
    SY_ASSIGN_OR_RETURN(Tensor host_ids, Tensor::Empty({tokens, k}, DType::kI32));
    std::copy(routed.begin(), routed.end(), host_ids.data<int32_t>());
    SY_ASSIGN_OR_RETURN(const Tensor ids, host_ids.To(ctx.device()));
    SY_ASSIGN_OR_RETURN(const Tensor weights,
                        Tensor::Zeros({tokens, k}, DType::kF32, ctx.device()));
    SY_ASSIGN_OR_RETURN(const Tensor x,
                        Tensor::Zeros({tokens, o.shape.hidden}, DType::kBF16, ctx.device()));
    SY_ASSIGN_OR_RETURN(Tensor out,
                        Tensor::Zeros({tokens, o.shape.hidden}, DType::kF32, ctx.device()));
    SY_ASSIGN_OR_RETURN(const Tensor expert_out,
                        Tensor::Zeros({tokens * world, o.shape.hidden}, DType::kF32, ctx.device()));
    SY_ASSIGN_OR_RETURN(
        const Medians mine,
        TimeRounds(
            stopwatch, o,
            [&] {
              return direct
                  ->Dispatch(0, x.data<uint16_t>(), ids.data<int32_t>(), weights.data<float>(),
                             ctx.stream())
                  .status();
            },
            [&] {
              return direct->Combine(expert_out.data<float>(), out.data<float>(), ctx.stream());
            },
            // A step per round: each round's flags must be new.
            [&] { return direct->BeginStep(rank_tokens, ctx.device(), ctx.stream()).status(); }));
    SY_RETURN_IF_ERROR(ctx.Synchronize());
    SY_RETURN_IF_ERROR(direct->CheckPeers());
    const std::vector<int64_t> counts = DispatchCounts(shape, me, o.seed);
    SY_ASSIGN_OR_RETURN(
        Row row, GatherRow(bootstrap, world,
                           {backend + " direct", A2aPayloadName(payload), tokens, 0, 0, 0}, mine,
                           static_cast<double>((Sum(counts) - counts[me]) *
                                               DispatchRowBytes(payload, o.shape.hidden))));
    rows.push_back(std::move(row));
  }
  return absl::OkStatus();
}

absl::Status MeasureBackend(const ComponentRegistry& registry, Bootstrap& bootstrap, Device device,
                            const Options& o, const std::string& name, std::vector<Row>& rows,
                            std::vector<std::string>& direct_skipped) {
  SY_ASSIGN_OR_RETURN(RegisteredComponent registered, registry.Find(name));
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Component> component, Component::Create(registered, {}));
  SY_ASSIGN_OR_RETURN(Comm made, Comm::From(component));
  const auto comm = std::make_shared<Comm>(std::move(made));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<ExecContext> ctx, ExecContext::Create(device, 1));
  SY_RETURN_IF_ERROR(comm->Connect(*ctx, *bootstrap.comm_group()));
  Stopwatch stopwatch(*ctx, bootstrap, *comm);
  for (A2aPayload payload : o.payloads) {
    for (int64_t tokens : o.tokens) {
      SY_ASSIGN_OR_RETURN(Row row, Measure(*comm, *ctx, bootstrap, stopwatch, o,
                                           registered.info->full_name, payload, tokens));
      rows.push_back(std::move(row));
    }
  }
  if (!device.is_cuda()) return absl::OkStatus();
  for (A2aPayload payload : o.payloads) {
    SY_RETURN_IF_ERROR(MeasureDirect(comm, *ctx, bootstrap, stopwatch, o,
                                     registered.info->full_name, payload, rows, direct_skipped));
  }
  return absl::OkStatus();
}

double GBps(const Row& r) { return r.dispatch_us > 0 ? r.sent_mb * 1e6 / r.dispatch_us / 1e3 : 0; }

// Three significant figures or so, small values included (CPU backends at a few KB).
std::string Figure(double v) {
  return absl::StrFormat(v >= 100 ? "%.0f" : v >= 1 ? "%.1f" : "%.3f", v);
}

// Issue 6's targets (comm.nvlink) and the torch + NCCL figures measured on 2 x H200, at the
// shape they were set for.
std::string VsTarget(const Row& r, const A2aShape& shape) {
  if (shape.hidden != 7168 || shape.top_k != 8 || shape.experts != 256) return "";
  const bool nvlink = r.backend.starts_with("comm.nvlink"), torch = r.backend == "torch.nccl";
  if (r.tokens == 128 && (nvlink || torch)) {
    const double goal = nvlink ? 30 : 54;
    return absl::StrFormat("%.2fx %s %.0f us", r.dispatch_us / goal, nvlink ? "target" : "ref",
                           goal);
  }
  if (r.tokens == 4096 && (nvlink || torch)) {
    const double goal = nvlink ? 360 : 291;
    return absl::StrFormat("%.0f%% of %s %.0f GB/s", 100 * GBps(r) / goal,
                           nvlink ? "target" : "ref", goal);
  }
  return "";
}

void PrintTables(const std::vector<Row>& rows, const Options& o, const std::string& where) {
  for (size_t begin = 0; begin < rows.size();) {
    size_t end = begin;
    while (end < rows.size() && rows[end].backend == rows[begin].backend &&
           rows[end].dtype == rows[begin].dtype) {
      ++end;
    }
    std::printf("\n%s, %s dispatch (%s):\n", rows[begin].backend.c_str(), rows[begin].dtype.c_str(),
                where.c_str());
    // A "vs target" column only where a target applies.
    bool targets = false;
    for (size_t i = begin; i < end; ++i) targets |= !VsTarget(rows[i], o.shape).empty();
    std::vector<std::string> headers = {"tokens/rank", "MB/rank", "dispatch us", "combine us",
                                        "GB/s"};
    if (targets) headers.push_back("vs target");
    TextTable table(std::move(headers));
    for (size_t i = begin; i < end; ++i) {
      const Row& r = rows[i];
      std::vector<std::string> cells = {absl::StrCat(r.tokens), Figure(r.sent_mb),
                                        absl::StrFormat("%.1f", r.dispatch_us),
                                        absl::StrFormat("%.1f", r.combine_us), Figure(GBps(r))};
      if (targets) cells.push_back(VsTarget(r, o.shape));
      table.AddRow(std::move(cells));
    }
    std::printf("%s", table.Render().c_str());
    begin = end;
  }
}

// torch's NCCL all_to_all_single on the same exchanges, on the GPUs the ranks used. It runs
// after every rank has destroyed its backends and the other ranks have exited, so the GPUs'
// memory, IPC mappings and NCCL communicators of ours are gone before torch makes its own.
void RunTorchReference(const Options& o, int world, std::vector<Row>& rows) {
  std::vector<A2aCase> cases;
  for (A2aPayload payload : o.payloads) {
    for (int64_t tokens : o.tokens) {
      cases.push_back({A2aPayloadName(payload), tokens, DispatchRowBytes(payload, o.shape.hidden),
                       CombineRowBytes(o.shape.hidden), AllCounts(o.shape, tokens, o.seed)});
    }
  }
  auto torch = RunTorchA2a(world, cases, o.warmup, o.iters);
  if (!torch.ok()) {
    std::printf("\ntorch reference: %s\n", std::string(torch.status().message()).c_str());
    return;
  }
  for (const A2aTorchRow& t : *torch) {
    for (const A2aCase& c : cases) {
      if (c.dtype != t.dtype || c.tokens != t.tokens) continue;
      double sent = 0;
      for (int r = 0; r < world; ++r) sent += (Sum(c.counts[r]) - c.counts[r][r]);
      rows.push_back({"torch.nccl", t.dtype, t.tokens, sent * c.dispatch_row_bytes / 1e6 / world,
                      t.dispatch_us, t.combine_us});
    }
  }
}

absl::Status Run(const ParsedArgs& args, Options o) {
  SY_ASSIGN_OR_RETURN(RankInfo info, RankInfoFromEnvironment());
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Bootstrap> bootstrap, Bootstrap::Join(info, o.timeout));
  o.shape.world = info.world_size;
  const auto registry = LoadPlugins(args);
  if (o.device.empty()) o.device = cuda::DeviceCount() > 0 ? "cuda" : "cpu";
  SY_ASSIGN_OR_RETURN(const Device device, RankDevice(o.device, info.local_rank));
  if (o.tokens.empty()) {
    o.tokens = device.is_cuda() ? std::vector<int64_t>{128, 256, 512, 1024, 2048, 4096, 8192, 16384}
                                : std::vector<int64_t>{128, 512, 2048};
  }
  if (o.comms.empty()) {
    for (const RegisteredComponent& c : registry->List()) {
      if (c.info->kind == SY_KIND_COMM && c.score > 0) o.comms.push_back(c.info->full_name);
    }
  }
  std::vector<Row> rows;
  std::vector<std::string> direct_skipped;
  for (const std::string& name : o.comms) {
    SY_RETURN_IF_ERROR(
        MeasureBackend(*registry, *bootstrap, device, o, name, rows, direct_skipped));
  }
  SY_RETURN_IF_ERROR(bootstrap->Barrier());
  if (info.rank != 0) return absl::OkStatus();
  const std::string where = absl::StrFormat(
      "%d ranks on %s, H=%d, top-%d of %d experts, median of %d iterations, max over ranks",
      info.world_size, device.is_cuda() ? "cuda" : "cpu", o.shape.hidden, o.shape.top_k,
      o.shape.experts, o.iters);
  std::printf(
      "bench a2a: dispatch = all-to-all-v of each token once per rank holding one of its experts "
      "(after a counts all-to-all); combine = the reverse in bf16.\n"
      "targets (2 x H200, NVLink 450 GB/s one way, H=7168 top-8 of 256): comm.nvlink >= 360 GB/s "
      "per GPU one way at 4096 tokens, <= 30 us dispatch at 128 tokens; torch + NCCL measured "
      "there: 54 us at 128 tokens, 291 GB/s at 4096.\n"
      "direct (backends with peer memory): the GPU model's own exchange, kernels writing each "
      "token's row into the ranks of its experts and f32 sums back, no counts exchange.\n"
      "MB/rank: dispatch bytes a rank sends to the other ranks; GB/s: those / dispatch time.\n");
  PrintTables(rows, o, where);
  if (!direct_skipped.empty()) {
    std::printf(
        "\ndirect: left out (tokens/rank): %s; rows that exceed the backend's peer memory "
        "(comm.nvlink: peerMib) do not run\n",
        absl::StrJoin(direct_skipped, ", ").c_str());
  }
  if (device.is_cuda() && TorchA2aAvailable(info.world_size)) {
    bootstrap.reset();  // waits for the other ranks to leave
    std::vector<Row> torch;
    RunTorchReference(o, info.world_size, torch);
    PrintTables(torch, o, where);
  }
  std::fflush(stdout);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> ParseCounts(const std::string& text) {
  std::vector<int64_t> values;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1)
      return absl::InvalidArgumentError(absl::StrCat("--tokens: bad count '", part, "'"));
    values.push_back(v);
  }
  return values;
}

absl::StatusOr<Options> ParseOptions(const ParsedArgs& args) {
  Options o;
  for (const std::string& list : args.GetAll("comm")) {
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty()))
      o.comms.emplace_back(name);
  }
  if (args.Has("tokens")) {
    SY_ASSIGN_OR_RETURN(o.tokens, ParseCounts(args.Get("tokens")));
  }
  if (args.Has("dtype")) {
    o.payloads.clear();
    for (absl::string_view name : absl::StrSplit(args.Get("dtype"), ',', absl::SkipEmpty())) {
      SY_ASSIGN_OR_RETURN(A2aPayload p, ParseA2aPayload(name));
      o.payloads.push_back(p);
    }
  }
  o.device = args.Get("device");
  SY_ASSIGN_OR_RETURN(o.shape.hidden, args.GetInt("hidden", o.shape.hidden, 1));
  SY_ASSIGN_OR_RETURN(o.shape.top_k, args.GetInt("top-k", o.shape.top_k, 1));
  SY_ASSIGN_OR_RETURN(o.shape.experts, args.GetInt("experts", o.shape.experts, 1));
  SY_ASSIGN_OR_RETURN(o.warmup, args.GetInt("warmup", o.warmup, 0));
  SY_ASSIGN_OR_RETURN(o.iters, args.GetInt("iters", o.iters, 1));
  SY_ASSIGN_OR_RETURN(o.seed, args.GetInt("seed", 1, 0));
  double timeout_s = 0;
  if (args.Has("timeout") &&
      (!absl::SimpleAtod(args.Get("timeout"), &timeout_s) || timeout_s <= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout: expected seconds > 0, got '", args.Get("timeout"), "'"));
  }
  SY_ASSIGN_OR_RETURN(absl::Duration timeout, TimeoutFromEnvironment(absl::Seconds(60)));
  o.timeout = args.Has("timeout") ? absl::Seconds(timeout_s) : timeout;
  return o;
}

}  // namespace

int BenchA2a(const ParsedArgs& args) {
  auto options = ParseOptions(args);
  if (!options.ok()) return UsageError("bench", options.status().message());
  const absl::Status status = Run(args, *std::move(options));
  if (!status.ok()) {
    std::fprintf(stderr, "switchyard bench a2a: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace sy::cli
