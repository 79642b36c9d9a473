#include "core/moe/trace_load.h"

#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <kj/io.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "switchyard/routing_trace.capnp.h"

namespace sy {
namespace {

// A corrupt record must not make the reader allocate without bound.
constexpr uint32_t kMaxLayers = 4096;

absl::Status AddRecord(schema::TraceRecord::Reader record, TraceLoad& load) {
  const int64_t experts = load.info.num_experts;
  const uint32_t layer = record.getLayer();
  if (layer >= kMaxLayers) {
    return absl::InvalidArgumentError(absl::StrCat("layer ", layer, " (at most ", kMaxLayers, ")"));
  }
  if (load.per_layer.size() <= layer)
    load.per_layer.resize(layer + 1, std::vector<double>(experts));
  for (int32_t id : record.getExpertIds()) {
    if (id >= experts) {
      return absl::InvalidArgumentError(
          absl::StrCat("expert id ", id, " of layer ", layer, "; the header has ", experts));
    }
    if (id >= 0) ++load.per_layer[layer][id];
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TraceLoad> ReadTraceLoad(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  kj::AutoCloseFd owned(fd);
  kj::FdInputStream raw(fd);
  kj::BufferedInputStreamWrapper input(raw);
  TraceLoad load;
  try {
    {
      capnp::InputStreamMessageReader message(input);
      auto header = message.getRoot<schema::TraceHeader>();
      if (header.getFormatVersion() != 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": trace format ", header.getFormatVersion(), " is not supported (1 is)"));
      }
      load.info = {header.getModel().cStr(), static_cast<int>(header.getNumExperts()),
                   static_cast<int>(header.getTopK())};
    }
    if (load.info.num_experts < 1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": the trace header has no experts"));
    }
    while (input.tryGetReadBuffer().size() > 0) {
      capnp::InputStreamMessageReader message(input);
      const absl::Status added = AddRecord(message.getRoot<schema::TraceRecord>(), load);
      if (!added.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": record ", load.records, ": ", added.message()));
      }
      ++load.records;
    }
  } catch (const kj::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": truncated or corrupt trace after ",
                                                   load.records, " records (",
                                                   e.getDescription().cStr(), ")"));
  }
  return load;
}

}  // namespace sy
