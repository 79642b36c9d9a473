#include "ucx_transport.h"

#include "switchyard/plugin.hpp"

namespace sy::plugins {
namespace {

constexpr uint64_t kFullTagMask = ~uint64_t{0};

uint64_t TagOf(uint32_t step, int sender) {
  return (uint64_t{step} << 32) | static_cast<uint32_t>(sender);
}

void Check(ucs_status_t status, const std::string& what) {
  if (status != UCS_OK) {
    throw PluginError(SY_UNAVAILABLE, "comm.ucx: " + what + ": " + ucs_status_string(status));
  }
}

// Completes (or abandons) one request: returns its status, UCS_INPROGRESS while pending.
ucs_status_t Poll(void* request, bool receive, size_t* received) {
  if (!receive) return ucp_request_check_status(request);
  ucp_tag_recv_info_t info{};
  const ucs_status_t status = ucp_tag_recv_request_test(request, &info);
  if (status == UCS_OK) *received = info.length;
  return status;
}

std::string Disagreement(int peer, const std::string& sent, size_t expected) {
  return "rank " + std::to_string(peer) + " sent " + sent + " bytes where " +
         std::to_string(expected) +
         " were expected: send and receive counts disagree between ranks";
}

}  // namespace

UcxTransport::UcxTransport(const std::string& transports, const std::string& devices) {
  ucp_config_t* config = nullptr;
  Check(ucp_config_read(nullptr, nullptr, &config), "reading UCX's configuration");
  struct Release {
    ucp_config_t* c;
    ~Release() { ucp_config_release(c); }
  } release{config};
  if (!transports.empty() && ucp_config_modify(config, "TLS", transports.c_str()) != UCS_OK)
    throw std::invalid_argument("comm.ucx: transports '" + transports + "' is not a UCX_TLS list");
  if (!devices.empty() && ucp_config_modify(config, "NET_DEVICES", devices.c_str()) != UCS_OK)
    throw std::invalid_argument("comm.ucx: devices '" + devices +
                                "' is not a UCX_NET_DEVICES list");

  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_TAG;
  params.name = "switchyard";
  Check(ucp_init(&params, config, &context_), "ucp_init with transports '" + transports + "'");

  ucp_worker_params_t worker_params{};
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;
  const ucs_status_t status = ucp_worker_create(context_, &worker_params, &worker_);
  if (status != UCS_OK) {
    ucp_cleanup(context_);
    Check(status, "ucp_worker_create");
  }
}

UcxTransport::~UcxTransport() {
  CloseEndpoints(broken_, Clock::now() + std::chrono::seconds(10));
  ucp_worker_destroy(worker_);
  ucp_cleanup(context_);
}

std::vector<uint8_t> UcxTransport::WorkerAddress() const {
  ucp_address_t* address = nullptr;
  size_t length = 0;
  Check(ucp_worker_get_address(worker_, &address, &length), "ucp_worker_get_address");
  const auto* bytes = reinterpret_cast<const uint8_t*>(address);
  std::vector<uint8_t> out(bytes, bytes + length);
  ucp_worker_release_address(worker_, address);
  return out;
}

bool UcxTransport::SupportsCudaMemory() const {
  ucp_context_attr_t attr{};
  attr.field_mask = UCP_ATTR_FIELD_MEMORY_TYPES;
  if (ucp_context_query(context_, &attr) != UCS_OK) return false;
  return (attr.memory_types & UCS_BIT(UCS_MEMORY_TYPE_CUDA)) != 0;
}

void UcxTransport::OnEndpointError(void* arg, ucp_ep_h, ucs_status_t status) {
  static_cast<Peer*>(arg)->error = status;
}

void UcxTransport::Connect(int rank, const std::vector<std::vector<uint8_t>>& addresses) {
  rank_ = rank;
  for (int r = 0; r < static_cast<int>(addresses.size()); ++r) {
    auto peer = std::make_unique<Peer>();
    peer->transport = this;
    peer->rank = r;
    if (r != rank) {
      ucp_ep_params_t params{};
      params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                          UCP_EP_PARAM_FIELD_ERR_HANDLER;
      params.address = reinterpret_cast<const ucp_address_t*>(addresses[r].data());
      params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
      params.err_handler.cb = &UcxTransport::OnEndpointError;
      params.err_handler.arg = peer.get();
      Check(ucp_ep_create(worker_, &params, &peer->endpoint),
            "creating an endpoint to rank " + std::to_string(r));
    }
    peers_.push_back(std::move(peer));
  }
}

void UcxTransport::Exchange(uint32_t step, const std::vector<Transfer>& sends,
                            const std::vector<Transfer>& receives, Clock::time_point deadline,
                            ucs_memory_type_t memory_type) {
  std::vector<Pending> pending;
  if (broken_) Fail("an earlier failure broke this communicator", pending);
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_MEMORY_TYPE;
  param.memory_type = memory_type;
  for (const Transfer& r : receives) {
    void* request =
        ucp_tag_recv_nbx(worker_, r.data, r.bytes, TagOf(step, r.peer), kFullTagMask, &param);
    if (UCS_PTR_IS_ERR(request) && UCS_PTR_STATUS(request) == UCS_ERR_MESSAGE_TRUNCATED)
      Fail(Disagreement(r.peer, "more", r.bytes), pending, SY_INVALID_ARGUMENT);
    if (UCS_PTR_IS_ERR(request)) {
      Fail("receiving from rank " + std::to_string(r.peer) + ": " +
               ucs_status_string(UCS_PTR_STATUS(request)),
           pending);
    }
    if (request != nullptr) pending.push_back({request, r.peer, true, r.bytes});
  }
  for (const Transfer& s : sends) {
    void* request =
        ucp_tag_send_nbx(peers_[s.peer]->endpoint, s.data, s.bytes, TagOf(step, rank_), &param);
    if (UCS_PTR_IS_ERR(request)) {
      Fail("sending to rank " + std::to_string(s.peer) + ": " +
               ucs_status_string(UCS_PTR_STATUS(request)),
           pending);
    }
    if (request != nullptr) pending.push_back({request, s.peer, false, s.bytes});
  }
  while (!pending.empty()) {
    ucp_worker_progress(worker_);
    for (size_t i = 0; i < pending.size();) {
      Pending& p = pending[i];
      size_t received = p.bytes;
      const ucs_status_t status = Poll(p.request, p.receive, &received);
      if (status == UCS_INPROGRESS) {
        const ucs_status_t peer_error = peers_[p.peer]->error;
        if (peer_error != UCS_OK) {
          Fail("rank " + std::to_string(p.peer) + " failed: " + ucs_status_string(peer_error),
               pending);
        }
        ++i;
        continue;
      }
      ucp_request_free(p.request);
      const Pending done = p;
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
      if (status == UCS_ERR_MESSAGE_TRUNCATED || (status == UCS_OK && received != done.bytes)) {
        Fail(Disagreement(done.peer, status == UCS_OK ? std::to_string(received) : "more",
                          done.bytes),
             pending, SY_INVALID_ARGUMENT);
      }
      if (status != UCS_OK) {
        Fail(std::string(done.receive ? "receiving from" : "sending to") + " rank " +
                 std::to_string(done.peer) + " failed: " + ucs_status_string(status),
             pending);
      }
    }
    if (!pending.empty() && Clock::now() > deadline) {
      std::string late;
      for (const Pending& p : pending) {
        const std::string name = std::to_string(p.peer);
        if (late.find(" " + name + ",") == std::string::npos) late += " " + name + ",";
      }
      late.pop_back();
      Fail("timed out waiting for rank" + late + " (dead, or not calling the same collective)",
           pending);
    }
  }
}

void UcxTransport::Fail(const std::string& message, std::vector<Pending>& pending,
                        sy_status_code code) {
  broken_ = true;
  for (const Pending& p : pending) {
    if (p.receive) ucp_request_cancel(worker_, p.request);
  }
  // Force-closing every endpoint completes the sends still in flight.
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(1);
  CloseEndpoints(true, give_up);
  for (const Pending& p : pending) {
    while (ucp_request_check_status(p.request) == UCS_INPROGRESS && Clock::now() < give_up)
      ucp_worker_progress(worker_);
    ucp_request_free(p.request);  // one still in flight is released when it completes
  }
  pending.clear();
  throw PluginError(code, "comm.ucx rank " + std::to_string(rank_) + ": " + message);
}

void UcxTransport::CloseEndpoints(bool force, Clock::time_point deadline) {
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  std::vector<void*> closing;
  for (auto& peer : peers_) {
    if (peer->endpoint == nullptr) continue;
    param.flags = force || peer->error != UCS_OK ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    void* request = ucp_ep_close_nbx(peer->endpoint, &param);
    peer->endpoint = nullptr;
    if (request != nullptr && !UCS_PTR_IS_ERR(request)) closing.push_back(request);
  }
  // A flush close waits for the peer to acknowledge what was sent; a dead peer never does, so
  // the wait is bounded (the endpoint is released with the worker either way).
  while (!closing.empty()) {
    ucp_worker_progress(worker_);
    std::erase_if(closing, [](void* request) {
      if (ucp_request_check_status(request) == UCS_INPROGRESS) return false;
      ucp_request_free(request);
      return true;
    });
    if (Clock::now() > deadline) break;
  }
}

}  // namespace sy::plugins
