// A build without CUDA: the GPU model is absent, and says so.
#include "core/model/cuda_network.h"

namespace sy {

struct CudaNetwork::Impl {};

std::string CudaNetwork::Unsupported(const ModelConfig&) {
  return "this build of switchyard has no CUDA (rebuild where nvcc is found)";
}

absl::StatusOr<std::unique_ptr<CudaNetwork>> CudaNetwork::Load(const ModelConfig& config,
                                                               const Checkpoint*,
                                                               const CudaNetworkOptions&,
                                                               ExecContext&) {
  return absl::FailedPreconditionError(Unsupported(config));
}

CudaNetwork::CudaNetwork(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaNetwork::~CudaNetwork() = default;

absl::StatusOr<Tensor> CudaNetwork::Forward(ExecContext&, std::span<const SequenceChunk>,
                                            PagedKvCache&) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

absl::StatusOr<std::vector<int32_t>> CudaNetwork::ForwardSampled(ExecContext&,
                                                                 std::span<const SequenceChunk>,
                                                                 PagedKvCache&,
                                                                 std::span<const DeviceDraw>) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

absl::Status CudaNetwork::LendExperts(ExecContext&) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

absl::StatusOr<bool> CudaNetwork::BeginExpertParallelStep(ExecContext&, std::span<const int64_t>) {
  return absl::FailedPreconditionError("this build of switchyard has no CUDA");
}

bool CudaNetwork::samples_on_device() const { return false; }

int64_t CudaNetwork::weight_bytes() const { return 0; }

}  // namespace sy
