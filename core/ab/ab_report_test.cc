// The report writers on a small hand-made report: JSON that parses back to the same numbers,
// and HTML that is self-contained and escapes what users typed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/ab/ab_report_html.h"
#include "core/ab/ab_report_json.h"

namespace sy::ab {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Report SmallReport() {
  Report r;
  r.model = "tiny<moe>";
  r.prompt_tokens = 6;
  ExpertLoad load;
  load.tokens = 5;
  load.top_k = 2;
  load.tokens_per_expert = {4, 3, 2, 1};
  load.max_over_mean = 1.6;
  r.a.spec = "quantizer=none";
  r.a.run.layer_loads = {load, load};
  r.a.run.step_seconds = {0.002, 0.003, 0.004};
  r.a.run.perplexity.perplexity = 10;
  r.a.speed = SummarizeSpeed(r.a.run);
  r.b = r.a;
  r.b.spec = "capacity=0.5";
  r.b.run.layer_loads[1].dropped = 3;
  r.b.run.perplexity.perplexity = 11;
  r.quality.prompts = 2;
  r.quality.greedy_identical = 1;
  r.quality.mean_kl = 0.25;
  r.quality.top1_agreement = 0.75;
  return r;
}

TEST(AbReportTest, JsonHoldsTheRawNumbers) {
  const nlohmann::json json = nlohmann::json::parse(ReportJson(SmallReport()));
  EXPECT_EQ(json["model"], "tiny<moe>");
  EXPECT_DOUBLE_EQ(json["quality"]["mean_kl"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(json["quality"]["greedy_agreement"].get<double>(), 0.5);
  EXPECT_EQ(json["sides"]["B"]["spec"], "capacity=0.5");
  EXPECT_EQ(json["sides"]["B"]["load"][1]["dropped"], 3);
  EXPECT_EQ(json["sides"]["A"]["load"][0]["hot_experts"], nlohmann::json({0, 1}));
  EXPECT_EQ(json["sides"]["A"]["speed"]["step_ms"].size(), 3u);
  EXPECT_NEAR(json["sides"]["A"]["speed"]["p50_ms"].get<double>(), 3.0, 1e-9);
}

TEST(AbReportTest, HtmlIsSelfContainedWithPlots) {
  const std::string html = ReportHtml(SmallReport());
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("<polyline"));             // latency CDFs
  EXPECT_THAT(html, HasSubstr("layer 1, expert 0: 4"));  // heatmap cell tooltips
  EXPECT_THAT(html, HasSubstr("tiny&lt;moe&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("tiny<moe>")));
  EXPECT_THAT(html, Not(HasSubstr("<script")));
  EXPECT_THAT(html, Not(HasSubstr("http://cdn")));
  EXPECT_THAT(html, Not(HasSubstr("https://")));
}

}  // namespace
}  // namespace sy::ab
