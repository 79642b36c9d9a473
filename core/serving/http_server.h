// The OpenAI-compatible HTTP front end of an Engine (cpp-httplib, a thread per connection):
//   POST /v1/completions, POST /v1/chat/completions   (stream: true → server-sent events)
//   GET  /v1/models, GET /health, GET /metrics
// Request bodies go through openai_protocol.h, results through openai_response.h; every error
// is an OpenAI-style JSON body (openai_error.h). A streaming client that goes away cancels its
// requests, so the engine frees their KV blocks at its next step.
#ifndef SWITCHYARD_CORE_SERVING_HTTP_SERVER_H_
#define SWITCHYARD_CORE_SERVING_HTTP_SERVER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/serving/engine.h"

namespace sy {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                  // 0: any free port (see HttpServer::port())
  int threads = 128;                // connections served at once; a streaming request holds one
  size_t max_body_bytes = 8 << 20;  // larger request bodies get 413
};

class HttpServer {
 public:
  // Binds and serves on background threads; returns once the socket listens. A bind failure
  // is an error naming host:port.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(Engine& engine,
                                                           const HttpServerOptions& options);
  ~HttpServer();  // Stop()s

  int port() const;

  // Stops serving: lets responses in flight finish writing (after a draining Engine::Shutdown
  // they all end promptly; a grace period bounds the wait otherwise), then closes the socket
  // and joins the threads. Idempotent.
  void Stop();

  struct State;  // the routes' shared state (http_server.cc)

 private:
  explicit HttpServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_SERVING_HTTP_SERVER_H_
