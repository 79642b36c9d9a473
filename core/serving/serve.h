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
// Under expert parallelism only rank 0 serves: on the other ranks Serve runs LendExperts.
absl::Status Serve(Engine& engine, const HttpServerOptions& options,
                   const std::function<void(schema::StepReport::Reader)>& on_step = nullptr);

// What a rank other than 0 of an expert-parallel server runs: no HTTP server and no engine, it
// lends its experts to every pass rank 0's engine takes (a pass with no tokens of its own,
// MoeModel::FinishSteps) until rank 0 has finished. Says so on stderr ("rank 1 (pid 4872):
// lending its experts to rank 0's engine"). SIGTERM and SIGINT are ignored from then on: they are
// rank 0's to act on (launch forwards them to every rank), and this rank ends when rank 0 does.
// An error names the lost group ("rank 1 lost the expert-parallel group: …").
// `model` is the engine's (Engine::model()); its network runs the passes.
absl::Status LendExperts(const LanguageModel& model, ExecContext& ctx);

}  // namespace sy

#endif  // SWITCHYARD_CORE_SERVING_SERVE_H_
