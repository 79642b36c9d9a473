// The serving engine: continuous batching of generation requests over one LanguageModel.
//
// Requests arrive from any thread (Submit) and leave through a RequestStream each; the engine
// loop (Run) runs on one thread and owns the model, the paged KV cache and the scheduler
// component. Every step the scheduler picks which sequences run and how many tokens each
// (prefill chunks and decodes together, under a token budget), the engine reserves their KV
// blocks — preempting sequences the scheduler names, which give their blocks back and later
// recompute — runs one batched forward, samples, and streams the new text to each request.
#ifndef SWITCHYARD_CORE_SERVING_ENGINE_H_
#define SWITCHYARD_CORE_SERVING_ENGINE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "core/model/language_model.h"
#include "core/plugin_host/scheduler.h"
#include "core/runtime/sampler.h"
#include "switchyard/telemetry.capnp.h"

namespace sy {

// The KV cache an engine on the CPU allocates when neither kv_blocks nor kv_cache_bytes is set.
inline constexpr int64_t kDefaultCpuKvCacheBytes = int64_t{256} << 20;

struct EngineOptions {
  int64_t kv_blocks = 0;  // KV-cache blocks; 0: as many as kv_cache_bytes holds
  // 0: kDefaultCpuKvCacheBytes on the CPU; on a GPU, what the device has free once the model is
  // loaded, less gpu_memory_reserve for activations and cuBLAS (vLLM's gpu_memory_utilization, by
  // bytes).
  int64_t kv_cache_bytes = 0;
  int64_t gpu_memory_reserve = 4ll << 30;
  int64_t block_size = 16;    // tokens per block
  int64_t max_waiting = 512;  // requests queued (not yet running) before Submit refuses
};

// What one request asks for. The prompt is already tokenized (OpenAI's API takes text or ids).
struct GenerationRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;  // max_tokens, stop strings and seed included
  bool ignore_eos = false;  // keep generating past end-of-sequence tokens (benchmarks)
};

// One delivery to a request's reader: the text produced since the previous event (several
// tokens may merge into one event when the reader is slower than the engine), and on the last
// event, why it ended.
struct StreamEvent {
  std::string text;
  int32_t tokens = 0;  // tokens behind `text`
  bool finished = false;
  std::string finish_reason;  // on the last event: "stop", "length" or "abort"
  absl::Status error;         // on the last event, when the engine failed the request
  int64_t prompt_tokens = 0;  // usage, filled on the last event
  int64_t completion_tokens = 0;
};

// The reader's end of one request. Thread-safe.
class RequestStream {
 public:
  explicit RequestStream(uint64_t id) : id_(id) {}
  uint64_t id() const { return id_; }

  // Blocks until there is something new, then returns everything new merged into one event.
  // After the finished event, returns finished events with no text.
  StreamEvent Next();
  // As Next(), but gives up after `timeout`, returning nullopt.
  std::optional<StreamEvent> NextFor(std::chrono::milliseconds timeout);
  // The client went away or gave up: the engine drops the request at its next step and frees
  // its KV blocks. Idempotent.
  void Cancel();
  bool cancelled() const;

  // Engine side.
  void Push(const std::string& text, int32_t tokens);
  void Finish(const std::string& reason, absl::Status error, int64_t prompt_tokens,
              int64_t completion_tokens);

 private:
  struct State;
  uint64_t id_;
  std::shared_ptr<State> state_ = MakeState();
  static std::shared_ptr<State> MakeState();
};

// How often an idle expert-parallel engine tells the other ranks it is alive (MoeModel::KeepAlive)
// when they give up after `timeout` without a collective: a quarter of the timeout, at most
// 250 ms, so one late keep-alive still leaves the others hearing one in time. A timeout under
// 100 ms (a keep-alive under 25 ms, about the jitter of a loaded host's scheduler) is refused
// with both figures: no interval would keep such a group reliably alive.
absl::StatusOr<std::chrono::milliseconds> KeepAliveInterval(absl::Duration timeout);

struct EngineGauges;  // metrics.h
struct Sequence;      // a request inside the engine (engine.cc)
struct StepTally;     // what one step did (engine.cc)

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(std::shared_ptr<LanguageModel> model,
                                                        Scheduler scheduler,
                                                        const EngineOptions& options);
  ~Engine();

  // Queues a request. Errors: InvalidArgument (empty prompt, bad sampling parameters, prompt +
  // max_tokens beyond the context — the message says by how much), ResourceExhausted (the queue
  // holds max_waiting requests: HTTP 429), Unavailable (shutting down: HTTP 503).
  absl::StatusOr<std::shared_ptr<RequestStream>> Submit(GenerationRequest request);

  // The engine loop, on the calling thread, until Shutdown(); after a draining shutdown it
  // returns once every request has finished. `on_step` (optional) sees each step's report on
  // this thread. Under expert parallelism (the other ranks in MoeModel::FinishSteps) an idle
  // engine keeps the group alive, a failed pass or keep-alive ends it with that error (every
  // request failed with it), and a shutdown releases the other ranks.
  absl::Status Run(const std::function<void(schema::StepReport::Reader)>& on_step = nullptr);
  // Stops accepting requests. drain: the loop finishes what it has; otherwise it aborts them.
  // Safe from any thread and from a signal-handling thread.
  void Shutdown(bool drain);

  // Prometheus text exposition (version 0.0.4) of the engine's metrics. Thread-safe.
  std::string RenderMetrics() const;

  const LanguageModel& model() const { return *model_; }
  int64_t context_length() const;
  bool accepting() const;

 private:
  struct State;
  Engine(std::shared_ptr<LanguageModel> model, std::unique_ptr<State> state);
  // Run until Shutdown() or the expert-parallel group fails.
  absl::Status Loop(const std::function<void(schema::StepReport::Reader)>& on_step);
  // Idle under expert parallelism: a keep-alive to the other ranks once per interval.
  absl::Status KeepGroupAlive();
  // Stops accepting and fails every request left with `error`.
  void Abandon(const absl::Status& error);
  // One step of the loop: schedule, run, sample, stream. Errors fail the requests they touch,
  // never the loop.
  void Step(const std::function<void(schema::StepReport::Reader)>& on_step);
  // The parts of a step.
  std::vector<Sequence*> SchedulingOrder() const;  // running by admission, then waiting by arrival
  std::vector<sy_sched_sequence> SchedulerView(const std::vector<Sequence*>& order) const;
  void RunBatch(const ScheduleDecision& decision, const std::vector<Sequence*>& order,
                StepTally& tally);
  // Runs the batch and returns each member's next token (-1 for a member whose chunk leaves
  // tokens pending): sampled on the device when the model can, so only ids come back, else by
  // each sequence's Sampler from the logits. Either way the sequence's random stream advances.
  absl::StatusOr<std::vector<int32_t>> ForwardAndSample(const std::vector<SequenceChunk>& batch,
                                                        const std::vector<Sequence*>& members);
  // Appends `token` to s and streams its text; true when that ended the sequence.
  bool Stream(Sequence& s, int32_t token);
  void Report(const StepTally& tally,
              const std::function<void(schema::StepReport::Reader)>& on_step);
  // Sets the waiting/running/KV gauges from the live sequences and the cache.
  EngineGauges PublishGauges();
  // Under expert parallelism: the steps by exchange and, with online rebalancing, the
  // placement gauges from the rebalancer's latest report (once per report).
  void PublishPlacement();
  // Ends a sequence: frees its blocks, finishes its stream, records the metrics.
  void Retire(Sequence& sequence, const std::string& reason, absl::Status error);
  std::shared_ptr<LanguageModel> model_;
  std::unique_ptr<State> state_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_SERVING_ENGINE_H_
