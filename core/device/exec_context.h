// What a component call runs with: a device, a stream, a scratch arena and a thread count.
// ExecContext owns the stream (when on CUDA) and the arena, and lends them to plugins as an
// sy_exec_context for the duration of a call.
#ifndef SWITCHYARD_CORE_DEVICE_EXEC_CONTEXT_H_
#define SWITCHYARD_CORE_DEVICE_EXEC_CONTEXT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "core/device/buffer.h"
#include "core/device/device.h"
#include "switchyard/plugin_abi.h"

namespace sy {

// A bump allocator over chunks of one memory kind; Reset() makes all of it reusable.
class Workspace {
 public:
  explicit Workspace(Device device, size_t chunk_bytes = size_t{1} << 20);
  // Returns nullptr when memory runs out.
  void* Allocate(size_t bytes, size_t alignment);
  void Reset();
  const sy_allocator* c_allocator() const { return &c_allocator_; }

 private:
  struct Chunk {
    std::shared_ptr<Buffer> buffer;
    size_t used = 0;
  };
  Device device_;
  size_t chunk_bytes_;
  std::vector<Chunk> chunks_;
  sy_allocator c_allocator_;
};

class ExecContext {
 public:
  // Creates a context on `device`; on CUDA it owns a new non-blocking stream.
  static absl::StatusOr<std::unique_ptr<ExecContext>> Create(Device device, int num_threads);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  Device device() const { return device_; }
  void* stream() const { return stream_; }
  int num_threads() const { return num_threads_; }
  Workspace& workspace() { return workspace_; }
  // Waits for work queued on the stream (no-op on the CPU).
  absl::Status Synchronize() const;

  // The C view handed to plugins; the workspace is reset first, so scratch memory from an
  // earlier call is reused.
  const sy_exec_context* BeginCall();

 private:
  ExecContext(Device device, void* stream, int num_threads);

  Device device_;
  void* stream_;
  int num_threads_;
  Workspace workspace_;
  sy_exec_context c_context_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_DEVICE_EXEC_CONTEXT_H_
