// switchyard bench quant: how much error each weight format adds, beside bf16's, on plain
// random weights and on weights with outliers (the case per-tensor scaling handles worst).
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/plugin_host/quantizer.h"
#include "core/tensor/matmul.h"
#include "core/tensor/tensor_random.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

struct Format {
  std::string label;
  std::string component;
  ConfigTable config;
};

std::vector<Format> Formats() {
  return {
      {"bf16", "quantizer.none", {{"dtype", {std::string("bf16")}}}},
      {"fp8 e4m3 per-tensor", "quantizer.fp8", {{"granularity", {std::string("tensor")}}}},
      {"fp8 e4m3 per-channel", "quantizer.fp8", {{"granularity", {std::string("channel")}}}},
      {"fp8 e4m3 block 128x128", "quantizer.fp8", {{"granularity", {std::string("block")}}}},
      {"int8 per-channel", "quantizer.int8", {}},
      {"int4 group 128 + zero", "quantizer.int4", {}},
      {"int4 group 32 + zero", "quantizer.int4", {{"group", {int64_t{32}}}}},
  };
}

double RelativeError(const Tensor& approx, const Tensor& exact) {
  double diff = 0, norm = 0;
  const float* a = approx.data<float>();
  const float* e = exact.data<float>();
  for (int64_t i = 0; i < exact.numel(); ++i) {
    diff += (static_cast<double>(a[i]) - e[i]) * (static_cast<double>(a[i]) - e[i]);
    norm += static_cast<double>(e[i]) * e[i];
  }
  return std::sqrt(diff / norm);
}

// Normal weights where one entry in 1000 is 40x larger, like the outlier channels of LLMs.
Tensor WithOutliers(const Tensor& w) {
  Tensor out = *w.Clone();
  for (int64_t i = 0; i < out.numel(); ++i) {
    if (UniformAt(99, static_cast<uint64_t>(i)) < 0.001) out.data<float>()[i] *= 40.0f;
  }
  return out;
}

struct Measured {
  double bits_per_weight;
  double random_error;
  double outlier_error;
  double output_error;
};

absl::StatusOr<Measured> Measure(const Quantizer& q, ExecContext& ctx, const Tensor& w,
                                 const Tensor& outliers, const Tensor& x) {
  Measured m{};
  absl::StatusOr<QTensor> qw = q.QuantizeWeight(ctx, w);
  if (!qw.ok()) return qw.status();
  absl::StatusOr<Tensor> dw = qw->Dequantize();
  if (!dw.ok()) return dw.status();
  m.bits_per_weight = 8.0 * static_cast<double>(qw->nbytes()) / static_cast<double>(w.numel());
  m.random_error = RelativeError(*dw, w);
  absl::StatusOr<QTensor> qo = q.QuantizeWeight(ctx, outliers);
  if (!qo.ok()) return qo.status();
  m.outlier_error = RelativeError(*qo->Dequantize(), outliers);
  m.output_error = RelativeError(*MatMulTransposed(x, *dw), *MatMulTransposed(x, w));
  return m;
}

}  // namespace

int BenchQuant(const ParsedArgs& args) {
  const absl::StatusOr<int64_t> rows = args.GetInt("rows", 2048, 1);
  if (!rows.ok()) return UsageError("bench", rows.status().message());
  const absl::StatusOr<int64_t> cols = args.GetInt("cols", 4096, 1);
  if (!cols.ok()) return UsageError("bench", cols.status().message());
  const auto registry = LoadPlugins(args);
  auto ctx = *ExecContext::Create(Device::Cpu(), 0);
  const Tensor w = *RandomNormal({*rows, *cols}, 1, 0.0f, 0.02f);
  const Tensor outliers = WithOutliers(w);
  const Tensor x = *RandomNormal({64, *cols}, 2);
  std::printf(
      "weights [%lld, %lld] ~ N(0, 0.02^2); outliers: 0.1%% of entries x40; output: 64 random "
      "tokens\n"
      "error = ||dequantized - original|| / ||original|| (relative RMS)\n\n",
      static_cast<long long>(*rows), static_cast<long long>(*cols));
  TextTable table(
      {"FORMAT", "BITS/WEIGHT", "WEIGHT ERR", "x BF16", "WITH OUTLIERS", "x BF16", "OUTPUT ERR"});
  std::optional<Measured> baseline;
  for (const Format& f : Formats()) {
    auto found = registry->Find(f.component);
    auto component = found.ok() ? Component::Create(*found, {f.config}) : found.status();
    auto quantizer = component.ok() ? Quantizer::From(*component) : component.status();
    auto m = quantizer.ok() ? Measure(*quantizer, *ctx, w, outliers, x) : quantizer.status();
    if (!m.ok()) {
      table.AddRow({f.label, "-", std::string(m.status().message())});
      continue;
    }
    if (!baseline) baseline = *m;
    table.AddRow({f.label, absl::StrFormat("%.2f", m->bits_per_weight),
                  absl::StrFormat("%.2e", m->random_error),
                  absl::StrFormat("%.1f", m->random_error / baseline->random_error),
                  absl::StrFormat("%.2e", m->outlier_error),
                  absl::StrFormat("%.1f", m->outlier_error / baseline->outlier_error),
                  absl::StrFormat("%.2e", m->output_error)});
  }
  std::printf("%s", table.Render().c_str());
  return 0;
}

}  // namespace sy::cli
