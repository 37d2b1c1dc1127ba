#include "http/rate_limit.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "http/cookies.hpp"
#include "http/json.hpp"
#include "http/middleware.hpp"

namespace plyr::http {
namespace {

// Refill arithmetic needs more than 64 bits (µs × limit × 1e6); __extension__ keeps -Wpedantic quiet.
__extension__ using Int128 = __int128;

constexpr std::size_t kShards = 16;
constexpr std::int64_t kMicrosPerSecond = 1'000'000;

std::int64_t CeilDiv(std::int64_t a, std::int64_t b) { return a <= 0 ? 0 : (a + b - 1) / b; }

std::optional<std::string_view> BearerToken(const Request& request) {
    auto header = request.Header("Authorization");
    if (!header || header->size() <= 7 || !EqualsIgnoreCase(header->substr(0, 7), "Bearer ")) return std::nullopt;
    std::string_view token = header->substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (token.empty()) return std::nullopt;
    return token;
}

}  // namespace

struct RateLimiter::Impl {
    struct Rule {
        std::int64_t limit = 0;
        std::int64_t period_micros = 0;
    };
    // Token units: one token is period_micros units and a bucket gains `limit` units per µs, so refills
    // are exact integer arithmetic (no drift from rounding partial refills). 128 bits: limit × period
    // exceeds 64 bits for large limits over long periods.
    struct Bucket {
        Int128 units = 0;
        std::int64_t updated_at = 0;
        const Rule* rule = nullptr;
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Bucket> buckets;
    };

    std::unordered_map<std::string, Rule> rules;  // fixed after AddBucket; read without locks
    std::array<Shard, kShards> shards;
    std::size_t max_per_shard = 1;
    std::atomic<bool> warned_unknown{false};

    static Int128 Capacity(const Rule& rule) { return static_cast<Int128>(rule.limit) * rule.period_micros; }
    static Int128 TokenCost(const Rule& rule) { return rule.period_micros; }

    static void Refill(Bucket& bucket, std::int64_t now) {
        const Rule& rule = *bucket.rule;
        std::int64_t elapsed = now - bucket.updated_at;
        if (elapsed <= 0) return;  // a clock that steps back refills nothing
        Int128 capacity = Capacity(rule);
        bucket.units = std::min<Int128>(capacity, bucket.units + static_cast<Int128>(elapsed) * rule.limit);
        bucket.updated_at = now;
    }

    // µs until `bucket` holds `units` (0 if it already does).
    static std::int64_t MicrosUntil(const Bucket& bucket, Int128 units) {
        Int128 missing = units - bucket.units;
        if (missing <= 0) return 0;
        return static_cast<std::int64_t>((missing + bucket.rule->limit - 1) / bucket.rule->limit);
    }

    // Called with the shard locked when it is full: drops idle (refilled) buckets, and if that frees less
    // than an eighth of the shard, the least recently updated ones too, so an attacker rotating keys costs
    // O(n) once per n/8 inserts rather than per insert.
    void Evict(Shard& shard, std::int64_t now) {
        for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
            Refill(it->second, now);
            if (it->second.units >= Capacity(*it->second.rule)) {
                it = shard.buckets.erase(it);
            } else {
                ++it;
            }
        }
        std::size_t target = max_per_shard - std::max<std::size_t>(1, max_per_shard / 8);
        if (shard.buckets.size() <= target) return;
        std::vector<std::pair<std::int64_t, std::string>> by_age;
        by_age.reserve(shard.buckets.size());
        for (const auto& [key, bucket] : shard.buckets) by_age.emplace_back(bucket.updated_at, key);
        std::size_t drop = shard.buckets.size() - target;
        std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(drop - 1), by_age.end());
        for (std::size_t i = 0; i < drop; ++i) shard.buckets.erase(by_age[i].second);
    }
};

RateLimiter::RateLimiter(const core::Clock& clock, Options options)
    : clock_(clock), options_(std::move(options)), impl_(std::make_unique<Impl>()) {
    impl_->max_per_shard = std::max<std::size_t>(1, options_.max_keys / kShards);
}

RateLimiter::~RateLimiter() = default;

Status RateLimiter::AddBucket(std::string_view name, RateLimitRule rule) {
    if (name.empty()) return Fail(ErrorCode::kInvalidArgument, "rate-limit bucket needs a name");
    if (rule.limit < 1 || rule.limit > 1'000'000'000) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("bucket {}: limit must be 1..1e9", name));
    }
    if (rule.period < std::chrono::seconds(1) || rule.period > std::chrono::hours(24 * 366)) {
        return Fail(ErrorCode::kInvalidArgument, fmt::format("bucket {}: period must be 1 s..1 year", name));
    }
    auto [it, inserted] = impl_->rules.emplace(
        std::string(name),
        Impl::Rule{rule.limit, std::chrono::duration_cast<std::chrono::microseconds>(rule.period).count()});
    if (!inserted) return Fail(ErrorCode::kAlreadyExists, fmt::format("bucket {} exists", name));
    return Ok();
}

RateLimitDecision RateLimiter::Take(std::string_view bucket_name, std::string_view key) {
    RateLimitDecision decision;
    if (!options_.enabled) return decision;
    auto rule_it = impl_->rules.find(std::string(bucket_name));
    if (rule_it == impl_->rules.end()) {
        if (!impl_->warned_unknown.exchange(true)) {
            log::Error("rate_limit_unknown_bucket", {{"bucket", bucket_name}});
        }
        return decision;
    }
    const Impl::Rule& rule = rule_it->second;
    std::string map_key;
    map_key.reserve(bucket_name.size() + 1 + key.size());
    map_key.append(bucket_name).push_back('\n');
    map_key.append(key);
    Impl::Shard& shard = impl_->shards[std::hash<std::string>{}(map_key) % kShards];
    std::int64_t now = clock_.NowMicros();

    std::lock_guard lock(shard.mutex);
    auto it = shard.buckets.find(map_key);
    if (it == shard.buckets.end()) {
        if (shard.buckets.size() >= impl_->max_per_shard) impl_->Evict(shard, now);
        it = shard.buckets.emplace(std::move(map_key), Impl::Bucket{Impl::Capacity(rule), now, &rule}).first;
    }
    Impl::Bucket& bucket = it->second;
    Impl::Refill(bucket, now);
    decision.limited = true;
    decision.limit = rule.limit;
    const Int128 cost = Impl::TokenCost(rule);
    if (bucket.units >= cost) {
        bucket.units -= cost;
        decision.allowed = true;
    } else {
        decision.allowed = false;
        decision.retry_after_seconds =
            std::max<std::int64_t>(1, CeilDiv(Impl::MicrosUntil(bucket, cost), kMicrosPerSecond));
    }
    decision.remaining = static_cast<std::int64_t>(bucket.units / cost);
    decision.reset_seconds = CeilDiv(Impl::MicrosUntil(bucket, Impl::Capacity(rule)), kMicrosPerSecond);
    return decision;
}

std::string RateLimiter::RateLimitKey(const Request& request, KeyBy by) const {
    if (by == KeyBy::kSessionOrIp) {
        if (auto session = FindCookie(request, kSessionCookieName); session && !session->empty()) {
            return "s:" + core::Sha256Hex(*session);
        }
        if (auto bearer = BearerToken(request)) return "b:" + core::Sha256Hex(*bearer);
    }
    std::string ip = ClientIp(request, options_.trusted_proxies);
    // One IPv6 client usually holds a whole /64: keyed per address, the per-IP `auth` bucket would be 2^64
    // buckets for it.
    if (auto parsed = ParseIpAddress(ip); parsed && !parsed->IsV4()) {
        for (std::size_t i = 8; i < parsed->bytes.size(); ++i) parsed->bytes[i] = 0;
        return "ip:" + parsed->ToString() + "/64";
    }
    return "ip:" + ip;
}

RateLimitDecision RateLimiter::Take(std::string_view bucket, const Request& request, KeyBy by) {
    if (!options_.enabled) return {};
    return Take(bucket, RateLimitKey(request, by));
}

std::size_t RateLimiter::key_count() const {
    std::size_t total = 0;
    for (Impl::Shard& shard : impl_->shards) {
        std::lock_guard lock(shard.mutex);
        total += shard.buckets.size();
    }
    return total;
}

Result<std::shared_ptr<RateLimiter>> MakeRateLimiter(const core::Config& config, const core::Clock& clock) {
    auto proxies = TrustedProxies::Parse(config.trusted_proxies);
    if (!proxies) return Fail(ErrorCode::kConfig, fmt::format("invalid TRUSTED_PROXIES: {}", proxies.error().message));
    RateLimiter::Options options;
    options.enabled = config.rate_limit_enabled;
    options.trusted_proxies = std::move(*proxies);
    auto limiter = std::make_shared<RateLimiter>(clock, std::move(options));
    auto rule = [](const core::RateLimitSetting& s) {
        return RateLimitRule{s.limit, std::chrono::seconds(s.period_seconds)};
    };
    for (const auto& [name, setting] : {std::pair{kRateBucketDefault, &config.rate_limit_default},
                                        std::pair{kRateBucketAuth, &config.rate_limit_auth},
                                        std::pair{kRateBucketUpload, &config.rate_limit_upload}}) {
        auto added = limiter->AddBucket(name, rule(*setting));
        if (!added) return Fail(ErrorCode::kConfig, added.error().message);
    }
    return limiter;
}

bool IsExemptFromDefaultRateLimit(std::string_view path) {
    if (IsMediaPath(path)) return true;
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return path == "/health" || path == "/metrics";
}

void ApplyRateLimitHeaders(Response& response, const RateLimitDecision& decision) {
    if (!decision.limited) return;
    response.headers.Set("RateLimit-Limit", std::to_string(decision.limit));
    response.headers.Set("RateLimit-Remaining", std::to_string(decision.remaining));
    response.headers.Set("RateLimit-Reset", std::to_string(decision.reset_seconds));
    if (!decision.allowed) response.headers.Set("Retry-After", std::to_string(decision.retry_after_seconds));
}

Response RateLimitedResponse(const RateLimitDecision& decision) {
    Response response = ErrorResponse(429, "rate_limited", "too many requests, slow down");
    ApplyRateLimitHeaders(response, decision);
    return response;
}

Handler RateLimited(Handler inner, std::shared_ptr<RateLimiter> limiter, std::string bucket, KeyBy by) {
    return [inner = std::move(inner), limiter = std::move(limiter), bucket = std::move(bucket),
            by](Request& request) -> boost::asio::awaitable<Response> {
        RateLimitDecision decision = limiter->Take(bucket, request, by);
        if (!decision.allowed) co_return RateLimitedResponse(decision);
        Response response = co_await inner(request);
        ApplyRateLimitHeaders(response, decision);
        co_return response;
    };
}

}  // namespace plyr::http
