#pragma once
// Per-response policies applied by the server to every response (product.md §4.1): request ids,
// CORS (including preflight), security headers, the JSON Cache-Control default. Exposed separately so
// they are unit-testable without sockets. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace plyr::http {

struct CorsOptions {
    // Exact origins ("https://plyr.example", "http://127.0.0.1:5173") that get credentialed CORS: the
    // origin of PUBLIC_URL plus CORS_ALLOWED_ORIGINS.
    std::vector<std::string> credentialed_origins;
};

struct SecurityOptions {
    bool hsts = false;                    // PUBLIC_URL is https
    std::string content_security_policy;  // added to text/html responses that set none ("" = none)
};

// 1–64 characters of [A-Za-z0-9._-]: anything else is replaced, so ids are safe in logs and headers.
bool IsSafeRequestId(std::string_view id);
// The incoming X-Request-Id when safe, else a fresh random id.
std::string ChooseRequestId(std::optional<std::string_view> incoming);

// `/audio/*` and `/images/*`: public media with their own CORS rules.
bool IsMediaPath(std::string_view path);

// OPTIONS carrying Origin and Access-Control-Request-Method.
bool IsPreflight(const Request& request);
// 204 with the allow-lists for the request's origin and path.
Response PreflightResponse(const Request& request, const CorsOptions& options);
// CORS headers on an actual response (no-op without an Origin header except `Vary: Origin`).
void ApplyCors(const Request& request, Response& response, const CorsOptions& options);

void ApplySecurityHeaders(Response& response, const SecurityOptions& options);
// JSON responses are `Cache-Control: no-store` unless the handler chose a policy.
void ApplyJsonCacheDefault(Response& response);

// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (`::ffff:127.0.0.1`). For /metrics access.
bool IsLoopback(std::string_view remote_address);

}  // namespace plyr::http
