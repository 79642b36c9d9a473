// Records routing decisions to a trace file (schemas/switchyard/routing_trace.capnp) that
// router.replay plays back, so two pipelines can be compared on identical routing.
#ifndef SWITCHYARD_CORE_MOE_ROUTING_TRACE_H_
#define SWITCHYARD_CORE_MOE_ROUTING_TRACE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/plugin_host/router.h"

namespace sy {

struct TraceInfo {
  std::string model;  // shown when a replay does not match
  int num_experts = 0;
  int top_k = 0;
};

class TraceWriter {
 public:
  // Creates (or truncates) `path` and writes the header.
  static absl::StatusOr<std::unique_ptr<TraceWriter>> Create(const std::string& path,
                                                             const TraceInfo& info);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Appends one layer's routing of one step; its shape must match the header.
  absl::Status Append(int layer, const RouterOutput& routing);
  // Flushes and closes; further appends fail. Also done by the destructor.
  absl::Status Close();

  const std::string& path() const { return path_; }
  const TraceInfo& info() const { return info_; }
  int64_t records() const { return records_; }

 private:
  TraceWriter(std::string path, TraceInfo info, int fd)
      : path_(std::move(path)), info_(std::move(info)), fd_(fd) {}

  std::string path_;
  TraceInfo info_;
  int fd_;
  int64_t records_ = 0;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MOE_ROUTING_TRACE_H_
