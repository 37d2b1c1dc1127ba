#pragma once
// atproto::xrpc::XrpcClient — XRPC calls (docs/atproto.md §3) against one service (a user's PDS, an AppView)
// through the SSRF-guarded net::HttpClient. The repository operations built on it are in repo.hpp;
// docs/xrpc.md explains the design decisions.
//
// Contract
// - Every call is BLOCKING (it runs net::HttpClient::Send, libcurl easy, plus backoff sleeps); coroutines call
//   it through net::Offload on the blocking pool.
// - URL: `<service_url>/xrpc/<nsid>` (a trailing '/' on the service URL is dropped; the service URL must be an
//   origin — XRPC never lives under a path prefix). Query parameters are percent-encoded (only RFC 3986
//   unreserved characters stay literal); repeat a key for array parameters.
// - Query = GET, Procedure = POST with a JSON body (from a Value), raw bytes or a file streamed from disk.
//   A 2xx JSON output is parsed into a Value (an empty body is null); outputs that are not data-model JSON
//   are kProtocol. Downloads (QueryToFile) go to a temporary file beside the destination that is renamed
//   into place only after a 2xx (and the optional verifier) succeeded, so a failed call leaves no file.
// - Errors are XrpcError values: the ErrorCode (CodeForXrpcError), the XRPC `error` name from the response
//   body (`InvalidRequest`, `RecordNotFound`, `InvalidSwap`, `ExpiredToken`, …; empty when the body had none,
//   e.g. an HTML page from a proxy), the message, the HTTP status (0 when no response arrived) and the
//   headers an auth layer needs (`WWW-Authenticate`, `DPoP-Nonce`, `Retry-After`). Local failures (bad NSID,
//   auth hook failure) and transport failures carry the net::HttpClient / hook ErrorCode with status 0.
// - Retries (jittered exponential backoff, at most options.max_retries extra attempts) happen only for
//   idempotent calls — every query, and procedures whose CallOptions say idempotent (putRecord,
//   deleteRecord, uploadBlob in repo.hpp; never createRecord or applyWrites) — and only on transport
//   failures (kUnavailable, kTimeout) and HTTP 500/502/503/504 (a 503/429 Retry-After is honoured up to
//   backoff_cap; 429 itself and 501 are never retried).
// - Auth: the hook is called before EVERY attempt (so a DPoP proof is fresh and can carry the newest nonce)
//   and returns the headers to add. When a response is 401 (or 400) `use_dpop_nonce` — WWW-Authenticate
//   `error="use_dpop_nonce"` or a JSON error of that name — and carries a DPoP-Nonce, the call is repeated
//   once with AuthContext::dpop_nonce set (for any call: the server did not process the request; only when
//   there is a hook to put the nonce into a new proof). Every
//   DPoP-Nonce seen is also reported to options.on_dpop_nonce so the caller can keep the latest.
// Thread-safety: all calls are const and may run concurrently when the HttpClient and the hooks allow it
// (CurlHttpClient does); the jitter source is internally locked.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "atproto/data/value.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::xrpc {

struct XrpcError {
    ErrorCode code = ErrorCode::kInternal;
    std::string error;             // XRPC error name ("InvalidSwap"); empty when the response carried none
    std::string message;           // the server's message, or a description of the local/transport failure
    int status = 0;                // HTTP status; 0 when no response arrived (local or transport failure)
    std::string detail;            // internal (for logs): the NSID, a snippet of an unparseable body, transport detail
    std::string www_authenticate;  // of the error response, when present
    std::string dpop_nonce;        // DPoP-Nonce of the error response, when present
    std::optional<std::chrono::seconds> retry_after;  // Retry-After (delta-seconds form), when present

    bool Is(std::string_view name) const { return error == name; }
    // For callers that propagate a plain Result: code, a user-safe message, everything else in detail.
    Error ToError() const;
    std::string ToString() const;
};

template <typename T>
using XrpcResult = tl::expected<T, XrpcError>;

inline tl::unexpected<XrpcError> XrpcFail(ErrorCode code, std::string message, std::string detail = {}) {
    XrpcError error;
    error.code = code;
    error.message = std::move(message);
    error.detail = std::move(detail);
    return tl::unexpected<XrpcError>(std::move(error));
}
inline tl::unexpected<XrpcError> XrpcFail(XrpcError error) { return tl::unexpected<XrpcError>(std::move(error)); }
XrpcError FromError(const Error& error);

// The ErrorCode for an XRPC error response: known names first (RecordNotFound → kNotFound, InvalidSwap →
// kConflict, ExpiredToken/InvalidToken/AuthMissing/AuthenticationRequired/use_dpop_nonce →
// kPermissionDenied, RateLimitExceeded → kBusy, PayloadTooLarge/BlobTooLarge → kTooLarge, …), then the
// status (400 → kInvalidArgument, 401/403 → kPermissionDenied, 404 → kNotFound, 409 → kConflict,
// 413 → kTooLarge, 429 → kBusy, 501 → kUnsupported, other 5xx → kUnavailable, 3xx → kProtocol).
ErrorCode CodeForXrpcError(int status, std::string_view error_name);

// The XrpcError for a non-2xx response whose body is `body` (untrusted): the `error` name is kept only when
// it is a printable token of at most 128 bytes, the message is cut at 1024 bytes, a body that is not an
// XRPC error object leaves only a printable snippet in `detail`. Never fails.
XrpcError ErrorFromResponse(std::string_view nsid, const net::HttpResponse& response, std::string_view body);

// Query parameters in order; repeat a key for an array parameter.
using Params = std::vector<std::pair<std::string, std::string>>;

// What the auth hook sees for each attempt.
struct AuthContext {
    std::string_view method;  // "GET" or "POST"
    std::string_view url;     // the full request URL, query included
    std::string_view htu;     // the URL without query (a DPoP proof's `htu`)
    std::string_view nsid;
    int attempt = 0;                    // 0 for the first request of the call
    std::string_view dpop_nonce;        // newest DPoP-Nonce from a response in this call; empty = none yet
    std::string_view www_authenticate;  // of the `use_dpop_nonce` response that caused this attempt
};
// Returns the headers to send (e.g. Authorization + DPoP). An error ends the call with that error.
using AuthHook = std::function<Result<net::HeaderList>(const AuthContext&)>;

struct XrpcOptions {
    int max_retries = 3;  // extra attempts for idempotent calls
    std::chrono::milliseconds backoff_base{250};
    std::chrono::milliseconds backoff_cap{8'000};
    std::chrono::milliseconds timeout{30'000};                  // per attempt, JSON calls
    std::chrono::milliseconds transfer_timeout{600'000};        // per attempt, file uploads and downloads
    std::uint64_t max_json_bytes = 16 << 20;                    // largest JSON output accepted
    AuthHook auth;                                              // optional
    std::function<void(std::string_view nonce)> on_dpop_nonce;  // optional; every DPoP-Nonce received
    // How backoff waits; std::this_thread::sleep_for when empty (tests record the delays instead).
    std::function<void(std::chrono::milliseconds)> sleep;
};

struct Body {
    std::string content_type;
    std::string data;                      // sent when `file` is empty
    std::filesystem::path file;            // streamed from disk when set
    static Body Json(const Value& input);  // application/json, the Value's JSON form
    static Body Raw(std::string data, std::string content_type);
    static Body File(std::filesystem::path file, std::string content_type);
};

struct CallOptions {
    bool idempotent = false;  // procedures only (queries are always idempotent): allows retries
    net::HeaderList headers;  // extra headers: atproto-proxy, atproto-accept-labelers, …
};

// Checked before a downloaded file is moved into place (e.g. its hash against a CID).
using FileVerifier = std::function<Status(const std::filesystem::path& downloaded)>;

class XrpcClient {
  public:
    // `http` must outlive the client.
    XrpcClient(std::string service_url, net::HttpClient& http, XrpcOptions options = {});

    XrpcResult<Value> Query(std::string_view nsid, const Params& params = {}, const CallOptions& call = {}) const;
    XrpcResult<Value> Procedure(std::string_view nsid, const Body& body, const CallOptions& call = {}) const;
    XrpcResult<Value> Procedure(std::string_view nsid, const Params& params, const Body& body,
                                const CallOptions& call = {}) const;

    // Binary outputs (blobs, CARs): the raw 2xx body, at most max_bytes (else kTooLarge).
    XrpcResult<std::string> QueryBytes(std::string_view nsid, const Params& params, std::uint64_t max_bytes,
                                       const CallOptions& call = {}) const;
    // Streams the 2xx body into `destination` (replaced atomically); returns its size.
    XrpcResult<std::uint64_t> QueryToFile(std::string_view nsid, const Params& params,
                                          const std::filesystem::path& destination, std::uint64_t max_bytes,
                                          const FileVerifier& verify = {}, const CallOptions& call = {}) const;

    const std::string& service_url() const { return service_url_; }
    const XrpcOptions& options() const { return options_; }

  private:
    struct Call;
    struct Raw;
    XrpcResult<Raw> Execute(const Call& call) const;
    std::chrono::milliseconds Backoff(int retry) const;

    std::string service_url_;
    net::HttpClient& http_;
    XrpcOptions options_;
    struct Jitter;
    std::shared_ptr<Jitter> jitter_;
};

// RFC 3986 percent-encoding of everything but unreserved characters (query keys and values).
std::string PercentEncode(std::string_view text);

}  // namespace plyr::atproto::xrpc
