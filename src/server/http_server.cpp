#include "server/http_server.h"

#include <httplib.h>
#include <sys/resource.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "core/ctype_cache.h"
#include "core/error.h"
#include "core/mapped_file_watch.h"
#include "engine/engine.h"
#include "server/connection_threads.h"
#include "server/openai_protocol.h"
#include "server/request_runner.h"
#include "server/serving_chat.h"
#include "server/serving_completions.h"
#include "server/serving_tokenize.h"

namespace strata {

using json = nlohmann::ordered_json;

namespace {

// Every connection holds a descriptor, and many distributions start
// processes with a soft limit of 1,024: raise it to the hard limit.
void raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status();
  if (error.status() == 429) res.set_header("Retry-After", std::to_string(AdmissionControl::kRetryAfterSeconds));
  res.set_content(error.body(), "application/json");
}

// Runs a handler, turning every failure into an OpenAI error response whose
// status comes from the exception's type (as_api_error).
template <class Handler>
httplib::Server::Handler guarded(Handler handler) {
  return [handler](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const std::exception& e) {
      send_error(res, as_api_error(e));
    }
  };
}

// A constant-time comparison, so the key cannot be guessed byte by byte from timings.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

void serve_models(ServingContext& ctx, httplib::Response& res) {
  json model = {{"id", ctx.served_model_name},
                {"object", "model"},
                {"created", ctx.created},
                {"owned_by", "strata"},
                {"root", ctx.model_root},
                {"parent", nullptr},
                {"max_model_len", ctx.max_model_len}};
  res.set_content(json_text({{"object", "list"}, {"data", json::array({model})}}), "application/json");
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  prime_ctype_narrow_cache();  // before the connection threads start
  if (options_.http_threads < 1) fail("--http-threads must be at least 1");
  if (options_.idle_timeout_seconds < 1) fail("--idle-timeout must be at least 1 second");
  const size_t threads = size_t(options_.http_threads);
  server_->new_task_queue = [threads] { return new ConnectionThreads(threads); };
  server_->set_keep_alive_timeout(options_.idle_timeout_seconds);
  server_->set_read_timeout(options_.idle_timeout_seconds);
  server_->set_write_timeout(options_.idle_timeout_seconds);
  server_->set_payload_max_length(options_.max_request_bytes);
  add_routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  raise_open_files_limit();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ < 0) fail("serve: cannot listen on {} (any port)", options_.host);
  } else {
    if (!server_->bind_to_port(options_.host, options_.port)) {
      fail("serve: cannot listen on {}:{} (address in use or not available)", options_.host, options_.port);
    }
    port_ = options_.port;
  }
  return port_;
}

void HttpServer::start() {
  listen_done_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listen_done_ = true;
  });
}

void HttpServer::attach(ServingContext& ctx) {
  if (draining_) ctx.admission.begin_drain();
  ctx_ = &ctx;
}

void HttpServer::begin_drain() {
  draining_ = true;
  if (ServingContext* ctx = ctx_) ctx->admission.begin_drain();
}

bool HttpServer::drain(std::chrono::milliseconds timeout) {
  ServingContext* ctx = ctx_;
  return !ctx || ctx->admission.wait_idle(timeout);
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() does nothing before the listen loop has begun, so a stop
  // right after start() would wait forever: let the loop begin (or end) first.
  while (!server_->is_running() && !listen_done_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server_->stop();
  thread_.join();
  ctx_ = nullptr;
}

ServingContext& HttpServer::context() const {
  ServingContext* ctx = ctx_;
  if (!ctx) throw ApiError(503, "the model is still loading", {}, "loading");
  return *ctx;
}

void HttpServer::add_routes() {
  httplib::Server& s = *server_;
  // Authentication comes before routing, so unknown paths do not reveal
  // themselves to a client without the key either.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && same_secret(auth.substr(prefix.size()), options_.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    send_error(res, ApiError(401, "Incorrect API key provided.", {}, "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib's own refusals (no route, body too large, unparsable request)
  // come with an empty body: give them the OpenAI error schema too.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("Not Found: {} {}", req.method, req.path); break;
      case 413: message = fmt::format("the request body is larger than {} bytes", options_.max_request_bytes); break;
      default: message = fmt::format("the request was refused (HTTP {})", res.status); break;
    }
    const int status = res.status;
    send_error(res, ApiError(status, message));
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      send_error(res, as_api_error(e));
    } catch (...) {
      send_error(res, ApiError(500, "internal error", {}, "internal_error"));
    }
  });

  s.Get("/health", guarded([this](const httplib::Request&, httplib::Response& res) {
          if (draining_) throw ApiError(503, "the server is shutting down", {}, "shutting_down");
          if (!context().engine.loop_alive()) throw ApiError(503, "the engine loop has stopped", {}, "engine_dead");
          if (const auto changed = changed_mapped_files(); !changed.empty()) {
            throw ApiError(503, fmt::format("the model file {} changed on disk while mapped: its weights are no "
                                            "longer the ones loaded; restart the server", changed.front()),
                           {}, "model_file_changed");
          }
          res.status = 200;
        }));
  s.Get("/version", guarded([](const httplib::Request&, httplib::Response& res) {
          res.set_content(json_text({{"version", kStrataVersion}}), "application/json");
        }));
  s.Get("/metrics", guarded([this](const httplib::Request&, httplib::Response& res) {
          ServingContext& ctx = context();
          res.set_content(ctx.metrics.render(ctx.engine.counters()), "text/plain; version=0.0.4; charset=utf-8");
        }));
  s.Get("/v1/models", guarded([this](const httplib::Request&, httplib::Response& res) { serve_models(context(), res); }));
  s.Post("/tokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
           serve_tokenize(context(), req, res);
         }));
  s.Post("/detokenize", guarded([this](const httplib::Request& req, httplib::Response& res) {
           serve_detokenize(context(), req, res);
         }));
  s.Post("/v1/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
           serve_completions(context(), req, res);
         }));
  s.Post("/v1/chat/completions", guarded([this](const httplib::Request& req, httplib::Response& res) {
           serve_chat(context(), req, res);
         }));
}

}  // namespace strata
