#include "core/moe/routing_trace.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/exception.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "switchyard/routing_trace.capnp.h"

namespace sy {
namespace {

absl::Status WriteMessage(int fd, capnp::MessageBuilder& message, const std::string& path) {
  try {
    capnp::writeMessageToFd(fd, message);
  } catch (const kj::Exception& e) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot write the trace: ", e.getDescription().cStr()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TraceWriter>> TraceWriter::Create(const std::string& path,
                                                                 const TraceInfo& info) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot create the trace: ", std::strerror(errno)));
  std::unique_ptr<TraceWriter> writer(new TraceWriter(path, info, fd));
  capnp::MallocMessageBuilder message;
  auto header = message.initRoot<schema::TraceHeader>();
  header.setFormatVersion(1);
  header.setModel(info.model);
  header.setNumExperts(static_cast<uint32_t>(info.num_experts));
  header.setTopK(static_cast<uint32_t>(info.top_k));
  if (auto s = WriteMessage(fd, message, path); !s.ok()) return s;
  return writer;
}

TraceWriter::~TraceWriter() { Close().IgnoreError(); }

absl::Status TraceWriter::Append(int layer, const RouterOutput& routing) {
  if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": the trace is closed"));
  const Tensor& ids = routing.expert_ids;
  if (ids.dim(1) != info_.top_k) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": routing has top-", ids.dim(1),
                                                   ", the trace records top-", info_.top_k));
  }
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::TraceRecord>();
  record.setLayer(static_cast<uint32_t>(layer));
  record.setTokens(static_cast<uint32_t>(ids.dim(0)));
  const auto n = static_cast<unsigned>(ids.numel());
  auto out_ids = record.initExpertIds(n);
  auto out_weights = record.initExpertWeights(n);
  for (unsigned i = 0; i < n; ++i) {
    out_ids.set(i, ids.data<int32_t>()[i]);
    out_weights.set(i, routing.expert_weights.data<float>()[i]);
  }
  if (auto s = WriteMessage(fd_, message, path_); !s.ok()) return s;
  ++records_;
  return absl::OkStatus();
}

absl::Status TraceWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  const int result = ::close(fd_);
  fd_ = -1;
  if (result != 0)
    return absl::UnavailableError(
        absl::StrCat(path_, ": closing the trace: ", std::strerror(errno)));
  return absl::OkStatus();
}

}  // namespace sy
