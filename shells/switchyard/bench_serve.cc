// switchyard bench serve: a load client for an OpenAI-compatible server (switchyard serve, or
// vLLM and others alike). Sends a bounded workload of streaming /v1/completions requests — a
// random prompt of exactly --input-tokens token ids each, --output-tokens generated with
// ignore_eos — from --concurrency connections, and reports throughput and the latency
// percentiles of the first token (TTFT), between tokens (ITL) and of whole requests (E2E).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/base/status.h"
#include "shells/switchyard/commands.h"
#include "shells/switchyard/text_table.h"

namespace sy::cli {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchOptions {
  std::string url = "http://127.0.0.1:8000";
  int64_t requests = 100;
  int64_t concurrency = 8;
  int64_t input_tokens = 128;
  int64_t output_tokens = 128;
  int64_t vocab = 256;  // prompt ids are drawn from [0, vocab)
  int64_t timeout_s = 600;
  uint64_t seed = 0;
  std::string model;  // empty: the first model of GET /v1/models
  bool json = false;
};

absl::StatusOr<BenchOptions> ReadOptions(const ParsedArgs& args) {
  BenchOptions o;
  o.url = args.Get("url", o.url);
  if (!absl::StartsWith(o.url, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--url: expected http://HOST:PORT, got '", o.url, "'"));
  }
  while (absl::EndsWith(o.url, "/")) o.url.pop_back();
  o.model = args.Get("model");
  o.json = args.Has("json");
  SY_ASSIGN_OR_RETURN(o.requests, args.GetInt("requests", o.requests, 1));
  SY_ASSIGN_OR_RETURN(o.concurrency, args.GetInt("concurrency", o.concurrency, 1));
  SY_ASSIGN_OR_RETURN(o.input_tokens, args.GetInt("input-tokens", o.input_tokens, 1));
  SY_ASSIGN_OR_RETURN(o.output_tokens, args.GetInt("output-tokens", o.output_tokens, 1));
  SY_ASSIGN_OR_RETURN(o.vocab, args.GetInt("vocab", o.vocab, 1));
  SY_ASSIGN_OR_RETURN(o.timeout_s, args.GetInt("timeout", o.timeout_s, 1));
  SY_ASSIGN_OR_RETURN(const int64_t seed, args.GetInt("seed", 0, 0));
  o.seed = static_cast<uint64_t>(seed);
  o.concurrency = std::min(o.concurrency, o.requests);
  return o;
}

std::unique_ptr<httplib::Client> NewClient(const BenchOptions& options) {
  auto client = std::make_unique<httplib::Client>(options.url);
  client->set_connection_timeout(10);
  client->set_read_timeout(static_cast<time_t>(options.timeout_s));
  client->set_keep_alive(true);
  return client;
}

// The served model's id, from GET /v1/models, when --model is not given.
absl::StatusOr<std::string> DiscoverModel(const BenchOptions& options) {
  httplib::Result res = NewClient(options)->Get("/v1/models");
  if (!res) {
    return absl::UnavailableError(absl::StrCat("GET ", options.url, "/v1/models failed (",
                                               httplib::to_string(res.error()), " error)"));
  }
  const json list = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  if (res->status != 200 || !list.is_object() || !list.contains("data") ||
      !list["data"].is_array() || list["data"].empty() || !list["data"][0].contains("id")) {
    return absl::UnavailableError(
        absl::StrCat("GET ", options.url, "/v1/models: status ", res->status, ", no model listed"));
  }
  return list["data"][0]["id"].get<std::string>();
}

struct RequestResult {
  bool ok = false;
  std::string error;
  double ttft = 0;  // seconds to the first chunk with text
  double e2e = 0;
  std::vector<double> itl;  // gaps between chunks with text
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
};

// Reads one streamed response: splits the bytes into events, times the chunks that carry
// text, and checks the framing (JSON chunks, then the usage chunk, then [DONE]).
class StreamReader {
 public:
  explicit StreamReader(Clock::time_point start) : start_(start) {}

  bool Feed(const char* data, size_t size) {
    buffer_.append(data, size);
    for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      if (!Event(event)) return false;
    }
    return true;
  }

  RequestResult Finish(int status, const std::string& body) {
    result_.e2e = std::chrono::duration<double>(Clock::now() - start_).count();
    if (status != 200 && result_.error.empty()) {
      result_.error = absl::StrCat("HTTP ", status, ": ", body.substr(0, 300));
    }
    if (result_.error.empty() && !done_) result_.error = "the stream ended without [DONE]";
    if (result_.error.empty() && result_.ttft == 0) result_.error = "no text was streamed";
    result_.ok = result_.error.empty();
    return result_;
  }

 private:
  bool Event(const std::string& event) {
    if (event.empty() || event[0] == ':') return true;  // SSE comments (keep-alives)
    if (!absl::StartsWith(event, "data: ")) return Fail("not an SSE data line: " + event);
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      done_ = true;
      return true;
    }
    const json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!chunk.is_object()) return Fail("malformed chunk: " + data.substr(0, 200));
    if (chunk.contains("error")) return Fail("error event: " + data.substr(0, 300));
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      result_.prompt_tokens = chunk["usage"].value("prompt_tokens", int64_t{0});
      result_.output_tokens = chunk["usage"].value("completion_tokens", int64_t{0});
    }
    if (!chunk.contains("choices") || !chunk["choices"].is_array()) {
      return Fail("chunk without choices: " + data.substr(0, 200));
    }
    for (const json& choice : chunk["choices"]) {
      const json text = choice.value("text", json());
      if (!text.is_string() || text.get<std::string>().empty()) continue;
      const double now = std::chrono::duration<double>(Clock::now() - start_).count();
      if (result_.ttft == 0) {
        result_.ttft = now;
      } else {
        result_.itl.push_back(now - last_);
      }
      last_ = now;
    }
    return true;
  }

  bool Fail(std::string message) {
    result_.error = std::move(message);
    return false;
  }

  Clock::time_point start_;
  std::string buffer_;
  RequestResult result_;
  double last_ = 0;
  bool done_ = false;
};

RequestResult SendOne(httplib::Client& client, const std::string& body) {
  const auto start = Clock::now();
  StreamReader reader(start);
  int status = 0;
  std::string error_body;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.response_handler = [&status](const httplib::Response& res) {
    status = res.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, size);
      return true;
    }
    return reader.Feed(data, size);
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const bool sent = client.send(req, res, error);
  RequestResult result = reader.Finish(status, error_body);
  // A transport failure explains more than the framing errors it causes; Canceled means the
  // reader refused the stream and already said why.
  if (!sent && error != httplib::Error::Canceled) {
    result.ok = false;
    result.error = absl::StrCat("request failed (", httplib::to_string(error), " error)");
  }
  return result;
}

std::string RequestBody(const BenchOptions& options, const std::string& model, uint64_t index) {
  std::mt19937_64 random(options.seed * 0x9E3779B97F4A7C15ull + index);
  std::uniform_int_distribution<int64_t> token(0, options.vocab - 1);
  std::vector<int64_t> prompt(static_cast<size_t>(options.input_tokens));
  for (int64_t& id : prompt) id = token(random);
  return json{{"model", model},
              {"prompt", prompt},
              {"max_tokens", options.output_tokens},
              {"temperature", 0},
              {"ignore_eos", true},
              {"stream", true},
              {"stream_options", {{"include_usage", true}}}}
      .dump();
}

struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};

// Linear interpolation between the closest ranks, as numpy.percentile does.
Percentiles Summarize(std::vector<double> values) {
  Percentiles p;
  if (values.empty()) return p;
  std::sort(values.begin(), values.end());
  auto at = [&values](double q) {
    const double rank = q * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(rank);
    const size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
  };
  double total = 0;
  for (double v : values) total += v;
  p.mean = total / static_cast<double>(values.size());
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  return p;
}

struct Report {
  int64_t ok = 0, failed = 0;
  double duration = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
  Percentiles ttft, itl, e2e;       // seconds
  std::vector<std::string> errors;  // the first few
};

Report Aggregate(const std::vector<RequestResult>& results, double duration) {
  Report r;
  r.duration = duration;
  std::vector<double> ttft, itl, e2e;
  for (const RequestResult& result : results) {
    if (!result.ok) {
      ++r.failed;
      if (r.errors.size() < 5) r.errors.push_back(result.error);
      continue;
    }
    ++r.ok;
    r.prompt_tokens += result.prompt_tokens;
    r.output_tokens += result.output_tokens;
    ttft.push_back(result.ttft);
    e2e.push_back(result.e2e);
    itl.insert(itl.end(), result.itl.begin(), result.itl.end());
  }
  r.ttft = Summarize(ttft);
  r.itl = Summarize(itl);
  r.e2e = Summarize(e2e);
  return r;
}

json PercentilesJson(const Percentiles& p) {
  return {{"mean", p.mean * 1e3}, {"p50", p.p50 * 1e3}, {"p90", p.p90 * 1e3}, {"p99", p.p99 * 1e3}};
}

void PrintJson(const BenchOptions& o, const std::string& model, const Report& r) {
  const json out = {{"url", o.url},
                    {"model", model},
                    {"requests", o.requests},
                    {"concurrency", o.concurrency},
                    {"input_tokens", o.input_tokens},
                    {"output_tokens", o.output_tokens},
                    {"ok", r.ok},
                    {"failed", r.failed},
                    {"duration_s", r.duration},
                    {"request_throughput", r.ok / r.duration},
                    {"output_throughput", r.output_tokens / r.duration},
                    {"total_token_throughput", (r.prompt_tokens + r.output_tokens) / r.duration},
                    {"ttft_ms", PercentilesJson(r.ttft)},
                    {"itl_ms", PercentilesJson(r.itl)},
                    {"e2e_ms", PercentilesJson(r.e2e)},
                    {"errors", r.errors}};
  std::printf("%s\n", out.dump(2).c_str());
}

void PrintTable(const BenchOptions& o, const std::string& model, const Report& r) {
  std::printf("server       %s (model %s)\n", o.url.c_str(), model.c_str());
  std::printf("workload     %lld requests, concurrency %lld, %lld input / %lld output tokens\n",
              static_cast<long long>(o.requests), static_cast<long long>(o.concurrency),
              static_cast<long long>(o.input_tokens), static_cast<long long>(o.output_tokens));
  std::printf("requests     %lld ok, %lld failed\n", static_cast<long long>(r.ok),
              static_cast<long long>(r.failed));
  std::printf("duration     %.2f s\n", r.duration);
  std::printf("throughput   %.2f requests/s, %.1f output tokens/s, %.1f total tokens/s\n\n",
              r.ok / r.duration, r.output_tokens / r.duration,
              (r.prompt_tokens + r.output_tokens) / r.duration);
  TextTable table({"LATENCY (ms)", "MEAN", "P50", "P90", "P99"});
  auto row = [&table](const char* name, const Percentiles& p) {
    table.AddRow({name, absl::StrFormat("%.2f", p.mean * 1e3), absl::StrFormat("%.2f", p.p50 * 1e3),
                  absl::StrFormat("%.2f", p.p90 * 1e3), absl::StrFormat("%.2f", p.p99 * 1e3)});
  };
  row("TTFT", r.ttft);
  row("ITL", r.itl);
  row("E2E", r.e2e);
  std::printf("%s", table.Render().c_str());
  for (const std::string& error : r.errors) std::printf("error: %s\n", error.c_str());
}

}  // namespace

int BenchServe(const ParsedArgs& args) {
  auto options = ReadOptions(args);
  if (!options.ok()) return UsageError("bench", options.status().message());
  const BenchOptions& o = *options;
  std::string model = o.model;
  if (model.empty()) {
    absl::StatusOr<std::string> found = DiscoverModel(o);
    if (!found.ok()) {
      std::fprintf(stderr, "switchyard bench serve: %s\n",
                   std::string(found.status().message()).c_str());
      return 1;
    }
    model = *found;
  }

  std::vector<RequestResult> results(static_cast<size_t>(o.requests));
  std::atomic<int64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int64_t w = 0; w < o.concurrency; ++w) {
    workers.emplace_back([&] {
      std::unique_ptr<httplib::Client> client = NewClient(o);
      for (int64_t i; (i = next++) < o.requests;) {
        results[static_cast<size_t>(i)] =
            SendOne(*client, RequestBody(o, model, static_cast<uint64_t>(i)));
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  const Report report =
      Aggregate(results, std::chrono::duration<double>(Clock::now() - start).count());
  if (o.json) {
    PrintJson(o, model, report);
  } else {
    PrintTable(o, model, report);
  }
  return report.failed == 0 ? 0 : 1;
}

}  // namespace sy::cli
