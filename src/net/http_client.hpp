#pragma once
// net::HttpClient — the one outbound HTTP client for URLs plyr does not control (handles, DID documents,
// PDS endpoints, OAuth metadata). docs/identity.md explains the design; docs/atproto.md §2.7 the threat.
//
// Contract
// - Send() is BLOCKING (libcurl easy API): coroutines call it through net::Offload on the blocking pool.
// - http and https only; no proxies (environment variables are ignored), no cookies, no credentials in the
//   URL (refused), no automatic decompression. Plain http is refused unless the PrivateNetworkPolicy
//   permits_http() (ALLOW_PRIVATE_NETWORK set: tests and local development).
// - SSRF guard: the client resolves the host itself, classifies EVERY address (net/ssrf.hpp) and refuses
//   the request when any of them is not allowed by the policy; the checked addresses are pinned with
//   CURLOPT_RESOLVE, and CURLOPT_OPENSOCKETFUNCTION refuses a socket to any address that was not checked.
// - Redirects: max_redirects == 0 (default) returns the 3xx response as it is (callers treat it as a
//   failure). With max_redirects > 0 the client follows them itself and re-runs every check on each hop;
//   303 (and 301/302 after POST) continue as GET without a body; Authorization and Cookie headers are
//   dropped when the origin changes. More hops than allowed → kProtocol.
// - Response body: buffered in Response::body, or passed to body_sink, or written to response_file
//   (created or truncated; removed again when the request fails). Over max_response_bytes → kTooLarge.
// - Errors: kInvalidArgument (bad URL, scheme, credentials in URL, unreadable body_file),
//   kPermissionDenied with detail starting "ssrf_blocked" (address refused), kTimeout (total time over
//   `timeout`, DNS included), kTooLarge, kUnavailable (DNS failure, connect/TLS/transfer failure),
//   kProtocol (malformed response, too many redirects), kIo (response_file not writable), or the error a
//   body_sink returned.
// - Metrics: with a registry, refusals count in `plyr_ssrf_blocked_total{reason}` (reason = address class).
// Thread-safety: Send() may be called concurrently from any number of threads (one easy handle per call).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/metrics.hpp"
#include "core/result.hpp"
#include "net/ssrf.hpp"

namespace plyr::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    HeaderList headers;
    std::string body;                                         // sent when body_file is empty
    std::filesystem::path body_file;                          // streamed upload when set
    std::function<Status(std::string_view chunk)> body_sink;  // receives the response body when set
    std::filesystem::path response_file;                      // or: the response body goes to this file
    std::uint64_t max_response_bytes = 1 << 20;
    std::chrono::milliseconds timeout{10'000};  // whole request incl. DNS and redirects
    std::chrono::milliseconds connect_timeout{5'000};
    int max_redirects = 0;
};

struct HttpResponse {
    int status = 0;
    HeaderList headers;  // names lowercased, in arrival order (the final hop's only)
    std::string body;    // empty when body_sink or response_file was used
    std::string url;     // the URL that produced this response (after redirects)

    std::optional<std::string_view> Header(std::string_view name) const;
};

class HttpClient {
  public:
    virtual ~HttpClient() = default;
    virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
    virtual const PrivateNetworkPolicy& policy() const = 0;
};

struct CurlHttpClientOptions {
    PrivateNetworkPolicy policy;
    // Host name → addresses used instead of DNS (like curl --resolve; tests and fixtures). The addresses
    // still go through the SSRF checks.
    std::map<std::string, std::vector<std::string>, std::less<>> static_hosts;
    std::string user_agent = "plyr";
    core::metrics::Registry* metrics = nullptr;  // optional; must outlive the client
};

class CurlHttpClient final : public HttpClient {
  public:
    explicit CurlHttpClient(CurlHttpClientOptions options = {});
    ~CurlHttpClient() override;
    CurlHttpClient(const CurlHttpClient&) = delete;
    CurlHttpClient& operator=(const CurlHttpClient&) = delete;

    Result<HttpResponse> Send(const HttpRequest& request) override;
    const PrivateNetworkPolicy& policy() const override { return options_.policy; }

  private:
    struct Target;
    Result<Target> Check(std::string_view url, std::chrono::steady_clock::time_point deadline);
    Result<HttpResponse> SendOnce(const HttpRequest& request, const Target& target, std::string_view method,
                                  bool with_body, const HeaderList& headers,
                                  std::chrono::steady_clock::time_point deadline);
    void CountBlock(std::string_view reason);

    CurlHttpClientOptions options_;
    core::metrics::CounterFamily* blocked_ = nullptr;
};

// Resolves a Location value against the URL it came from (absolute or relative reference); empty on error.
std::string ResolveRedirect(std::string_view base_url, std::string_view location);

}  // namespace plyr::net
