// The scheduler conformance suite: every batch scheduler on the plugin search path (placement
// schedulers have placement_conformance_test.cc) drives a simulated engine — the same
// bookkeeping as core/serving's (KV blocks per sequence, pending tokens, preemption by
// recompute) — through workloads that fit, that exhaust the KV pool, and that hold prompts
// longer than the token budget. Every decision goes through the host's
// checks, and every request must finish: a scheduler may be slow, never stuck or wrong.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core/plugin_host/component.h"
#include "core/plugin_host/scheduler.h"
#include "switchyard/scheduler_support.hpp"
#include "tests/support/discovered_plugins.h"

namespace sy {
namespace {

struct Request {
  int32_t prompt = 0;
  int32_t output = 0;
};

struct Outcome {
  int64_t steps = 0;
  int64_t preemptions = 0;
  int64_t max_step_tokens = 0;
  std::vector<int64_t> finish_step;  // per request
};

// Runs `requests` (all arriving at step 0) to completion, or fails the test.
Outcome Simulate(const Scheduler& scheduler, const std::vector<Request>& requests,
                 const BlockPool& pool_shape) {
  struct Live {
    size_t request;
    int64_t arrival;
    bool running = false;
    int32_t cached = 0, generated = 0, blocks = 0;
  };
  std::vector<Live> running, waiting;
  for (size_t r = 0; r < requests.size(); ++r) waiting.push_back({r, static_cast<int64_t>(r)});
  Outcome outcome;
  outcome.finish_step.assign(requests.size(), -1);
  int32_t free_blocks = pool_shape.total_blocks;
  const int32_t bs = pool_shape.block_size;
  while (!running.empty() || !waiting.empty()) {
    if (outcome.steps > 20000) {
      ADD_FAILURE() << "no progress after 20000 steps";
      return outcome;
    }
    std::vector<Live*> order;
    std::vector<sy_sched_sequence> view;
    for (auto* list : {&running, &waiting}) {
      for (Live& l : *list) {
        const Request& r = requests[l.request];
        // Pending: the rest of the prompt (+ generated tokens to recompute), or 1 to decode.
        const int32_t known = r.prompt + l.generated;
        const int32_t pending = l.cached < known ? known - l.cached : 1;
        view.push_back({l.request, l.arrival, l.running, l.cached, pending, l.blocks, l.generated});
        order.push_back(&l);
      }
    }
    const BlockPool pool{free_blocks, pool_shape.total_blocks, bs};
    auto decision = scheduler.Schedule(view, pool, outcome.steps);
    if (!decision.ok()) {
      ADD_FAILURE() << decision.status();
      return outcome;
    }
    if (decision->scheduled.empty() && decision->preempted.empty()) {
      ADD_FAILURE() << "step " << outcome.steps << " does nothing with " << view.size()
                    << " live requests and " << free_blocks << " free blocks";
      return outcome;
    }
    for (int64_t i : decision->preempted) {
      Live& l = *order[i];
      free_blocks += l.blocks;
      l.blocks = 0;
      l.cached = 0;
      l.running = false;
      ++outcome.preemptions;
    }
    int64_t step_tokens = 0;
    for (const sy_sched_entry& e : decision->scheduled) {
      Live& l = *order[e.index];
      const int32_t blocks = static_cast<int32_t>(BlocksToRun(view[e.index], e.tokens, bs));
      free_blocks -= blocks;
      l.blocks += blocks;
      l.cached += e.tokens;
      l.running = true;
      step_tokens += e.tokens;
      if (e.tokens == view[e.index].pending) ++l.generated;  // the step sampled for it
    }
    EXPECT_GE(free_blocks, 0);
    outcome.max_step_tokens = std::max(outcome.max_step_tokens, step_tokens);
    // Rebuild the lists: finished requests leave, the rest keep admission/arrival order.
    std::vector<Live> next_running, next_waiting;
    for (Live* l : order) {
      if (l->generated >= requests[l->request].output) {
        free_blocks += l->blocks;
        outcome.finish_step[l->request] = outcome.steps;
      } else {
        (l->running ? next_running : next_waiting).push_back(*l);
      }
    }
    std::sort(next_waiting.begin(), next_waiting.end(),
              [](const Live& a, const Live& b) { return a.arrival < b.arrival; });
    running = std::move(next_running);
    waiting = std::move(next_waiting);
    ++outcome.steps;
  }
  return outcome;
}

class SchedulerConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto component = Component::Create(*DiscoveredPlugins().Find(GetParam()), {});
    ASSERT_TRUE(component.ok()) << component.status();
    auto scheduler = Scheduler::From(*component);
    ASSERT_TRUE(scheduler.ok());
    scheduler_.emplace(*scheduler);
  }
  std::optional<Scheduler> scheduler_;
};

TEST_P(SchedulerConformanceTest, DoesNothingWithNothingToDo) {
  auto decision = scheduler_->Schedule({}, {8, 8, 16}, 0);
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_TRUE(decision->scheduled.empty());
  EXPECT_TRUE(decision->preempted.empty());
}

TEST_P(SchedulerConformanceTest, FinishesARandomWorkloadThatFits) {
  std::mt19937 rng(1);
  std::vector<Request> requests;
  for (int i = 0; i < 40; ++i) {
    requests.push_back({std::uniform_int_distribution<int32_t>(1, 300)(rng),
                        std::uniform_int_distribution<int32_t>(1, 40)(rng)});
  }
  const Outcome o = Simulate(*scheduler_, requests, {0, 4096, 16});
  EXPECT_EQ(o.preemptions, 0);
  for (int64_t step : o.finish_step) EXPECT_GE(step, 0);
}

// 12 requests of 100 + 60 tokens need 120 blocks of 16 at their longest; the pool has 24.
TEST_P(SchedulerConformanceTest, PreemptsInsteadOfFailingWhenBlocksRunOut) {
  const std::vector<Request> requests(12, Request{100, 60});
  const Outcome o = Simulate(*scheduler_, requests, {0, 24, 16});
  EXPECT_GT(o.preemptions, 0);
  for (int64_t step : o.finish_step) EXPECT_GE(step, 0);
}

// Prompts longer than any default token budget still run.
TEST_P(SchedulerConformanceTest, RunsPromptsLongerThanTheTokenBudget) {
  const std::vector<Request> requests = {{9000, 3}, {5, 3}, {9000, 2}};
  const Outcome o = Simulate(*scheduler_, requests, {0, 2048, 16});
  for (int64_t step : o.finish_step) EXPECT_GE(step, 0);
}

INSTANTIATE_TEST_SUITE_P(AllSchedulers, SchedulerConformanceTest,
                         ::testing::ValuesIn(SchedulerNames(/*placement=*/false)),
                         [](const auto& info) { return ComponentTestName(info.param); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(SchedulerConformanceTest);

}  // namespace
}  // namespace sy
