#include "core/model/cuda_direct_exchange.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/base/status.h"
#include "kernels/moe/moe_cuda.h"

namespace sy {
namespace {

absl::Status KernelCheck(const std::string& err) {
  if (err.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("expert parallelism (direct exchange): ", err));
}

bool TurnedOff() {
  const char* env = std::getenv("SWITCHYARD_EP_DIRECT");
  return env != nullptr && std::string(env) == "0";
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaDirectExchange>> CudaDirectExchange::Connect(
    ExecContext& ctx, std::shared_ptr<const ExpertParallelism> ep, int32_t top_k, int64_t hidden) {
  const bool fp8 = ep->dispatch_dtype == DispatchDType::kFP8;
  if (TurnedOff() || ep->rebalancer || ep->world_size() > kernels::kMaxDirectRanks ||
      top_k > kernels::kMaxDirectTopK || hidden % (fp8 ? 8 : 2) != 0) {
    return nullptr;
  }
  SY_ASSIGN_OR_RETURN(Comm::PeerMemoryView memory, ep->comm->PeerMemory(ctx));
  if (memory.bytes == 0) return nullptr;
  std::unique_ptr<CudaDirectExchange> exchange(
      new CudaDirectExchange(std::move(ep), std::move(memory.peers), memory.bytes, top_k, hidden));
  if (cudaHostAlloc(reinterpret_cast<void**>(&exchange->error_), sizeof(int),
                    cudaHostAllocMapped) != cudaSuccess) {
    cudaGetLastError();
    return absl::ResourceExhaustedError(
        "expert parallelism (direct exchange): cannot allocate its pinned error word");
  }
  *exchange->error_ = 0;
  SY_ASSIGN_OR_RETURN(
      exchange->seq_base_,
      Buffer::Allocate(MemoryKind::kDevice, sizeof(unsigned long long), ctx.device()));
  exchange->ex_.seq_base = static_cast<const unsigned long long*>(exchange->seq_base_->data());
  SY_RETURN_IF_ERROR(exchange->LoadPlacement(ctx.device()));
  SY_RETURN_IF_ERROR(exchange->StartAboveEveryFlag(ctx));
  return exchange;
}

CudaDirectExchange::CudaDirectExchange(std::shared_ptr<const ExpertParallelism> ep,
                                       std::vector<void*> peers, size_t peer_bytes, int32_t top_k,
                                       int64_t hidden)
    : ep_(std::move(ep)), peers_(std::move(peers)), peer_bytes_(peer_bytes) {
  ex_.rank = ep_->rank();
  ex_.world = ep_->world_size();
  ex_.top_k = top_k;
  ex_.hidden = hidden;
  fp8_ = ep_->dispatch_dtype == DispatchDType::kFP8;
  ex_.payload_bytes = fp8_ ? kernels::DispatchFp8PayloadBytes(hidden) : 2 * hidden;
  const absl::Duration timeout = std::min(ep_->timeout, absl::Hours(1));
  ex_.timeout_ns = static_cast<unsigned long long>(absl::ToInt64Nanoseconds(timeout));
}

CudaDirectExchange::~CudaDirectExchange() {
  if (error_ != nullptr) cudaFreeHost(error_);
}

absl::Status CudaDirectExchange::StartAboveEveryFlag(ExecContext& ctx) {
  kernels::DirectFlags flags;
  if (cudaMemcpy(&flags, peers_[ex_.rank], sizeof flags, cudaMemcpyDeviceToHost) != cudaSuccess) {
    cudaGetLastError();
    return absl::InternalError("expert parallelism (direct exchange): reading its flags");
  }
  unsigned long long highest = 0;
  for (int q = 0; q < ex_.world; ++q) {
    highest = std::max({highest, flags.dispatched[q], flags.combined[q]});
  }
  // A sum of every rank's highest is the same everywhere and at least every flag.
  SY_ASSIGN_OR_RETURN(Tensor sum, Tensor::Empty({1}, DType::kI64));
  *sum.data<int64_t>() = static_cast<int64_t>(highest);
  SY_RETURN_IF_ERROR(AllReduceHostSum(ctx, *ep_->comm, sum));
  next_base_ = static_cast<unsigned long long>(*sum.data<int64_t>());
  return absl::OkStatus();
}

absl::Status CudaDirectExchange::LoadPlacement(Device device) {
  const ExpertPlacement& placement = *ep_->placement;
  const int32_t layers = placement.shape().num_layers;
  experts_ = placement.shape().num_experts;
  std::vector<int32_t> begin, slots;
  begin.reserve(layers * (experts_ + 1));
  for (int32_t layer = 0; layer < layers; ++layer) {
    for (int32_t e = 0; e < experts_; ++e) {
      begin.push_back(static_cast<int32_t>(slots.size()));
      const std::span<const int32_t> replicas = placement.replicas(layer, e);
      slots.insert(slots.end(), replicas.begin(), replicas.end());
    }
    begin.push_back(static_cast<int32_t>(slots.size()));
  }
  auto upload = [&](const std::vector<int32_t>& values) -> absl::StatusOr<Tensor> {
    SY_ASSIGN_OR_RETURN(Tensor host, Tensor::Empty({std::ssize(values)}, DType::kI32));
    std::copy(values.begin(), values.end(), host.data<int32_t>());
    return host.To(device);
  };
  SY_ASSIGN_OR_RETURN(replica_begin_, upload(begin));
  SY_ASSIGN_OR_RETURN(replica_slots_, upload(slots));
  return absl::OkStatus();
}

absl::StatusOr<bool> CudaDirectExchange::BeginStep(std::span<const int64_t> rank_tokens,
                                                   Device device, void* stream) {
  active_ = false;
  if (std::ssize(rank_tokens) != ex_.world) {
    return absl::InternalError(
        absl::StrCat("expert parallelism (direct exchange): ", rank_tokens.size(),
                     " token counts for ", ex_.world, " ranks"));
  }
  ex_.row_begin[0] = 0;
  int64_t most = 0;
  for (int q = 0; q < ex_.world; ++q) {
    ex_.row_begin[q + 1] = ex_.row_begin[q] + rank_tokens[q];
    most = std::max(most, rank_tokens[q]);
  }
  // Every rank carves the same offsets; `returned` is sized by the busiest rank so that the
  // decision below is the same everywhere.
  const int64_t rows = ex_.row_begin[ex_.world], h = ex_.hidden, k = ex_.top_k;
  auto carve = [&](char* base) {
    Carver cv(base);
    kernels::DirectRankAreas a;
    a.flags = cv.Take<kernels::DirectFlags>(1);
    a.payload = cv.Take<uint8_t>(rows * ex_.payload_bytes);
    a.ids = cv.Take<int32_t>(rows * k);
    a.weights = cv.Take<float>(rows * k);
    a.returned = cv.Take<float>(ex_.world * most * h);
    return std::make_pair(a, cv.used());
  };
  if (carve(nullptr).second > peer_bytes_) return false;
  for (int q = 0; q < ex_.world; ++q) ex_.areas[q] = carve(static_cast<char*>(peers_[q])).first;
  // Here: the arrival counter, each token's destination mask and, with fp8 payloads, this
  // rank's tokens encoded and every received row decoded.
  struct Local {
    unsigned int* arrived;
    uint32_t* sent_mask;
    uint8_t* staged;
    uint16_t* decoded;
  };
  auto carve_local = [&](char* base) {
    Carver cv(base);
    Local l;
    l.arrived = cv.Take<unsigned int>(64);
    l.sent_mask = cv.Take<uint32_t>(std::max<int64_t>(most, 1));
    l.staged = cv.Take<uint8_t>(fp8_ ? most * ex_.payload_bytes : 0);
    l.decoded = cv.Take<uint16_t>(fp8_ ? rows * h : 0);
    return std::make_pair(l, cv.used());
  };
  SY_ASSIGN_OR_RETURN(char* local, local_.Get(carve_local(nullptr).second, device));
  const Local l = carve_local(local).first;
  if (local_.generation() != local_zeroed_) {
    if (cudaMemsetAsync(l.arrived, 0, sizeof(unsigned int), static_cast<cudaStream_t>(stream)) !=
        cudaSuccess) {
      cudaGetLastError();
      return absl::InternalError("expert parallelism (direct exchange): zeroing its counter");
    }
    local_zeroed_ = local_.generation();
  }
  ex_.arrived = l.arrived;
  ex_.sent_mask = l.sent_mask;
  staged_ = l.staged;
  decoded_ = l.decoded;
  ex_.error = error_;
  // Every rank moves its base alike: the same steps, each past every layer of the one before.
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchDirectBeginStep(
      static_cast<unsigned long long*>(seq_base_->data()), next_base_, stream)));
  next_base_ += ep_->placement->shape().num_layers;
  active_ = true;
  return true;
}

absl::Status CudaDirectExchange::CheckPeers() const {
  const int peer = *static_cast<volatile int*>(error_);
  if (peer == 0) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(
      "expert parallelism (direct exchange), rank ", ex_.rank, ": rank ", peer - 1,
      " did not answer within ", absl::FormatDuration(absl::Nanoseconds(ex_.timeout_ns)),
      " (dead, or not running the same layer)"));
}

absl::StatusOr<CudaDirectExchange::Received> CudaDirectExchange::Dispatch(
    int32_t moe_index, const uint16_t* x, const int32_t* ids, const float* weights, void* stream) {
  SY_RETURN_IF_ERROR(CheckPeers());
  ex_.layer = static_cast<unsigned long long>(moe_index) + 1;
  kernels::DirectDispatchArgs args;
  args.payload = reinterpret_cast<const uint8_t*>(x);
  const int64_t tokens = ex_.row_begin[ex_.rank + 1] - ex_.row_begin[ex_.rank];
  if (fp8_) {
    SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchEncodeDispatchFp8(x, tokens, ex_.hidden, staged_,
                                                                    ex_.payload_bytes, stream)));
    args.payload = staged_;
  }
  args.ids = ids;
  args.weights = weights;
  args.slots_per_rank = ep_->placement->shape().slots_per_rank;
  args.replica_begin = replica_begin_.data<int32_t>() + moe_index * (experts_ + 1);
  args.replica_slots = replica_slots_.data<int32_t>();
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchDirectDispatch(ex_, args, stream)));
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchDirectWait(ex_, stream)));
  const kernels::DirectRankAreas& mine = ex_.areas[ex_.rank];
  const int64_t rows = ex_.row_begin[ex_.world];
  if (!fp8_)
    return Received{reinterpret_cast<const uint16_t*>(mine.payload), mine.ids, mine.weights, rows};
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchDecodeDispatchFp8(
      mine.payload, ex_.payload_bytes, rows, ex_.hidden, mine.ids, ex_.top_k, decoded_, stream)));
  return Received{decoded_, mine.ids, mine.weights, rows};
}

absl::Status CudaDirectExchange::Combine(const float* expert_out, float* out, void* stream) {
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchDirectCombine(ex_, expert_out, stream)));
  return KernelCheck(kernels::LaunchDirectAdd(ex_, out, stream));
}

}  // namespace sy
