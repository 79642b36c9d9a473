// fp8 e4m3 and u4 -> bf16 by moving bits, for kernels that dequantize weights in registers:
// exact, a few integer ops per pair instead of conversions through f16 and f32. Plain C++ that
// nvcc compiles for the device too, so CPU tests check it for every byte.
#ifndef SWITCHYARD_KERNELS_MOE_DEQUANT_BITS_H_
#define SWITCHYARD_KERNELS_MOE_DEQUANT_BITS_H_

#include <cstdint>

#if defined(__CUDACC__)
#define SY_HOST_DEVICE __host__ __device__
#else
#define SY_HOST_DEVICE
#endif

namespace sy::kernels {

// The two e4m3 bytes in the low 16 bits of `two` as bf16x2 bits (byte 0 in the low half) whose
// values are the fp8 values times 2^-120. e4m3's exponent and mantissa bits drop into bf16's
// fields unchanged (bf16's exponent bias, 127, is e4m3's 7 plus 120), and e4m3 subnormals land on
// bf16 subnormals of the same scale, so one exact multiply by 2^120 (kBf16x2TwoPow120) gives the
// fp8 values. e4m3's NaN (0x7f) is not kept; quantizers never write it.
SY_HOST_DEVICE constexpr uint32_t Fp8x2ToBf16x2Bits(uint32_t two) {
  const uint32_t spread = (two & 0xffu) << 8 | (two & 0xff00u) << 16;  // each byte atop its half
  return (spread & 0x80008000u) | ((spread >> 4) & 0x07f007f0u);
}

inline constexpr uint32_t kBf16x2TwoPow120 = 0x7b807b80u;  // bf16 2^120 in both halves

// The two u4 values of the low byte of `byte` (element 2i in the low nibble) as bf16x2 bits of
// 128 + q: bf16's 7 mantissa bits step by 1 at 128, so the nibble is the mantissa's low bits.
// Subtracting Bf16x2Of128Plus(zero) then leaves q - zero exactly.
SY_HOST_DEVICE constexpr uint32_t U4x2ToBf16x2Plus128Bits(uint32_t byte) {
  return 0x43004300u | (byte & 0xfu) | (byte & 0xf0u) << 12;
}
SY_HOST_DEVICE constexpr uint32_t Bf16x2Of128Plus(uint32_t zero) {
  return (0x4300u | zero) * 0x10001u;
}

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_DEQUANT_BITS_H_
