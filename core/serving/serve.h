// Serving an Engine over HTTP until SIGTERM or SIGINT: what `switchyard serve` and the Lua
// `sy.serve` run.
#ifndef SWITCHYARD_CORE_SERVING_SERVE_H_
#define SWITCHYARD_CORE_SERVING_SERVE_H_

#include <functional>

#include "absl/status/status.h"
#include "core/serving/engine.h"
#include "core/serving/http_server.h"
#include "switchyard/telemetry.capnp.h"

namespace sy {

// Starts the HTTP server, prints "serving MODEL on http://HOST:PORT (…)" to stderr, and runs
// the engine loop on the calling thread (`on_step` sees each step's report there). The first
// SIGTERM or SIGINT drains: the engine stops accepting (new requests get 503, /health turns
// 503), finishes every request in flight, and Serve returns once their responses are written.
// A second signal aborts what is left. The previous signal handlers are restored on return.
absl::Status Serve(Engine& engine, const HttpServerOptions& options,
                   const std::function<void(schema::StepReport::Reader)>& on_step = nullptr);

}  // namespace sy

#endif  // SWITCHYARD_CORE_SERVING_SERVE_H_
