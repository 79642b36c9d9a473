// router.replay: plays back the routing decisions a trace recorded, one record per call, so a
// pipeline can run again on exactly the same routing (A/B tests of quantizers, kernels, ...).
// The trace is read whole at create(); a truncated or corrupt file, or one recorded for a
// different expert count or k, is an error naming the file.
#include <capnp/serialize.h>
#include <fcntl.h>
#include <kj/io.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string>

#include "replay.capnp.h"
#include "switchyard/plugin.hpp"
#include "switchyard/routing_trace.capnp.h"

namespace sy::plugins {
namespace {

struct Record {
  int64_t tokens;
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

class ReplayRouter : public Router {
 public:
  using Config = ReplayConfig;

  explicit ReplayRouter(Config::Reader config) : path_(config.getPath().cStr()), layer_(config.getLayer()) {
    if (path_.empty()) throw std::invalid_argument("router.replay needs a trace path");
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::invalid_argument(path_ + ": cannot open the trace: " + std::strerror(errno));
    try {
      Read(fd);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
  }

  int32_t top_k() const override { return top_k_; }

  void Route(const ExecContext&, const sy_router_args& args) override {
    const TensorView logits(*args.logits);
    if (logits.dim(1) != experts_) {
      throw std::invalid_argument(path_ + ": recorded for " + std::to_string(experts_) + " experts (model '" + model_ +
                                  "'), but the layer has " + std::to_string(logits.dim(1)));
    }
    if (pending_.empty()) {
      throw PluginError(SY_OUT_OF_RANGE, path_ + ": no more records for layer " + std::to_string(layer_) + " (replayed " +
                                             std::to_string(replayed_) + ")");
    }
    const Record& r = pending_.front();
    if (r.tokens != logits.dim(0)) {
      throw std::invalid_argument(path_ + ": record " + std::to_string(replayed_) + " of layer " + std::to_string(layer_) +
                                  " has " + std::to_string(r.tokens) + " tokens, this call " + std::to_string(logits.dim(0)));
    }
    TensorView(*args.expert_ids).RequireCpuContiguous("expert_ids", 2, DType::kI32);
    TensorView(*args.expert_weights).RequireCpuContiguous("expert_weights", 2, DType::kF32);
    std::memcpy(args.expert_ids->data, r.ids.data(), r.ids.size() * sizeof(int32_t));
    std::memcpy(args.expert_weights->data, r.weights.data(), r.weights.size() * sizeof(float));
    pending_.pop_front();
    ++replayed_;
  }

 private:
  void Read(int fd) {
    kj::FdInputStream raw(fd);
    kj::BufferedInputStreamWrapper input(raw);
    int64_t records = 0;
    try {
      {
        capnp::InputStreamMessageReader message(input);
        auto header = message.getRoot<schema::TraceHeader>();
        if (header.getFormatVersion() != 1) {
          throw std::invalid_argument(path_ + ": trace format " + std::to_string(header.getFormatVersion()) + " is not supported (1 is)");
        }
        model_ = header.getModel().cStr();
        experts_ = header.getNumExperts();
        top_k_ = static_cast<int32_t>(header.getTopK());
      }
      while (input.tryGetReadBuffer().size() > 0) {
        capnp::InputStreamMessageReader message(input);
        Keep(message.getRoot<schema::TraceRecord>(), records++);
      }
    } catch (const kj::Exception& e) {
      throw std::invalid_argument(path_ + ": truncated or corrupt trace after " + std::to_string(records) + " records (" +
                                  e.getDescription().cStr() + ")");
    }
    if (top_k_ < 1 || experts_ < 1) throw std::invalid_argument(path_ + ": the trace header has no experts or k");
  }

  void Keep(schema::TraceRecord::Reader record, int64_t index) {
    const size_t slots = static_cast<size_t>(record.getTokens()) * static_cast<size_t>(top_k_);
    if (record.getExpertIds().size() != slots || record.getExpertWeights().size() != slots) {
      throw std::invalid_argument(path_ + ": record " + std::to_string(index) + " does not hold tokens x k entries");
    }
    if (record.getLayer() != layer_) return;
    Record r{record.getTokens(), {}, {}};
    for (int32_t id : record.getExpertIds()) {
      if (id < -1 || id >= experts_) throw std::invalid_argument(path_ + ": record " + std::to_string(index) + " has expert id " + std::to_string(id));
      r.ids.push_back(id);
    }
    for (float w : record.getExpertWeights()) r.weights.push_back(w);
    pending_.push_back(std::move(r));
  }

  std::string path_;
  uint32_t layer_;
  std::string model_;
  int64_t experts_ = 0;
  int32_t top_k_ = 0;
  std::deque<Record> pending_;
  int64_t replayed_ = 0;
};

}  // namespace
}  // namespace sy::plugins

SY_EXPORT_PLUGIN("builtin.replay", "0.1.0",
                 sy::RouterComponent<sy::plugins::ReplayRouter>("replay", "plays back a recorded routing trace"))
