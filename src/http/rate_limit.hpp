#pragma once
// http::rate_limit — per-process token-bucket rate limits (product.md §4.1 "Rate limits", §8.2).
//
// A RateLimiter holds named buckets ("default", "auth", "upload", …), each a rule of `limit` requests per
// `period`: every (bucket, key) pair gets its own token bucket of capacity `limit`, refilled continuously at
// limit/period. A request takes one token or is refused.
// Keys (RateLimitKey): SHA-256 (hex) of the `session_id` cookie, else of the Bearer token, else the client
// IP (X-Forwarded-For honoured only from TRUSTED_PROXIES, see client_ip.hpp). KeyBy::kIp always uses the IP
// (the `auth` bucket: per IP). An IPv6 client is keyed by its /64 (one host or site usually holds the whole
// prefix). Raw session ids and tokens are never stored.
// Headers on every limited response, allowed or not: `RateLimit-Limit` (the bucket's limit),
// `RateLimit-Remaining` (whole tokens left), `RateLimit-Reset` (seconds until the bucket is full again,
// rounded up). Refusal: 429 `rate_limited` JSON error + `Retry-After` (seconds until one token, ≥ 1).
// Disabled (RATE_LIMIT_ENABLED=false): everything is allowed and no headers are set.
// Memory is bounded: at most `max_keys` keys are tracked; when full, keys whose bucket has refilled (idle —
// forgetting them changes nothing) are dropped first, then the least recently used.
// Errors: AddBucket → kInvalidArgument (limit < 1, period < 1 s, empty name), kAlreadyExists. Take on an
// unknown bucket → allowed with limit 0 (a wiring bug must not lock users out; it is logged once).
// Thread-safety: AddBucket before sharing; Take/Check are safe concurrently (sharded mutexes).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "http/client_ip.hpp"
#include "http/message.hpp"

namespace plyr::http {

inline constexpr std::string_view kRateBucketDefault = "default";
inline constexpr std::string_view kRateBucketAuth = "auth";
inline constexpr std::string_view kRateBucketUpload = "upload";

struct RateLimitRule {
    std::int64_t limit = 100;
    std::chrono::seconds period = std::chrono::minutes(1);
};

struct RateLimitDecision {
    bool allowed = true;
    bool limited = false;  // false when the limiter is disabled or the bucket unknown: set no headers
    std::int64_t limit = 0;
    std::int64_t remaining = 0;
    std::int64_t reset_seconds = 0;
    std::int64_t retry_after_seconds = 0;  // when !allowed
};

enum class KeyBy { kSessionOrIp, kIp };

class RateLimiter {
  public:
    struct Options {
        bool enabled = true;
        std::size_t max_keys = 100'000;
        TrustedProxies trusted_proxies;
    };

    RateLimiter(const core::Clock& clock, Options options);
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    Status AddBucket(std::string_view name, RateLimitRule rule);

    // Takes one token for `key` in `bucket`.
    RateLimitDecision Take(std::string_view bucket, std::string_view key);
    // RateLimitKey(request, by) + Take.
    RateLimitDecision Take(std::string_view bucket, const Request& request, KeyBy by);

    std::string RateLimitKey(const Request& request, KeyBy by) const;

    bool enabled() const { return options_.enabled; }
    std::size_t key_count() const;  // for tests and metrics

  private:
    struct Impl;
    const core::Clock& clock_;
    Options options_;
    std::unique_ptr<Impl> impl_;
};

// Builds the limiter of product.md §8.2: buckets default, auth, upload from RATE_LIMIT_* and TRUSTED_PROXIES.
// Errors: kConfig for a TRUSTED_PROXIES entry that does not parse.
Result<std::shared_ptr<RateLimiter>> MakeRateLimiter(const core::Config& config, const core::Clock& clock);

// Paths the server-wide `default` bucket never applies to: /audio/* and /images/* (served bytes, product.md
// §4.1) and the operational /health and /metrics (load-balancer probes and scrapers poll them from one
// address; /metrics is gated by token or loopback anyway).
bool IsExemptFromDefaultRateLimit(std::string_view path);

// Sets RateLimit-* (and Retry-After when refused) when decision.limited.
void ApplyRateLimitHeaders(Response& response, const RateLimitDecision& decision);
// 429 `rate_limited` with the headers above.
Response RateLimitedResponse(const RateLimitDecision& decision);

// Per-route wrapper: takes a token before calling `inner`; refused → 429 without calling it; allowed →
// inner's response plus the RateLimit-* headers. The limiter must outlive the handler (shared ownership).
Handler RateLimited(Handler inner, std::shared_ptr<RateLimiter> limiter, std::string bucket,
                    KeyBy by = KeyBy::kSessionOrIp);

}  // namespace plyr::http
