// MXFP4 (OCP microscaling fp4), as gpt-oss checkpoints store their expert weights: each block of
// 32 values is 16 bytes of e2m1 codes — element 2i in the low nibble of byte i, element 2i + 1
// in the high nibble; code c means {0, 0.5, 1, 1.5, 2, 3, 4, 6}[c & 7], negated when c & 8 — and
// one e8m0 scale byte s per block, 2^(s - 127). Dequantized on load for the CPU model
// (transformers' convert_moe_packed_tensors computes the same values).
#ifndef SWITCHYARD_CORE_MODEL_MXFP4_H_
#define SWITCHYARD_CORE_MODEL_MXFP4_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/tensor/tensor.h"

namespace sy {

// blocks u8 [..., G, 16] and scales u8 [..., G] -> f32 [..., G * 32]. `name` (the blocks
// tensor) appears in errors: a block that is not 16 bytes, scales of another shape.
absl::StatusOr<Tensor> DequantizeMxfp4(const Tensor& blocks, const Tensor& scales,
                                       const std::string& name);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_MXFP4_H_
