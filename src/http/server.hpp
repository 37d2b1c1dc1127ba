#pragma once
// http::Server — HTTP/1.1 on Boost.Beast + Asio coroutines: one coroutine per connection, keep-alive,
// limits, timeouts, graceful shutdown, and the per-response policies of middleware.hpp.
//
// Lifecycle
// - Construct with the I/O pool, a finished Router (moved in; read-only afterwards) and Options.
// - Start() binds host:port (port 0 → ephemeral; port() tells which), starts accepting and holds work on
//   the pool's io_context until Stop() returns. Call Start() BEFORE pool.Start(): IoPool threads return
//   from io_context::run() as soon as it has no work.
// - Stop() is BLOCKING (call it from main/signal thread, never from one of the pool's threads — that would
//   deadlock, so it aborts): it closes the acceptor (new connections are refused by the kernel), closes
//   idle keep-alive connections, lets in-flight requests finish and answers them with `Connection: close`,
//   and at Options::shutdown_grace cancels what is left (the handler coroutine receives a terminal
//   cancellation, the socket is closed). It returns when every connection coroutine has ended (or after a
//   further 2 s, logged as http_stop_incomplete). Idempotent; the destructor calls it. A stopped server
//   cannot be started again.
//
// Per request
// - The head must arrive within header_timeout (slowloris cut), larger than max_header_bytes → 431; a
//   malformed head → 400; both close the connection. Between requests a connection may idle for
//   idle_timeout (the first request gets header_timeout).
// - Body: Content-Length above the route's limit (RouteSpec::body_limit, else max_body_bytes) → 413
//   payload_too_large before reading it; a chunked body crossing the limit → 413 when it does; the
//   connection then closes (after draining briefly so the client can read the answer). The body must
//   arrive within body_timeout, else the connection is closed without an answer (Beast's stream timeout
//   closes the socket). `Expect: 100-continue` is answered when the body is actually wanted.
//   stream_body routes get Request::body_reader instead of a buffered body.
// - Unknown paths under kApiPrefixes → 404 not_found; other unknown paths → the router's fallback
//   (else 404); wrong method → 405 with Allow; OPTIONS preflight → 204 (CORS); plain OPTIONS on a known
//   path → 204 with Allow. HEAD → the GET route, same headers, no body.
// - A handler exception → 500 internal_error with "request_id"; logged; the connection keeps serving.
// - Every response: X-Request-Id, Date, security headers, CORS, JSON `Cache-Control: no-store` default;
//   one access-log line (http_request) and the plyr_http_* metrics when a registry is given.
// - File bodies (FileBody) are written with sendfile(2) on the non-blocking socket.
// Thread-safety: Start/Stop/port from any non-I/O thread; handlers run concurrently on the pool's threads
// (each connection on its own strand).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "http/middleware.hpp"
#include "http/router.hpp"

namespace plyr::core {
struct Config;
}
namespace plyr::core::metrics {
class Registry;
}
namespace plyr::net {
class IoPool;
}

namespace plyr::http {

class RateLimiter;  // http/rate_limit.hpp

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::size_t max_header_bytes = 8 * 1024;
    std::uint64_t max_body_bytes = 1 << 20;
    std::size_t max_connections = 10000;  // beyond: 503 service_unavailable and close
    std::chrono::milliseconds header_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::chrono::milliseconds body_timeout{60'000};
    std::chrono::milliseconds write_timeout{60'000};  // no write progress for this long → close
    std::chrono::milliseconds shutdown_grace{10'000};
    CorsOptions cors;
    SecurityOptions security;
    core::metrics::Registry* metrics = nullptr;  // not owned; must outlive the server
    bool access_log = true;
    // When set, the `default` bucket (product.md §4.1) is taken for every matched route under an API prefix,
    // except IsExemptFromDefaultRateLimit paths (/audio/*, /images/*, /health, /metrics) and routes with
    // RouteSpec::default_rate_limit = false. Refused → 429 `rate_limited` before the body is read (the connection then
    // closes if a body was pending); allowed → RateLimit-* headers on the handler's response. Null = no server-wide
    // limit.
    std::shared_ptr<RateLimiter> rate_limiter;
};

// host/port, limits, timeouts, CORS origins (PUBLIC_URL's origin + CORS_ALLOWED_ORIGINS) and HSTS from
// the configuration (product.md §8.2).
ServerOptions ServerOptionsFromConfig(const core::Config& config);

class Server {
  public:
    Server(net::IoPool& pool, Router router, ServerOptions options);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Errors: kConfig (host does not parse/resolve), kUnavailable (bind/listen failed, e.g. port in use).
    Result<std::uint16_t> Start();
    std::uint16_t port() const;
    void Stop();

    const Router& router() const;

  private:
    class Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace plyr::http
