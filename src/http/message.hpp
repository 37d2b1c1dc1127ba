#pragma once
// http messages as handlers see them: Request, Response, Headers, BodyReader, Handler.
//
// These are plain structs with no Beast types, so handler code (api/, app/) compiles without Beast.
// Header names compare case-insensitively; values are stored as received (the server has already
// rejected malformed header syntax). A Request belongs to one handler invocation; a Response is a value
// the server consumes. Thread-safety: plain values; a Request's BodyReader may only be used from the
// handler coroutine that received it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "core/result.hpp"

namespace plyr::http {

bool EqualsIgnoreCase(std::string_view a, std::string_view b);

class Headers {
  public:
    // First value of a header, if present.
    std::optional<std::string_view> Get(std::string_view name) const;
    bool Has(std::string_view name) const { return Get(name).has_value(); }
    // Replaces every existing value of `name`.
    void Set(std::string_view name, std::string_view value);
    // Adds another value (e.g. several Set-Cookie lines).
    void Add(std::string_view name, std::string_view value);
    void Remove(std::string_view name);
    // Appends `token` to a comma-separated header (Vary) unless present already.
    void AppendToken(std::string_view name, std::string_view token);

    const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
    bool empty() const { return entries_.empty(); }

  private:
    std::vector<std::pair<std::string, std::string>> entries_;
};

// Pull-style access to a request body that the server did not buffer (routes with stream_body).
class BodyReader {
  public:
    virtual ~BodyReader() = default;
    // Reads up to out.size() bytes; 0 means the body is complete. Errors: kTooLarge (the route's limit
    // was crossed: answer 413 and let the server close the connection), kTimeout (body timeout),
    // kProtocol (malformed chunking), kIo (the client went away).
    virtual boost::asio::awaitable<Result<std::size_t>> Read(std::span<char> out) = 0;
    // The declared Content-Length, when the client sent one (absent for chunked bodies).
    virtual std::optional<std::uint64_t> content_length() const = 0;
};

struct Request {
    std::string method;  // upper case as received: "GET", "POST", …
    std::string target;  // raw request target: "/tracks/12?x=1"
    std::string path;    // target without the query, still percent-encoded
    std::string query_string;
    std::vector<std::pair<std::string, std::string>> query;        // decoded (`+` is a space)
    std::vector<std::pair<std::string, std::string>> path_params;  // decoded, by name
    Headers headers;
    std::string body;                   // the buffered body (empty for stream_body routes)
    BodyReader* body_reader = nullptr;  // set only for stream_body routes
    std::string remote_address;         // peer IP as text ("127.0.0.1", "::1")
    std::string request_id;
    std::string route;  // the matched route pattern ("" when none)
    unsigned version = 11;

    std::optional<std::string_view> Header(std::string_view name) const { return headers.Get(name); }
    // First value of a query parameter.
    std::optional<std::string_view> Query(std::string_view name) const;
    std::optional<std::string_view> PathParam(std::string_view name) const;
    bool IsHead() const { return method == "HEAD"; }
};

// An open file descriptor, closed on destruction.
class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd();
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

// A byte range of an open file, sent with sendfile(2) instead of `body`.
struct FileBody {
    std::shared_ptr<UniqueFd> fd;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

// A response body produced piece by piece after the head is sent: SSE streams, object bodies proxied from S3.
//
// Contract (server side, see docs/http.md "Streamed responses"):
// - The server writes the head, then calls `next()` and writes what it returns, again and again, on the
//   connection's strand. A chunk is written completely before `next()` is called again (back-pressure: a slow
//   client slows the producer). An empty string writes nothing and `next()` is called again.
// - `std::nullopt` = the body is complete. An error = abort: the connection is closed without finishing the
//   body (a chunked body lacks its last-chunk, a sized one is short), so the client sees a failed transfer,
//   never a silently truncated one; the error is logged.
// - Framing: `length` set → `Content-Length: length`, and the producer must yield exactly that many bytes
//   (fewer or more → abort as above). Unset → `Transfer-Encoding: chunked` (HTTP/1.1) or a close-delimited
//   body (HTTP/1.0).
// - HEAD requests and bodiless statuses (1xx, 204, 304) never call `next()`; the StreamBody is just destroyed.
// - Ending early: when the client goes away (a write fails, or the server sees the peer close while `next()` is
//   pending), when graceful shutdown reaches an `ends_on_shutdown` stream, or at the shutdown grace deadline,
//   the server stops: a pending `next()` receives a terminal cancellation on its awaited operation (asio timers
//   and sockets complete with operation_aborted — await cancellable operations, not blocking work), the server
//   never calls `next()` again and destroys the StreamBody (and so whatever `next` captured) soon after. That
//   destruction is how a producer learns nobody listens: release subscriptions in destructors.
// - Timeouts: header/idle/body timeouts do not apply while streaming; `write_timeout` applies to each chunk
//   write (a client that stops reading is cut). `ends_on_shutdown` streams (SSE) are ended cleanly (last-chunk,
//   then close) as soon as Server::Stop() begins; other streams may run until the shutdown grace deadline.
// - The request that produced the response outlives the stream; `next` may refer to it.
// - Metrics/access log count the bytes actually written (payload, without chunk framing).
struct StreamBody {
    std::function<boost::asio::awaitable<Result<std::optional<std::string>>>()> next;
    std::optional<std::uint64_t> length;  // known total size (proxied objects); nullopt = chunked
    bool ends_on_shutdown = false;        // true for endless streams (SSE): cut cleanly at Server::Stop()
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;
    std::optional<FileBody> file;      // when set, `body` is ignored
    std::optional<StreamBody> stream;  // when set, `body` and `file` are ignored
    bool close_connection = false;

    Response() = default;
    explicit Response(int s) : status(s) {}
    // The Content-Length the server will send; for a stream without a known length, 0 (it is chunked).
    std::uint64_t BodySize() const {
        if (stream) return stream->length.value_or(0);
        return file ? file->length : body.size();
    }
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

}  // namespace plyr::http
