#pragma once
// http::csrf — the CSRF rule of product.md §4.1 for cookie-authenticated requests.
//
// For POST, PUT, PATCH and DELETE (other methods always pass):
// - `Sec-Fetch-Site: cross-site` → rejected (same-origin, same-site, none pass this step);
// - the request's origin is its `Origin` header, or when absent the origin of `Referer`; it must equal one
//   of the credentialed origins (origin of PUBLIC_URL + CORS_ALLOWED_ORIGINS). Comparison is on normalised
//   origins (scheme and host lower-cased, default ports :80/:443 dropped). `Origin: null`, an unparseable
//   Referer, or neither header present → rejected.
// Failure is 403 `csrf_rejected`. Bearer-authenticated requests are exempt: the caller (auth module) calls
// this only when the session came from the cookie.
// Thread-safety: CsrfPolicy is immutable after construction; Check is const and safe concurrently.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

// "scheme://host[:port]" of an absolute http(s) URL, normalised as above; nullopt if it has none.
std::optional<std::string> NormalizedOrigin(std::string_view url);

bool IsStateChangingMethod(std::string_view method);

class CsrfPolicy {
  public:
    // `credentialed_origins` as in CorsOptions (exact origins); entries that do not parse are ignored.
    explicit CsrfPolicy(const std::vector<std::string>& credentialed_origins);
    // PUBLIC_URL's origin + CORS_ALLOWED_ORIGINS.
    static CsrfPolicy FromConfig(const core::Config& config);

    // Ok, or kPermissionDenied with a reason (for logs; no header values echoed beyond the origin).
    Status Check(const Request& request) const;
    // nullopt when allowed, else the ready 403 `csrf_rejected` JSON response.
    std::optional<Response> Reject(const Request& request) const;

    bool IsCredentialedOrigin(std::string_view origin) const;

  private:
    std::vector<std::string> origins_;
};

}  // namespace plyr::http
