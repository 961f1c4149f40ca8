#pragma once
// The OpenAI-compatible HTTP front end (cpp-httplib, one pool thread per
// connection). It listens before the model is loaded, so /health can say
// 503 until attach(); begin_drain() makes it refuse new work for shutdown.
//
//   HttpServer http(options);
//   int port = http.bind();     // throws Error if the address is taken
//   http.start();               // serves on a background thread
//   http.attach(ctx);           // the model's endpoints go live
//   ... http.begin_drain(); http.drain(timeout); http.stop();
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace strata {

struct ServingContext;

inline constexpr const char* kStrataVersion = "0.1.0";

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  std::string api_key;  // when set, every route but /health needs "Authorization: Bearer <key>"
  size_t max_request_bytes = size_t(16) << 20;  // larger bodies answer 413
  // Connections served at once: each holds a thread (a stream for its whole
  // length); threads start on demand and end after 3 s without work.
  // Connections past this wait for a thread.
  int http_threads = 4096;
  // A connection that sends no request for this long, or stalls this long
  // inside one, is closed; so is a response the client stops reading.
  int idle_timeout_seconds = 5;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // stops serving
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int bind();
  void start();
  // `ctx` must outlive the server (or the next stop()).
  void attach(ServingContext& ctx);
  // New generation requests and /health answer 503 from now on.
  void begin_drain();
  // Waits for admitted generations to finish; false if some still run at the timeout.
  bool drain(std::chrono::milliseconds timeout);
  void stop();
  int port() const { return port_; }

 private:
  void add_routes();
  ServingContext& context() const;  // throws ApiError 503 while loading

  HttpServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listen_done_{false};
  int port_ = 0;
  std::atomic<ServingContext*> ctx_{nullptr};
  std::atomic<bool> draining_{false};
};

}  // namespace strata
