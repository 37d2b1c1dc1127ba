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

struct Response {
    int status = 200;
    Headers headers;
    std::string body;
    std::optional<FileBody> file;  // when set, `body` is ignored
    bool close_connection = false;

    Response() = default;
    explicit Response(int s) : status(s) {}
    std::uint64_t BodySize() const { return file ? file->length : body.size(); }
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

}  // namespace plyr::http
