#include "core/ab/ab_report_html.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/ab/ab_stats.h"

namespace sy::ab {
namespace {

constexpr const char* kColorA = "#1f77b4";
constexpr const char* kColorB = "#e6550d";

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1120px; margin: 24px auto; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #555; margin: 0 0 12px; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; text-align: right; border-bottom: 1px solid #eee; }
th:first-child, td:first-child { text-align: left; }
th { background: #fafafa; font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.panel { flex: 0 1 auto; }
.panel h3 { font-size: 14px; margin: 6px 0; }
.a { color: #1f77b4; font-weight: 600; }
.b { color: #e6550d; font-weight: 600; }
.note { color: #666; font-size: 12px; max-width: 1000px; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
)";

std::string Fmt(double v, int digits) { return absl::StrFormat("%.*f", digits, v); }

// Percent change of b against a, signed.
std::string Delta(double a, double b) {
  if (a == 0) return "";
  return absl::StrFormat("%+.2f%%", 100 * (b / a - 1));
}

// White to dark blue as t goes 0 → 1.
std::string Blue(double t) {
  t = std::clamp(t, 0.0, 1.0);
  const auto mix = [t](int from, int to) {
    return static_cast<int>(std::lround(from + t * (to - from)));
  };
  return absl::StrFormat("#%02x%02x%02x", mix(0xf7, 0x08), mix(0xfb, 0x30), mix(0xff, 0x6b));
}

// Layers as rows, experts as columns, each cell's shade its routing slots over the largest
// count of either side (one scale for both heatmaps, so shades compare across them).
std::string Heatmap(const std::vector<ExpertLoad>& layers, int64_t scale_max) {
  const size_t experts = layers.empty() ? 0 : layers[0].tokens_per_expert.size();
  constexpr int kCellW = 46, kCellH = 26, kLeft = 64, kTop = 22;
  const int width = kLeft + static_cast<int>(experts) * kCellW + 4;
  const int height = kTop + static_cast<int>(layers.size()) * kCellH + 4;
  std::string svg = absl::StrFormat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">)", width,
      height);
  for (size_t e = 0; e < experts; ++e) {
    absl::StrAppendFormat(&svg, R"(<text x="%d" y="%d" text-anchor="middle">e%d</text>)",
                          kLeft + static_cast<int>(e) * kCellW + kCellW / 2, kTop - 7,
                          static_cast<int>(e));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    const int y = kTop + static_cast<int>(l) * kCellH;
    absl::StrAppendFormat(&svg, R"(<text x="%d" y="%d" text-anchor="end">layer %d</text>)",
                          kLeft - 8, y + kCellH / 2 + 4, static_cast<int>(l));
    for (size_t e = 0; e < experts; ++e) {
      const int64_t count = layers[l].tokens_per_expert[e];
      const double t = scale_max > 0 ? static_cast<double>(count) / scale_max : 0;
      const int x = kLeft + static_cast<int>(e) * kCellW;
      absl::StrAppendFormat(
          &svg,
          R"(<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#fff"><title>layer %d, expert %d: %d slots</title></rect>)",
          x, y, kCellW, kCellH, Blue(t), static_cast<int>(l), static_cast<int>(e), count);
      absl::StrAppendFormat(&svg,
                            R"(<text x="%d" y="%d" text-anchor="middle" style="fill:%s">%d</text>)",
                            x + kCellW / 2, y + kCellH / 2 + 4, t > 0.55 ? "#fff" : "#222", count);
    }
  }
  return svg + "</svg>";
}

// The empirical CDF of each side's decode-step latency, as step lines on shared axes.
std::string LatencyCdf(const std::vector<double>& a_seconds, const std::vector<double>& b_seconds) {
  constexpr int kW = 560, kH = 300, kLeft = 52, kRight = 16, kTop = 14, kBottom = 42;
  const int plot_w = kW - kLeft - kRight, plot_h = kH - kTop - kBottom;
  double max_ms = 0;
  for (double s : a_seconds) max_ms = std::max(max_ms, 1e3 * s);
  for (double s : b_seconds) max_ms = std::max(max_ms, 1e3 * s);
  // Round ticks (1, 2 or 5 × 10^n ms) with the axis ending on the first one past the slowest step.
  const double raw_step = std::max(max_ms, 1e-3) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw_step)));
  const double tick = raw_step <= magnitude       ? magnitude
                      : raw_step <= 2 * magnitude ? 2 * magnitude
                      : raw_step <= 5 * magnitude ? 5 * magnitude
                                                  : 10 * magnitude;
  const int ticks = std::max(1, static_cast<int>(std::ceil(max_ms / tick - 1e-9)));
  max_ms = ticks * tick;
  const auto x_of = [&](double ms) { return kLeft + plot_w * ms / max_ms; };
  const auto y_of = [&](double f) { return kTop + plot_h * (1 - f); };
  std::string svg = absl::StrFormat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">)", kW, kH);
  for (int i = 0; i <= 4; ++i) {  // grid and y ticks at 0, 25, 50, 75, 100 %
    const double y = y_of(i / 4.0);
    absl::StrAppendFormat(&svg,
                          R"(<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/>)"
                          R"(<text x="%d" y="%.1f" text-anchor="end">%d%%</text>)",
                          kLeft, kLeft + plot_w, y, y, kLeft - 6, y + 4, 25 * i);
  }
  for (int i = 0; i <= ticks; ++i) {
    const double ms = tick * i;
    absl::StrAppendFormat(&svg,
                          R"(<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>)"
                          R"(<text x="%.1f" y="%d" text-anchor="middle">%s</text>)",
                          x_of(ms), x_of(ms), kTop + plot_h, kTop + plot_h + 4, x_of(ms),
                          kTop + plot_h + 17, Fmt(ms, tick < 1 ? (tick < 0.1 ? 2 : 1) : 0));
  }
  absl::StrAppendFormat(
      &svg,
      R"(<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>)"
      R"(<text x="%d" y="%d" text-anchor="middle">decode step latency (ms)</text>)",
      kLeft, kTop, plot_w, plot_h, kLeft + plot_w / 2, kH - 6);
  const auto curve = [&](std::vector<double> seconds, const char* color) {
    if (seconds.empty()) return;
    std::sort(seconds.begin(), seconds.end());
    std::vector<std::string> points = {absl::StrFormat("%.1f,%.1f", x_of(0), y_of(0))};
    const double n = static_cast<double>(seconds.size());
    for (size_t i = 0; i < seconds.size(); ++i) {
      const double x = x_of(1e3 * seconds[i]);
      points.push_back(absl::StrFormat("%.1f,%.1f", x, y_of(i / n)));
      points.push_back(absl::StrFormat("%.1f,%.1f", x, y_of((i + 1) / n)));
    }
    absl::StrAppendFormat(&svg,
                          R"(<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>)",
                          color, absl::StrJoin(points, " "));
  };
  curve(a_seconds, kColorA);
  curve(b_seconds, kColorB);
  const int lx = kLeft + plot_w - 70, ly = kTop + plot_h - 40;
  absl::StrAppendFormat(&svg,
                        R"(<rect x="%d" y="%d" width="62" height="34" fill="#fff" stroke="#ccc"/>)"
                        R"(<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>)"
                        R"(<text x="%d" y="%d">A</text>)"
                        R"(<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>)"
                        R"(<text x="%d" y="%d">B</text>)",
                        lx, ly, lx + 6, lx + 28, ly + 11, ly + 11, kColorA, lx + 34, ly + 15,
                        lx + 6, lx + 28, ly + 25, ly + 25, kColorB, lx + 34, ly + 29);
  return svg + "</svg>";
}

struct Bar {
  std::string label;
  double percent;
};

// Horizontal bars in percent around a zero axis (negative = B better than A).
std::string DeltaBars(const std::vector<Bar>& bars) {
  constexpr int kW = 560, kLeft = 230, kRight = 70, kBarH = 22, kGap = 10, kTop = 8;
  const int plot_w = kW - kLeft - kRight;
  const int height = kTop + static_cast<int>(bars.size()) * (kBarH + kGap) + 4;
  double lo = 0, hi = 0;
  for (const Bar& bar : bars) {
    lo = std::min(lo, bar.percent);
    hi = std::max(hi, bar.percent);
  }
  if (hi - lo < 1) hi = lo + 1;  // at least a 1 % span, so tiny deltas stay small
  const auto x_of = [&](double v) { return kLeft + plot_w * (v - lo) / (hi - lo); };
  std::string svg = absl::StrFormat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img">)", kW, height);
  for (size_t i = 0; i < bars.size(); ++i) {
    const int y = kTop + static_cast<int>(i) * (kBarH + kGap);
    const double x0 = x_of(0), x1 = x_of(bars[i].percent);
    absl::StrAppendFormat(&svg,
                          R"(<text x="%d" y="%d" text-anchor="end">%s</text>)"
                          R"(<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>)"
                          R"(<text x="%.1f" y="%d">%s</text>)",
                          kLeft - 8, y + kBarH / 2 + 4, HtmlEscape(bars[i].label), std::min(x0, x1),
                          y, std::max(std::abs(x1 - x0), 1.0), kBarH,
                          bars[i].percent > 0 ? kColorB : "#31a354", std::max(x0, x1) + 6,
                          y + kBarH / 2 + 4, absl::StrFormat("%+.2f%%", bars[i].percent));
  }
  absl::StrAppendFormat(&svg, R"(<line x1="%.1f" x2="%.1f" y1="0" y2="%d" stroke="#444"/>)",
                        x_of(0), x_of(0), height);
  return svg + "</svg>";
}

std::string QualitySection(const Report& r) {
  const Quality& q = r.quality;
  const PerplexityResult& pa = r.a.run.perplexity;
  const PerplexityResult& pb = r.b.run.perplexity;
  std::string html = "<h2>Quality of B against A</h2><div class=\"row\"><div class=\"panel\">";
  absl::StrAppend(&html, "<table><tr><th>metric</th><th>A</th><th>B</th><th>B vs A</th></tr>");
  absl::StrAppend(&html, "<tr><td>perplexity (", r.heldout.empty() ? "prompts" : "held-out", ", ",
                  pa.scored_tokens, " tokens)</td><td>", Fmt(pa.perplexity, 3), "</td><td>",
                  Fmt(pb.perplexity, 3), "</td><td>", Delta(pa.perplexity, pb.perplexity),
                  "</td></tr>");
  absl::StrAppend(&html, "<tr><td>mean KL(A&#8214;B), nats</td><td></td><td>", Fmt(q.mean_kl, 4),
                  "</td><td>max ", Fmt(q.max_kl, 4), "</td></tr>");
  absl::StrAppend(&html, "<tr><td>top-1 agreement (", q.positions, " positions)</td><td></td><td>",
                  Fmt(100 * q.top1_agreement, 1), "%</td><td></td></tr>");
  absl::StrAppend(&html, "<tr><td>greedy agreement (", q.prompts, " prompts)</td><td></td><td>",
                  Fmt(100 * q.greedy_agreement(), 1), "%</td><td>", q.greedy_identical, "/",
                  q.prompts, " identical</td></tr>");
  absl::StrAppend(&html, "<tr><td>mean matching prefix, tokens</td><td>",
                  Fmt(q.mean_continuation, 1), "</td><td>", Fmt(q.mean_matching_prefix, 1),
                  "</td><td></td></tr></table></div><div class=\"panel\"><h3>Quality deltas "
                  "(percent; right of zero: B worse)</h3>");
  const double prefix_shortfall =
      q.mean_continuation > 0 ? 100 * (1 - q.mean_matching_prefix / q.mean_continuation) : 0;
  absl::StrAppend(&html,
                  DeltaBars({{"perplexity change",
                              pa.perplexity > 0 ? 100 * (pb.perplexity / pa.perplexity - 1) : 0},
                             {"top-1 disagreement", 100 * (1 - q.top1_agreement)},
                             {"greedy continuations differing", 100 * (1 - q.greedy_agreement())},
                             {"continuation past the matching prefix", prefix_shortfall}}),
                  "</div></div>");
  return html;
}

std::string SpeedSection(const Report& r) {
  std::string html = "<h2>Speed: greedy decoding, one sequence</h2><div class=\"row\">";
  absl::StrAppend(&html,
                  "<div class=\"panel\"><table><tr><th>side</th><th>decode steps</th>"
                  "<th>tokens/s</th><th>P50 ms</th><th>P90 ms</th><th>P99 ms</th></tr>");
  for (const auto& [label, side] : {std::pair{"A", &r.a}, std::pair{"B", &r.b}}) {
    const Speed& s = side->speed;
    absl::StrAppend(&html, "<tr><td class=\"", label == std::string("A") ? "a" : "b", "\">", label,
                    "</td><td>", s.steps, "</td><td>", Fmt(s.tokens_per_second, 1), "</td><td>",
                    Fmt(s.p50_ms, 3), "</td><td>", Fmt(s.p90_ms, 3), "</td><td>", Fmt(s.p99_ms, 3),
                    "</td></tr>");
  }
  absl::StrAppend(&html, "</table></div><div class=\"panel\"><h3>Latency CDF</h3>",
                  LatencyCdf(r.a.run.step_seconds, r.b.run.step_seconds), "</div></div>");
  return html;
}

std::string LoadSection(const Report& r) {
  int64_t scale_max = 0;
  for (const Side* side : {&r.a, &r.b}) {
    for (const ExpertLoad& load : side->run.layer_loads) {
      for (int64_t count : load.tokens_per_expert) scale_max = std::max(scale_max, count);
    }
  }
  std::string html =
      "<h2>Expert load: routing slots per expert, prompts and continuations</h2>"
      "<div class=\"row\">";
  for (const auto& [label, side] : {std::pair{"A", &r.a}, std::pair{"B", &r.b}}) {
    absl::StrAppend(&html, "<div class=\"panel\"><h3>", label, ": <code>",
                    HtmlEscape(side->spec.empty() ? "(as loaded)" : side->spec), "</code></h3>",
                    Heatmap(side->run.layer_loads, scale_max), "</div>");
  }
  absl::StrAppend(&html,
                  "</div><table><tr><th>MoE layer</th><th>side</th><th>max/mean</th>"
                  "<th>CV</th><th>hot experts</th><th>dropped</th><th>rerouted</th></tr>");
  for (size_t l = 0; l < r.a.run.layer_loads.size(); ++l) {
    for (const auto& [label, side] : {std::pair{"A", &r.a}, std::pair{"B", &r.b}}) {
      if (l >= side->run.layer_loads.size()) continue;
      const ExpertLoad& load = side->run.layer_loads[l];
      std::vector<std::string> hot;
      for (int e : HotExperts(load.tokens_per_expert, 2)) hot.push_back(absl::StrCat("e", e));
      absl::StrAppend(&html, "<tr><td>", l, "</td><td class=\"",
                      label == std::string("A") ? "a" : "b", "\">", label, "</td><td>",
                      Fmt(load.max_over_mean, 2), "</td><td>",
                      Fmt(load.coefficient_of_variation, 3), "</td><td>", absl::StrJoin(hot, ", "),
                      "</td><td>", load.dropped, "</td><td>", load.rerouted, "</td></tr>");
    }
  }
  absl::StrAppend(&html, "</table>");
  return html;
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string ReportHtml(const Report& r) {
  const auto spec = [](const std::string& s) { return HtmlEscape(s.empty() ? "(as loaded)" : s); };
  std::string html = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>switchyard ab: ",
      HtmlEscape(r.model), "</title><style>", kStyle, "</style></head><body>\n",
      "<h1>switchyard ab: ", HtmlEscape(r.model),
      "</h1><p class=\"sub\"><span class=\"a\">A</span> ", "<code>", spec(r.a.spec),
      "</code> &nbsp;vs&nbsp; <span class=\"b\">B</span> <code>", spec(r.b.spec), "</code><br>",
      r.quality.prompts, " prompts (", r.prompt_tokens, " tokens), greedy continuations of up to ",
      r.options.max_tokens, " tokens; perplexity on ",
      r.heldout.empty() ? "the prompts" : HtmlEscape(r.heldout), "</p>\n");
  absl::StrAppend(&html, QualitySection(r), "\n", SpeedSection(r), "\n", LoadSection(r));
  absl::StrAppend(
      &html,
      "<p class=\"note\">KL(A&#8214;B) compares the next-token distributions at every prompt "
      "position (log-softmax in double). Greedy agreement: continuations identical token for "
      "token. Latency: one decode step (one token through every layer) of one sequence on this "
      "machine. Load: routing slots (tokens &times; top-k) per expert over every prompt position "
      "and decode step; max/mean 1 and CV 0 are perfect balance; dropped slots are capacity "
      "overflow.</p>\n</body></html>\n");
  return html;
}

}  // namespace sy::ab
