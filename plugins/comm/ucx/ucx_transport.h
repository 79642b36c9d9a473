// A UCP context with one worker and an endpoint to every peer, and tagged sends and receives
// that either all complete by a deadline or fail with SY_UNAVAILABLE naming the peer.
//
// Endpoints use peer error handling (UCP_ERR_HANDLING_MODE_PEER): a peer whose process died
// or whose connection broke is reported by UCX's error callback, and every transfer with it
// fails at once instead of waiting for the deadline. After any failure the transport is
// broken: endpoints are force-closed, outstanding requests cancelled, and every later
// exchange fails.
#ifndef SWITCHYARD_PLUGINS_COMM_UCX_UCX_TRANSPORT_H_
#define SWITCHYARD_PLUGINS_COMM_UCX_UCX_TRANSPORT_H_

#include <ucp/api/ucp.h>

#include "switchyard/plugin_abi.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sy::plugins {

class UcxTransport {
 public:
  using Clock = std::chrono::steady_clock;

  // Transports and devices as UCX_TLS and UCX_NET_DEVICES spell them; empty leaves UCX's.
  UcxTransport(const std::string& transports, const std::string& devices);
  ~UcxTransport();
  UcxTransport(const UcxTransport&) = delete;
  UcxTransport& operator=(const UcxTransport&) = delete;

  // This worker's address, for the peers' Connect.
  std::vector<uint8_t> WorkerAddress() const;
  // Whether the UCX build can send from and receive into CUDA device memory.
  bool SupportsCudaMemory() const;
  // Creates an endpoint to every rank but `rank`; addresses[r] is rank r's WorkerAddress().
  void Connect(int rank, const std::vector<std::vector<uint8_t>>& addresses);

  struct Transfer {
    int peer;
    void* data;  // read for a send, written for a receive
    size_t bytes;
  };
  // One step of a collective: posts every send (tag: step, this rank) and receive (tag: step,
  // peer) and progresses the worker until all complete. Throws PluginError: SY_UNAVAILABLE
  // naming the peers that failed or had not finished at `deadline`, SY_INVALID_ARGUMENT when
  // a peer sent another size than expected (counts that disagree between ranks); either
  // breaks the transport.
  void Exchange(uint32_t step, const std::vector<Transfer>& sends,
                const std::vector<Transfer>& receives, Clock::time_point deadline,
                ucs_memory_type_t memory_type);

  bool broken() const { return broken_; }

 private:
  struct Peer {
    UcxTransport* transport = nullptr;
    int rank = -1;
    ucp_ep_h endpoint = nullptr;
    ucs_status_t error = UCS_OK;  // set by the error callback
  };
  struct Pending {
    void* request;
    int peer;
    bool receive;
    size_t bytes;
  };

  static void OnEndpointError(void* arg, ucp_ep_h endpoint, ucs_status_t status);
  // Breaks the transport (cancels `pending`, force-closes the endpoints) and throws.
  [[noreturn]] void Fail(const std::string& message, std::vector<Pending>& pending,
                         sy_status_code code = SY_UNAVAILABLE);
  void CloseEndpoints(bool force, Clock::time_point deadline);

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int rank_ = -1;
  std::vector<std::unique_ptr<Peer>> peers_;  // [world]; this rank's has no endpoint
  bool broken_ = false;
};

}  // namespace sy::plugins

#endif  // SWITCHYARD_PLUGINS_COMM_UCX_UCX_TRANSPORT_H_
