// The device side of comm.nvlink: one kernel that moves a rank's blocks straight into its
// peers' memory (CUDA IPC mappings) and tells them when the bytes have landed, and the sum of
// gathered all-reduce slots.
//
// Protocol, per step `seq` (the same on every rank, growing by one per step):
//   1. every receiver publishes, in each sender's control block, where that sender's bytes go
//      in its workspace (dest), then raises ready = seq (release, system scope): a sender
//      never writes before the receiver has finished reading the previous step's bytes;
//   2. the sender's blocks split into one group per peer with bytes (sized by its bytes, at
//      least one block each; with fewer blocks than such peers, every block serves every peer
//      in turn), so the copies to all peers and to the sender's own memory run at once; a
//      group waits for its peer's ready >= seq, then copies its share of the bytes into the
//      peer's workspace (16-byte stores when aligned);
//   3. every block fences (system scope) and counts itself done; the last block raises
//      done = seq in every peer's control block and waits for every peer's done >= seq, so
//      when the kernel ends all bytes for this rank have arrived.
// A wait that passes timeout_ns writes peer + 1 to *error (host-mapped) and gives up.
#ifndef SWITCHYARD_PLUGINS_COMM_NVLINK_ONE_SIDED_H_
#define SWITCHYARD_PLUGINS_COMM_NVLINK_ONE_SIDED_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace sy::plugins::nvlink {

constexpr int kMaxRanks = 8;  // one host's NVLink domain

// The start of every rank's workspace; peers write ready/dest/done at their own rank's index.
struct Control {
  unsigned long long ready[kMaxRanks];
  unsigned long long dest[kMaxRanks];  // byte offset into the owner's workspace
  unsigned long long done[kMaxRanks];
  unsigned int arrived;  // blocks of the running kernel that finished copying
};

struct ExchangeParams {
  int rank = 0;
  int world = 1;
  unsigned long long seq = 0;
  unsigned long long timeout_ns = 0;
  Control* control[kMaxRanks] = {};  // every rank's control block (mine at [rank])
  char* workspace[kMaxRanks] = {};   // every rank's workspace base, mapped here
  const char* send = nullptr;
  unsigned long long send_offset[kMaxRanks] = {};
  unsigned long long send_bytes[kMaxRanks] = {};
  unsigned long long my_dest[kMaxRanks] = {};  // where rank q's bytes go in my workspace
  int* error = nullptr;                        // host-mapped; peer + 1 on a timeout
};

// Launches the exchange on `stream` with `blocks` blocks; returns the launch error.
cudaError_t LaunchExchange(const ExchangeParams& params, int blocks, cudaStream_t stream);

// out[i] = sum over r < world of slots[r * slot_elements + i], in rank order, for f32
// (is_f32) or i64 elements.
cudaError_t LaunchSumSlots(const void* slots, int world, size_t slot_elements, size_t elements,
                           bool is_f32, void* out, cudaStream_t stream);

}  // namespace sy::plugins::nvlink

#endif  // SWITCHYARD_PLUGINS_COMM_NVLINK_ONE_SIDED_H_
