#include "http/csrf.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

const CsrfPolicy kPolicy({"https://plyr.example", "http://localhost:5173"});

Request Make(std::string method, std::vector<std::pair<std::string, std::string>> headers) {
    Request request;
    request.method = std::move(method);
    request.path = "/auth/logout";
    for (auto& [name, value] : headers) request.headers.Add(name, value);
    return request;
}

TEST(Origin, NormalisesSchemeHostAndDefaultPorts) {
    EXPECT_EQ(NormalizedOrigin("https://PLYR.example:443/path?q#f"), "https://plyr.example");
    EXPECT_EQ(NormalizedOrigin("HTTP://127.0.0.1:80"), "http://127.0.0.1");
    EXPECT_EQ(NormalizedOrigin("http://127.0.0.1:8001/x"), "http://127.0.0.1:8001");
    EXPECT_EQ(NormalizedOrigin("https://[::1]:8443"), "https://[::1]:8443");
    EXPECT_FALSE(NormalizedOrigin("null"));
    EXPECT_FALSE(NormalizedOrigin("ftp://plyr.example"));
    EXPECT_FALSE(NormalizedOrigin("https://user:pw@plyr.example"));
    EXPECT_FALSE(NormalizedOrigin("/relative"));
    EXPECT_FALSE(NormalizedOrigin(""));
}

TEST(Csrf, SafeMethodsAlwaysPass) {
    for (const char* method : {"GET", "HEAD", "OPTIONS"}) {
        EXPECT_TRUE(kPolicy.Check(Make(method, {{"Origin", "https://evil.example"}}))) << method;
        EXPECT_TRUE(kPolicy.Check(Make(method, {{"Sec-Fetch-Site", "cross-site"}}))) << method;
    }
}

TEST(Csrf, CredentialedOriginPassesForEveryMutatingMethod) {
    for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
        EXPECT_TRUE(kPolicy.Check(Make(method, {{"Origin", "https://plyr.example"}}))) << method;
        EXPECT_TRUE(kPolicy.Check(Make(method, {{"Origin", "https://PLYR.example:443"}}))) << method;
        EXPECT_TRUE(kPolicy.Check(Make(method, {{"Origin", "http://localhost:5173"}}))) << method;
        EXPECT_TRUE(
            kPolicy.Check(Make(method, {{"Origin", "https://plyr.example"}, {"Sec-Fetch-Site", "same-origin"}})));
    }
}

TEST(Csrf, ForeignNullOrMissingOriginIsRejectedWith403) {
    const std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
        {{"Origin", "https://evil.example"}},
        {{"Origin", "http://plyr.example"}},        // scheme differs
        {{"Origin", "https://plyr.example:8443"}},  // port differs
        {{"Origin", "https://plyr.example.evil.example"}},
        {{"Origin", "null"}},
        {{"Origin", "https://plyr.example/path"}},
        {{"Origin", ""}},
        {},  // neither Origin nor Referer
        {{"Referer", "https://evil.example/https://plyr.example/"}},
        {{"Referer", "not a url"}},
        {{"Origin", "https://plyr.example"}, {"Sec-Fetch-Site", "cross-site"}},
        {{"Origin", "https://evil.example"}, {"Referer", "https://plyr.example/page"}},  // Origin decides
    };
    for (const auto& headers : cases) {
        Request request = Make("POST", headers);
        auto status = kPolicy.Check(request);
        std::string shown = headers.empty() ? "(none)" : headers[0].first + ": " + headers[0].second;
        ASSERT_FALSE(status) << shown;
        EXPECT_EQ(status.error().code, ErrorCode::kPermissionDenied);
        auto response = kPolicy.Reject(request);
        ASSERT_TRUE(response) << shown;
        EXPECT_EQ(response->status, 403);
        EXPECT_NE(response->body.find(R"("error":"csrf_rejected")"), std::string::npos) << response->body;
    }
}

TEST(Csrf, RefererOriginIsUsedWhenOriginIsAbsent) {
    EXPECT_TRUE(kPolicy.Check(Make("POST", {{"Referer", "https://plyr.example/settings?tab=tokens"}})));
    EXPECT_FALSE(kPolicy.Reject(Make("DELETE", {{"Referer", "http://localhost:5173/x"}})));
    EXPECT_TRUE(kPolicy.Reject(Make("DELETE", {{"Referer", "https://evil.example/x"}})));
}

TEST(Csrf, FromConfigUsesPublicUrlOriginAndCorsAllowedOrigins) {
    core::Config config;
    config.public_url = "http://127.0.0.1:8001";
    config.cors_allowed_origins = {"https://app.example"};
    CsrfPolicy policy = CsrfPolicy::FromConfig(config);
    EXPECT_TRUE(policy.IsCredentialedOrigin("http://127.0.0.1:8001"));
    EXPECT_TRUE(policy.IsCredentialedOrigin("https://app.example"));
    EXPECT_FALSE(policy.IsCredentialedOrigin("http://localhost:8001")) << "localhost is another origin";
    EXPECT_TRUE(policy.Check(Make("POST", {{"Origin", "http://127.0.0.1:8001"}})));
}

}  // namespace
}  // namespace plyr::http
