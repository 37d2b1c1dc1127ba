#include "http/middleware.hpp"

#include <algorithm>
#include <cstdint>

#include "core/encoding.hpp"
#include "http/json.hpp"

namespace plyr::http {
namespace {

constexpr std::string_view kApiMethods = "GET, POST, PUT, PATCH, DELETE";
constexpr std::string_view kApiRequestHeaders = "Content-Type, Authorization, If-Match, Idempotency-Key, Last-Event-ID";
constexpr std::string_view kApiExposedHeaders =
    "ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset";
constexpr std::string_view kMediaMethods = "GET, HEAD, OPTIONS";
constexpr std::string_view kMediaRequestHeaders = "Range";
constexpr std::string_view kMediaExposedHeaders = "Content-Range, Accept-Ranges, Content-Length, ETag";
constexpr std::string_view kMaxAge = "600";

bool IsCredentialed(std::string_view origin, const CorsOptions& options) {
    return std::find(options.credentialed_origins.begin(), options.credentialed_origins.end(), origin) !=
           options.credentialed_origins.end();
}

bool SafeIdChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.';
}

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() && EqualsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

}  // namespace

bool IsSafeRequestId(std::string_view id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), SafeIdChar);
}

std::string ChooseRequestId(std::optional<std::string_view> incoming) {
    if (incoming && IsSafeRequestId(*incoming)) return std::string(*incoming);
    // Ids must be unique, not secret: a per-thread generator seeded once from the CSPRNG instead of one
    // RAND_bytes call (and its fork-check getpid) per request. splitmix64 over a counter: 96 bits per id.
    thread_local std::uint64_t state = [] {
        std::string seed = core::RandomBytes(8);
        std::uint64_t value = 0;
        for (unsigned char c : seed) value = (value << 8) | c;
        return value;
    }();
    auto next = [] {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    };
    static constexpr char kHex[] = "0123456789abcdef";
    std::uint64_t high = next();
    std::uint64_t low = next();
    std::string id(24, '0');
    for (int i = 0; i < 16; ++i) id[static_cast<std::size_t>(i)] = kHex[(high >> (60 - 4 * i)) & 0xf];
    for (int i = 0; i < 8; ++i) id[static_cast<std::size_t>(16 + i)] = kHex[(low >> (28 - 4 * i)) & 0xf];
    return id;
}

bool IsMediaPath(std::string_view path) { return path.starts_with("/audio/") || path.starts_with("/images/"); }

bool IsPreflight(const Request& request) {
    return request.method == "OPTIONS" && request.Header("Origin") && request.Header("Access-Control-Request-Method");
}

Response PreflightResponse(const Request& request, const CorsOptions& options) {
    Response response(204);
    std::string_view origin = request.Header("Origin").value_or("");
    if (IsMediaPath(request.path)) {
        response.headers.Set("Access-Control-Allow-Origin", "*");
        response.headers.Set("Access-Control-Allow-Methods", kMediaMethods);
        response.headers.Set("Access-Control-Allow-Headers", kMediaRequestHeaders);
    } else {
        if (IsCredentialed(origin, options)) {
            response.headers.Set("Access-Control-Allow-Origin", origin);
            response.headers.Set("Access-Control-Allow-Credentials", "true");
        } else {
            response.headers.Set("Access-Control-Allow-Origin", "*");
        }
        response.headers.Set("Access-Control-Allow-Methods", kApiMethods);
        response.headers.Set("Access-Control-Allow-Headers", kApiRequestHeaders);
        response.headers.AppendToken("Vary", "Origin");
    }
    response.headers.Set("Access-Control-Max-Age", kMaxAge);
    return response;
}

void ApplyCors(const Request& request, Response& response, const CorsOptions& options) {
    if (IsMediaPath(request.path)) {
        // Public bytes: `*` for everyone and never credentials. Sent even without Origin, so a shared cache that
        // stored a plain <audio> fetch can serve it to a CORS fetch too (no Vary: Origin needed).
        response.headers.Set("Access-Control-Allow-Origin", "*");
        response.headers.Set("Access-Control-Expose-Headers", kMediaExposedHeaders);
        response.headers.Remove("Access-Control-Allow-Credentials");
        return;
    }
    // The answer depends on Origin, so shared caches must key on it even when it is absent.
    response.headers.AppendToken("Vary", "Origin");
    auto origin = request.Header("Origin");
    if (!origin) return;
    if (IsCredentialed(*origin, options)) {
        response.headers.Set("Access-Control-Allow-Origin", *origin);
        response.headers.Set("Access-Control-Allow-Credentials", "true");
    } else {
        response.headers.Set("Access-Control-Allow-Origin", "*");
        response.headers.Remove("Access-Control-Allow-Credentials");
    }
    response.headers.Set("Access-Control-Expose-Headers", kApiExposedHeaders);
}

void ApplySecurityHeaders(Response& response, const SecurityOptions& options) {
    response.headers.Set("X-Content-Type-Options", "nosniff");
    response.headers.Set("X-Frame-Options", "DENY");
    response.headers.Set("Referrer-Policy", "strict-origin-when-cross-origin");
    response.headers.Set("Cross-Origin-Opener-Policy", "same-origin");
    response.headers.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    if (options.hsts) response.headers.Set("Strict-Transport-Security", "max-age=63072000");
    if (!options.content_security_policy.empty() && !response.headers.Has("Content-Security-Policy")) {
        auto type = response.headers.Get("Content-Type");
        if (type && StartsWithIgnoreCase(*type, "text/html")) {
            response.headers.Set("Content-Security-Policy", options.content_security_policy);
        }
    }
}

void ApplyJsonCacheDefault(Response& response) {
    if (response.headers.Has("Cache-Control")) return;
    auto type = response.headers.Get("Content-Type");
    if (type && IsJsonContentType(*type)) response.headers.Set("Cache-Control", "no-store");
}

bool IsLoopback(std::string_view remote) {
    if (remote == "::1") return true;
    if (StartsWithIgnoreCase(remote, "::ffff:")) remote.remove_prefix(7);
    if (!remote.starts_with("127.")) return false;
    // Dotted quad with three more parts, digits only.
    int dots = 0;
    for (char c : remote) {
        if (c == '.')
            ++dots;
        else if (c < '0' || c > '9')
            return false;
    }
    return dots == 3;
}

}  // namespace plyr::http
