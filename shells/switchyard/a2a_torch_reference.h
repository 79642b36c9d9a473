// torch.distributed's all_to_all_single (NCCL) on the exchange `bench a2a` times, run by rank 0
// as scripts/reference/torch_a2a_reference.py under torch.distributed.run, one process per GPU.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_A2A_TORCH_REFERENCE_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_A2A_TORCH_REFERENCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sy::cli {

// One exchange: every rank's dispatch counts ([rank][peer] rows) and the row sizes.
struct A2aCase {
  std::string dtype;  // of the dispatch payload: bf16 or fp8
  int64_t tokens = 0;
  int64_t dispatch_row_bytes = 0;
  int64_t combine_row_bytes = 0;
  std::vector<std::vector<int64_t>> counts;
};

// What torch measured for one case: medians over iterations, the max over ranks.
struct A2aTorchRow {
  std::string dtype;
  int64_t tokens = 0;
  double dispatch_us = 0;
  double combine_us = 0;
};

// Whether python3 imports torch with torch.distributed and sees at least `gpus` GPUs.
bool TorchA2aAvailable(int gpus);
// Runs the reference on `world` GPUs of this host over `cases`. Fails with the script's own
// output when it did not finish.
absl::StatusOr<std::vector<A2aTorchRow>> RunTorchA2a(int world, const std::vector<A2aCase>& cases,
                                                     int warmup, int iters);

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_A2A_TORCH_REFERENCE_H_
