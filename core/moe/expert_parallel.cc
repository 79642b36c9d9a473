#include "core/moe/expert_parallel.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/device/cuda_runtime.h"
#include "core/moe/online_rebalancer.h"
#include "switchyard/dtype.hpp"

namespace sy {
namespace {

int64_t Fp8Groups(int64_t hidden) { return (hidden + kDispatchFp8Group - 1) / kDispatchFp8Group; }

// e4m3 codes of `x` [h], then each group's f32 scale (amax / 448, 1 for an all-zero group).
void EncodeFp8(const float* x, int64_t h, uint8_t* out) {
  uint8_t* scales = out + h;
  for (int64_t g = 0; g < Fp8Groups(h); ++g) {
    const int64_t begin = g * kDispatchFp8Group, end = std::min(h, begin + kDispatchFp8Group);
    float amax = 0;
    for (int64_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float scale = amax > 0 ? amax / kFP8E4M3Max : 1.0f;
    for (int64_t i = begin; i < end; ++i) out[i] = F32ToFP8E4M3(x[i] / scale);
    std::memcpy(scales + g * sizeof(float), &scale, sizeof scale);
  }
}

void DecodeFp8(const uint8_t* in, int64_t h, float* x) {
  for (int64_t g = 0; g < Fp8Groups(h); ++g) {
    float scale;
    std::memcpy(&scale, in + h + g * sizeof(float), sizeof scale);
    const int64_t begin = g * kDispatchFp8Group, end = std::min(h, begin + kDispatchFp8Group);
    for (int64_t i = begin; i < end; ++i) x[i] = FP8E4M3ToF32(in[i]) * scale;
  }
}

}  // namespace

void EncodeDispatchHidden(const float* x, int64_t h, DispatchDType dtype, uint8_t* out) {
  switch (dtype) {
    case DispatchDType::kF32:
      std::memcpy(out, x, h * sizeof(float));
      return;
    case DispatchDType::kBF16:
      for (int64_t i = 0; i < h; ++i) {
        const uint16_t b = F32ToBF16(x[i]);
        std::memcpy(out + i * sizeof b, &b, sizeof b);
      }
      return;
    case DispatchDType::kFP8:
      EncodeFp8(x, h, out);
      return;
  }
}

void DecodeDispatchHidden(const uint8_t* in, int64_t h, DispatchDType dtype, float* x) {
  switch (dtype) {
    case DispatchDType::kF32:
      std::memcpy(x, in, h * sizeof(float));
      return;
    case DispatchDType::kBF16:
      for (int64_t i = 0; i < h; ++i) {
        uint16_t b;
        std::memcpy(&b, in + i * sizeof b, sizeof b);
        x[i] = BF16ToF32(b);
      }
      return;
    case DispatchDType::kFP8:
      DecodeFp8(in, h, x);
      return;
  }
}

namespace {

int64_t Sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

}  // namespace

absl::StatusOr<DispatchDType> ParseDispatchDType(absl::string_view name) {
  if (name == "f32") return DispatchDType::kF32;
  if (name == "bf16") return DispatchDType::kBF16;
  if (name == "fp8") return DispatchDType::kFP8;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown dispatch dtype '", name, "' (f32, bf16, fp8)"));
}

const char* DispatchDTypeName(DispatchDType dtype) {
  switch (dtype) {
    case DispatchDType::kF32:
      return "f32";
    case DispatchDType::kBF16:
      return "bf16";
    case DispatchDType::kFP8:
      return "fp8";
  }
  return "?";
}

int64_t DispatchHiddenBytes(DispatchDType dtype, int64_t hidden) {
  switch (dtype) {
    case DispatchDType::kF32:
      return 4 * hidden;
    case DispatchDType::kBF16:
      return 2 * hidden;
    case DispatchDType::kFP8:
      return hidden + 4 * Fp8Groups(hidden);
  }
  return 0;
}

int64_t DispatchRowBytes(DispatchDType dtype, int64_t hidden, int k) {
  return DispatchHiddenBytes(dtype, hidden) + 2 * k * 4;
}

DispatchRoutes RouteDispatch(std::span<const int32_t> slots, std::span<const float> weights, int k,
                             const ExpertPlacement& placement, int world_size) {
  const int64_t tokens = static_cast<int64_t>(slots.size()) / k;
  const int spr = placement.shape().slots_per_rank;
  // token_ranks[r]: the tokens going to rank r, in token order.
  std::vector<std::vector<int32_t>> token_ranks(world_size);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<bool> seen(world_size, false);
    for (int j = 0; j < k; ++j) {
      const int32_t slot = slots[t * k + j];
      if (slot < 0) continue;
      const int32_t r = placement.rank_of_slot(slot);
      if (!seen[r]) {
        seen[r] = true;
        token_ranks[r].push_back(static_cast<int32_t>(t));
      }
    }
  }
  DispatchRoutes routes;
  routes.send_counts.assign(world_size, 0);
  for (int r = 0; r < world_size; ++r) {
    routes.send_counts[r] = static_cast<int64_t>(token_ranks[r].size());
    for (int32_t t : token_ranks[r]) {
      for (int j = 0; j < k; ++j) {
        const int32_t slot = slots[t * k + j];
        const bool here = slot >= 0 && placement.rank_of_slot(slot) == r;
        routes.row_slots.push_back(here ? slot % spr : -1);
        routes.row_weights.push_back(here ? weights[t * k + j] : 0.0f);
      }
      routes.row_token.push_back(t);
    }
  }
  return routes;
}

namespace {

// Recv counts for `send_counts`: recv_counts[p] = rank p's send_counts[me]. Collective, on a
// CPU context (the GPU path keeps its own device buffers: CudaExpertParallel).
absl::StatusOr<std::vector<int64_t>> ExchangeCounts(ExecContext& ctx, Comm& comm,
                                                    const std::vector<int64_t>& send_counts) {
  const int world = comm.world_size();
  SY_ASSIGN_OR_RETURN(Tensor send, Tensor::Empty({world, 1}, DType::kI64));
  std::memcpy(send.data<int64_t>(), send_counts.data(), world * sizeof(int64_t));
  SY_ASSIGN_OR_RETURN(Tensor recv, Tensor::Empty({world, 1}, DType::kI64));
  const std::vector<int64_t> ones(world, 1);
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, send, ones, recv, ones));
  return std::vector<int64_t>(recv.data<int64_t>(), recv.data<int64_t>() + world);
}

}  // namespace

absl::Status AllReduceHostSum(ExecContext& ctx, Comm& comm, Tensor& data) {
  if (ctx.device().is_cpu()) return comm.AllReduceSum(ctx, data);
  SY_RETURN_IF_ERROR(ctx.Synchronize());  // the copies below run on the device's default stream
  SY_ASSIGN_OR_RETURN(Tensor on_device, data.To(ctx.device()));
  SY_RETURN_IF_ERROR(comm.AllReduceSum(ctx, on_device));
  SY_RETURN_IF_ERROR(ctx.Synchronize());
  // Into data's own buffer: callers hold pointers into it.
  return cuda::Copy(data.raw_data(), on_device.raw_data(), data.nbytes(),
                    cuda::CopyKind::kDeviceToHost, ctx.device().index);
}

absl::StatusOr<DispatchPlan> PlanDispatch(const Tensor& hidden, const RouterOutput& routing,
                                          const std::vector<int32_t>& slots,
                                          const ExpertPlacement& placement, int world_size,
                                          DispatchDType dtype) {
  const int64_t h = hidden.dim(1);
  const int k = static_cast<int>(routing.expert_ids.dim(1));
  DispatchRoutes routes = RouteDispatch(
      slots, std::span<const float>(routing.expert_weights.data<float>(), slots.size()), k,
      placement, world_size);
  const int64_t rows = static_cast<int64_t>(routes.row_token.size());
  const int64_t width = DispatchRowBytes(dtype, h, k);
  const int64_t meta = DispatchHiddenBytes(dtype, h);
  DispatchPlan plan;
  SY_ASSIGN_OR_RETURN(plan.rows, Tensor::Empty({rows, width}, DType::kU8));
  uint8_t* out = plan.rows.data<uint8_t>();
  for (int64_t row = 0; row < rows; ++row, out += width) {
    EncodeDispatchHidden(hidden.data<float>() + routes.row_token[row] * h, h, dtype, out);
    std::memcpy(out + meta, routes.row_slots.data() + row * k, k * 4);
    std::memcpy(out + meta + k * 4, routes.row_weights.data() + row * k, k * 4);
  }
  plan.send_counts = std::move(routes.send_counts);
  plan.row_token = std::move(routes.row_token);
  return plan;
}

absl::StatusOr<ReceivedTokens> UnpackDispatch(const Tensor& rows, int64_t hidden_size, int k,
                                              DispatchDType dtype) {
  const int64_t n = rows.dim(0), width = rows.dim(1);
  if (rows.dtype() != DType::kU8 || width != DispatchRowBytes(dtype, hidden_size, k)) {
    return absl::InternalError(absl::StrCat(
        "dispatched rows are ", rows.Describe(), ", expected u8 rows of ",
        DispatchRowBytes(dtype, hidden_size, k), " bytes (", DispatchDTypeName(dtype), ")"));
  }
  const int64_t meta = DispatchHiddenBytes(dtype, hidden_size);
  ReceivedTokens in;
  SY_ASSIGN_OR_RETURN(in.hidden, Tensor::Empty({n, hidden_size}, DType::kF32));
  SY_ASSIGN_OR_RETURN(in.routing.expert_ids, Tensor::Empty({n, k}, DType::kI32));
  SY_ASSIGN_OR_RETURN(in.routing.expert_weights, Tensor::Empty({n, k}, DType::kF32));
  const uint8_t* src = rows.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i, src += width) {
    DecodeDispatchHidden(src, hidden_size, dtype, in.hidden.data<float>() + i * hidden_size);
    std::memcpy(in.routing.expert_ids.data<int32_t>() + i * k, src + meta, k * 4);
    std::memcpy(in.routing.expert_weights.data<float>() + i * k, src + meta + k * 4, k * 4);
  }
  return in;
}

absl::StatusOr<Tensor> RunExpertParallel(ExecContext& ctx, const ExpertParallelism& ep,
                                         int32_t moe_layer, const Tensor& hidden,
                                         const RouterOutput& routing,
                                         const LocalExperts& local_experts) {
  Comm& comm = *ep.comm;
  const int world = comm.world_size();
  const int64_t tokens = hidden.dim(0), h = hidden.dim(1);
  // Every rank sizes rows with the layer's k; a rank without tokens passes routing [0, k].
  const int k = static_cast<int>(routing.expert_ids.dim(1));
  std::vector<int32_t> slots(tokens * k, -1);
  if (tokens > 0) {
    ep.placement->AssignReplicas(moe_layer,
                                 std::span<const int32_t>(routing.expert_ids.data<int32_t>(),
                                                          static_cast<size_t>(tokens * k)),
                                 ep.rank(), slots);
  }
  SY_ASSIGN_OR_RETURN(DispatchPlan plan, PlanDispatch(hidden, routing, slots, *ep.placement, world,
                                                      ep.dispatch_dtype));
  SY_ASSIGN_OR_RETURN(std::vector<int64_t> recv_counts,
                      ExchangeCounts(ctx, comm, plan.send_counts));

  SY_ASSIGN_OR_RETURN(Tensor received,
                      Tensor::Empty({Sum(recv_counts), plan.rows.dim(1)}, DType::kU8));
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, plan.rows, plan.send_counts, received, recv_counts));
  SY_ASSIGN_OR_RETURN(ReceivedTokens in, UnpackDispatch(received, h, k, ep.dispatch_dtype));
  SY_ASSIGN_OR_RETURN(Tensor expert_out, local_experts(in.hidden, in.routing));

  // Combine: the same exchange backwards, each row's weighted sum back to its token's rank.
  SY_ASSIGN_OR_RETURN(Tensor returned, Tensor::Empty({plan.rows.dim(0), h}, DType::kF32));
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, expert_out, recv_counts, returned, plan.send_counts));
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Zeros({tokens, h}, DType::kF32));
  for (size_t row = 0; row < plan.row_token.size(); ++row) {
    float* dst = out.data<float>() + plan.row_token[row] * h;
    const float* src = returned.data<float>() + row * h;
    for (int64_t c = 0; c < h; ++c) dst[c] += src[c];
  }
  if (ep.rebalancer) {
    SY_RETURN_IF_ERROR(ep.rebalancer->RecordLayer(ctx, ep, moe_layer, routing.expert_ids));
  }
  return out;
}

}  // namespace sy
