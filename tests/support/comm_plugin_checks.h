// Checks a connected comm component through its C vtable, for the comm plugins' unit tests:
// an all-to-all whose row values name sender, receiver and index (uneven and zero counts),
// and an all-reduce, on host or device tensors.
#ifndef SWITCHYARD_TESTS_SUPPORT_COMM_PLUGIN_CHECKS_H_
#define SWITCHYARD_TESTS_SUPPORT_COMM_PLUGIN_CHECKS_H_

#include <gtest/gtest.h>

#include <numeric>
#include <string>
#include <vector>

#include "core/plugin_host/component.h"
#include "core/plugin_host/host_api.h"
#include "switchyard/plugin_abi.h"

namespace sy::testing_support {

inline const sy_comm_vtable* CommVtable(const Component& c) {
  return static_cast<const sy_comm_vtable*>(c.vtable());
}

// "" on success, else "<code>: <message>" (the error is freed).
inline std::string ErrorText(sy_error* error) {
  if (error == nullptr) return "";
  const sy_host* host = HostApi();
  std::string text = std::to_string(host->error_code(error)) + ": " + host->error_message(error);
  host->error_free(error);
  return text;
}

inline sy_tensor F32Rows(float* data, int64_t rows, int64_t cols, sy_device device) {
  sy_tensor t{};
  t.data = data;
  t.dtype = SY_DTYPE_F32;
  t.device = device;
  t.ndim = 2;
  t.shape[0] = rows;
  t.shape[1] = cols;
  t.strides[0] = cols;
  t.strides[1] = 1;
  return t;
}

// Rank `me` of `world` sends (me + p) % 3 + extra rows of `cols` floats to rank p.
struct PatternExchange {
  int me, world, cols, extra;
  std::vector<int64_t> send_counts, recv_counts;
  std::vector<float> send, expected;

  PatternExchange(int me_, int world_, int cols_, int extra_ = 0)
      : me(me_), world(world_), cols(cols_), extra(extra_) {
    for (int p = 0; p < world; ++p) {
      send_counts.push_back((me + p) % 3 + extra);
      recv_counts.push_back((p + me) % 3 + extra);
    }
    for (int p = 0; p < world; ++p)
      for (int64_t i = 0; i < send_counts[p]; ++i)
        for (int c = 0; c < cols; ++c) send.push_back(Value(me, p, i, c));
    for (int p = 0; p < world; ++p)
      for (int64_t i = 0; i < recv_counts[p]; ++i)
        for (int c = 0; c < cols; ++c) expected.push_back(Value(p, me, i, c));
  }
  static float Value(int from, int to, int64_t i, int c) {
    return static_cast<float>(from * 100000 + to * 10000 + (i * 7 + c) % 10000);
  }
  int64_t send_rows() const { return static_cast<int64_t>(send.size()) / cols; }
  int64_t recv_rows() const { return static_cast<int64_t>(expected.size()) / cols; }
};

// Runs the pattern through `comm` with tensors at send_data/recv_data on `device` (host
// memory for the CPU); the caller copies and compares for device tensors.
inline std::string RunPattern(Component& comm, const sy_exec_context* ctx, const PatternExchange& x,
                              float* send_data, float* recv_data, sy_device device) {
  sy_tensor s = F32Rows(send_data, x.send_rows(), x.cols, device);
  sy_tensor r = F32Rows(recv_data, x.recv_rows(), x.cols, device);
  const sy_comm_all_to_all_args args{
      sizeof(args), &s, x.send_counts.data(), nullptr, &r, x.recv_counts.data(), nullptr};
  return ErrorText(CommVtable(comm)->all_to_all(comm.instance(), ctx, &args));
}

}  // namespace sy::testing_support

#endif  // SWITCHYARD_TESTS_SUPPORT_COMM_PLUGIN_CHECKS_H_
