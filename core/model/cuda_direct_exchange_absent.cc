// A build without CUDA has no direct exchange: Connect says so with nullptr, so callers take
// the collective path and nothing else is reached.
#include "core/model/cuda_direct_exchange.h"

namespace sy {

absl::StatusOr<std::unique_ptr<CudaDirectExchange>> CudaDirectExchange::Connect(
    ExecContext&, std::shared_ptr<const ExpertParallelism>, int32_t, int64_t) {
  return nullptr;
}

CudaDirectExchange::~CudaDirectExchange() = default;

absl::StatusOr<bool> CudaDirectExchange::BeginStep(std::span<const int64_t>, Device, void*) {
  return false;
}

absl::StatusOr<CudaDirectExchange::Received> CudaDirectExchange::Dispatch(int32_t, const uint16_t*,
                                                                          const int32_t*,
                                                                          const float*, void*) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

absl::Status CudaDirectExchange::Combine(const float*, float*, void*) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

absl::Status CudaDirectExchange::CheckPeers() const { return absl::OkStatus(); }

}  // namespace sy
