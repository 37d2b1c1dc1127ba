// The server-wide `default` rate-limit bucket (ServerOptions::rate_limiter, product.md §4.1): API routes are
// limited per session/Bearer/IP, media and opted-out routes are not, refusals never reach the handler.
#include <atomic>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "http/json.hpp"
#include "http/rate_limit.hpp"
#include "server_fixture.hpp"

namespace plyr::http {
namespace {

using testing::RequestText;
using testing::ServerTest;

class ServerRateLimitTest : public ServerTest {
  protected:
    Router MakeRouter() {
        Router router;
        auto counting = [this](Request&) -> boost::asio::awaitable<Response> {
            ++calls_;
            co_return JsonResponse(200, boost::json::object{{"ok", true}});
        };
        EXPECT_TRUE(router.Add("GET", "/tracks/{id}", counting));
        EXPECT_TRUE(router.Add("POST", "/tracks/", counting));
        EXPECT_TRUE(router.Add("GET", "/audio/{file}", counting));
        EXPECT_TRUE(router.Add("GET", "/health", counting));
        RouteSpec own;
        own.method = "GET";
        own.pattern = "/auth/start";
        own.handler = counting;
        own.default_rate_limit = false;
        EXPECT_TRUE(router.Add(std::move(own)));
        router.SetFallback(counting);
        return router;
    }

    void Start(std::int64_t limit) {
        limiter_ = std::make_shared<RateLimiter>(clock_, RateLimiter::Options{});
        ASSERT_TRUE(limiter_->AddBucket(kRateBucketDefault, {limit, std::chrono::minutes(1)}));
        ServerOptions options = testing::FastOptions();
        options.rate_limiter = limiter_;
        StartServer(MakeRouter(), options);
    }

    core::ManualClock clock_;
    std::shared_ptr<RateLimiter> limiter_;
    std::atomic<int> calls_{0};
};

TEST_F(ServerRateLimitTest, ApiRoutesGetHeadersAndA429WithoutReachingTheHandler) {
    Start(2);
    auto first = Fetch(RequestText("GET", "/tracks/1"));
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->Header("RateLimit-Limit"), "2");
    EXPECT_EQ(first->Header("RateLimit-Remaining"), "1");
    EXPECT_EQ(first->Header("RateLimit-Reset"), "30");
    ASSERT_EQ(Fetch(RequestText("GET", "/tracks/2"))->status, 200);
    auto refused = Fetch(RequestText("POST", "/tracks/", {"Content-Type: application/json"}, "{}"));
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 429);
    EXPECT_EQ(refused->Header("Retry-After"), "30");
    EXPECT_NE(refused->body.find(R"("error":"rate_limited")"), std::string::npos) << refused->body;
    EXPECT_EQ(calls_.load(), 2);
    // Another client (here: another session cookie) has its own bucket.
    EXPECT_EQ(Fetch(RequestText("GET", "/tracks/1", {"Cookie: session_id=other"}))->status, 200);
    // Refill.
    clock_.Advance(30'000'000);
    EXPECT_EQ(Fetch(RequestText("GET", "/tracks/1"))->status, 200);
}

TEST_F(ServerRateLimitTest, MediaHealthOptedOutRoutesAndTheWebAppAreNotLimited) {
    Start(1);
    ASSERT_EQ(Fetch(RequestText("GET", "/tracks/1"))->status, 200);
    ASSERT_EQ(Fetch(RequestText("GET", "/tracks/1"))->status, 429);
    for (const char* path : {"/audio/abc", "/health", "/auth/start", "/some/page"}) {
        for (int i = 0; i < 3; ++i) {
            auto response = Fetch(RequestText("GET", path, {"Accept: text/html"}));
            ASSERT_TRUE(response) << path;
            EXPECT_EQ(response->status, 200) << path;
            EXPECT_FALSE(response->Header("RateLimit-Limit")) << path;
        }
    }
}

TEST_F(ServerRateLimitTest, NoLimiterMeansNoLimit) {
    StartServer(MakeRouter(), testing::FastOptions());
    for (int i = 0; i < 5; ++i) {
        auto response = Fetch(RequestText("GET", "/tracks/1"));
        ASSERT_TRUE(response);
        EXPECT_EQ(response->status, 200);
        EXPECT_FALSE(response->Header("RateLimit-Limit"));
    }
}

}  // namespace
}  // namespace plyr::http
