// The per-expert load of a routing trace (core/moe/routing_trace.h writes them): how many
// routing slots each expert of each MoE layer received over the whole trace, as the load a
// placement (EPLB) would have balanced.
#ifndef SWITCHYARD_CORE_MOE_TRACE_LOAD_H_
#define SWITCHYARD_CORE_MOE_TRACE_LOAD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/moe/routing_trace.h"

namespace sy {

struct TraceLoad {
  TraceInfo info;
  int64_t records = 0;
  std::vector<std::vector<double>> per_layer;  // [layer][expert]; dropped slots (-1) not counted
};

// Errors name the file: missing, another format version, truncated, ids out of range.
absl::StatusOr<TraceLoad> ReadTraceLoad(const std::string& path);

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_TRACE_LOAD_H_
