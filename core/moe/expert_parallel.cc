#include "core/moe/expert_parallel.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/moe/online_rebalancer.h"

namespace sy {
namespace {

float IntBits(int32_t v) {
  float f;
  std::memcpy(&f, &v, sizeof f);
  return f;
}

int32_t BitsInt(float f) {
  int32_t v;
  std::memcpy(&v, &f, sizeof v);
  return v;
}

// Exchanges how many rows each rank sends each other rank: recv_counts[p] = p's send_counts[me].
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

int64_t Sum(const std::vector<int64_t>& v) {
  int64_t s = 0;
  for (int64_t x : v) s += x;
  return s;
}

}  // namespace

absl::StatusOr<DispatchPlan> PlanDispatch(const Tensor& hidden, const RouterOutput& routing,
                                          const std::vector<int32_t>& slots,
                                          const ExpertPlacement& placement, int world_size) {
  const int64_t tokens = hidden.dim(0), h = hidden.dim(1);
  const int k = static_cast<int>(routing.expert_ids.dim(1));
  const int spr = placement.shape().slots_per_rank;
  const float* weights = routing.expert_weights.data<float>();
  // rank_of_pair[t * k + j]: the rank slot (t, j) goes to, or -1.
  std::vector<int32_t> rank_of_pair(slots.size(), -1);
  DispatchPlan plan;
  plan.send_counts.assign(world_size, 0);
  // token_ranks[r]: the tokens going to rank r, in token order.
  std::vector<std::vector<int32_t>> token_ranks(world_size);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<bool> seen(world_size, false);
    for (int j = 0; j < k; ++j) {
      const int32_t slot = slots[t * k + j];
      if (slot < 0) continue;
      const int32_t r = placement.rank_of_slot(slot);
      rank_of_pair[t * k + j] = r;
      if (!seen[r]) {
        seen[r] = true;
        token_ranks[r].push_back(static_cast<int32_t>(t));
      }
    }
  }
  int64_t rows = 0;
  for (int r = 0; r < world_size; ++r) {
    plan.send_counts[r] = static_cast<int64_t>(token_ranks[r].size());
    rows += plan.send_counts[r];
  }
  const int64_t width = h + 2 * k;
  SY_ASSIGN_OR_RETURN(plan.rows, Tensor::Empty({rows, width}, DType::kF32));
  float* out = plan.rows.data<float>();
  for (int r = 0; r < world_size; ++r) {
    for (int32_t t : token_ranks[r]) {
      std::memcpy(out, hidden.data<float>() + t * h, h * sizeof(float));
      for (int j = 0; j < k; ++j) {
        const bool here = rank_of_pair[t * k + j] == r;
        out[h + j] = IntBits(here ? slots[t * k + j] % spr : -1);
        out[h + k + j] = here ? weights[t * k + j] : 0.0f;
      }
      plan.row_token.push_back(t);
      out += width;
    }
  }
  return plan;
}

absl::StatusOr<ReceivedTokens> UnpackDispatch(const Tensor& rows, int64_t hidden_size, int k) {
  const int64_t n = rows.dim(0), width = rows.dim(1);
  if (width != hidden_size + 2 * k) {
    return absl::InternalError(
        absl::StrCat("dispatched rows are ", width, " wide, expected ", hidden_size + 2 * k));
  }
  ReceivedTokens in;
  SY_ASSIGN_OR_RETURN(in.hidden, Tensor::Empty({n, hidden_size}, DType::kF32));
  SY_ASSIGN_OR_RETURN(in.routing.expert_ids, Tensor::Empty({n, k}, DType::kI32));
  SY_ASSIGN_OR_RETURN(in.routing.expert_weights, Tensor::Empty({n, k}, DType::kF32));
  const float* src = rows.data<float>();
  for (int64_t i = 0; i < n; ++i, src += width) {
    std::memcpy(in.hidden.data<float>() + i * hidden_size, src, hidden_size * sizeof(float));
    for (int j = 0; j < k; ++j) {
      in.routing.expert_ids.data<int32_t>()[i * k + j] = BitsInt(src[hidden_size + j]);
      in.routing.expert_weights.data<float>()[i * k + j] = src[hidden_size + k + j];
    }
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
  SY_ASSIGN_OR_RETURN(DispatchPlan plan,
                      PlanDispatch(hidden, routing, slots, *ep.placement, world));
  SY_ASSIGN_OR_RETURN(std::vector<int64_t> recv_counts,
                      ExchangeCounts(ctx, comm, plan.send_counts));

  SY_ASSIGN_OR_RETURN(Tensor received, Tensor::Empty({Sum(recv_counts), h + 2 * k}, DType::kF32));
  SY_RETURN_IF_ERROR(comm.AllToAll(ctx, plan.rows, plan.send_counts, received, recv_counts));
  SY_ASSIGN_OR_RETURN(ReceivedTokens in, UnpackDispatch(received, h, k));
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
