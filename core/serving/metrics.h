// Prometheus metrics of the serving engine, rendered in the text exposition format (0.0.4).
// The engine thread records; any thread renders. One mutex guards everything: a scrape is
// rare and records are a few additions per step.
#ifndef SWITCHYARD_CORE_SERVING_METRICS_H_
#define SWITCHYARD_CORE_SERVING_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sy {

// A cumulative histogram with fixed upper bounds (plus +Inf), as Prometheus defines it.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // "# HELP", "# TYPE" and the _bucket/_sum/_count lines of `name`.
  void Render(const std::string& name, const std::string& help, std::string& out) const;
  int64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bound, not cumulative; the last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

struct EngineGauges {
  int64_t waiting = 0;
  int64_t running = 0;
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
};

class ServingMetrics {
 public:
  ServingMetrics();

  void RecordFirstToken(double seconds_since_arrival);
  void RecordInterToken(double seconds);
  void RecordFinished(const std::string& reason, double seconds_since_arrival);
  void SetGauges(const EngineGauges& gauges);
  void RecordStep(int64_t prompt_tokens, int64_t generation_tokens, int64_t preemptions);
  // Per MoE layer: the tokens each expert received in this step.
  void RecordExpertLoad(int64_t layer, const std::vector<int64_t>& tokens_per_expert);
  // Per MoE layer under expert parallelism, over the rebalancer's window: max over mean of the
  // tokens per EP rank with the experts sharded contiguously (`logical`), with the placement the
  // latest rebalance replaced (`previous`; the same as `balanced` when it kept it) and with the
  // placement in force (`balanced`, EPLB's replicas). sy::ExpertPlacement::Imbalance measures
  // them. Each call replaces the layer's.
  void SetPlacementImbalance(int64_t layer, double logical, double previous, double balanced);
  // Rebalances that moved experts since the model loaded (OnlineRebalancer::rebalances).
  void SetRebalances(int64_t total);
  // Steps of this rank under expert parallelism, by how their MoE layers exchanged
  // (ExpertParallelism::exchange_steps).
  void SetExchangeSteps(int64_t direct, int64_t collective);

  std::string Render() const;

 private:
  mutable std::mutex mu_;
  Histogram ttft_, itl_, e2e_;
  EngineGauges gauges_;
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0, preemptions_ = 0, steps_ = 0;
  std::map<std::string, int64_t> finished_;          // by reason
  std::vector<std::vector<int64_t>> expert_tokens_;  // [layer][expert]
  double started_ = 0;                               // steady clock, seconds
  struct PlacementImbalance {
    double logical, previous, balanced;  // max/mean rank load
  };
  std::map<int64_t, PlacementImbalance> placement_imbalance_;  // by layer
  int64_t rebalances_ = -1;                                    // -1: not rebalancing
  std::optional<std::pair<int64_t, int64_t>> exchange_steps_;  // direct, collective
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_SERVING_METRICS_H_
