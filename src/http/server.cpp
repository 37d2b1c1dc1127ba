// The only translation unit of the http module that includes Beast (compile time: architecture §4.11).
#include "http/server.hpp"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/object.hpp>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/files.hpp"
#include "http/json.hpp"
#include "http/rate_limit.hpp"
#include "http/uri.hpp"
#include "net/offload.hpp"

namespace plyr::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 4096;
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After answering without reading the whole request body we drain a little of what the client is still
// sending before closing: closing with unread data makes the kernel send RST, which can destroy the
// response before the client reads it.
constexpr std::chrono::milliseconds kLingerTime{500};
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr std::chrono::seconds kStopExtraWait{2};

// Metric series already looked up for this connection (keep-alive clients repeat the same few routes): saves
// the registry's mutex and label-vector allocations per request.
struct MetricSlot {
    std::string method;
    std::string route;
    int status = 0;
    core::metrics::CounterSeries* requests = nullptr;
    core::metrics::HistogramSeries* duration = nullptr;
};
constexpr std::size_t kMetricSlots = 8;

struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    std::string remote;
    bool idle = false;                 // waiting for the next request; touched only on the strand
    bool finished = false;             // the connection coroutine has ended; strand only
    asio::cancellation_signal cancel;  // emitted (on the strand) when shutdown runs out of grace
    // While a streamed body waits for its producer, the watcher's wake-up timer (strand only): Stop() cancels
    // it and the socket wait so the watcher re-checks `stopping_`.
    asio::steady_timer* stream_wake = nullptr;
    bool native_non_blocking = false;  // set once for sendfile(2)
    std::vector<MetricSlot> metric_slots;
};

// What went out for one response: payload bytes (no head, no chunk framing) and whether the body is complete.
struct Written {
    bool complete = false;
    std::uint64_t bytes = 0;
};

// Why a streamed body stopped waiting for its producer.
enum class StreamStop { kPeerGone, kShutdown, kCancelled };

struct Outcome {
    bool keep_alive = false;
    bool linger = false;  // unread request bytes remain
};

bool IsHttpParseError(const boost::system::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
           ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

bool ExpectsContinue(const Request& request) {
    auto expect = request.Header("Expect");
    return expect && EqualsIgnoreCase(*expect, "100-continue");
}

// Completion handlers of spawned coroutines: whatever escaped is logged, never dropped silently.
void LogEscaped(std::string_view event, const std::exception_ptr& error) {
    if (!error) return;
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        log::Warn(event, {{"error", e.what()}});
    } catch (...) {
        log::Warn(event, {{"error", "non-standard exception"}});
    }
}

// The Date header changes once a second: format it once per second and thread.
const std::string& CurrentHttpDate() {
    thread_local std::int64_t cached_second = -1;
    thread_local std::string cached;
    auto now = static_cast<std::int64_t>(std::time(nullptr));
    if (now != cached_second) {
        cached = FormatHttpDate(now);
        cached_second = now;
    }
    return cached;
}

// Label values must stay a small set: clients can send any token as a method.
std::string MetricMethod(std::string_view method) {
    for (std::string_view known : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
        if (method == known) return std::string(known);
    }
    return "OTHER";
}

Response InternalError(const std::string& request_id) {
    boost::json::object body;
    body["error"] = "internal_error";
    body["message"] = "internal error";
    body["detail"] = "internal_error";
    body["request_id"] = request_id;
    return JsonResponse(500, body);
}

// Accepts origin-form targets and, as RFC 9112 §3.2.2 requires, absolute-form ("http://host/path").
std::optional<std::string_view> OriginForm(std::string_view target) {
    for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
        if (target.size() >= scheme.size() && EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
            std::string_view rest = target.substr(scheme.size());
            auto slash = rest.find_first_of("/?");
            if (slash == std::string_view::npos) return std::string_view("/");
            if (rest[slash] == '?') return std::nullopt;
            return rest.substr(slash);
        }
    }
    if (target.empty() || target.front() != '/') return std::nullopt;
    return target;
}

class StreamedBody final : public BodyReader {
  public:
    StreamedBody(Connection& connection, bhttp::request_parser<bhttp::empty_body>&& head, std::uint64_t limit,
                 std::chrono::milliseconds timeout, bool send_continue)
        : connection_(connection), parser_(std::move(head)), timeout_(timeout), send_continue_(send_continue) {
        parser_.body_limit(limit);
        if (auto length = parser_.content_length()) content_length_ = *length;
    }

    boost::asio::awaitable<Result<std::size_t>> Read(std::span<char> out) override {
        if (error_) co_return Fail(*error_);
        if (parser_.is_done() || out.empty()) co_return std::size_t{0};
        if (send_continue_) {
            send_continue_ = false;
            connection_.stream.expires_after(timeout_);
            auto [ec, n] = co_await asio::async_write(connection_.stream, asio::buffer(kContinue), kTuple);
            if (ec) co_return Failed(ErrorCode::kIo, "client went away", ec.message());
        }
        std::size_t got = 0;
        while (got == 0 && !parser_.is_done()) {
            parser_.get().body().data = out.data();
            parser_.get().body().size = out.size();
            connection_.stream.expires_after(timeout_);
            auto [ec, n] = co_await bhttp::async_read(connection_.stream, connection_.buffer, parser_, kTuple);
            got = out.size() - parser_.get().body().size;
            if (ec == bhttp::error::need_buffer) ec = {};
            if (ec == bhttp::error::body_limit) co_return Failed(ErrorCode::kTooLarge, "request body is too large");
            if (ec == beast::error::timeout) co_return Failed(ErrorCode::kTimeout, "request body timed out");
            if (ec && IsHttpParseError(ec)) co_return Failed(ErrorCode::kProtocol, "malformed body", ec.message());
            if (ec) co_return Failed(ErrorCode::kIo, "client went away", ec.message());
        }
        co_return got;
    }

    std::optional<std::uint64_t> content_length() const override { return content_length_; }
    bool done() const { return parser_.is_done(); }

  private:
    tl::unexpected<Error> Failed(ErrorCode code, std::string message, std::string detail = {}) {
        error_ = Error{code, std::move(message), std::move(detail)};
        return tl::unexpected<Error>(*error_);
    }

    Connection& connection_;
    bhttp::request_parser<bhttp::buffer_body> parser_;
    std::chrono::milliseconds timeout_;
    bool send_continue_;
    std::optional<std::uint64_t> content_length_;
    std::optional<Error> error_;
};

}  // namespace

class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
  public:
    Impl(net::IoPool& pool, Router router, ServerOptions options)
        : pool_(pool),
          router_(std::move(router)),
          options_(std::move(options)),
          strand_(asio::make_strand(pool.context())),
          acceptor_(strand_) {
        if (options_.metrics != nullptr) {
            auto& registry = *options_.metrics;
            requests_ = &registry.Counter("plyr_http_requests_total", "HTTP requests by method, route and status.",
                                          {"method", "route", "status"});
            duration_ = &registry.Histogram("plyr_http_request_duration_seconds",
                                            "HTTP request latency from head to last byte written, by route.", {"route"},
                                            core::metrics::DefaultLatencyBuckets());
            bytes_ = &registry.Counter("plyr_http_response_bytes_total", "HTTP response body bytes sent.").Get();
            active_ = &registry.Gauge("plyr_http_connections_active", "Open HTTP connections.").Get();
        }
    }

    Result<std::uint16_t> Start();
    void Stop();
    std::uint16_t port() const { return port_.load(); }
    const Router& router() const { return router_; }

  private:
    asio::awaitable<void> AcceptLoop();
    asio::awaitable<void> RunConnection(std::shared_ptr<Connection> connection);
    asio::awaitable<void> Refuse(std::shared_ptr<Connection> connection);
    asio::awaitable<Outcome> ServeOne(Connection& connection);
    asio::awaitable<Written> WriteResponse(Connection& connection, Response& response, bool keep_alive, bool head,
                                           unsigned version);
    asio::awaitable<Written> WriteStream(Connection& connection, StreamBody& body, bool chunked);
    asio::awaitable<bool> WriteHead(Connection& connection, std::string_view head);
    asio::awaitable<StreamStop> WatchStream(Connection& connection, bool ends_on_shutdown);
    asio::awaitable<bool> SendFile(Connection& connection, const FileBody& body);
    asio::awaitable<void> Close(Connection& connection, bool linger);
    void Finalize(const Request* request, Response& response, const std::string& request_id) const;
    void Record(Connection& connection, const Request& request, std::string_view route, int status, std::uint64_t bytes,
                Clock::time_point start) const;
    void Unregister(Connection* connection);

    net::IoPool& pool_;
    Router router_;
    ServerOptions options_;
    asio::strand<asio::io_context::executor_type> strand_;
    tcp::acceptor acceptor_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint16_t> port_{0};
    std::atomic<bool> started_{false};

    std::mutex mutex_;
    std::condition_variable cv_;
    std::unordered_map<Connection*, std::shared_ptr<Connection>> connections_;
    bool accepting_ = false;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;

    core::metrics::CounterFamily* requests_ = nullptr;
    core::metrics::HistogramFamily* duration_ = nullptr;
    core::metrics::CounterSeries* bytes_ = nullptr;
    core::metrics::GaugeSeries* active_ = nullptr;
};

Result<std::uint16_t> Server::Impl::Start() {
    if (started_ || stopping_) return Fail(ErrorCode::kInternal, "server already started or stopped");
    boost::system::error_code ec;
    tcp::endpoint endpoint;
    auto address = asio::ip::make_address(options_.host, ec);
    if (!ec) {
        endpoint = tcp::endpoint(address, options_.port);
    } else {
        tcp::resolver resolver(pool_.context());
        auto results = resolver.resolve(options_.host, std::to_string(options_.port), ec);
        if (ec || results.empty()) return Fail(ErrorCode::kConfig, "cannot resolve HOST", options_.host);
        endpoint = results.begin()->endpoint();
    }
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        return Fail(ErrorCode::kUnavailable, "cannot listen",
                    fmt::format("{}:{}: {}", options_.host, options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint(ec).port();
    started_ = true;
    work_.emplace(pool_.context().get_executor());
    {
        std::lock_guard lock(mutex_);
        accepting_ = true;
    }
    auto self = shared_from_this();
    asio::co_spawn(strand_, AcceptLoop(), [self](std::exception_ptr error) {
        LogEscaped("http_accept_loop_failed", error);
        {
            std::lock_guard lock(self->mutex_);
            self->accepting_ = false;
        }
        self->cv_.notify_all();
    });
    log::Info("http_listening", {{"host", options_.host}, {"port", static_cast<int>(port_.load())}});
    return port_.load();
}

asio::awaitable<void> Server::Impl::AcceptLoop() {
    auto self = shared_from_this();
    while (true) {
        auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(pool_.context()), kTuple);
        if (ec) {
            if (stopping_ || ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            log::Warn("http_accept_failed", {{"error", ec.message()}});
            // Out of descriptors (EMFILE) and friends: back off instead of spinning on the error.
            asio::steady_timer backoff(strand_, std::chrono::milliseconds(50));
            co_await backoff.async_wait(kTuple);
            continue;
        }
        auto connection = std::make_shared<Connection>(std::move(socket));
        boost::system::error_code endpoint_ec;
        // Responses are written whole (head and body together, or the head corked with MSG_MORE before
        // sendfile), so Nagle only adds delay: a small answer after a previous one waited for a delayed ACK.
        connection->stream.socket().set_option(tcp::no_delay(true), endpoint_ec);
        auto remote = connection->stream.socket().remote_endpoint(endpoint_ec);
        if (!endpoint_ec) connection->remote = remote.address().to_string();
        bool refuse = false;
        {
            std::lock_guard lock(mutex_);
            refuse = connections_.size() >= options_.max_connections;
            if (!refuse) connections_.emplace(connection.get(), connection);
        }
        auto executor = connection->stream.get_executor();
        if (refuse) {
            asio::co_spawn(executor, Refuse(connection),
                           [](std::exception_ptr error) { LogEscaped("http_refuse_failed", error); });
            continue;
        }
        if (active_ != nullptr) active_->Inc();
        auto slot = connection->cancel.slot();
        asio::co_spawn(
            executor, RunConnection(connection),
            asio::bind_cancellation_slot(slot, [self, raw = connection.get(), executor](std::exception_ptr error) {
                LogEscaped("http_connection_failed", error);
                // Unregister after this handler returns: the coroutine machinery still uses the
                // connection's cancellation slot until then.
                asio::post(executor, [self, raw] { self->Unregister(raw); });
            }));
    }
}

void Server::Impl::Unregister(Connection* connection) {
    {
        std::lock_guard lock(mutex_);
        connections_.erase(connection);
    }
    if (active_ != nullptr) active_->Dec();
    cv_.notify_all();
}

asio::awaitable<void> Server::Impl::Refuse(std::shared_ptr<Connection> connection) {
    auto self = shared_from_this();
    Response response = ErrorResponse(503, "service_unavailable", "too many connections");
    response.headers.Set("Retry-After", "1");
    Finalize(nullptr, response, ChooseRequestId(std::nullopt));
    log::Warn("http_connection_refused", {{"remote", connection->remote}, {"reason", "max_connections"}});
    co_await WriteResponse(*connection, response, false, false, 11);
    co_await Close(*connection, true);
}

asio::awaitable<void> Server::Impl::RunConnection(std::shared_ptr<Connection> connection) {
    auto self = shared_from_this();
    Connection& c = *connection;
    bool linger = false;
    try {
        bool first = true;
        while (true) {
            if (c.buffer.size() == 0) {
                c.idle = true;
                if (stopping_) break;
                c.stream.expires_after(first ? options_.header_timeout : options_.idle_timeout);
                auto [ec, n] = co_await c.stream.async_read_some(c.buffer.prepare(kReadChunk), kTuple);
                c.idle = false;
                if (ec) break;
                c.buffer.commit(n);
            }
            first = false;
            Outcome outcome = co_await ServeOne(c);
            linger = outcome.linger;
            if (!outcome.keep_alive || stopping_) break;
        }
    } catch (const std::exception& e) {
        // Handler exceptions are answered inside ServeOne; this is a failure of the connection itself
        // (or the terminal cancellation at the end of the shutdown grace period).
        log::Warn("http_connection_failed", {{"remote", c.remote}, {"error", e.what()}});
    }
    co_await Close(c, linger);
    c.finished = true;
}

asio::awaitable<void> Server::Impl::Close(Connection& c, bool linger) {
    boost::system::error_code ec;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (linger && c.stream.socket().is_open()) {
        std::array<char, 16384> sink;
        std::size_t drained = 0;
        c.stream.expires_after(kLingerTime);
        while (drained < kLingerBytes) {
            auto [read_ec, n] = co_await c.stream.async_read_some(asio::buffer(sink), kTuple);
            if (read_ec) break;
            drained += n;
        }
    }
    c.stream.socket().close(ec);
}

void Server::Impl::Finalize(const Request* request, Response& response, const std::string& request_id) const {
    // Framing is the server's business; a handler cannot smuggle its own.
    response.headers.Remove("Content-Length");
    response.headers.Remove("Transfer-Encoding");
    response.headers.Remove("Connection");
    response.headers.Set("X-Request-Id", request_id);
    response.headers.Set("Date", CurrentHttpDate());
    if (request != nullptr) ApplyCors(*request, response, options_.cors);
    ApplySecurityHeaders(response, options_.security);
    ApplyJsonCacheDefault(response);
}

void Server::Impl::Record(Connection& c, const Request& request, std::string_view route, int status,
                          std::uint64_t bytes, Clock::time_point start) const {
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (options_.access_log) {
        // The path without its query: query strings may carry tokens. No headers are logged.
        log::Info("http_request", {{"method", request.method},
                                   {"path", request.path},
                                   {"route", route},
                                   {"status", status},
                                   {"bytes", bytes},
                                   {"duration_ms", seconds * 1000.0},
                                   {"request_id", request.request_id},
                                   {"remote", request.remote_address}});
    }
    if (requests_ != nullptr) {
        std::string method = MetricMethod(request.method);
        MetricSlot* slot = nullptr;
        for (auto& candidate : c.metric_slots) {
            if (candidate.status == status && candidate.route == route && candidate.method == method) {
                slot = &candidate;
                break;
            }
        }
        if (slot == nullptr) {
            if (c.metric_slots.size() >= kMetricSlots) c.metric_slots.erase(c.metric_slots.begin());
            std::string route_label(route);
            MetricSlot fresh{method, route_label, status, nullptr, nullptr};
            fresh.requests = &requests_->WithLabels({method, route_label, std::to_string(status)});
            fresh.duration = &duration_->WithLabels({route_label});
            c.metric_slots.push_back(std::move(fresh));
            slot = &c.metric_slots.back();
        }
        slot->requests->Inc();
        slot->duration->Observe(seconds);
        bytes_->Inc(bytes);
    }
}

asio::awaitable<Outcome> Server::Impl::ServeOne(Connection& c) {
    const auto start = Clock::now();
    bhttp::request_parser<bhttp::empty_body> head_parser;
    head_parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    head_parser.body_limit(boost::none);  // limits depend on the route: checked below
    c.stream.expires_after(options_.header_timeout);
    auto [head_ec, head_bytes] = co_await bhttp::async_read_header(c.stream, c.buffer, head_parser, kTuple);

    Request request;
    request.remote_address = c.remote;
    if (head_ec) {
        int status = 0;
        Response response;
        if (head_ec == bhttp::error::header_limit) {
            status = 431;
            response = ErrorResponse(431, "request_header_fields_too_large", "request headers are too large");
        } else if (IsHttpParseError(head_ec)) {
            status = 400;
            response = ErrorResponse(400, "bad_request", "malformed request");
        }
        if (status != 0) {
            request.request_id = ChooseRequestId(std::nullopt);
            Finalize(nullptr, response, request.request_id);
            auto written = co_await WriteResponse(c, response, false, false, 11);
            Record(c, request, "(malformed)", status, written.bytes, start);
            co_return Outcome{false, true};
        }
        // Timeout (slowloris), EOF or reset: nothing sensible to answer.
        if (head_ec == beast::error::timeout) {
            log::Info("http_header_timeout", {{"remote", c.remote}});
        }
        co_return Outcome{false, false};
    }

    {
        const auto& head = head_parser.get();
        request.method = std::string(head.method_string());
        request.target = std::string(head.target());
        request.version = head.version();
        for (const auto& field : head) request.headers.Add(field.name_string(), field.value());
    }
    request.request_id = ChooseRequestId(request.Header("X-Request-Id"));
    bool keep_alive = head_parser.keep_alive();
    bool body_pending = !head_parser.is_done();
    const bool head_request = request.method == "HEAD";

    std::optional<Response> response;
    const Handler* handler = nullptr;
    const Route* route = nullptr;
    std::string route_label;

    if (auto origin_form = OriginForm(request.target)) {
        auto [path, query] = SplitTarget(*origin_form);
        request.path = std::string(path);
        request.query_string = std::string(query);
        request.query = ParseQuery(query);
    } else {
        response = ErrorResponse(400, "bad_request", "malformed request target");
        route_label = "(invalid)";
    }

    if (!response) {
        if (IsPreflight(request)) {
            response = PreflightResponse(request, options_.cors);
            route_label = "(preflight)";
        } else {
            Match match = router_.Find(request.method, request.path);
            switch (match.kind) {
                case MatchKind::kFound:
                    route = match.route;
                    handler = &route->spec.handler;
                    request.path_params = std::move(match.params);
                    request.route = route->spec.pattern;
                    route_label = route->spec.pattern;
                    break;
                case MatchKind::kMethodNotAllowed:
                    if (request.method == "OPTIONS") {
                        response = Response(204);
                    } else {
                        response = ErrorResponse(405, "method_not_allowed", "method not allowed");
                    }
                    response->headers.Set("Allow", match.allow);
                    route_label = "(method_not_allowed)";
                    break;
                case MatchKind::kNotFound:
                    if (!IsApiPath(request.path) && router_.fallback() != nullptr) {
                        handler = router_.fallback();
                        route_label = "(fallback)";
                    } else {
                        response = ErrorResponse(404, "not_found", "not found");
                        route_label = "(not_found)";
                    }
                    break;
            }
        }
    }

    std::optional<RateLimitDecision> rate_decision;
    if (handler != nullptr && route != nullptr && options_.rate_limiter && route->spec.default_rate_limit &&
        IsApiPath(request.path) && !IsExemptFromDefaultRateLimit(request.path)) {
        rate_decision = options_.rate_limiter->Take(kRateBucketDefault, request, KeyBy::kSessionOrIp);
        if (!rate_decision->allowed) {
            response = RateLimitedResponse(*rate_decision);
            handler = nullptr;
        }
    }

    std::optional<StreamedBody> streamed;
    if (handler != nullptr && body_pending) {
        std::uint64_t limit =
            route != nullptr && route->spec.body_limit ? *route->spec.body_limit : options_.max_body_bytes;
        auto declared = head_parser.content_length();
        if (declared && *declared > limit) {
            response = ErrorResponse(413, "payload_too_large", "request body is too large");
            handler = nullptr;
        } else if (route != nullptr && route->spec.stream_body) {
            streamed.emplace(c, std::move(head_parser), limit, options_.body_timeout, ExpectsContinue(request));
            request.body_reader = &*streamed;
        } else {
            if (ExpectsContinue(request)) {
                c.stream.expires_after(options_.write_timeout);
                auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(kContinue), kTuple);
                if (ec) co_return Outcome{false, false};
            }
            bhttp::request_parser<bhttp::string_body> body_parser(std::move(head_parser));
            body_parser.body_limit(limit);
            c.stream.expires_after(options_.body_timeout);
            auto [ec, n] = co_await bhttp::async_read(c.stream, c.buffer, body_parser, kTuple);
            if (ec == bhttp::error::body_limit) {
                response = ErrorResponse(413, "payload_too_large", "request body is too large");
                handler = nullptr;
            } else if (ec && IsHttpParseError(ec)) {
                response = ErrorResponse(400, "bad_request", "malformed request body");
                handler = nullptr;
            } else if (ec) {
                // Body timeout (tcp_stream has already closed the socket) or the client went away.
                if (ec == beast::error::timeout) log::Info("http_body_timeout", {{"remote", c.remote}});
                co_return Outcome{false, false};
            } else {
                request.body = std::move(body_parser.get().body());
                body_pending = false;
            }
        }
    }

    if (handler != nullptr) {
        try {
            response = co_await (*handler)(request);
        } catch (const std::exception& e) {
            log::Error("http_handler_exception",
                       {{"request_id", request.request_id}, {"route", route_label}, {"error", e.what()}});
            response = InternalError(request.request_id);
        } catch (...) {
            log::Error(
                "http_handler_exception",
                {{"request_id", request.request_id}, {"route", route_label}, {"error", "non-standard exception"}});
            response = InternalError(request.request_id);
        }
        if (streamed) body_pending = !streamed->done();
        if (rate_decision) ApplyRateLimitHeaders(*response, *rate_decision);
    }

    if (response->close_connection || body_pending || stopping_) keep_alive = false;
    Finalize(&request, *response, request.request_id);
    if (response->stream && !response->stream->length && !head_request && request.version < 11) {
        keep_alive = false;  // HTTP/1.0 has no chunked coding: the body ends when the connection does
    }
    auto written = co_await WriteResponse(c, *response, keep_alive, head_request, request.version);
    Record(c, request, route_label, response->status, written.bytes, start);
    co_return Outcome{keep_alive && written.complete && !stopping_, body_pending};
}

asio::awaitable<Written> Server::Impl::WriteResponse(Connection& c, Response& response, bool keep_alive, bool head,
                                                     unsigned version) {
    const bool bodiless_status = response.status / 100 == 1 || response.status == 204 || response.status == 304;
    const bool stream = response.stream.has_value() && !bodiless_status;
    const bool chunked = stream && !response.stream->length && version >= 11;
    const std::uint64_t size = bodiless_status ? 0 : response.BodySize();

    // The head, serialised here rather than by Beast so that it can share a syscall with the body.
    std::string out;
    out.reserve(512 + (head || response.file || stream ? 0 : response.body.size()));
    out += version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ";
    out += std::to_string(response.status);
    out += ' ';
    out += bhttp::obsolete_reason(static_cast<bhttp::status>(response.status));
    out += "\r\n";
    for (const auto& [name, value] : response.headers.entries()) {
        // A CR or LF from handler data would split the response: drop such a header rather than send it.
        if (name.empty() || name.find_first_of(std::string_view("\r\n\0: \t", 6)) != std::string::npos ||
            value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            log::Error("http_invalid_response_header", {{"name", name}});
            continue;
        }
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    if (stream && !response.stream->length) {
        // Chunked (HTTP/1.1) or close-delimited (HTTP/1.0): no Content-Length. HEAD gets neither framing header.
        if (chunked && !head) out += "Transfer-Encoding: chunked\r\n";
    } else if (!bodiless_status) {
        out += "Content-Length: ";
        out += std::to_string(size);
        out += "\r\n";
    }
    if (version >= 11 && !keep_alive) out += "Connection: close\r\n";
    if (version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
    out += "\r\n";

    const bool body_follows = !head && !bodiless_status && size > 0;
    if (body_follows && !response.file && !stream) out += response.body;  // one write for head and body
    const bool file_follows = body_follows && response.file.has_value();
    if (file_follows && !co_await WriteHead(c, out)) co_return Written{};
    if (!file_follows) {
        c.stream.expires_after(options_.write_timeout);
        auto [ec, n] = co_await asio::async_write(c.stream, asio::buffer(out), kTuple);
        if (ec) co_return Written{};
    }
    if (head || bodiless_status) co_return Written{true, 0};
    if (stream) co_return co_await WriteStream(c, *response.stream, chunked);
    if (!file_follows) co_return Written{true, size};
    if (!co_await SendFile(c, *response.file)) co_return Written{};
    co_return Written{true, size};
}

asio::awaitable<bool> Server::Impl::WriteHead(Connection& c, std::string_view head) {
    // MSG_MORE holds the head back until sendfile's first bytes join it: one segment instead of a tiny one.
    // Non-blocking: a head that does not fit into the socket buffer at once goes out the ordinary way.
    ssize_t sent =
        ::send(c.stream.socket().native_handle(), head.data(), head.size(), MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) co_return false;
        sent = 0;
    }
    if (static_cast<std::size_t>(sent) == head.size()) co_return true;
    c.stream.expires_after(options_.write_timeout);
    auto [ec, n] =
        co_await asio::async_write(c.stream, asio::buffer(head.substr(static_cast<std::size_t>(sent))), kTuple);
    co_return !ec;
}

asio::awaitable<Written> Server::Impl::WriteStream(Connection& c, StreamBody& body, bool chunked) {
    Written written;
    auto executor = c.stream.get_executor();
    auto abort = [&](std::string_view reason, std::string_view detail = {}) {
        log::Warn("http_stream_aborted",
                  {{"remote", c.remote}, {"reason", reason}, {"detail", detail}, {"bytes", written.bytes}});
        // The caller closes the connection (written.complete stays false): the client sees a failed transfer.
    };
    if (!body.next) {
        abort("no_producer");
        co_return written;
    }
    while (true) {
        if (body.ends_on_shutdown && stopping_) break;
        // Wait for the producer while watching the peer (and, for endless streams, shutdown): the first to
        // finish cancels the other. The group waits for both, so `next` is not running once this returns.
        c.stream.expires_never();
        auto [order, next_error, next_result, watch_error, watch_result] =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(executor, body.next(), asio::deferred),
                asio::co_spawn(executor, WatchStream(c, body.ends_on_shutdown), asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        if (order[0] != 0) {
            if (watch_result == StreamStop::kShutdown) break;
            if (watch_result == StreamStop::kPeerGone) log::Info("http_stream_client_gone", {{"remote", c.remote}});
            co_return written;
        }
        if (next_error) {
            std::string what = "non-standard exception";
            try {
                std::rethrow_exception(next_error);
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            abort("producer_exception", what);
            co_return written;
        }
        if (!next_result) {
            abort("producer_error", next_result.error().message);
            co_return written;
        }
        if (!*next_result) break;  // the producer is done
        const std::string& chunk = **next_result;
        if (chunk.empty()) continue;
        if (body.length && written.bytes + chunk.size() > *body.length) {
            abort("stream_longer_than_length");
            co_return written;
        }
        c.stream.expires_after(options_.write_timeout);
        if (chunked) {
            std::string size_line = fmt::format("{:x}\r\n", chunk.size());
            std::array<asio::const_buffer, 3> buffers{asio::buffer(size_line), asio::buffer(chunk),
                                                      asio::buffer(std::string_view("\r\n"))};
            auto [write_ec, n] = co_await asio::async_write(c.stream, buffers, kTuple);
            if (write_ec) co_return written;
        } else {
            auto [write_ec, n] = co_await asio::async_write(c.stream, asio::buffer(chunk), kTuple);
            written.bytes += n;
            if (write_ec) co_return written;
            continue;
        }
        written.bytes += chunk.size();
    }
    if (body.length && written.bytes != *body.length) {
        abort("stream_shorter_than_length");
        co_return written;
    }
    if (chunked) {
        c.stream.expires_after(options_.write_timeout);
        auto [end_ec, n] = co_await asio::async_write(c.stream, asio::buffer(std::string_view("0\r\n\r\n")), kTuple);
        if (end_ec) co_return written;
    }
    written.complete = true;
    co_return written;
}

asio::awaitable<StreamStop> Server::Impl::WatchStream(Connection& c, bool ends_on_shutdown) {
    auto& socket = c.stream.socket();
    asio::steady_timer wake(c.stream.get_executor(), asio::steady_timer::time_point::max());
    c.stream_wake = &wake;
    struct Unregister {
        Connection& c;
        ~Unregister() { c.stream_wake = nullptr; }
    } unregister{c};
    bool data_pending = false;  // the client sent more (a pipelined request): EOF is no longer visible
    while (true) {
        if (ends_on_shutdown && stopping_) co_return StreamStop::kShutdown;
        boost::system::error_code ec;
        std::size_t peeked = 0;
        if (data_pending) {
            std::tie(ec) = co_await wake.async_wait(kTuple);
        } else {
            // A peeking receive, not async_wait(wait_read): Asio's reactor remembers readiness that arrived while
            // no operation was queued only for real reads (a wait would miss a FIN that came during a chunk
            // write). Peeking consumes nothing, so a pipelined request stays for the next ServeOne.
            char probe = 0;
            std::tie(ec, peeked) =
                co_await socket.async_receive(asio::buffer(&probe, 1), tcp::socket::message_peek, kTuple);
        }
        auto state = co_await asio::this_coro::cancellation_state;
        if (state.cancelled() != asio::cancellation_type::none) co_return StreamStop::kCancelled;
        if (ec == asio::error::operation_aborted) {
            wake.expires_at(asio::steady_timer::time_point::max());
            continue;  // Stop() woke us: re-check `stopping_`
        }
        if (ec) co_return StreamStop::kPeerGone;  // EOF, reset
        if (peeked > 0) data_pending = true;
    }
}

asio::awaitable<bool> Server::Impl::SendFile(Connection& c, const FileBody& body) {
    auto& socket = c.stream.socket();
    if (!c.native_non_blocking) {
        boost::system::error_code ec;
        socket.native_non_blocking(true, ec);
        if (ec) co_return false;
        c.native_non_blocking = true;
    }
    if (!body.fd || !body.fd->valid()) co_return false;
    off_t offset = static_cast<off_t>(body.offset);
    std::uint64_t remaining = body.length;
    asio::steady_timer timer(c.stream.get_executor());
    while (remaining > 0) {
        std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, 0x7ffff000));
        ssize_t sent = ::sendfile(socket.native_handle(), body.fd->get(), &offset, chunk);
        if (sent > 0) {
            remaining -= static_cast<std::uint64_t>(sent);
            continue;
        }
        if (sent == 0) {
            // The file shrank under us: the promised Content-Length cannot be met; the caller closes.
            log::Warn("http_sendfile_short", {{"remaining", remaining}});
            co_return false;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) co_return false;  // EPIPE, ECONNRESET: client gone
        // The socket buffer is full: wait until it drains, but not longer than write_timeout.
        auto timed_out = std::make_shared<bool>(false);
        timer.expires_after(options_.write_timeout);
        timer.async_wait([&socket, timed_out](const boost::system::error_code& timer_ec) {
            if (!timer_ec) {
                *timed_out = true;
                boost::system::error_code ignored;
                socket.cancel(ignored);
            }
        });
        auto [wait_ec] = co_await socket.async_wait(tcp::socket::wait_write, kTuple);
        timer.cancel();
        if (wait_ec || *timed_out) co_return false;
    }
    co_return true;
}

void Server::Impl::Stop() {
    if (pool_.context().get_executor().running_in_this_thread()) {
        std::fprintf(stderr, "http::Server::Stop() called from an I/O thread of its own pool: deadlock\n");
        std::abort();
    }
    if (stopping_.exchange(true) || !started_) return;
    const auto deadline = Clock::now() + options_.shutdown_grace;
    auto self = shared_from_this();
    asio::post(strand_, [self] {
        boost::system::error_code ec;
        self->acceptor_.close(ec);
    });
    std::unique_lock lock(mutex_);
    for (auto& [raw, connection] : connections_) {
        asio::post(connection->stream.get_executor(), [connection = connection] {
            if (connection->idle) connection->stream.cancel();
            if (connection->stream_wake != nullptr) {
                // A stream waiting for its producer: wake its watcher so it sees `stopping_`.
                connection->stream_wake->cancel();
                boost::system::error_code ignored;
                connection->stream.socket().cancel(ignored);
            }
        });
    }
    auto drained = [this] { return connections_.empty() && !accepting_; };
    if (!cv_.wait_until(lock, deadline, drained)) {
        log::Warn("http_stop_grace_expired", {{"connections", connections_.size()}});
        for (auto& [raw, connection] : connections_) {
            asio::post(connection->stream.get_executor(), [connection = connection] {
                if (connection->finished) return;
                connection->cancel.emit(asio::cancellation_type::terminal);
                boost::system::error_code ec;
                connection->stream.socket().close(ec);
            });
        }
        if (!cv_.wait_for(lock, kStopExtraWait, drained)) {
            log::Error("http_stop_incomplete", {{"connections", connections_.size()}});
        }
    }
    lock.unlock();
    work_.reset();
    log::Info("http_stopped", {{"port", static_cast<int>(port_.load())}});
}

Server::Server(net::IoPool& pool, Router router, ServerOptions options)
    : impl_(std::make_shared<Impl>(pool, std::move(router), std::move(options))) {}

Server::~Server() { Stop(); }

Result<std::uint16_t> Server::Start() { return impl_->Start(); }
std::uint16_t Server::port() const { return impl_->port(); }
void Server::Stop() { impl_->Stop(); }
const Router& Server::router() const { return impl_->router(); }

}  // namespace plyr::http
