// Test helpers shared by the quantizer plugins' unit tests: load one plugin library, create
// its quantizer from a config, and call it through the host wrapper or its raw vtable.
#ifndef SWITCHYARD_TESTS_SUPPORT_QUANTIZER_TEST_FIXTURE_H_
#define SWITCHYARD_TESTS_SUPPORT_QUANTIZER_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/plugin_host/component.h"
#include "core/plugin_host/host_api.h"
#include "core/plugin_host/quantizer.h"
#include "core/tensor/qtensor.h"
#include "tests/support/plugin_test_fixture.h"

namespace sy::quant_test {

// Field-by-field comparison with both layouts printed on failure.
inline ::testing::AssertionResult SameLayout(const sy_qlayout& got, const sy_qlayout& want) {
  auto describe = [](const sy_qlayout& l) {
    return std::string(DTypeName(static_cast<DType>(l.dtype))) + " " +
           std::to_string(l.block_rows) + "x" + std::to_string(l.block_cols) +
           " scales=" + std::to_string(l.has_scales) + " zeros=" + std::to_string(l.has_zeros);
  };
  if (got.dtype == want.dtype && got.block_rows == want.block_rows &&
      got.block_cols == want.block_cols && got.has_scales == want.has_scales &&
      got.has_zeros == want.has_zeros) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "got " << describe(got) << ", want " << describe(want);
}

inline sy_qlayout Layout(sy_dtype dtype, int32_t block_rows, int32_t block_cols, bool scales,
                         bool zeros) {
  return {sizeof(sy_qlayout), dtype, block_rows, block_cols, scales ? 1 : 0, zeros ? 1 : 0};
}

// The raw bytes of a CPU tensor.
inline std::vector<uint8_t> Bytes(const Tensor& t) {
  std::vector<uint8_t> bytes(static_cast<size_t>(t.nbytes()));
  if (!bytes.empty()) std::memcpy(bytes.data(), t.raw_data(), bytes.size());
  return bytes;
}

// Fixture for one quantizer plugin library under lib/switchyard/plugins of the build tree.
class QuantizerPluginTest : public plugin_test::PluginLibraryTest<Quantizer> {
 protected:
  QuantizerPluginTest(std::string library, std::string component)
      : PluginLibraryTest(std::move(library), std::move(component)) {}

  // Calls the plugin's quantize function directly, bypassing the host's checks and its
  // pass-through of unquantized activations.
  absl::Status RawQuantize(const Quantizer& quantizer, bool weight, const Tensor& input,
                           const QTensor& out) {
    const sy_quantizer_ref ref = quantizer.Ref();
    const sy_tensor in = input.ToC();
    sy_qtensor c = out.ToC();
    const auto fn = weight ? ref.vtable->quantize_weight : ref.vtable->quantize_activation;
    return TakePluginError(fn(ref.self, ctx_->BeginCall(), &in, &c), "raw call");
  }
};

}  // namespace sy::quant_test

#endif  // SWITCHYARD_TESTS_SUPPORT_QUANTIZER_TEST_FIXTURE_H_
