#include "core/model/mxfp4.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"

namespace sy {
namespace {

constexpr int64_t kBlockBytes = 16;  // 32 four-bit values
constexpr float kE2m1[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

}  // namespace

absl::StatusOr<Tensor> DequantizeMxfp4(const Tensor& blocks, const Tensor& scales,
                                       const std::string& name) {
  if (blocks.dtype() != DType::kU8 || blocks.ndim() < 2 || !blocks.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': MXFP4 blocks must be u8 [..., blocks, 16], got ", blocks.Describe()));
  }
  if (blocks.dim(blocks.ndim() - 1) != kBlockBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "': an MXFP4 block is ", kBlockBytes, " bytes (32 four-bit values), got ",
        blocks.dim(blocks.ndim() - 1), " in ", ShapeToString(blocks.shape())));
  }
  const Shape block_shape(blocks.shape().begin(), blocks.shape().end() - 1);
  if (scales.dtype() != DType::kU8 || scales.shape() != block_shape || !scales.is_contiguous()) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "': its scales must be u8 ",
                                                   ShapeToString(block_shape),
                                                   " (one per block), got ", scales.Describe()));
  }
  Shape out_shape = block_shape;
  out_shape.back() *= 2 * kBlockBytes;
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(out_shape, DType::kF32));
  const uint8_t* codes = blocks.data<uint8_t>();
  const uint8_t* exponents = scales.data<uint8_t>();
  float* o = out.data<float>();
  for (int64_t b = 0; b < scales.numel(); ++b) {
    const int exponent = static_cast<int>(exponents[b]) - 127;
    for (int64_t i = 0; i < kBlockBytes; ++i) {
      const uint8_t byte = codes[b * kBlockBytes + i];
      o[b * 2 * kBlockBytes + 2 * i] = std::ldexp(kE2m1[byte & 0x0F], exponent);
      o[b * 2 * kBlockBytes + 2 * i + 1] = std::ldexp(kE2m1[byte >> 4], exponent);
    }
  }
  return out;
}

}  // namespace sy
