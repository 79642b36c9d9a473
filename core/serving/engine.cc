#include "core/serving/engine.h"

#include <capnp/message.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "core/base/log.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"
#include "core/model/token_streamer.h"
#include "core/moe/online_rebalancer.h"
#include "core/serving/metrics.h"

namespace sy {
namespace {

using Clock = std::chrono::steady_clock;

// The longest an expert-parallel engine stays idle before it tells the other ranks it is alive
// (MoeModel::KeepAlive); shorter when the group's timeout asks for it (KeepAliveInterval). One
// 8-byte all-reduce per interval costs nothing.
constexpr auto kMaxKeepAliveInterval = std::chrono::milliseconds(250);
constexpr auto kMinKeepAliveInterval = std::chrono::milliseconds(25);
// How long an idle loop sleeps before it looks again (for work, a shutdown, a keep-alive due).
constexpr auto kIdleWait = std::chrono::milliseconds(100);

double Seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> KeepAliveInterval(absl::Duration timeout) {
  const auto quarter = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout / 4));
  if (quarter < kMinKeepAliveInterval) {
    const double ms = absl::ToDoubleMilliseconds(timeout);
    return absl::InvalidArgumentError(absl::StrCat(
        "the expert-parallel timeout of ", ms,
        " ms (launch --timeout, SWITCHYARD_TIMEOUT) is too short to serve: an idle engine would "
        "have to tell the other ranks it is alive every ",
        ms / 4, " ms (a quarter of the timeout), and it does so at most every ",
        kMinKeepAliveInterval.count(), " ms; use a timeout of at least ",
        4 * kMinKeepAliveInterval.count(), " ms"));
  }
  return std::min(quarter, std::chrono::milliseconds(kMaxKeepAliveInterval));
}

// One request inside the engine. Its tokens are the prompt then what it generated; `cached`
// of them are in the KV cache, so tokens.size() - cached (>= 1) are pending.
struct Sequence {
  uint64_t id;
  std::shared_ptr<RequestStream> stream;
  std::vector<int32_t> tokens;
  int32_t prompt_tokens;
  int32_t cached = 0;
  bool running = false;
  uint64_t admission = 0;  // when it last became running: the scheduler's order
  bool done = false;
  Sampler sampler;
  TokenStreamer streamer;
  Clock::time_point arrival;
  Clock::time_point last_token;
  bool has_token = false;

  int32_t pending() const { return static_cast<int32_t>(tokens.size()) - cached; }
  int32_t generated() const { return static_cast<int32_t>(tokens.size()) - prompt_tokens; }
};

struct Engine::State {
  State(Scheduler scheduler, EngineOptions options, PagedKvCache cache,
        std::unique_ptr<ExecContext> ctx)
      : options(options),
        scheduler(std::move(scheduler)),
        cache(std::move(cache)),
        ctx(std::move(ctx)) {}

  EngineOptions options;
  Scheduler scheduler;
  PagedKvCache cache;
  std::unique_ptr<ExecContext> ctx;
  ServingMetrics metrics;

  // Shared with submitting threads.
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Sequence>> inbox;
  bool accepting = true;
  bool draining = false;
  bool stopping = false;
  uint64_t next_id = 1;
  std::atomic<int64_t> queued{0};  // submitted, not yet admitted (inbox + waiting)

  // The engine thread's own.
  std::vector<std::unique_ptr<Sequence>> live;
  uint64_t admissions = 0;
  uint64_t step = 0;
  uint64_t placement_reported = 0;  // the rebalancer step whose report the gauges show
  // Under expert parallelism: when this rank last took part in a collective, and the failure
  // of a pass (the ranks may be out of step, so the engine cannot go on).
  // The distant past: the loop's first round keeps the group alive at once, as the other ranks
  // wait from the moment they loaded, and this one also built its cache and started serving.
  Clock::time_point last_collective = {};
  std::chrono::milliseconds keep_alive = kMaxKeepAliveInterval;  // KeepAliveInterval(timeout)
  absl::Status group_failure;
};

Engine::Engine(std::shared_ptr<LanguageModel> model, std::unique_ptr<State> state)
    : model_(std::move(model)), state_(std::move(state)) {}

Engine::~Engine() = default;

namespace {

absl::StatusOr<int64_t> KvCacheBudget(const EngineOptions& options, Device device) {
  if (options.kv_cache_bytes > 0) return options.kv_cache_bytes;
  if (device.is_cpu()) return kDefaultCpuKvCacheBytes;
  SY_ASSIGN_OR_RETURN(const cuda::MemoryInfo memory, cuda::DeviceMemory(device.index));
  return std::max<int64_t>(0, static_cast<int64_t>(memory.free_bytes) - options.gpu_memory_reserve);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(std::shared_ptr<LanguageModel> model,
                                                       Scheduler scheduler,
                                                       const EngineOptions& options) {
  if (options.block_size < 1) return absl::InvalidArgumentError("block_size must be >= 1");
  KvCacheShape shape = model->network->CacheShape(1, options.block_size);
  const int64_t block_bytes = shape.BytesPerToken() * shape.block_size;
  SY_ASSIGN_OR_RETURN(const int64_t cache_bytes, KvCacheBudget(options, shape.device));
  shape.num_blocks =
      options.kv_blocks > 0 ? options.kv_blocks : cache_bytes / std::max<int64_t>(block_bytes, 1);
  // Under expert parallelism only rank 0's engine runs requests (Serve lends the other ranks'
  // experts to it), so the others keep a token cache rather than the device's free memory.
  if (model->expert_parallel && model->expert_parallel->rank() != 0) shape.num_blocks = 1;
  if (shape.num_blocks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("the KV cache holds no block (a block is ", block_bytes, " bytes)"));
  }
  // Before any allocation: a group timeout too short to keep alive fails at once.
  std::chrono::milliseconds keep_alive = kMaxKeepAliveInterval;
  if (model->expert_parallel) {
    SY_ASSIGN_OR_RETURN(keep_alive, KeepAliveInterval(model->expert_parallel->timeout));
  }
  SY_ASSIGN_OR_RETURN(PagedKvCache cache, PagedKvCache::Create(shape));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<ExecContext> ctx, ExecContext::Create(shape.device, 0));
  auto state =
      std::make_unique<State>(std::move(scheduler), options, std::move(cache), std::move(ctx));
  state->keep_alive = keep_alive;
  return std::unique_ptr<Engine>(new Engine(std::move(model), std::move(state)));
}

int64_t Engine::context_length() const { return model_->network->config().max_position_embeddings; }

bool Engine::accepting() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->accepting;
}

std::string Engine::RenderMetrics() const { return state_->metrics.Render(); }

absl::StatusOr<std::shared_ptr<RequestStream>> Engine::Submit(GenerationRequest request) {
  if (request.prompt.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  SY_RETURN_IF_ERROR(request.sampling.Validate());
  const int64_t vocab = model_->network->config().vocab_size;
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  const int64_t prompt = static_cast<int64_t>(request.prompt.size());
  const int64_t total = prompt + request.sampling.max_tokens;
  if (total > context_length()) {
    return absl::InvalidArgumentError(
        absl::StrCat("this model's maximum context length is ", context_length(),
                     " tokens; the request needs ", total, " (", prompt, " in the prompt, ",
                     request.sampling.max_tokens, " in the completion)"));
  }
  const KvCacheShape& kv = state_->cache.shape();
  const int64_t blocks = (total + kv.block_size - 1) / kv.block_size;
  if (blocks > kv.num_blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("the request needs ", blocks,
                     " KV-cache blocks at its longest; the cache has ", kv.num_blocks));
  }
  SY_ASSIGN_OR_RETURN(Sampler sampler, Sampler::Create(request.sampling));
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->accepting) return absl::UnavailableError("the server is shutting down");
  if (state_->queued.load() >= state_->options.max_waiting) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the queue is full (", state_->options.max_waiting, " requests waiting); retry later"));
  }
  const uint64_t id = state_->next_id++;
  auto stream = std::make_shared<RequestStream>(id);
  auto sequence = std::unique_ptr<Sequence>(new Sequence{
      .id = id,
      .stream = stream,
      .tokens = request.prompt,
      .prompt_tokens = static_cast<int32_t>(prompt),
      .sampler = std::move(sampler),
      .streamer =
          TokenStreamer(model_->tokenizer, request.sampling, model_->eos_ids, request.ignore_eos),
      .arrival = Clock::now(),
      .last_token = {},
  });
  state_->inbox.push_back(std::move(sequence));
  ++state_->queued;
  state_->wake.notify_all();
  return stream;
}

void Engine::Shutdown(bool drain) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->accepting = false;
    state_->draining = drain;
    state_->stopping = true;
  }
  state_->wake.notify_all();
}

EngineGauges Engine::PublishGauges() {
  const State& st = *state_;
  int64_t running = 0;
  for (const auto& s : st.live) running += s->running ? 1 : 0;
  const int64_t total = st.cache.shape().num_blocks;
  const EngineGauges gauges{static_cast<int64_t>(st.live.size()) - running, running,
                            total - st.cache.allocator().num_free(), total};
  state_->metrics.SetGauges(gauges);
  return gauges;
}

void Engine::Retire(Sequence& sequence, const std::string& reason, absl::Status error) {
  State& st = *state_;
  if (st.cache.HasSequence(sequence.id)) st.cache.Free(sequence.id).IgnoreError();
  if (!sequence.running) --st.queued;
  const std::string tail = sequence.streamer.Finish(reason);
  if (!tail.empty()) sequence.stream->Push(tail, 0);
  sequence.stream->Finish(sequence.streamer.finish_reason(), std::move(error),
                          sequence.prompt_tokens, sequence.generated());
  st.metrics.RecordFinished(sequence.streamer.finish_reason(),
                            Seconds(sequence.arrival, Clock::now()));
}

absl::Status Engine::Run(const std::function<void(schema::StepReport::Reader)>& on_step) {
  if (absl::Status failed = Loop(on_step); !failed.ok()) {
    Abandon(failed);
    return failed;
  }
  // Under expert parallelism the other ranks follow this one's passes until it says it has
  // finished; then they exit too.
  return model_->network->FinishSteps(*state_->ctx);
}

absl::Status Engine::Loop(const std::function<void(schema::StepReport::Reader)>& on_step) {
  State& st = *state_;
  while (true) {
    bool stop = false, drain = false;
    {
      std::unique_lock<std::mutex> lock(st.mu);
      if (st.live.empty() && st.inbox.empty() && !st.stopping) {
        st.wake.wait_for(lock, std::min<Clock::duration>(kIdleWait, st.keep_alive));
      }
      while (!st.inbox.empty()) {
        st.live.push_back(std::move(st.inbox.front()));
        st.inbox.pop_front();
      }
      stop = st.stopping;
      drain = st.draining;
    }
    if (stop && !drain) {  // abort everything still live
      for (auto& sequence : st.live) {
        Retire(*sequence, "abort", absl::UnavailableError("the server shut down"));
      }
      st.live.clear();
      return absl::OkStatus();
    }
    if (stop && st.live.empty()) return absl::OkStatus();
    if (st.live.empty()) {
      SY_RETURN_IF_ERROR(KeepGroupAlive());
      continue;
    }
    Step(on_step);
    if (!st.group_failure.ok()) return st.group_failure;
  }
}

absl::Status Engine::KeepGroupAlive() {
  State& st = *state_;
  if (!model_->expert_parallel || Clock::now() - st.last_collective < st.keep_alive) {
    return absl::OkStatus();
  }
  st.last_collective = Clock::now();
  const absl::Status alive = model_->network->KeepAlive(*st.ctx);
  if (alive.ok()) return alive;
  return absl::Status(
      alive.code(), absl::StrCat("the expert-parallel group failed while idle: ", alive.message()));
}

void Engine::Abandon(const absl::Status& error) {
  State& st = *state_;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.accepting = false;
    st.stopping = true;
    while (!st.inbox.empty()) {
      st.live.push_back(std::move(st.inbox.front()));
      st.inbox.pop_front();
    }
  }
  for (auto& sequence : st.live) Retire(*sequence, "abort", error);
  st.live.clear();
}

// What one step did, for the metrics and the StepReport.
struct StepTally {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  int64_t sequences = 0;
  int64_t prefill_tokens = 0;
  int64_t sampled = 0;
  int64_t preempted = 0;
  int64_t finished = 0;
};

void Engine::Step(const std::function<void(schema::StepReport::Reader)>& on_step) {
  State& st = *state_;
  StepTally tally;
  // Requests whose client went away leave first, so their blocks are free for this step.
  for (auto& s : st.live) {
    if (s->stream->cancelled()) {
      Retire(*s, "abort", absl::CancelledError("the client went away"));
      s->done = true;
      ++tally.finished;
    }
  }
  std::erase_if(st.live, [](const auto& s) { return s->done; });
  if (st.live.empty()) {
    PublishGauges();
    return;
  }
  const std::vector<Sequence*> order = SchedulingOrder();
  const KvCacheShape& kv = st.cache.shape();
  const BlockPool pool{st.cache.allocator().num_free(), static_cast<int32_t>(kv.num_blocks),
                       static_cast<int32_t>(kv.block_size)};
  absl::StatusOr<ScheduleDecision> decision =
      st.scheduler.Schedule(SchedulerView(order), pool, st.step);
  if (!decision.ok()) {  // a broken scheduler fails what is live; the server keeps serving
    Log(LogLevel::kError, "engine", decision.status().message());
    for (auto& s : st.live) Retire(*s, "abort", decision.status());
    st.live.clear();
    return;
  }
  for (int64_t index : decision->preempted) {  // recompute later: the blocks go back now
    Sequence& s = *order[index];
    st.cache.Free(s.id).IgnoreError();
    s.cached = 0;
    s.running = false;
    ++st.queued;
    ++tally.preempted;
  }
  RunBatch(*decision, order, tally);
  std::erase_if(st.live, [](const auto& s) { return s->done; });
  Report(tally, on_step);
}

std::vector<Sequence*> Engine::SchedulingOrder() const {
  std::vector<Sequence*> order;
  for (const auto& s : state_->live) order.push_back(s.get());
  std::sort(order.begin(), order.end(), [](const Sequence* a, const Sequence* b) {
    if (a->running != b->running) return a->running;
    return a->running ? a->admission < b->admission : a->id < b->id;
  });
  return order;
}

std::vector<sy_sched_sequence> Engine::SchedulerView(const std::vector<Sequence*>& order) const {
  std::vector<sy_sched_sequence> view;
  for (const Sequence* s : order) {
    auto table = state_->cache.BlockTable(s->id);
    const int64_t arrival_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(s->arrival.time_since_epoch()).count();
    view.push_back({s->id, arrival_ns, s->running ? 1 : 0, s->cached, s->pending(),
                    table.ok() ? static_cast<int32_t>((*table)->size()) : 0, s->generated()});
  }
  return view;
}

void Engine::RunBatch(const ScheduleDecision& decision, const std::vector<Sequence*>& order,
                      StepTally& tally) {
  State& st = *state_;
  std::vector<SequenceChunk> batch;
  std::vector<Sequence*> members;
  for (const sy_sched_entry& e : decision.scheduled) {
    Sequence& s = *order[e.index];
    if (!s.running) {
      if (!st.cache.HasSequence(s.id)) st.cache.AddSequence(s.id).IgnoreError();
      s.running = true;
      s.admission = ++st.admissions;
      --st.queued;
    }
    // The host checked that the step's blocks fit, so this cannot fail half-way.
    if (absl::Status reserved = st.cache.Reserve(s.id, s.cached + e.tokens); !reserved.ok()) {
      Retire(s, "abort", reserved);
      s.done = true;
      ++tally.finished;
      continue;
    }
    const auto first = s.tokens.begin() + s.cached;
    batch.push_back({.sequence = static_cast<int64_t>(s.id),
                     .tokens = std::vector<int32_t>(first, first + e.tokens)});
    members.push_back(&s);
    const bool samples = e.tokens == s.pending();
    tally.sampled += samples ? 1 : 0;
    tally.prefill_tokens += samples ? e.tokens - 1 : e.tokens;
  }
  tally.sequences = static_cast<int64_t>(batch.size());
  if (batch.empty()) return;
  absl::StatusOr<std::vector<int32_t>> tokens = ForwardAndSample(batch, members);
  st.last_collective = Clock::now();
  if (!tokens.ok()) {
    Log(LogLevel::kError, "engine",
        absl::StrCat("step ", st.step, ": ", tokens.status().message()));
    // A failed pass may leave the ranks out of step (a dead rank fails the comm for good).
    if (model_->expert_parallel) {
      st.group_failure = absl::Status(
          tokens.status().code(),
          absl::StrCat("the expert-parallel group failed: ", tokens.status().message()));
    }
  }
  // Under expert parallelism the batch's requests fail with the group's error, as the others do,
  // so every client reads that the group failed, not only which collective broke.
  const absl::Status failure = st.group_failure.ok() ? tokens.status() : st.group_failure;
  for (size_t i = 0; i < members.size(); ++i) {
    Sequence& s = *members[i];
    if (!tokens.ok()) {
      Retire(s, "abort", failure);
      s.done = true;
      ++tally.finished;
      continue;
    }
    s.cached += static_cast<int32_t>(batch[i].tokens.size());
    if (s.pending() > 0) continue;  // a prefill chunk: nothing to sample yet
    if (Stream(s, (*tokens)[i])) ++tally.finished;
  }
}

absl::StatusOr<std::vector<int32_t>> Engine::ForwardAndSample(
    const std::vector<SequenceChunk>& batch, const std::vector<Sequence*>& members) {
  State& st = *state_;
  MoeModel& network = *model_->network;
  std::vector<int32_t> tokens(members.size(), -1);
  // A member samples when its chunk takes the last of its pending tokens.
  const auto samples = [&](size_t i) {
    return static_cast<int32_t>(batch[i].tokens.size()) == members[i]->pending();
  };
  if (network.samples_on_device()) {  // only the ids come back
    std::vector<DeviceDraw> draws;
    std::vector<size_t> drawn;
    for (size_t i = 0; i < members.size(); ++i) {
      if (!samples(i)) continue;
      Sampler& sampler = members[i]->sampler;
      draws.push_back({.chunk = i,
                       .params = &sampler.params(),
                       .step = sampler.TakeStep(),
                       .history = members[i]->tokens});
      drawn.push_back(i);
    }
    SY_ASSIGN_OR_RETURN(std::vector<int32_t> ids,
                        network.ForwardBatchSampled(*st.ctx, batch, st.cache, draws));
    for (size_t d = 0; d < drawn.size(); ++d) tokens[drawn[d]] = ids[d];
    return tokens;
  }
  SY_ASSIGN_OR_RETURN(const Tensor logits, network.ForwardBatch(*st.ctx, batch, st.cache));
  const int64_t vocab = logits.dim(1);
  for (size_t i = 0; i < members.size(); ++i) {
    if (!samples(i)) continue;
    Sequence& s = *members[i];
    tokens[i] = s.sampler.Sample(logits.data<float>() + i * vocab, vocab, s.tokens);
  }
  return tokens;
}

bool Engine::Stream(Sequence& s, int32_t token) {
  State& st = *state_;
  const auto now = Clock::now();
  s.tokens.push_back(token);
  const TokenStreamer::Step out = s.streamer.Push(token);
  s.stream->Push(out.text, 1);
  if (s.has_token) {
    st.metrics.RecordInterToken(Seconds(s.last_token, now));
  } else {
    st.metrics.RecordFirstToken(Seconds(s.arrival, now));
  }
  s.has_token = true;
  s.last_token = now;
  const bool context_full = static_cast<int64_t>(s.tokens.size()) >= context_length();
  if (!out.finished && !context_full) return false;
  Retire(s, "length", absl::OkStatus());  // the streamer keeps its own reason if it has one
  s.done = true;
  return true;
}

void Engine::PublishPlacement() {
  const ExpertParallelism* ep = model_->expert_parallel.get();
  if (ep == nullptr) return;
  state_->metrics.SetExchangeSteps(ep->exchange_steps->direct, ep->exchange_steps->collective);
  if (!ep->rebalancer) return;
  const OnlineRebalancer& rebalancer = *ep->rebalancer;
  state_->metrics.SetRebalances(rebalancer.rebalances());
  const std::optional<RebalanceReport>& report = rebalancer.last_report();
  if (!report || report->step == state_->placement_reported) return;
  state_->placement_reported = report->step;
  for (size_t l = 0; l < report->layers.size(); ++l) {
    const LayerRebalance& layer = report->layers[l];
    state_->metrics.SetPlacementImbalance(static_cast<int64_t>(l), layer.logical, layer.before,
                                          layer.after);
  }
}

// Publishes the step: metrics for scrapes, the StepReport for the on_step hook.
void Engine::Report(const StepTally& tally,
                    const std::function<void(schema::StepReport::Reader)>& on_step) {
  State& st = *state_;
  const EngineGauges gauges = PublishGauges();
  st.metrics.RecordStep(tally.prefill_tokens, tally.sampled, tally.preempted);
  PublishPlacement();
  capnp::MallocMessageBuilder message;
  auto report = message.initRoot<schema::StepReport>();
  report.setStep(st.step);
  const auto layers = model_->network->moe_layers();
  auto loads = report.initLayers(static_cast<unsigned>(tally.sequences == 0 ? 0 : layers.size()));
  for (size_t l = 0; l < loads.size(); ++l) {
    layers[l]->WriteLastLoad(loads[l]);
    st.metrics.RecordExpertLoad(static_cast<int64_t>(l), layers[l]->last_load().tokens_per_expert);
  }
  report.setSequences(static_cast<uint32_t>(tally.sequences));
  report.setPrefillTokens(static_cast<uint32_t>(tally.prefill_tokens));
  report.setDecodeTokens(static_cast<uint32_t>(tally.sampled));
  report.setRunning(static_cast<uint32_t>(gauges.running));
  report.setWaiting(static_cast<uint32_t>(gauges.waiting));
  report.setPreempted(static_cast<uint32_t>(tally.preempted));
  report.setFinished(static_cast<uint32_t>(tally.finished));
  report.setKvBlocksUsed(static_cast<uint32_t>(gauges.kv_blocks_used));
  report.setKvBlocksTotal(static_cast<uint32_t>(gauges.kv_blocks_total));
  report.setStepMicros(Seconds(tally.start, Clock::now()) * 1e6);
  ++st.step;
  if (on_step) on_step(report.asReader());
}

}  // namespace sy
