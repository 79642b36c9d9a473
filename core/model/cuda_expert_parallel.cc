#include "core/model/cuda_expert_parallel.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/log.h"
#include "core/base/status.h"
#include "core/moe/online_rebalancer.h"
#include "kernels/moe/moe_cuda.h"

namespace sy {
namespace {

absl::Status CudaCheck(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  return absl::InternalError(
      absl::StrCat("expert parallelism: ", what, ": ", cudaGetErrorString(err)));
}

absl::Status KernelCheck(const std::string& err) {
  if (err.empty()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("expert parallelism: ", err));
}

// What the host sends the device for one layer, as 4-byte words in one copy: each send row's
// token, each row's tail (k local slot ids, then k weights: the bytes the row carries after the
// hidden state), and for each token the send rows whose sums come back to it (CSR, rank order).
struct HostPlan {
  std::vector<int32_t> words;
  int64_t row_token = 0, tails = 0, token_begin = 0, token_rows = 0;  // offsets in words
};

HostPlan MakeHostPlan(const DispatchRoutes& routes, int64_t tokens, int k) {
  const int64_t rows = static_cast<int64_t>(routes.row_token.size());
  HostPlan p;
  p.words.reserve(rows * (2 + 2 * k) + tokens + 1);
  p.words.insert(p.words.end(), routes.row_token.begin(), routes.row_token.end());
  p.tails = static_cast<int64_t>(p.words.size());
  for (int64_t row = 0; row < rows; ++row) {
    p.words.insert(p.words.end(), routes.row_slots.begin() + row * k,
                   routes.row_slots.begin() + (row + 1) * k);
    for (int j = 0; j < k; ++j) {
      int32_t bits;
      std::memcpy(&bits, &routes.row_weights[row * k + j], sizeof bits);
      p.words.push_back(bits);
    }
  }
  p.token_begin = static_cast<int64_t>(p.words.size());
  std::vector<int32_t> per_token(tokens + 1, 0);
  for (int32_t t : routes.row_token) ++per_token[t + 1];
  std::partial_sum(per_token.begin(), per_token.end(), per_token.begin());
  p.words.insert(p.words.end(), per_token.begin(), per_token.end());
  p.token_rows = static_cast<int64_t>(p.words.size());
  p.words.resize(p.words.size() + rows);
  std::vector<int32_t> cursor(per_token.begin(), per_token.end() - 1);
  for (int64_t row = 0; row < rows; ++row) {
    p.words[p.token_rows + cursor[routes.row_token[row]]++] = static_cast<int32_t>(row);
  }
  return p;
}

// Strided copy of `height` rows of `width` bytes.
absl::Status CopyColumns(void* dst, size_t dst_pitch, const void* src, size_t src_pitch,
                         size_t width, int64_t height, void* stream) {
  if (height == 0) return absl::OkStatus();
  return CudaCheck(
      cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width, static_cast<size_t>(height),
                        cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
      "unpacking the received rows");
}

}  // namespace

CudaExpertParallel::CudaExpertParallel(std::shared_ptr<const ExpertParallelism> ep,
                                       std::optional<Checkpoint> checkpoint, Device device,
                                       int32_t top_k, int64_t hidden)
    : ep_(std::move(ep)),
      checkpoint_(std::move(checkpoint)),
      device_(device),
      top_k_(top_k),
      hidden_(hidden),
      filled_for_(ep_->placement->shape().num_layers, ep_->placement) {}

absl::StatusOr<bool> CudaExpertParallel::BeginStep(ExecContext& ctx,
                                                   std::span<const int64_t> rank_tokens) {
  if (!direct_tried_) {
    direct_tried_ = true;
    SY_ASSIGN_OR_RETURN(direct_, CudaDirectExchange::Connect(ctx, ep_, top_k_, hidden_));
    Log(LogLevel::kDebug, "ep",
        absl::StrCat("rank ", ep_->rank(), ": MoE layers exchange ",
                     direct_ ? "directly through the backend's peer memory when a step fits"
                             : "through the backend's all-to-all",
                     ", rows as ", DispatchDTypeName(ep_->dispatch_dtype)));
  }
  step_rank_tokens_.assign(rank_tokens.begin(), rank_tokens.end());
  if (!direct_) return false;
  return direct_->BeginStep(rank_tokens, device_, ctx.stream());
}

uint64_t CudaExpertParallel::memory_generation() const {
  // Each part only grows, so the sum changes whenever one of them does.
  return rows_.generation() + workspace_.generation() +
         (direct_ ? direct_->memory_generation() : 0);
}

absl::Status CudaExpertParallel::CheckPeers() const {
  return direct_ ? direct_->CheckPeers() : absl::OkStatus();
}

absl::Status CudaExpertParallel::FollowPlacement(int32_t moe_index, CudaExperts& local,
                                                 void* stream) {
  const std::shared_ptr<const ExpertPlacement>& now = ep_->placement;
  std::shared_ptr<const ExpertPlacement>& filled = filled_for_[moe_index];
  if (filled == now) return absl::OkStatus();
  const int32_t spr = now->shape().slots_per_rank, first = ep_->rank() * spr;
  std::vector<SlotRefill> refills;
  for (int32_t slot = first; slot < first + spr; ++slot) {
    const int32_t expert = now->expert(moe_index, slot);
    if (expert != filled->expert(moe_index, slot)) refills.push_back({slot - first, expert});
  }
  if (refills.empty()) {
    filled = now;
    return absl::OkStatus();
  }
  // On an error `filled` stays, so the next pass re-fills again rather than run stale slots.
  const auto start = std::chrono::steady_clock::now();
  SY_RETURN_IF_ERROR(
      RefillExpertSlots(checkpoint_ ? &*checkpoint_ : nullptr, refills, local, device_, stream));
  Log(LogLevel::kDebug, "eplb",
      absl::StrFormat(
          "rank %d, MoE layer %d: re-filled %d of %d slots in %.1f ms", ep_->rank(), moe_index,
          refills.size(), spr,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count()));
  filled = now;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> CudaExpertParallel::ExchangeCounts(
    ExecContext& ctx, const std::vector<int64_t>& send_counts) {
  const int64_t world = ep_->world_size();
  if (!counts_.defined()) {
    SY_ASSIGN_OR_RETURN(counts_, Tensor::Empty({2 * world, 1}, DType::kI64, device_));
    SY_ASSIGN_OR_RETURN(host_counts_, Tensor::EmptyPinned({2 * world, 1}, DType::kI64));
  }
  const auto s = static_cast<cudaStream_t>(ctx.stream());
  int64_t* host = host_counts_.data<int64_t>();
  std::copy(send_counts.begin(), send_counts.end(), host);
  SY_RETURN_IF_ERROR(CudaCheck(
      cudaMemcpyAsync(counts_.raw_data(), host, world * sizeof(int64_t), cudaMemcpyHostToDevice, s),
      "copying the counts"));
  SY_ASSIGN_OR_RETURN(const Tensor send, counts_.SliceRows(0, world));
  SY_ASSIGN_OR_RETURN(Tensor recv, counts_.SliceRows(world, 2 * world));
  const std::vector<int64_t> ones(world, 1);
  SY_RETURN_IF_ERROR(ep_->comm->AllToAll(ctx, send, ones, recv, ones));
  SY_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(host + world, recv.raw_data(),
                                               world * sizeof(int64_t), cudaMemcpyDeviceToHost, s),
                               "copying the counts"));
  SY_RETURN_IF_ERROR(CudaCheck(cudaStreamSynchronize(s), "exchanging the counts"));
  return std::vector<int64_t>(host + world, host + 2 * world);
}

absl::StatusOr<void*> CudaExpertParallel::LocalWorkspace(size_t bytes, void* stream) {
  SY_ASSIGN_OR_RETURN(char* ws, workspace_.Get(std::max<size_t>(bytes, 1), device_));
  if (workspace_.generation() != workspace_initialized_) {
    SY_RETURN_IF_ERROR(KernelCheck(kernels::InitMoeWorkspace(ws, stream)));
    workspace_initialized_ = workspace_.generation();
  }
  return ws;
}

absl::Status CudaExpertParallel::RunLocalExperts(CudaExperts& local, const uint16_t* x,
                                                 const int32_t* ids, const float* weights,
                                                 int64_t rows, int32_t top_k, float* out,
                                                 void* stream) {
  const kernels::MoeProblem problem{rows, local.count, top_k, hidden_, local.intermediate};
  const kernels::MoePlan plan = local.Plan(problem);
  kernels::MoeLayerArgs args;
  args.x = x;
  args.routing = {.ids = ids, .weights = weights};
  args.weights = local.View();
  args.out = out;
  SY_ASSIGN_OR_RETURN(args.workspace, LocalWorkspace(plan.workspace_bytes, stream));
  return KernelCheck(kernels::LaunchMoeLayer(problem, plan, args, stream));
}

absl::Status CudaExpertParallel::RunLayerDirect(CudaExperts& local, const Layer& l, void* stream) {
  const int64_t begun = step_rank_tokens_[ep_->rank()];
  if (l.tokens != begun) {
    return absl::InternalError(absl::StrCat("expert parallelism: a layer of ", l.tokens,
                                            " tokens in a step begun with ", begun));
  }
  SY_ASSIGN_OR_RETURN(const CudaDirectExchange::Received in,
                      direct_->Dispatch(l.moe_index, l.x, l.ids, l.weights, stream));
  SY_ASSIGN_OR_RETURN(char* expert_out,
                      rows_.Get(std::max<size_t>(in.rows * hidden_ * sizeof(float), 1), device_));
  SY_RETURN_IF_ERROR(RunLocalExperts(local, in.x, in.ids, in.weights, in.rows, l.top_k,
                                     reinterpret_cast<float*>(expert_out), stream));
  return direct_->Combine(reinterpret_cast<const float*>(expert_out), l.out, stream);
}

absl::Status CudaExpertParallel::RunLayer(ExecContext& ctx, CudaExperts& local, const Layer& l) {
  if (direct_ && direct_->active()) return RunLayerDirect(local, l, ctx.stream());
  const ExpertParallelism& ep = *ep_;
  const int k = l.top_k;
  const int64_t t = l.tokens, h = l.hidden, pairs = t * k;
  void* stream = ctx.stream();
  const auto s = static_cast<cudaStream_t>(stream);

  // The routing comes to the host, which picks replicas and routes exactly as the CPU path.
  std::vector<int32_t> ids(pairs);
  std::vector<float> weights(pairs);
  if (pairs > 0) {
    SY_RETURN_IF_ERROR(CudaCheck(
        cudaMemcpyAsync(ids.data(), l.ids, pairs * sizeof(int32_t), cudaMemcpyDeviceToHost, s),
        "copying the routing"));
    SY_RETURN_IF_ERROR(CudaCheck(cudaMemcpyAsync(weights.data(), l.weights, pairs * sizeof(float),
                                                 cudaMemcpyDeviceToHost, s),
                                 "copying the routing"));
    SY_RETURN_IF_ERROR(CudaCheck(cudaStreamSynchronize(s), "routing"));
  }
  SY_RETURN_IF_ERROR(FollowPlacement(l.moe_index, local, stream));
  std::vector<int32_t> slots(pairs, -1);
  if (pairs > 0) ep.placement->AssignReplicas(l.moe_index, ids, ep.rank(), slots);
  const DispatchRoutes routes = RouteDispatch(slots, weights, k, *ep.placement, ep.world_size());
  SY_ASSIGN_OR_RETURN(const std::vector<int64_t> recv_counts,
                      ExchangeCounts(ctx, routes.send_counts));
  const int64_t sent = static_cast<int64_t>(routes.row_token.size());
  const int64_t received = std::accumulate(recv_counts.begin(), recv_counts.end(), int64_t{0});
  const HostPlan host = MakeHostPlan(routes, t, k);

  const bool fp8 = ep.dispatch_dtype == DispatchDType::kFP8;
  const int64_t hidden_bytes = fp8 ? kernels::DispatchFp8PayloadBytes(h) : 2 * h;
  const int64_t tail_bytes = 8 * k, row_bytes = hidden_bytes + tail_bytes;
  struct Layout {
    int32_t* plan;
    uint8_t *staged, *send, *recv;
    uint16_t* x;
    int32_t* ids;
    float *weights, *expert_out, *returned;
  };
  auto carve = [&](char* base) {
    Carver cv(base);
    Layout d;
    d.plan = cv.Take<int32_t>(std::ssize(host.words));
    d.staged = cv.Take<uint8_t>(fp8 ? t * hidden_bytes : 0);
    d.send = cv.Take<uint8_t>(sent * row_bytes);
    d.recv = cv.Take<uint8_t>(received * row_bytes);
    d.x = cv.Take<uint16_t>(received * h);
    d.ids = cv.Take<int32_t>(received * k);
    d.weights = cv.Take<float>(received * k);
    d.expert_out = cv.Take<float>(received * h);
    d.returned = cv.Take<float>(sent * h);
    return std::make_pair(d, cv.used());
  };
  SY_ASSIGN_OR_RETURN(char* base, rows_.Get(std::max<size_t>(carve(nullptr).second, 1), device_));
  const Layout d = carve(base).first;
  auto view = [&](const void* p, int64_t rows, int64_t width, DType dtype) {
    return Tensor::FromBuffer(rows_.buffer(), static_cast<const char*>(p) - base, {rows, width},
                              dtype);
  };

  // Dispatch.
  if (!host.words.empty()) {
    SY_RETURN_IF_ERROR(
        CudaCheck(cudaMemcpyAsync(d.plan, host.words.data(), host.words.size() * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, s),
                  "copying the dispatch plan"));
  }
  const void* payloads = l.x;
  if (fp8) {
    SY_RETURN_IF_ERROR(
        KernelCheck(kernels::LaunchEncodeDispatchFp8(l.x, t, h, d.staged, hidden_bytes, stream)));
    payloads = d.staged;
  }
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchPackDispatchRows(
      payloads, hidden_bytes, d.plan + host.row_token,
      reinterpret_cast<const uint8_t*>(d.plan + host.tails), tail_bytes, sent, d.send, stream)));
  SY_ASSIGN_OR_RETURN(const Tensor send, view(d.send, sent, row_bytes, DType::kU8));
  SY_ASSIGN_OR_RETURN(Tensor recv, view(d.recv, received, row_bytes, DType::kU8));
  SY_RETURN_IF_ERROR(ep.comm->AllToAll(ctx, send, routes.send_counts, recv, recv_counts));

  // The local experts over every received row.
  if (fp8) {
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchDecodeDispatchFp8(d.recv, row_bytes, received, h, nullptr, k, d.x, stream)));
  } else {
    SY_RETURN_IF_ERROR(
        CopyColumns(d.x, hidden_bytes, d.recv, row_bytes, hidden_bytes, received, stream));
  }
  SY_RETURN_IF_ERROR(
      CopyColumns(d.ids, 4 * k, d.recv + hidden_bytes, row_bytes, 4 * k, received, stream));
  SY_RETURN_IF_ERROR(CopyColumns(d.weights, 4 * k, d.recv + hidden_bytes + 4 * k, row_bytes, 4 * k,
                                 received, stream));
  SY_RETURN_IF_ERROR(
      RunLocalExperts(local, d.x, d.ids, d.weights, received, k, d.expert_out, stream));

  // Combine: the sums go back the way the rows came, and each token adds its own.
  SY_ASSIGN_OR_RETURN(const Tensor expert_out, view(d.expert_out, received, h, DType::kF32));
  SY_ASSIGN_OR_RETURN(Tensor returned, view(d.returned, sent, h, DType::kF32));
  SY_RETURN_IF_ERROR(ep.comm->AllToAll(ctx, expert_out, recv_counts, returned, routes.send_counts));
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchAddTokenRows(
      d.returned, h, d.plan + host.token_begin, d.plan + host.token_rows, t, l.out, stream)));
  if (!ep.rebalancer) return absl::OkStatus();
  SY_ASSIGN_OR_RETURN(Tensor routed, Tensor::Empty({t, k}, DType::kI32));
  std::copy(ids.begin(), ids.end(), routed.data<int32_t>());
  return ep.rebalancer->RecordLayer(ctx, ep, l.moe_index, routed);
}

}  // namespace sy
