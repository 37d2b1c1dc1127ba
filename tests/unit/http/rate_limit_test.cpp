#include "http/rate_limit.hpp"

#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "core/encoding.hpp"

namespace plyr::http {
namespace {

constexpr std::int64_t kSecond = 1'000'000;

RateLimiter::Options Opts(std::size_t max_keys = 100'000) {
    RateLimiter::Options options;
    options.max_keys = max_keys;
    auto proxies = TrustedProxies::Parse({"10.0.0.0/8"});
    options.trusted_proxies = *proxies;
    return options;
}

Response Serve(const Handler& handler, Request& request) {
    boost::asio::io_context io;
    auto future = boost::asio::co_spawn(io, handler(request), boost::asio::use_future);
    io.run();
    return future.get();
}

TEST(RateLimiter, AllowsTheLimitThenRefusesWithRetryAfter) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    ASSERT_TRUE(limiter.AddBucket("auth", {10, std::chrono::minutes(1)}));
    for (int i = 0; i < 10; ++i) {
        auto d = limiter.Take("auth", "ip:1.2.3.4");
        ASSERT_TRUE(d.allowed) << i;
        EXPECT_TRUE(d.limited);
        EXPECT_EQ(d.limit, 10);
        EXPECT_EQ(d.remaining, 9 - i);
    }
    auto refused = limiter.Take("auth", "ip:1.2.3.4");
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0);
    EXPECT_EQ(refused.retry_after_seconds, 6);  // one token per 6 s
    EXPECT_EQ(refused.reset_seconds, 60);
    // Other keys and other buckets are independent.
    EXPECT_TRUE(limiter.Take("auth", "ip:5.6.7.8").allowed);
}

TEST(RateLimiter, RefillsContinuouslyUpToTheLimit) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    ASSERT_TRUE(limiter.AddBucket("b", {10, std::chrono::minutes(1)}));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.Take("b", "k").allowed);
    clock.Advance(5 * kSecond);
    EXPECT_FALSE(limiter.Take("b", "k").allowed) << "5 s refill less than one token";
    clock.Advance(1 * kSecond);
    auto d = limiter.Take("b", "k");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 0);
    EXPECT_EQ(d.reset_seconds, 60);
    clock.Advance(3600 * kSecond);
    d = limiter.Take("b", "k");
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 9) << "the bucket never holds more than the limit";
    EXPECT_EQ(d.reset_seconds, 6);
}

TEST(RateLimiter, DisabledAllowsEverythingWithoutHeaders) {
    core::ManualClock clock;
    RateLimiter::Options options = Opts();
    options.enabled = false;
    RateLimiter limiter(clock, options);
    ASSERT_TRUE(limiter.AddBucket("b", {1, std::chrono::minutes(1)}));
    for (int i = 0; i < 5; ++i) {
        auto d = limiter.Take("b", "k");
        EXPECT_TRUE(d.allowed);
        EXPECT_FALSE(d.limited);
    }
    Response response;
    ApplyRateLimitHeaders(response, limiter.Take("b", "k"));
    EXPECT_FALSE(response.headers.Has("RateLimit-Limit"));
    EXPECT_EQ(limiter.key_count(), 0u);
}

TEST(RateLimiter, BucketRulesAreValidatedAndUnknownBucketsFailOpen) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    EXPECT_FALSE(limiter.AddBucket("", {1, std::chrono::seconds(1)}));
    EXPECT_FALSE(limiter.AddBucket("a", {0, std::chrono::seconds(1)}));
    EXPECT_FALSE(limiter.AddBucket("a", {1, std::chrono::seconds(0)}));
    ASSERT_TRUE(limiter.AddBucket("a", {1, std::chrono::seconds(1)}));
    auto dup = limiter.AddBucket("a", {2, std::chrono::seconds(1)});
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
    auto unknown = limiter.Take("nope", "k");
    EXPECT_TRUE(unknown.allowed);
    EXPECT_FALSE(unknown.limited);
}

TEST(RateLimiter, MemoryStaysBoundedUnderAFloodOfKeys) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts(/*max_keys=*/160));  // 10 per shard
    ASSERT_TRUE(limiter.AddBucket("b", {2, std::chrono::minutes(1)}));
    // No key is idle here (each just spent a token), so the least recently used ones are dropped.
    for (int i = 0; i < 5000; ++i) {
        EXPECT_TRUE(limiter.Take("b", "flood-" + std::to_string(i)).allowed);
        ASSERT_LE(limiter.key_count(), 160u);
        if (i % 100 == 0) clock.Advance(1000);
    }
    EXPECT_GT(limiter.key_count(), 100u) << "eviction drops a slice, not everything";
}

TEST(RateLimiter, AnEmptyBucketIsNotForgottenWhileTheShardHasIdleKeys) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts(/*max_keys=*/16 * 4));  // 4 keys per shard
    ASSERT_TRUE(limiter.AddBucket("b", {1, std::chrono::hours(1)}));
    ASSERT_TRUE(limiter.AddBucket("fast", {1, std::chrono::seconds(1)}));
    ASSERT_TRUE(limiter.Take("b", "attacker").allowed);
    ASSERT_FALSE(limiter.Take("b", "attacker").allowed);
    // 320 other keys, each idle (refilled) by the time the next arrives: every eviction finds idle keys,
    // so the attacker's empty bucket — older than all of them — must survive.
    for (int i = 0; i < 320; ++i) {
        limiter.Take("fast", "k" + std::to_string(i));
        clock.Advance(2 * kSecond);
        ASSERT_LE(limiter.key_count(), 64u);
    }
    EXPECT_FALSE(limiter.Take("b", "attacker").allowed) << "evicting an empty bucket would reset the attacker";
}

TEST(RateLimiter, ConcurrentTakesNeverExceedTheLimit) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    ASSERT_TRUE(limiter.AddBucket("b", {1000, std::chrono::hours(1)}));
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i) {
                if (limiter.Take("b", "shared").allowed) allowed.fetch_add(1);
                limiter.Take("b", "own-" + std::to_string(i));
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(allowed.load(), 1000);
}

TEST(RateLimitKey, SessionCookieThenBearerThenClientIpAllHashed) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    Request request;
    request.remote_address = "10.0.0.1";
    request.headers.Set("X-Forwarded-For", "203.0.113.5");
    EXPECT_EQ(limiter.RateLimitKey(request, KeyBy::kSessionOrIp), "ip:203.0.113.5");
    request.headers.Set("Authorization", "Bearer dev-token-123");
    EXPECT_EQ(limiter.RateLimitKey(request, KeyBy::kSessionOrIp), "b:" + core::Sha256Hex("dev-token-123"));
    request.headers.Set("Cookie", "session_id=sess-abc");
    std::string key = limiter.RateLimitKey(request, KeyBy::kSessionOrIp);
    EXPECT_EQ(key, "s:" + core::Sha256Hex("sess-abc"));
    EXPECT_EQ(key.find("sess-abc"), std::string::npos);
    EXPECT_EQ(limiter.RateLimitKey(request, KeyBy::kIp), "ip:203.0.113.5") << "the auth bucket is per IP";
    request.headers.Set("Authorization", "Basic xyz");
    request.headers.Remove("Cookie");
    EXPECT_EQ(limiter.RateLimitKey(request, KeyBy::kSessionOrIp), "ip:203.0.113.5");
}

TEST(RateLimitKey, AnIpv6ClientIsOneKeyForItsWholeSlash64) {
    core::ManualClock clock;
    RateLimiter limiter(clock, Opts());
    Request a;
    a.remote_address = "2001:db8:1:2::1";
    Request b;
    b.remote_address = "2001:db8:1:2:ffff:eeee:dddd:cccc";
    Request other;
    other.remote_address = "2001:db8:1:3::1";
    EXPECT_EQ(limiter.RateLimitKey(a, KeyBy::kIp), "ip:2001:db8:1:2::/64");
    EXPECT_EQ(limiter.RateLimitKey(a, KeyBy::kIp), limiter.RateLimitKey(b, KeyBy::kIp));
    EXPECT_NE(limiter.RateLimitKey(a, KeyBy::kIp), limiter.RateLimitKey(other, KeyBy::kIp));
    Request mapped;
    mapped.remote_address = "::ffff:203.0.113.5";
    EXPECT_EQ(limiter.RateLimitKey(mapped, KeyBy::kIp), "ip:203.0.113.5") << "IPv4 stays per address";

    // Rotating through the /64 does not escape the bucket.
    ASSERT_TRUE(limiter.AddBucket("tiny", RateLimitRule{2, std::chrono::seconds(60)}));
    EXPECT_TRUE(limiter.Take("tiny", a, KeyBy::kIp).allowed);
    EXPECT_TRUE(limiter.Take("tiny", b, KeyBy::kIp).allowed);
    Request c;
    c.remote_address = "2001:db8:1:2::abcd";
    EXPECT_FALSE(limiter.Take("tiny", c, KeyBy::kIp).allowed);
}

TEST(RateLimitedHandler, AddsHeadersAndAnswers429WithoutCallingTheHandler) {
    core::ManualClock clock;
    auto limiter = std::make_shared<RateLimiter>(clock, Opts());
    ASSERT_TRUE(limiter->AddBucket("auth", {2, std::chrono::minutes(1)}));
    int calls = 0;
    Handler inner = [&calls](Request&) -> boost::asio::awaitable<Response> {
        ++calls;
        Response response(200);
        response.body = "ok";
        co_return response;
    };
    Handler wrapped = RateLimited(inner, limiter, std::string(kRateBucketAuth), KeyBy::kIp);
    Request request;
    request.remote_address = "198.51.100.1";

    Response first = Serve(wrapped, request);
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(first.headers.Get("RateLimit-Limit"), "2");
    EXPECT_EQ(first.headers.Get("RateLimit-Remaining"), "1");
    EXPECT_EQ(first.headers.Get("RateLimit-Reset"), "30");
    EXPECT_FALSE(first.headers.Has("Retry-After"));
    EXPECT_EQ(Serve(wrapped, request).status, 200);
    Response refused = Serve(wrapped, request);
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(refused.headers.Get("Retry-After"), "30");
    EXPECT_EQ(refused.headers.Get("RateLimit-Remaining"), "0");
    EXPECT_NE(refused.body.find(R"("error":"rate_limited")"), std::string::npos) << refused.body;

    Request other;
    other.remote_address = "198.51.100.2";
    EXPECT_EQ(Serve(wrapped, other).status, 200);
}

TEST(RateLimitExemptions, MediaHealthAndMetricsOnly) {
    for (const char* path : {"/audio/abc.mp3", "/images/x.png", "/health", "/health/", "/metrics"}) {
        EXPECT_TRUE(IsExemptFromDefaultRateLimit(path)) << path;
    }
    for (const char* path : {"/tracks/", "/auth/me", "/healthz", "/metrics/x", "/config", "/"}) {
        EXPECT_FALSE(IsExemptFromDefaultRateLimit(path)) << path;
    }
}

TEST(RateLimiterFromConfig, HasTheThreeSpecBucketsAndHonoursTheSwitch) {
    core::ManualClock clock;
    core::Config config;
    config.rate_limit_auth = {3, 60};
    config.trusted_proxies = {"10.0.0.0/8"};
    auto limiter = MakeRateLimiter(config, clock);
    ASSERT_TRUE(limiter) << limiter.error().ToString();
    EXPECT_EQ((*limiter)->Take(kRateBucketDefault, "k").limit, 100);
    EXPECT_EQ((*limiter)->Take(kRateBucketAuth, "k").limit, 3);
    EXPECT_EQ((*limiter)->Take(kRateBucketUpload, "k").limit, 20);
    Request request;
    request.remote_address = "10.1.1.1";
    request.headers.Set("X-Forwarded-For", "203.0.113.5");
    EXPECT_EQ((*limiter)->RateLimitKey(request, KeyBy::kIp), "ip:203.0.113.5");

    config.rate_limit_enabled = false;
    auto off = MakeRateLimiter(config, clock);
    ASSERT_TRUE(off);
    EXPECT_FALSE((*off)->enabled());
    config.trusted_proxies = {"nonsense"};
    auto bad = MakeRateLimiter(config, clock);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kConfig);
}

}  // namespace
}  // namespace plyr::http
