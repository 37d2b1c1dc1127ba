#pragma once
// api — thin HTTP handlers over auth::AuthService (product.md §4.3 auth rows, §6.1–6.3; docs/auth.md).
//
// Contract
// - AddAuthRoutes registers, with OpenAPI docs: GET /auth/start, GET /auth/callback, POST /auth/exchange,
//   GET /auth/me, POST /auth/logout, POST /auth/logout-all, POST /auth/add-account/start,
//   POST /auth/switch-account, POST /auth/developer-token/start, GET /auth/developer-tokens,
//   DELETE /auth/developer-tokens/{token_id}, POST /auth/scope-upgrade/start, GET /oauth-client-metadata.json
//   (404 for the loopback client), GET /.well-known/jwks.json (404 for a public client).
// - Every service call runs on the blocking pool (net::Offload); handlers never block an I/O thread.
// - Cookies: `session_id` HttpOnly, SameSite=Lax, Path=/, Secure unless PUBLIC_URL is http, Max-Age = seconds
//   to the session's expiry; a 401 session_expired clears it (Max-Age=0). The browser-binding cookie of the
//   sign-in (auth::kBindingCookie, 10 min) is set by every …/start; a successful callback keeps it for 120 s
//   (a browser exchange must present it: login CSRF by a forwarded ?exchange_token= link), a failed one clears it.
//   A cross-site navigation to /auth/start (Sec-Fetch-Site: cross-site, no credentialed Referer) is refused
//   (303 /login?auth_error=csrf_rejected, JSON 403). Developer tokens cannot do the cookie-only actions (403).
// - CSRF: cookie-authenticated POST/DELETE pass http::CsrfPolicy (403 csrf_rejected); Bearer is exempt.
// - Rate limits: the `auth` bucket (per IP) on /auth/start, /auth/exchange and every …/start POST, when a
//   limiter is given.
// - Test-only routes (options.enable_test_routes, set from env PLYR_ENABLE_TEST_ROUTES=1; hidden from
//   OpenAPI): POST /auth/test/create-record {collection, record} → {uri, cid} through the session-bound DPoP
//   client; POST /auth/test/refresh → {refreshed: true} after a forced token refresh.
// - Thread-safety: the service, pool, limiter and clock must outlive the router.

#include <memory>

#include "auth/auth_service.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/csrf.hpp"
#include "http/rate_limit.hpp"
#include "http/router.hpp"
#include "net/offload.hpp"

namespace plyr::api {

struct AuthRoutesOptions {
    std::shared_ptr<http::RateLimiter> limiter;     // null: no rate limits
    std::vector<std::string> credentialed_origins;  // CSRF: origin of PUBLIC_URL + CORS_ALLOWED_ORIGINS
    bool secure_cookies = true;
    std::int64_t developer_token_default_days = 90;
    bool enable_test_routes = false;
};

// PLYR_ENABLE_TEST_ROUTES=1 in the environment.
bool TestRoutesEnabledFromEnv();

Status AddAuthRoutes(http::Router& router, auth::AuthService& service, net::BlockingPool& pool,
                     const core::Clock& clock, AuthRoutesOptions options);

}  // namespace plyr::api
