#include "core/tensor/tensor_convert.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/tensor/tensor.h"

namespace sy {
namespace {

template <typename T>
T Load(const void* base, int64_t index) {
  T value;
  std::memcpy(&value, static_cast<const char*>(base) + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void Store(void* base, int64_t index, T value) {
  std::memcpy(static_cast<char*>(base) + index * sizeof(T), &value, sizeof(T));
}

// Round half to even and clamp; NaN -> 0.
double SaturatingRound(double value, double lo, double hi) {
  if (std::isnan(value)) return 0;
  return std::fmin(std::fmax(std::nearbyint(value), lo), hi);
}

}  // namespace

double ReadElement(const void* base, DType dtype, int64_t index) {
  const auto* bytes = static_cast<const uint8_t*>(base);
  switch (dtype) {
    case DType::kF32:
      return Load<float>(base, index);
    case DType::kBF16:
      return BF16ToF32(Load<uint16_t>(base, index));
    case DType::kF16:
      return F16ToF32(Load<uint16_t>(base, index));
    case DType::kFP8E4M3:
      return FP8E4M3ToF32(bytes[index]);
    case DType::kI8:
      return static_cast<int8_t>(bytes[index]);
    case DType::kU8:
      return bytes[index];
    case DType::kI4:
      return SignExtendNibble(GetNibble(bytes, index));
    case DType::kU4:
      return GetNibble(bytes, index);
    case DType::kI32:
      return Load<int32_t>(base, index);
    case DType::kI64:
      return static_cast<double>(Load<int64_t>(base, index));
    default:
      return std::numeric_limits<double>::quiet_NaN();
  }
}

void WriteElement(void* base, DType dtype, int64_t index, double value) {
  auto* bytes = static_cast<uint8_t*>(base);
  const float f = static_cast<float>(value);
  switch (dtype) {
    case DType::kF32:
      Store<float>(base, index, f);
      break;
    case DType::kBF16:
      Store<uint16_t>(base, index, F32ToBF16(f));
      break;
    case DType::kF16:
      Store<uint16_t>(base, index, F32ToF16(f));
      break;
    case DType::kFP8E4M3:
      bytes[index] = F32ToFP8E4M3(f);
      break;
    case DType::kI8:
      bytes[index] = static_cast<uint8_t>(static_cast<int8_t>(SaturatingRound(value, -128, 127)));
      break;
    case DType::kU8:
      bytes[index] = static_cast<uint8_t>(SaturatingRound(value, 0, 255));
      break;
    case DType::kI4:
      SetNibble(bytes, index,
                static_cast<uint8_t>(static_cast<int>(SaturatingRound(value, -8, 7)) & 0xf));
      break;
    case DType::kU4:
      SetNibble(bytes, index, static_cast<uint8_t>(SaturatingRound(value, 0, 15)));
      break;
    case DType::kI32:
      Store<int32_t>(base, index,
                     static_cast<int32_t>(SaturatingRound(value, -2147483648.0, 2147483647.0)));
      break;
    case DType::kI64:
      Store<int64_t>(base, index,
                     static_cast<int64_t>(
                         SaturatingRound(value, -9223372036854775808.0, 9223372036854774784.0)));
      break;
    default:
      break;
  }
}

absl::StatusOr<Tensor> ConvertDType(const Tensor& src, DType dtype) {
  if (!src.device().is_cpu()) {
    return absl::UnimplementedError(absl::StrCat("ConvertDType on ", src.device().ToString(),
                                                 ": copy the tensor to the CPU first"));
  }
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty(src.shape(), dtype));
  const int64_t n = src.numel();
  if (IsPacked(dtype)) std::memset(out.raw_data(), 0, out.nbytes());
  for (int64_t i = 0; i < n; ++i) {
    WriteElement(out.raw_data(), dtype, i, src.Get(i));
  }
  return out;
}

}  // namespace sy
