// The C++ SDK for writing Switchyard plugins.
//
// A plugin author writes an ordinary class per component and exports the library with one
// macro; this header builds the C descriptors of plugin_abi.h and turns every exception into
// an sy_error, so nothing C++ crosses the boundary.
//
//   class MyRouter : public sy::Router {
//    public:
//     using Config = myplugin::MyRouterConfig;      // a Cap'n Proto struct
//     explicit MyRouter(Config::Reader config);      // may throw: create() reports it
//     static int32_t Score(const sy_host* host);     // optional; default 1
//     int32_t top_k() const override;
//     void Route(const sy::ExecContext& ctx, const sy_router_args& args) override;
//   };
//   SY_EXPORT_PLUGIN("my_plugin", "1.0.0", sy::RouterComponent<MyRouter>("mine", "What it does"))
//
// Exceptions map to status codes: sy::PluginError carries its own, std::invalid_argument and
// kj::Exception (a malformed config message) are SY_INVALID_ARGUMENT, anything else
// SY_INTERNAL.
#ifndef SWITCHYARD_PLUGIN_HPP_
#define SWITCHYARD_PLUGIN_HPP_

#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "switchyard/plugin_abi.h"
#include "switchyard/tensor_view.hpp"

namespace sy {

// An error with an explicit status code.
class PluginError : public std::runtime_error {
 public:
  PluginError(sy_status_code code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  sy_status_code code() const { return code_; }

 private:
  sy_status_code code_;
};

// The host this library was initialised with; valid once sy_plugin_init has run.
inline const sy_host*& HostSlot() {
  static const sy_host* host = nullptr;
  return host;
}
inline const sy_host* Host() { return HostSlot(); }

inline void Log(sy_log_level level, const char* source, const std::string& message) {
  if (Host() != nullptr) Host()->log(level, source, message.c_str());
}

// Runs `body`, converting any exception into an sy_error owned by the caller.
template <typename Body>
sy_error* GuardCall(Body&& body) noexcept {
  auto fail = [](sy_status_code code, const char* message) noexcept -> sy_error* {
    if (Host() == nullptr) {  // called before sy_plugin_init: a programming error, not a result
      std::fprintf(stderr, "switchyard plugin: error before sy_plugin_init: %s\n", message);
      std::abort();
    }
    return Host()->error_create(code, message);
  };
  try {
    body();
    return nullptr;
  } catch (const PluginError& e) {
    return fail(e.code(), e.what());
  } catch (const std::invalid_argument& e) {
    return fail(SY_INVALID_ARGUMENT, e.what());
  } catch (const kj::Exception& e) {
    return fail(SY_INVALID_ARGUMENT, e.getDescription().cStr());
  } catch (const std::exception& e) {
    return fail(SY_INTERNAL, e.what());
  } catch (...) {
    return fail(SY_INTERNAL, "unknown exception");
  }
}

// Where and how a call runs.
class ExecContext {
 public:
  explicit ExecContext(const sy_exec_context& ctx) : ctx_(&ctx) {}
  sy_device device() const { return ctx_->device; }
  void* stream() const { return ctx_->stream; }
  int32_t num_threads() const { return ctx_->num_threads > 0 ? ctx_->num_threads : 1; }
  // The C context, to hand on to another component called within this call.
  const sy_exec_context* c_context() const { return ctx_; }
  // Scratch memory that lives until the call returns. Throws when exhausted.
  void* Allocate(size_t bytes, size_t alignment = 64) const {
    void* p = ctx_->workspace->allocate(ctx_->workspace->self, bytes, alignment);
    if (p == nullptr) throw PluginError(SY_RESOURCE_EXHAUSTED, "workspace allocation failed");
    return p;
  }

 private:
  const sy_exec_context* ctx_;
};

// ---- Component interfaces ----------------------------------------------------------------

class Router {
 public:
  virtual ~Router() = default;
  virtual int32_t top_k() const = 0;
  virtual void Route(const ExecContext& ctx, const sy_router_args& args) = 0;
};

class Quantizer {
 public:
  virtual ~Quantizer() = default;
  // Layouts may throw std::invalid_argument for shapes they cannot quantize.
  virtual sy_qlayout WeightLayout(int64_t rows, int64_t cols) const = 0;
  virtual void QuantizeWeight(const ExecContext& ctx, const sy_tensor& weight, sy_qtensor& out) = 0;
  virtual sy_qlayout ActivationLayout(int64_t rows, int64_t cols) const = 0;
  virtual void QuantizeActivation(const ExecContext& ctx, const sy_tensor& x, sy_qtensor& out) = 0;
};

class Experts {
 public:
  virtual ~Experts() = default;
  virtual bool Supports(const sy_qlayout& layout) const = 0;
  virtual void Forward(const ExecContext& ctx, const sy_experts_args& args) = 0;
  // Whether Forward computes `activation` (sy_expert_activation) and adds the expert biases;
  // override to take more than SiLU without biases.
  virtual bool SupportsActivation(int32_t activation) const {
    return activation == SY_ACTIVATION_SILU;
  }
  // Prefetch hints (plugin_abi.h, 1.4): override both to act on the host's routing predictions.
  virtual bool WantsPrefetch() const { return false; }
  virtual void Prefetch(const ExecContext& /*ctx*/, const sy_expert_weights& /*weights*/,
                        const sy_tensor& /*expert_ids*/) {}
};

// A batch scheduler (plugin_abi.h explains the decision's rules). Write entries with
// out.scheduled[out.num_scheduled++] and out.preempted[out.num_preempted++].
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void Schedule(const sy_sched_state& state, sy_sched_decision& out) = 0;
};

// A placement scheduler (plugin_abi.h explains the state and the rules): write out.slots and
// set out.changed = 1 to move experts.
class PlacementScheduler {
 public:
  virtual ~PlacementScheduler() = default;
  virtual void Place(const sy_placement_state& state, sy_placement_decision& out) = 0;
};

// A communication backend (plugin_abi.h: every function collective, stream-ordered on CUDA).
// Throw PluginError(SY_UNAVAILABLE, ...) naming the peer when one fails or times out.
class Comm {
 public:
  virtual ~Comm() = default;
  virtual void Connect(const ExecContext& ctx, const sy_comm_group& group) = 0;
  virtual void AllToAll(const ExecContext& ctx, const sy_comm_all_to_all_args& args) = 0;
  virtual void AllReduceSum(const ExecContext& ctx, sy_tensor& data) = 0;
  // Memory peers write into directly (see plugin_abi.h), or nullptr when the backend has none.
  virtual void* RegisteredBuffer(const ExecContext& ctx, size_t bytes) {
    (void)ctx;
    (void)bytes;
    return nullptr;
  }
  // Memory every rank's kernels reach (see plugin_abi.h): fills peers[world_size] and returns
  // its size, or 0 when the backend has none.
  virtual size_t PeerMemory(const ExecContext& ctx, void** peers) {
    (void)ctx;
    (void)peers;
    return 0;
  }
};

// ---- Config schemas ----------------------------------------------------------------------

namespace internal {

inline void CollectSchemaNodes(capnp::Schema schema, std::set<uint64_t>& seen,
                               std::vector<kj::Array<capnp::word>>& out);

inline void CollectTypeNodes(capnp::Type type, std::set<uint64_t>& seen,
                             std::vector<kj::Array<capnp::word>>& out) {
  if (type.isStruct()) CollectSchemaNodes(type.asStruct(), seen, out);
  if (type.isEnum()) CollectSchemaNodes(type.asEnum(), seen, out);
  if (type.isList()) CollectTypeNodes(type.asList().getElementType(), seen, out);
}

inline void CollectSchemaNodes(capnp::Schema schema, std::set<uint64_t>& seen,
                               std::vector<kj::Array<capnp::word>>& out) {
  if (!seen.insert(schema.getProto().getId()).second) return;
  capnp::MallocMessageBuilder message;
  message.setRoot(schema.getProto());
  out.push_back(capnp::messageToFlatArray(message));
  if (schema.getProto().isStruct()) {
    for (auto field : schema.asStruct().getFields()) CollectTypeNodes(field.getType(), seen, out);
  }
}

// The config schema of Config, with every node it needs, serialized once per library. The
// storage is static and freed when the library is unloaded.
template <typename Config>
sy_config_schema ConfigSchemaOf() {
  static const std::vector<kj::Array<capnp::word>> storage = [] {
    std::vector<kj::Array<capnp::word>> words;
    std::set<uint64_t> seen;
    CollectSchemaNodes(capnp::Schema::from<Config>(), seen, words);
    return words;
  }();
  static const std::vector<sy_schema_node> nodes = [] {
    std::vector<sy_schema_node> list;
    for (const auto& w : storage)
      list.push_back({reinterpret_cast<const uint64_t*>(w.begin()), w.size()});
    return list;
  }();
  return {capnp::typeId<Config>(), nodes.data(), nodes.size()};
}

template <typename Impl>
int32_t ScoreOf(const sy_host* host) noexcept {
  if constexpr (requires { Impl::Score(host); }) {
    try {
      return Impl::Score(host);
    } catch (...) {
      return 0;
    }
  } else {
    (void)host;
    return 1;
  }
}

// Creates Impl from a config message and hands it out as a pointer to its interface Base.
template <typename Impl, typename Base>
sy_error* CreateInstance(const sy_host*, const sy_message* config, void** out) noexcept {
  return GuardCall([&] {
    std::vector<kj::ArrayPtr<const capnp::word>> segments;
    for (size_t i = 0; i < config->segment_count; ++i) {
      segments.emplace_back(reinterpret_cast<const capnp::word*>(config->segments[i]),
                            config->segment_words[i]);
    }
    capnp::SegmentArrayMessageReader reader(
        kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>>(segments.data(), segments.size()));
    Base* instance = new Impl(reader.getRoot<typename Impl::Config>());
    *out = instance;
  });
}

template <typename Base>
void DestroyInstance(void* instance) noexcept {
  delete static_cast<Base*>(instance);
}

inline const sy_router_vtable* RouterVtable() {
  static const sy_router_vtable vtable = {
      sizeof(sy_router_vtable),
      [](const void* self) noexcept -> int32_t {
        try {
          return static_cast<const Router*>(self)->top_k();
        } catch (...) {
          return 0;  // the host refuses k = 0 with an error naming the component
        }
      },
      [](void* self, const sy_exec_context* ctx, const sy_router_args* args) noexcept {
        return GuardCall([&] { static_cast<Router*>(self)->Route(ExecContext(*ctx), *args); });
      },
  };
  return &vtable;
}

inline const sy_quantizer_vtable* QuantizerVtable() {
  static const sy_quantizer_vtable vtable = {
      sizeof(sy_quantizer_vtable),
      [](const void* self, int64_t rows, int64_t cols, sy_qlayout* out) noexcept {
        return GuardCall(
            [&] { *out = static_cast<const Quantizer*>(self)->WeightLayout(rows, cols); });
      },
      [](void* self, const sy_exec_context* ctx, const sy_tensor* weight,
         sy_qtensor* out) noexcept {
        return GuardCall([&] {
          static_cast<Quantizer*>(self)->QuantizeWeight(ExecContext(*ctx), *weight, *out);
        });
      },
      [](const void* self, int64_t rows, int64_t cols, sy_qlayout* out) noexcept {
        return GuardCall(
            [&] { *out = static_cast<const Quantizer*>(self)->ActivationLayout(rows, cols); });
      },
      [](void* self, const sy_exec_context* ctx, const sy_tensor* x, sy_qtensor* out) noexcept {
        return GuardCall([&] {
          static_cast<Quantizer*>(self)->QuantizeActivation(ExecContext(*ctx), *x, *out);
        });
      },
  };
  return &vtable;
}

inline const sy_experts_vtable* ExpertsVtable() {
  static const sy_experts_vtable vtable = {
      sizeof(sy_experts_vtable),
      [](const void* self, const sy_qlayout* layout) noexcept -> int32_t {
        try {
          return static_cast<const Experts*>(self)->Supports(*layout) ? 1 : 0;
        } catch (...) {
          return 0;
        }
      },
      [](void* self, const sy_exec_context* ctx, const sy_experts_args* args) noexcept {
        return GuardCall([&] { static_cast<Experts*>(self)->Forward(ExecContext(*ctx), *args); });
      },
      [](const void* self, int32_t activation) noexcept -> int32_t {
        try {
          return static_cast<const Experts*>(self)->SupportsActivation(activation) ? 1 : 0;
        } catch (...) {
          return 0;
        }
      },
      [](const void* self) noexcept -> int32_t {
        try {
          return static_cast<const Experts*>(self)->WantsPrefetch() ? 1 : 0;
        } catch (...) {
          return 0;
        }
      },
      [](void* self, const sy_exec_context* ctx, const sy_expert_weights* weights,
         const sy_tensor* expert_ids) noexcept {
        return GuardCall([&] {
          static_cast<Experts*>(self)->Prefetch(ExecContext(*ctx), *weights, *expert_ids);
        });
      },
  };
  return &vtable;
}

inline const sy_scheduler_vtable* SchedulerVtable() {
  static const sy_scheduler_vtable vtable = {
      sizeof(sy_scheduler_vtable),
      [](void* self, const sy_sched_state* state, sy_sched_decision* out) noexcept {
        return GuardCall([&] { static_cast<Scheduler*>(self)->Schedule(*state, *out); });
      },
      nullptr,
  };
  return &vtable;
}

inline const sy_scheduler_vtable* PlacementSchedulerVtable() {
  static const sy_scheduler_vtable vtable = {
      sizeof(sy_scheduler_vtable),
      nullptr,
      [](void* self, const sy_placement_state* state, sy_placement_decision* out) noexcept {
        return GuardCall([&] { static_cast<PlacementScheduler*>(self)->Place(*state, *out); });
      },
  };
  return &vtable;
}

inline const sy_comm_vtable* CommVtable() {
  static const sy_comm_vtable vtable = {
      sizeof(sy_comm_vtable),
      [](void* self, const sy_exec_context* ctx, const sy_comm_group* group) noexcept {
        return GuardCall([&] { static_cast<Comm*>(self)->Connect(ExecContext(*ctx), *group); });
      },
      [](void* self, const sy_exec_context* ctx, const sy_comm_all_to_all_args* args) noexcept {
        return GuardCall([&] { static_cast<Comm*>(self)->AllToAll(ExecContext(*ctx), *args); });
      },
      [](void* self, const sy_exec_context* ctx, sy_tensor* data) noexcept {
        return GuardCall([&] { static_cast<Comm*>(self)->AllReduceSum(ExecContext(*ctx), *data); });
      },
      [](void* self, const sy_exec_context* ctx, size_t bytes, void** out) noexcept {
        return GuardCall(
            [&] { *out = static_cast<Comm*>(self)->RegisteredBuffer(ExecContext(*ctx), bytes); });
      },
      [](void* self, const sy_exec_context* ctx, void** peers, size_t* bytes) noexcept {
        return GuardCall(
            [&] { *bytes = static_cast<Comm*>(self)->PeerMemory(ExecContext(*ctx), peers); });
      },
  };
  return &vtable;
}

template <typename Impl, typename Base>
sy_component_desc Describe(sy_component_kind kind, const char* name, const char* description,
                           const void* vtable) {
  return {sizeof(sy_component_desc),
          kind,
          name,
          description,
          ConfigSchemaOf<typename Impl::Config>(),
          &ScoreOf<Impl>,
          &CreateInstance<Impl, Base>,
          &DestroyInstance<Base>,
          vtable};
}

inline const sy_plugin* InitPlugin(const sy_host* host, const char* name, const char* version,
                                   std::vector<sy_component_desc> (*describe)()) noexcept {
  HostSlot() = host;
  try {
    static const std::vector<sy_component_desc> components = describe();
    static const std::vector<const sy_component_desc*> pointers = [] {
      std::vector<const sy_component_desc*> list;
      for (const auto& c : components) list.push_back(&c);
      return list;
    }();
    static const sy_plugin plugin = {sizeof(sy_plugin), SY_ABI_MAJOR,    SY_ABI_MINOR,   name,
                                     version,           pointers.data(), pointers.size()};
    return &plugin;
  } catch (const std::exception& e) {
    Log(SY_LOG_ERROR, name, std::string("plugin initialisation failed: ") + e.what());
  } catch (const kj::Exception& e) {
    Log(SY_LOG_ERROR, name,
        std::string("plugin initialisation failed: ") + e.getDescription().cStr());
  } catch (...) {
    Log(SY_LOG_ERROR, name, "plugin initialisation failed: unknown exception");
  }
  return nullptr;
}

}  // namespace internal

// Descriptors of components implemented by Impl (see the example at the top).
template <typename Impl>
sy_component_desc RouterComponent(const char* name, const char* description) {
  return internal::Describe<Impl, Router>(SY_KIND_ROUTER, name, description,
                                          internal::RouterVtable());
}

template <typename Impl>
sy_component_desc QuantizerComponent(const char* name, const char* description) {
  return internal::Describe<Impl, Quantizer>(SY_KIND_QUANTIZER, name, description,
                                             internal::QuantizerVtable());
}

template <typename Impl>
sy_component_desc ExpertsComponent(const char* name, const char* description) {
  return internal::Describe<Impl, Experts>(SY_KIND_EXPERTS, name, description,
                                           internal::ExpertsVtable());
}

template <typename Impl>
sy_component_desc SchedulerComponent(const char* name, const char* description) {
  return internal::Describe<Impl, Scheduler>(SY_KIND_SCHEDULER, name, description,
                                             internal::SchedulerVtable());
}

template <typename Impl>
sy_component_desc PlacementSchedulerComponent(const char* name, const char* description) {
  return internal::Describe<Impl, PlacementScheduler>(SY_KIND_SCHEDULER, name, description,
                                                      internal::PlacementSchedulerVtable());
}

template <typename Impl>
sy_component_desc CommComponent(const char* name, const char* description) {
  return internal::Describe<Impl, Comm>(SY_KIND_COMM, name, description, internal::CommVtable());
}

}  // namespace sy

// Exports sy_plugin_init for a library with the given name, version and component
// descriptors (RouterComponent<...>(...), ...). Use once per library.
#define SY_EXPORT_PLUGIN(plugin_name, plugin_version, ...)                                         \
  extern "C" SY_EXPORT const sy_plugin* sy_plugin_init(const sy_host* host) {                      \
    return ::sy::internal::InitPlugin(host, plugin_name, plugin_version,                           \
                                      [] { return std::vector<sy_component_desc>{__VA_ARGS__}; }); \
  }

#endif  // SWITCHYARD_PLUGIN_HPP_
