// Element types: names, sizes and scalar conversions to and from f32.
//
// Header-only and dependency-free so plugins, the core and CPU reference kernels share one
// definition of every format. All conversions from f32 round to nearest, ties to even.
// Narrow formats saturate: fp8 e4m3 to +-448 (as CUDA's __NV_SATFINITE does), integers to
// their range. NaN stays NaN where the format has one; integer formats map NaN to 0.
#ifndef SWITCHYARD_DTYPE_HPP_
#define SWITCHYARD_DTYPE_HPP_

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string_view>

#include "switchyard/plugin_abi.h"

namespace sy {

enum class DType : int32_t {
  kInvalid = SY_DTYPE_INVALID,
  kF32 = SY_DTYPE_F32,
  kBF16 = SY_DTYPE_BF16,
  kF16 = SY_DTYPE_F16,
  kFP8E4M3 = SY_DTYPE_FP8_E4M3,
  kI8 = SY_DTYPE_I8,
  kI4 = SY_DTYPE_I4,
  kU4 = SY_DTYPE_U4,
  kI32 = SY_DTYPE_I32,
  kI64 = SY_DTYPE_I64,
  kU8 = SY_DTYPE_U8,
};

// Bits per element; 4 for the packed formats.
constexpr int DTypeBits(DType t) {
  switch (t) {
    case DType::kF32:
      return 32;
    case DType::kBF16:
      return 16;
    case DType::kF16:
      return 16;
    case DType::kFP8E4M3:
      return 8;
    case DType::kI8:
      return 8;
    case DType::kI4:
      return 4;
    case DType::kU4:
      return 4;
    case DType::kI32:
      return 32;
    case DType::kI64:
      return 64;
    case DType::kU8:
      return 8;
    default:
      return 0;
  }
}

constexpr bool IsPacked(DType t) { return DTypeBits(t) == 4; }

// Bytes that `elements` elements occupy (packed formats round up to whole bytes).
constexpr int64_t DTypeBytes(DType t, int64_t elements) {
  return (elements * DTypeBits(t) + 7) / 8;
}

constexpr const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kBF16:
      return "bf16";
    case DType::kF16:
      return "f16";
    case DType::kFP8E4M3:
      return "fp8_e4m3";
    case DType::kI8:
      return "i8";
    case DType::kI4:
      return "i4";
    case DType::kU4:
      return "u4";
    case DType::kI32:
      return "i32";
    case DType::kI64:
      return "i64";
    case DType::kU8:
      return "u8";
    default:
      return "invalid";
  }
}

// Parses a name printed by DTypeName (also "float32", "bfloat16", "float16", "int8", ...);
// kInvalid for anything else.
constexpr DType DTypeFromName(std::string_view name) {
  constexpr DType kAll[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kFP8E4M3, DType::kI8,
                            DType::kI4,  DType::kU4,   DType::kI32, DType::kI64,     DType::kU8};
  for (DType t : kAll) {
    if (std::string_view(DTypeName(t)) == name) return t;
  }
  if (name == "float32") return DType::kF32;
  if (name == "bfloat16") return DType::kBF16;
  if (name == "float16") return DType::kF16;
  if (name == "int8") return DType::kI8;
  if (name == "int32") return DType::kI32;
  if (name == "int64") return DType::kI64;
  if (name == "uint8") return DType::kU8;
  return DType::kInvalid;
}

// ---- bf16 ------------------------------------------------------------------------------

inline uint16_t F32ToBF16(float x) {
  uint32_t bits = std::bit_cast<uint32_t>(x);
  if (std::isnan(x)) return static_cast<uint16_t>((bits >> 16) | 0x0040);  // quiet NaN
  bits += 0x7fff + ((bits >> 16) & 1);
  return static_cast<uint16_t>(bits >> 16);
}

inline float BF16ToF32(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

// ---- f16 (IEEE binary16) -----------------------------------------------------------------

inline uint16_t F32ToF16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const uint32_t magnitude = bits & 0x7fffffff;
  if (magnitude > 0x7f800000) return sign | 0x7e00;   // NaN
  if (magnitude >= 0x477ff000) return sign | 0x7c00;  // rounds to infinity (>= 65520)
  if (magnitude < 0x38800000) {                       // below 2^-14: subnormal or zero
    // Scaling by 2^24 is exact; the integer part is the subnormal mantissa (1024 = 2^-14).
    const float scaled = std::bit_cast<float>(magnitude) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  uint32_t half = ((((magnitude >> 23) - 127 + 15) << 10) | ((magnitude & 0x7fffff) >> 13));
  const uint32_t rest = magnitude & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) ++half;  // may carry into the exponent
  return sign | static_cast<uint16_t>(half);
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  if (exponent == 0) {
    const float value = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -value : value;
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

// ---- fp8 e4m3fn --------------------------------------------------------------------------

inline constexpr float kFP8E4M3Max = 448.0f;

inline uint8_t F32ToFP8E4M3(float x) {
  if (std::isnan(x)) return 0x7f;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const float a = std::fmin(std::fabs(x), kFP8E4M3Max);
  if (a < 0.015625f) {  // below 2^-6: subnormal steps of 2^-9; 8 steps is the smallest normal
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  }
  int exponent = 0;
  const float fraction =
      std::frexp(a, &exponent);  // a = fraction * 2^exponent, fraction in [0.5, 1)
  int biased = exponent - 1 + 7;
  int mantissa = static_cast<int>(std::nearbyint((fraction * 2.0f - 1.0f) * 8.0f));
  if (mantissa == 8) {
    mantissa = 0;
    ++biased;
  }
  const int code = std::min((biased << 3) | mantissa, 0x7e);
  return sign | static_cast<uint8_t>(code);
}

inline float FP8E4M3ToF32(uint8_t b) {
  const int exponent = (b >> 3) & 0xf;
  const int mantissa = b & 0x7;
  float value;
  if (exponent == 0xf && mantissa == 0x7) {
    value = std::nanf("");
  } else if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -9);
  } else {
    value = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  }
  return (b & 0x80) ? -value : value;
}

// ---- integers ----------------------------------------------------------------------------

// Rounds to nearest even and clamps to [lo, hi]; NaN becomes 0.
inline int32_t F32ToSaturatedInt(float x, int32_t lo, int32_t hi) {
  if (std::isnan(x)) return 0;
  const float r = std::nearbyint(x);
  if (r <= static_cast<float>(lo)) return lo;
  if (r >= static_cast<float>(hi)) return hi;
  return static_cast<int32_t>(r);
}

// Packed 4-bit access: element i lives in byte i / 2, low nibble for even i.
inline uint8_t GetNibble(const uint8_t* packed, int64_t i) {
  return (i & 1) ? (packed[i >> 1] >> 4) : (packed[i >> 1] & 0x0f);
}

inline void SetNibble(uint8_t* packed, int64_t i, uint8_t value) {
  uint8_t& byte = packed[i >> 1];
  byte = (i & 1) ? static_cast<uint8_t>((byte & 0x0f) | (value << 4))
                 : static_cast<uint8_t>((byte & 0xf0) | (value & 0x0f));
}

inline int32_t SignExtendNibble(uint8_t nibble) { return (nibble & 0x8) ? nibble - 16 : nibble; }

}  // namespace sy

#endif  // SWITCHYARD_DTYPE_HPP_
