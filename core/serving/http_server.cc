#include "core/serving/http_server.h"

#include <sys/socket.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "core/serving/openai_error.h"
#include "core/serving/openai_protocol.h"
#include "core/serving/openai_response.h"
#include "core/serving/openai_stream.h"

namespace sy {
namespace {

using openai::ApiError;
using openai::Endpoint;

// How long a reader waits on a stream before checking whether to give up, and the interval
// of keep-alive comments on an idle event stream.
constexpr std::chrono::milliseconds kPoll(1000);
// How long Stop() lets responses in flight finish before closing their connections.
constexpr std::chrono::seconds kStopGrace(10);

void Reply(httplib::Response& res, const ApiError& error) {
  res.status = error.http_status;
  res.set_content(error.Body(), "application/json");
}

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// httplib listens with a backlog of 5, so a burst of clients connecting at once (a load test,
// a batch job) overflows the accept queue and some of them fail. This re-listens on the bound
// socket with the system's maximum; Linux updates the backlog of a listening socket in place.
class Server : public httplib::Server {
 public:
  bool RaiseBacklog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

}  // namespace

struct HttpServer::State {
  State(Engine& engine, const HttpServerOptions& options)
      : engine(engine),
        options(options),
        model(openai::DescribeModel(engine.model(), engine.context_length())),
        started(UnixSeconds()) {}

  // Counts the generation responses still being written, so Stop() can wait for them.
  class InFlight {
   public:
    explicit InFlight(State& state) : state_(&state) {
      std::lock_guard lock(state_->mutex);
      ++state_->in_flight;
    }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    ~InFlight() {
      std::lock_guard lock(state_->mutex);
      if (--state_->in_flight == 0) state_->idle.notify_all();
    }

   private:
    State* state_;
  };

  void Routes();
  void Generate(Endpoint endpoint, const httplib::Request& req, httplib::Response& res);
  void Stream(openai::ResponseFormat format, bool include_usage, openai::Streams streams,
              httplib::Response& res);
  // Fills in the body of an error httplib raised itself (no route, body too large, bad HTTP).
  httplib::Server::HandlerResponse OnError(const httplib::Request& req, httplib::Response& res);

  Engine& engine;
  const HttpServerOptions options;
  const openai::ServedModel model;
  const int64_t started;
  Server server;
  std::thread listener;
  std::atomic<bool> listen_ended{false};
  int port = 0;

  std::mutex mutex;
  std::condition_variable idle;
  int in_flight = 0;
  bool stopped = false;
  std::atomic<bool> give_up{false};  // Stop()'s grace is over: readers end their responses
};

void HttpServer::State::Routes() {
  server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(Endpoint::kCompletions, req, res);
  });
  server.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    Generate(Endpoint::kChat, req, res);
  });
  server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(openai::DumpJson(openai::ModelList(model.id, started, model.context_length)),
                    "application/json");
  });
  server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    // Load balancers stop routing here as soon as a drain begins.
    if (engine.accepting()) {
      res.set_content("ok", "text/plain");
    } else {
      res.status = 503;
      res.set_content("draining", "text/plain");
    }
  });
  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine.RenderMetrics(), "text/plain; version=0.0.4");
  });
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) { return OnError(req, res); }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        Reply(res, openai::HttpError(500, absl::StrCat("Internal server error: ", what)));
      });
}

httplib::Server::HandlerResponse HttpServer::State::OnError(const httplib::Request& req,
                                                            httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours already
  const bool known_path = req.path == "/v1/completions" || req.path == "/v1/chat/completions" ||
                          req.path == "/v1/models" || req.path == "/health" ||
                          req.path == "/metrics";
  ApiError error;
  if (res.status == 404 && known_path) {
    error = openai::HttpError(
        405, absl::StrCat("Method ", req.method, " is not allowed for ", req.path));
    res.set_header("Allow",
                   req.path.rfind("/v1/", 0) == 0 && req.path != "/v1/models" ? "POST" : "GET");
  } else if (res.status == 404) {
    error = openai::HttpError(404, absl::StrCat("Invalid URL (", req.method, " ", req.path, ")"));
  } else if (res.status == 413) {
    error = openai::HttpError(
        413, absl::StrCat("The request body is larger than ", options.max_body_bytes, " bytes"),
        "request_too_large");
  } else {
    error = openai::HttpError(res.status, absl::StrCat("HTTP error ", res.status));
  }
  Reply(res, error);
  return httplib::Server::HandlerResponse::Handled;
}

void HttpServer::State::Generate(Endpoint endpoint, const httplib::Request& req,
                                 httplib::Response& res) {
  thread_local std::mt19937_64 seeds(std::random_device{}());
  absl::StatusOr<openai::ParsedRequest> parsed =
      endpoint == Endpoint::kChat ? openai::ParseChatRequest(req.body, model, seeds())
                                  : openai::ParseCompletionRequest(req.body, model, seeds());
  if (!parsed.ok()) return Reply(res, openai::ToApiError(parsed.status()));

  openai::Streams streams;
  for (GenerationRequest& generation : parsed->generations) {
    absl::StatusOr<std::shared_ptr<RequestStream>> stream = engine.Submit(std::move(generation));
    if (!stream.ok()) {
      for (const auto& submitted : streams) submitted->Cancel();
      return Reply(res, openai::ToApiError(stream.status()));
    }
    streams.push_back(*std::move(stream));
  }
  openai::ResponseFormat format(endpoint, openai::ResponseFormat::NewId(endpoint), UnixSeconds(),
                                model.id);
  if (parsed->stream) {
    return Stream(std::move(format), parsed->include_usage, std::move(streams), res);
  }
  // Non-streamed answers are read here, on the connection's thread, until they are complete.
  InFlight in_flight(*this);
  absl::StatusOr<nlohmann::ordered_json> answer =
      openai::CollectAnswer(format, streams, give_up, kPoll);
  if (!answer.ok()) return Reply(res, openai::ToApiError(answer.status()));
  res.set_content(openai::DumpJson(*answer), "application/json");
}

void HttpServer::State::Stream(openai::ResponseFormat format, bool include_usage,
                               openai::Streams streams, httplib::Response& res) {
  // httplib calls the provider until it ends the response, after the handler has returned;
  // the writer and the in-flight count live as long as the provider does.
  auto writer =
      std::make_shared<openai::SseWriter>(std::move(format), include_usage, std::move(streams));
  auto in_flight = std::make_shared<InFlight>(*this);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, writer, in_flight](size_t, httplib::DataSink& sink) {
        if (give_up) return false;
        const bool written = writer->Pump(
            [&sink](absl::string_view bytes) { return sink.write(bytes.data(), bytes.size()); },
            kPoll);
        if (!written) return false;  // the client is gone
        if (writer->done()) sink.done();
        return true;
      },
      // Called once the response ends, completed or not: a client that disconnected leaves
      // requests the engine must drop to free their KV blocks.
      [writer](bool) { writer->CancelAll(); });
}

HttpServer::HttpServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

HttpServer::~HttpServer() { Stop(); }

int HttpServer::port() const { return state_->port; }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Engine& engine,
                                                              const HttpServerOptions& options) {
  auto state = std::make_unique<State>(engine, options);
  Server& server = state->server;
  const size_t threads = static_cast<size_t>(std::max(options.threads, 1));
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_tcp_nodelay(true);  // stream tokens as they come, not when a packet fills
  server.set_keep_alive_max_count(1000);
  // httplib's default sets SO_REUSEPORT, which would let a second server share a busy port
  // silently; SO_REUSEADDR alone makes that a bind error and still allows quick restarts.
  server.set_socket_options([](int socket) {
    int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  state->Routes();

  errno = 0;
  int port = options.port;
  bool bound = false;
  if (options.port == 0) {
    port = server.bind_to_any_port(options.host);
    bound = port > 0;
  } else {
    bound = server.bind_to_port(options.host, options.port);
  }
  if (!bound) {
    const std::string reason = errno != 0 ? absl::StrCat(": ", std::strerror(errno)) : "";
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port, reason));
  }
  if (!state->server.RaiseBacklog()) {
    return absl::InternalError(absl::StrCat("listen: ", std::strerror(errno)));
  }
  state->port = port;
  State* s = state.get();
  s->listener = std::thread([s] {
    s->server.listen_after_bind();
    s->listen_ended = true;
  });
  // The socket already queues connections; waiting until httplib's accept loop runs makes an
  // early Stop() reliable, as stop() does nothing before then.
  while (!server.is_running() && !s->listen_ended) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

void HttpServer::Stop() {
  State& s = *state_;
  {
    std::unique_lock lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
    s.idle.wait_for(lock, kStopGrace, [&s] { return s.in_flight == 0; });
  }
  s.give_up = true;
  s.server.stop();
  if (s.listener.joinable()) s.listener.join();
}

}  // namespace sy
