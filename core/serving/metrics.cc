#include "core/serving/metrics.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace sy {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Header(std::string& out, const std::string& name, const char* type, const std::string& help) {
  absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void Sample(std::string& out, const std::string& name, double value) {
  absl::StrAppend(&out, name, " ", value, "\n");
}

// Latency buckets in seconds, from 1 ms to 2 minutes.
std::vector<double> LatencyBounds() {
  return {0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
          0.75,  1.0,    2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 120.0};
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string& out) const {
  Header(out, name, "histogram", help);
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    absl::StrAppend(&out, name, "_bucket{le=\"", bounds_[i], "\"} ", cumulative, "\n");
  }
  absl::StrAppend(&out, name, "_bucket{le=\"+Inf\"} ", count_, "\n");
  Sample(out, name + "_sum", sum_);
  absl::StrAppend(&out, name, "_count ", count_, "\n");
}

ServingMetrics::ServingMetrics()
    : ttft_(LatencyBounds()), itl_(LatencyBounds()), e2e_(LatencyBounds()), started_(Now()) {}

void ServingMetrics::RecordFirstToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.Observe(seconds);
}

void ServingMetrics::RecordInterToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.Observe(seconds);
}

void ServingMetrics::RecordFinished(const std::string& reason, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_[reason];
  e2e_.Observe(seconds);
}

void ServingMetrics::SetGauges(const EngineGauges& gauges) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_ = gauges;
}

void ServingMetrics::RecordStep(int64_t prompt_tokens, int64_t generation_tokens,
                                int64_t preemptions) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += prompt_tokens;
  generation_tokens_ += generation_tokens;
  preemptions_ += preemptions;
  ++steps_;
}

void ServingMetrics::RecordExpertLoad(int64_t layer, const std::vector<int64_t>& tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (static_cast<int64_t>(expert_tokens_.size()) <= layer) expert_tokens_.resize(layer + 1);
  auto& counts = expert_tokens_[layer];
  counts.resize(std::max(counts.size(), tokens.size()), 0);
  for (size_t e = 0; e < tokens.size(); ++e) counts[e] += tokens[e];
}

void ServingMetrics::SetPlacementImbalance(int64_t layer, double logical, double previous,
                                           double balanced) {
  std::lock_guard<std::mutex> lock(mu_);
  placement_imbalance_[layer] = {logical, previous, balanced};
}

void ServingMetrics::SetRebalances(int64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  rebalances_ = total;
}

void ServingMetrics::SetExchangeSteps(int64_t direct, int64_t collective) {
  std::lock_guard<std::mutex> lock(mu_);
  exchange_steps_ = {direct, collective};
}

std::string ServingMetrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  ttft_.Render("switchyard_time_to_first_token_seconds",
               "Time from a request's arrival to its first generated token.", out);
  itl_.Render("switchyard_inter_token_latency_seconds",
              "Time between consecutive generated tokens of a request.", out);
  e2e_.Render("switchyard_e2e_request_latency_seconds", "Time from a request's arrival to its end.",
              out);
  const std::pair<const char*, std::pair<int64_t, const char*>> gauges[] = {
      {"switchyard_requests_waiting", {gauges_.waiting, "Requests queued, not yet running."}},
      {"switchyard_requests_running", {gauges_.running, "Requests holding KV-cache blocks."}},
      {"switchyard_kv_blocks_used", {gauges_.kv_blocks_used, "KV-cache blocks in use."}},
      {"switchyard_kv_blocks_total", {gauges_.kv_blocks_total, "KV-cache blocks in the pool."}},
  };
  for (const auto& [name, value] : gauges) {
    Header(out, name, "gauge", value.second);
    Sample(out, name, static_cast<double>(value.first));
  }
  const std::pair<const char*, std::pair<int64_t, const char*>> counters[] = {
      {"switchyard_prompt_tokens_total", {prompt_tokens_, "Prompt tokens computed (prefill)."}},
      {"switchyard_generation_tokens_total", {generation_tokens_, "Tokens generated."}},
      {"switchyard_preemptions_total",
       {preemptions_, "Sequences preempted for KV blocks (recomputed later)."}},
      {"switchyard_engine_steps_total", {steps_, "Engine steps run."}},
  };
  for (const auto& [name, value] : counters) {
    Header(out, name, "counter", value.second);
    Sample(out, name, static_cast<double>(value.first));
  }
  Header(out, "switchyard_generation_tokens_per_second", "gauge",
         "Generated tokens per second since the engine started.");
  Sample(out, "switchyard_generation_tokens_per_second",
         generation_tokens_ / std::max(Now() - started_, 1e-9));
  Header(out, "switchyard_requests_finished_total", "counter",
         "Requests finished, by reason: stop, length or abort.");
  for (const auto& [reason, count] : finished_) {
    absl::StrAppend(&out, "switchyard_requests_finished_total{reason=\"", reason, "\"} ", count,
                    "\n");
  }
  Header(out, "switchyard_expert_tokens_total", "counter",
         "Tokens routed to each expert of each MoE layer (a token counts once per expert).");
  for (size_t l = 0; l < expert_tokens_.size(); ++l) {
    for (size_t e = 0; e < expert_tokens_[l].size(); ++e) {
      absl::StrAppend(&out, "switchyard_expert_tokens_total{layer=\"", l, "\",expert=\"", e, "\"} ",
                      expert_tokens_[l][e], "\n");
    }
  }
  Header(out, "switchyard_expert_imbalance", "gauge",
         "Max over mean of the tokens per expert of each MoE layer, since the engine started.");
  for (size_t l = 0; l < expert_tokens_.size(); ++l) {
    const auto& counts = expert_tokens_[l];
    int64_t sum = 0, max = 0;
    for (int64_t c : counts) {
      sum += c;
      max = std::max(max, c);
    }
    const double mean = counts.empty() ? 0 : static_cast<double>(sum) / counts.size();
    absl::StrAppend(&out, "switchyard_expert_imbalance{layer=\"", l, "\"} ",
                    mean > 0 ? max / mean : 0.0, "\n");
  }
  if (!placement_imbalance_.empty()) {
    Header(out, "switchyard_ep_rank_imbalance", "gauge",
           "Max over mean of the tokens per expert-parallel rank of each MoE layer over the "
           "rebalancing window, with experts sharded contiguously (placement=logical), as placed "
           "before the latest rebalance (placement=previous) and as placed by EPLB now "
           "(placement=balanced).");
  }
  for (const auto& [layer, value] : placement_imbalance_) {
    const std::pair<const char*, double> placements[] = {
        {"logical", value.logical}, {"previous", value.previous}, {"balanced", value.balanced}};
    for (const auto& [placement, imbalance] : placements) {
      absl::StrAppend(&out, "switchyard_ep_rank_imbalance{layer=\"", layer, "\",placement=\"",
                      placement, "\"} ", imbalance, "\n");
    }
  }
  if (rebalances_ >= 0) {
    Header(out, "switchyard_ep_rebalances_total", "counter",
           "Rebalances that moved experts between expert-parallel ranks.");
    Sample(out, "switchyard_ep_rebalances_total", static_cast<double>(rebalances_));
  }
  if (exchange_steps_) {
    Header(out, "switchyard_ep_steps_total", "counter",
           "Steps under expert parallelism by how their MoE layers exchanged tokens: directly "
           "through the comm backend's peer memory, or through its all-to-all.");
    absl::StrAppend(&out, "switchyard_ep_steps_total{exchange=\"direct\"} ", exchange_steps_->first,
                    "\n");
    absl::StrAppend(&out, "switchyard_ep_steps_total{exchange=\"collective\"} ",
                    exchange_steps_->second, "\n");
  }
  return out;
}

}  // namespace sy
