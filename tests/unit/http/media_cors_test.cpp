// CORS for public media (/audio/*, /images/*; product.md §4.1): `*`, Range allowed, range headers exposed,
// never credentials — also for the credentialed origins that get credentials everywhere else.
#include <gtest/gtest.h>

#include "http/middleware.hpp"
#include "http/rate_limit.hpp"

namespace plyr::http {
namespace {

const CorsOptions kCors{{"https://plyr.example"}};

Request MediaRequest(std::string method, std::string path, std::optional<std::string> origin) {
    Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    if (origin) request.headers.Set("Origin", *origin);
    return request;
}

TEST(MediaCors, CredentialedOriginStillGetsWildcardWithoutCredentials) {
    for (const char* path : {"/audio/0123456789abcdef", "/images/0123456789abcdef.webp"}) {
        Request request = MediaRequest("GET", path, "https://plyr.example");
        Response response(200);
        response.headers.Set("Access-Control-Allow-Credentials", "true");  // a handler cannot add them back
        ApplyCors(request, response, kCors);
        EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*") << path;
        EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Credentials")) << path;
        EXPECT_EQ(response.headers.Get("Access-Control-Expose-Headers"),
                  "Content-Range, Accept-Ranges, Content-Length, ETag");
        EXPECT_FALSE(response.headers.Has("Vary")) << "the answer does not depend on Origin";
    }
}

TEST(MediaCors, AnswersWithoutOriginCarryTheWildcardTooSoSharedCachesServeBothKinds) {
    Request request = MediaRequest("GET", "/audio/0123456789abcdef", std::nullopt);
    Response response(206);
    ApplyCors(request, response, kCors);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(response.headers.Get("Access-Control-Expose-Headers"),
              "Content-Range, Accept-Ranges, Content-Length, ETag");
}

TEST(MediaCors, PreflightAllowsRangeForAnyOriginWithoutCredentials) {
    for (const char* origin : {"https://plyr.example", "https://elsewhere.example", "null"}) {
        Request request = MediaRequest("OPTIONS", "/audio/0123456789abcdef", origin);
        request.headers.Set("Access-Control-Request-Method", "GET");
        request.headers.Set("Access-Control-Request-Headers", "range");
        ASSERT_TRUE(IsPreflight(request));
        Response response = PreflightResponse(request, kCors);
        EXPECT_EQ(response.status, 204);
        EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*") << origin;
        EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Credentials")) << origin;
        EXPECT_EQ(response.headers.Get("Access-Control-Allow-Methods"), "GET, HEAD, OPTIONS");
        EXPECT_EQ(response.headers.Get("Access-Control-Allow-Headers"), "Range");
    }
}

TEST(MediaCors, OnlyTheMediaPrefixesAreMediaPaths) {
    EXPECT_TRUE(IsMediaPath("/audio/0123456789abcdef"));
    EXPECT_TRUE(IsMediaPath("/images/0123456789abcdef"));
    EXPECT_FALSE(IsMediaPath("/audio"));
    EXPECT_FALSE(IsMediaPath("/audiox/1"));
    EXPECT_FALSE(IsMediaPath("/tracks/1/audio/x"));
}

TEST(MediaCors, MediaIsExemptFromTheDefaultRateLimitButTheRestOfTheApiIsNot) {
    EXPECT_TRUE(IsExemptFromDefaultRateLimit("/audio/0123456789abcdef"));
    EXPECT_TRUE(IsExemptFromDefaultRateLimit("/images/0123456789abcdef"));
    EXPECT_FALSE(IsExemptFromDefaultRateLimit("/tracks/1"));
    EXPECT_FALSE(IsExemptFromDefaultRateLimit("/tracks/uploads/x/progress"));
}

}  // namespace
}  // namespace plyr::http
