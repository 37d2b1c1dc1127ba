#pragma once
// Test support: a tiny blocking HTTP client (libcurl) that plays a browser's part in end-to-end tests — one
// cookie jar, redirects never followed (tests assert each hop), every response header kept in order (several
// Set-Cookie lines survive). Tests only; not thread-safe (one WebClient per thread).

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace plyr::testing {

// One parsed Set-Cookie line. Attribute names are lower-case; flags (HttpOnly, Secure) map to "".
struct SetCookie {
    std::string name;
    std::string value;
    std::map<std::string, std::string> attributes;

    bool Has(const std::string& attribute) const { return attributes.contains(attribute); }
    std::string Attribute(const std::string& attribute) const;
    // Max-Age <= 0 (or an Expires date in the past): the server asks the browser to drop the cookie.
    bool Clears() const;
};

std::optional<SetCookie> ParseSetCookie(const std::string& line);

struct WebResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // lower-case names, in wire order
    std::string body;

    // First value of `name` (case-insensitive), or "".
    std::string Header(const std::string& name) const;
    std::vector<std::string> Headers(const std::string& name) const;
    std::vector<SetCookie> SetCookies() const;
    std::optional<SetCookie> FindSetCookie(const std::string& name) const;
    // Parsed JSON body; a null value when the body is not JSON.
    boost::json::value Json() const;
    // `error` of a JSON error body, or "".
    std::string ErrorCode() const;
};

// The value of query parameter `name` in `url` (percent-decoded), or nullopt.
std::optional<std::string> QueryParam(const std::string& url, const std::string& name);
// scheme://host[:port] of `url`.
std::string OriginOf(const std::string& url);
// path[?query] of `url` (for asserting where a redirect points).
std::string PathOf(const std::string& url);
// Percent-encodes everything but unreserved characters (for query values).
std::string UrlEncode(const std::string& text);

using Headers = std::map<std::string, std::string>;

class WebClient {
  public:
    // `base_url` (scheme://host:port) is prefixed to request targets that start with '/'.
    explicit WebClient(std::string base_url = {});

    // nullopt on a transport failure (connection refused, timeout). Cookies of the jar are sent unless the
    // caller passes its own "Cookie" header; Set-Cookie lines of the answer update the jar.
    std::optional<WebResponse> Request(const std::string& method, const std::string& target,
                                       const Headers& headers = {}, const std::string& body = {},
                                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    std::optional<WebResponse> Get(const std::string& target, const Headers& headers = {}) {
        return Request("GET", target, headers);
    }
    // POST with a JSON body (Content-Type: application/json).
    std::optional<WebResponse> PostJson(const std::string& target, const std::string& json,
                                        const Headers& headers = {});

    std::optional<std::string> Cookie(const std::string& name) const;
    void SetCookieValue(const std::string& name, const std::string& value) { jar_[name] = value; }
    void EraseCookie(const std::string& name) { jar_.erase(name); }
    void ClearCookies() { jar_.clear(); }
    const std::map<std::string, std::string>& cookies() const { return jar_; }
    const std::string& base_url() const { return base_url_; }

  private:
    std::string base_url_;
    std::map<std::string, std::string> jar_;
};

}  // namespace plyr::testing
