// Helpers for communication plugins, header-only and part of the SDK so in-tree and vendor
// backends read the all-to-all arguments (plugin_abi.h's sy_comm_all_to_all_args) and reduce
// in one way:
//
//   AllToAllLayoutOf  checks an all_to_all call and turns its row counts and displacements
//                     into byte ranges per rank (NULL displacements: packed in rank order);
//   SumInto           adds one rank's contribution to an all_reduce_sum buffer (f32, i64);
//   TopologyFromEnv   the world and local world sizes a score() can see before any group
//                     exists, from the launcher's environment.
//
// Invalid arguments throw std::invalid_argument, which the C++ SDK reports as
// SY_INVALID_ARGUMENT.
#ifndef SWITCHYARD_COMM_SUPPORT_HPP_
#define SWITCHYARD_COMM_SUPPORT_HPP_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "switchyard/plugin_abi.h"
#include "switchyard/tensor_view.hpp"

namespace sy {

// One all_to_all call in bytes: what goes to and comes from each rank.
struct AllToAllLayout {
  size_t row_bytes = 0;
  std::vector<size_t> send_offset, send_bytes;  // [world] into send's data
  std::vector<size_t> recv_offset, recv_bytes;  // [world] into recv's data
  size_t send_extent = 0;                       // bytes of send the call reads, from its start
  size_t recv_extent = 0;                       // bytes of recv the call writes, from its start
};

namespace comm_internal {

inline void CheckRows(const sy_tensor& t, const char* what) {
  const TensorView v(t);
  if (t.data == nullptr && v.numel() > 0)
    throw std::invalid_argument(std::string(what) + " has no data");
  if (v.ndim() < 1 || !v.is_contiguous() || DTypeBits(v.dtype()) == 0) {
    throw std::invalid_argument(std::string(what) +
                                ": expected a contiguous tensor of rank >= 1, got " + v.Describe());
  }
}

inline size_t RowBytes(const sy_tensor& t) {
  int64_t elements = 1;
  for (int i = 1; i < t.ndim; ++i) elements *= t.shape[i];
  return static_cast<size_t>(DTypeBytes(static_cast<DType>(t.dtype), elements));
}

// Fills offsets and sizes of one side; returns the extent.
inline size_t Side(const int64_t* counts, const int64_t* displs, int world, int64_t rows,
                   size_t row_bytes, const char* what, std::vector<size_t>& offset,
                   std::vector<size_t>& bytes) {
  if (counts == nullptr) throw std::invalid_argument(std::string(what) + " counts are missing");
  offset.assign(world, 0);
  bytes.assign(world, 0);
  int64_t packed = 0, extent = 0;
  for (int p = 0; p < world; ++p) {
    const int64_t count = counts[p];
    const int64_t start = displs != nullptr ? displs[p] : packed;
    if (count < 0 || start < 0 || start + count > rows) {
      throw std::invalid_argument(std::string(what) + " rows for rank " + std::to_string(p) +
                                  " ([" + std::to_string(start) + ", " +
                                  std::to_string(start + count) + ")) fall outside its " +
                                  std::to_string(rows) + " rows");
    }
    packed += count;
    extent = std::max(extent, start + count);
    offset[p] = static_cast<size_t>(start) * row_bytes;
    bytes[p] = static_cast<size_t>(count) * row_bytes;
  }
  return static_cast<size_t>(extent) * row_bytes;
}

}  // namespace comm_internal

inline AllToAllLayout AllToAllLayoutOf(const sy_comm_all_to_all_args& args, int world_size) {
  if (args.send == nullptr || args.recv == nullptr)
    throw std::invalid_argument("all_to_all needs send and recv");
  comm_internal::CheckRows(*args.send, "all_to_all send");
  comm_internal::CheckRows(*args.recv, "all_to_all recv");
  AllToAllLayout layout;
  layout.row_bytes = comm_internal::RowBytes(*args.send);
  if (args.send->dtype != args.recv->dtype ||
      comm_internal::RowBytes(*args.recv) != layout.row_bytes) {
    throw std::invalid_argument("all_to_all send " + TensorView(*args.send).Describe() +
                                " and recv " + TensorView(*args.recv).Describe() +
                                " have different rows");
  }
  layout.send_extent =
      comm_internal::Side(args.send_counts, args.send_displs, world_size, args.send->shape[0],
                          layout.row_bytes, "send", layout.send_offset, layout.send_bytes);
  layout.recv_extent =
      comm_internal::Side(args.recv_counts, args.recv_displs, world_size, args.recv->shape[0],
                          layout.row_bytes, "recv", layout.recv_offset, layout.recv_bytes);
  return layout;
}

// Bytes of an all_reduce_sum buffer after checking it: contiguous f32 or i64 (the dtypes the
// ABI has of those it names).
inline size_t AllReduceBytes(const sy_tensor& data) {
  const TensorView v(data);
  if (!v.is_contiguous() || (v.dtype() != DType::kF32 && v.dtype() != DType::kI64)) {
    throw std::invalid_argument("all_reduce_sum takes a contiguous f32 or i64 tensor, got " +
                                v.Describe());
  }
  return static_cast<size_t>(DTypeBytes(v.dtype(), v.numel()));
}

// acc[i] += in[i] over `bytes` bytes of elements of `dtype` (f32 or i64).
inline void SumInto(int32_t dtype, void* acc, const void* in, size_t bytes) {
  if (dtype == SY_DTYPE_F32) {
    auto* a = static_cast<float*>(acc);
    const auto* b = static_cast<const float*>(in);
    for (size_t i = 0; i < bytes / sizeof(float); ++i) a[i] += b[i];
  } else {
    auto* a = static_cast<int64_t*>(acc);
    const auto* b = static_cast<const int64_t*>(in);
    for (size_t i = 0; i < bytes / sizeof(int64_t); ++i) a[i] += b[i];
  }
}

// What a score() can know of the group before connect: the launcher's environment
// (WORLD_SIZE / LOCAL_WORLD_SIZE as torchrun and `switchyard launch` set them; OMPI and Slurm
// equivalents), 1 when unset.
struct EnvTopology {
  int world_size = 1;
  int local_world_size = 1;
  bool multi_node() const { return world_size > local_world_size; }
};

inline EnvTopology TopologyFromEnv() {
  auto first = [](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      const char* v = std::getenv(n);
      if (v != nullptr && *v != '\0') return std::max(1, std::atoi(v));
    }
    return 0;
  };
  EnvTopology t;
  t.world_size =
      std::max(1, first({"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}));
  const int local = first({"LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                           "SLURM_NTASKS_PER_NODE"});
  t.local_world_size = local > 0 ? std::min(local, t.world_size) : t.world_size;
  return t;
}

}  // namespace sy

#endif  // SWITCHYARD_COMM_SUPPORT_HPP_
