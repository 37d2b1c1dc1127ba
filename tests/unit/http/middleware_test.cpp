#include "http/middleware.hpp"

#include <gtest/gtest.h>

#include "http/json.hpp"

namespace plyr::http {
namespace {

const CorsOptions kCors{{"https://plyr.example", "http://localhost:5173"}};

Request MakeRequest(std::string method, std::string path, std::optional<std::string> origin) {
    Request request;
    request.method = std::move(method);
    request.path = std::move(path);
    if (origin) request.headers.Set("Origin", *origin);
    return request;
}

TEST(RequestId, AcceptsSaneIncomingIdsOnly) {
    EXPECT_EQ(ChooseRequestId("abc-123_X.y"), "abc-123_X.y");
    std::string max(64, 'a');
    EXPECT_EQ(ChooseRequestId(max), max);
    for (std::string bad : {std::string(65, 'a'), std::string(""), std::string("a b"), std::string("a\nb"),
                            std::string("<script>"), std::string("a\"b")}) {
        std::string id = ChooseRequestId(bad);
        EXPECT_NE(id, bad);
        EXPECT_TRUE(IsSafeRequestId(id)) << id;
    }
    EXPECT_TRUE(IsSafeRequestId(ChooseRequestId(std::nullopt)));
    EXPECT_NE(ChooseRequestId(std::nullopt), ChooseRequestId(std::nullopt));
}

TEST(Cors, CredentialedOriginIsEchoedWithCredentials) {
    Request request = MakeRequest("GET", "/tracks/", "https://plyr.example");
    Response response(200);
    ApplyCors(request, response, kCors);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "https://plyr.example");
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(response.headers.Get("Access-Control-Expose-Headers"),
              "ETag, Location, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset");
    EXPECT_EQ(response.headers.Get("Vary"), "Origin");
}

TEST(Cors, OtherOriginsGetWildcardWithoutCredentials) {
    for (const char* origin : {"https://evil.example", "null", "https://plyr.example.evil.com"}) {
        Request request = MakeRequest("GET", "/tracks/", std::string(origin));
        Response response(200);
        ApplyCors(request, response, kCors);
        EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*") << origin;
        EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Credentials")) << origin;
    }
}

TEST(Cors, NoOriginMeansNoAllowOriginButVary) {
    Request request = MakeRequest("GET", "/tracks/", std::nullopt);
    Response response(200);
    response.headers.Set("Vary", "Accept-Encoding");
    ApplyCors(request, response, kCors);
    EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Origin"));
    EXPECT_EQ(response.headers.Get("Vary"), "Accept-Encoding, Origin");
}

TEST(Cors, MediaPathsAreWildcardWithRangeHeadersExposed) {
    Request request = MakeRequest("GET", "/audio/0123456789abcdef", "https://plyr.example");
    Response response(206);
    ApplyCors(request, response, kCors);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*");
    EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Credentials"));
    EXPECT_EQ(response.headers.Get("Access-Control-Expose-Headers"),
              "Content-Range, Accept-Ranges, Content-Length, ETag");
}

TEST(Cors, PreflightForCredentialedOrigin) {
    Request request = MakeRequest("OPTIONS", "/tracks/1/like", "http://localhost:5173");
    request.headers.Set("Access-Control-Request-Method", "POST");
    ASSERT_TRUE(IsPreflight(request));
    Response response = PreflightResponse(request, kCors);
    EXPECT_EQ(response.status, 204);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "http://localhost:5173");
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Methods"), "GET, POST, PUT, PATCH, DELETE");
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Headers"),
              "Content-Type, Authorization, If-Match, Idempotency-Key, Last-Event-ID");
    EXPECT_EQ(response.headers.Get("Access-Control-Max-Age"), "600");
}

TEST(Cors, PreflightForOtherOriginHasNoCredentials) {
    Request request = MakeRequest("OPTIONS", "/tracks/", "https://other.example");
    request.headers.Set("Access-Control-Request-Method", "GET");
    Response response = PreflightResponse(request, kCors);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*");
    EXPECT_FALSE(response.headers.Has("Access-Control-Allow-Credentials"));
    EXPECT_EQ(response.headers.Get("Access-Control-Max-Age"), "600");
}

TEST(Cors, PreflightForMediaAllowsRange) {
    Request request = MakeRequest("OPTIONS", "/images/abcdef0123456789", "https://x.example");
    request.headers.Set("Access-Control-Request-Method", "GET");
    Response response = PreflightResponse(request, kCors);
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(response.headers.Get("Access-Control-Allow-Headers"), "Range");
    EXPECT_EQ(response.headers.Get("Access-Control-Max-Age"), "600");
}

TEST(Cors, OptionsWithoutRequestMethodIsNotPreflight) {
    Request request = MakeRequest("OPTIONS", "/tracks/", "https://x.example");
    EXPECT_FALSE(IsPreflight(request));
}

TEST(SecurityHeaders, AlwaysPresentHstsOnlyWhenConfigured) {
    Response response(200);
    ApplySecurityHeaders(response, SecurityOptions{});
    EXPECT_EQ(response.headers.Get("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(response.headers.Get("X-Frame-Options"), "DENY");
    EXPECT_EQ(response.headers.Get("Referrer-Policy"), "strict-origin-when-cross-origin");
    EXPECT_EQ(response.headers.Get("Cross-Origin-Opener-Policy"), "same-origin");
    EXPECT_EQ(response.headers.Get("Permissions-Policy"), "camera=(), microphone=(), geolocation=()");
    EXPECT_FALSE(response.headers.Has("Strict-Transport-Security"));

    Response https(200);
    SecurityOptions hsts;
    hsts.hsts = true;
    ApplySecurityHeaders(https, hsts);
    EXPECT_EQ(https.headers.Get("Strict-Transport-Security"), "max-age=63072000");
}

TEST(SecurityHeaders, CspOnlyOnHtml) {
    SecurityOptions options;
    options.content_security_policy = "default-src 'self'";
    Response html(200);
    html.headers.Set("Content-Type", "text/html; charset=utf-8");
    ApplySecurityHeaders(html, options);
    EXPECT_EQ(html.headers.Get("Content-Security-Policy"), "default-src 'self'");
    Response json = JsonResponse(200, boost::json::object{});
    ApplySecurityHeaders(json, options);
    EXPECT_FALSE(json.headers.Has("Content-Security-Policy"));
}

TEST(JsonCache, NoStoreUnlessHandlerChose) {
    Response json = JsonResponse(200, boost::json::object{});
    ApplyJsonCacheDefault(json);
    EXPECT_EQ(json.headers.Get("Cache-Control"), "no-store");
    Response cached = JsonResponse(200, boost::json::object{});
    cached.headers.Set("Cache-Control", "public, max-age=60");
    ApplyJsonCacheDefault(cached);
    EXPECT_EQ(cached.headers.Get("Cache-Control"), "public, max-age=60");
    Response html(200);
    html.headers.Set("Content-Type", "text/html");
    ApplyJsonCacheDefault(html);
    EXPECT_FALSE(html.headers.Has("Cache-Control"));
}

TEST(Loopback, RecognisesLoopbackAddressesOnly) {
    EXPECT_TRUE(IsLoopback("127.0.0.1"));
    EXPECT_TRUE(IsLoopback("127.1.2.3"));
    EXPECT_TRUE(IsLoopback("::1"));
    EXPECT_TRUE(IsLoopback("::ffff:127.0.0.1"));
    EXPECT_FALSE(IsLoopback("10.0.0.1"));
    EXPECT_FALSE(IsLoopback("128.0.0.1"));
    EXPECT_FALSE(IsLoopback("127.evil"));
    EXPECT_FALSE(IsLoopback("::2"));
    EXPECT_FALSE(IsLoopback(""));
}

TEST(Headers, CaseInsensitiveSetGetRemoveAndTokens) {
    Headers headers;
    headers.Set("content-type", "a");
    headers.Set("Content-Type", "b");
    EXPECT_EQ(headers.entries().size(), 1u);
    EXPECT_EQ(headers.Get("CONTENT-TYPE"), "b");
    headers.Add("Set-Cookie", "a=1");
    headers.Add("Set-Cookie", "b=2");
    EXPECT_EQ(headers.entries().size(), 3u);
    headers.AppendToken("Vary", "Origin");
    headers.AppendToken("vary", "origin");
    EXPECT_EQ(headers.Get("Vary"), "Origin");
    headers.Remove("set-cookie");
    EXPECT_FALSE(headers.Has("Set-Cookie"));
}

}  // namespace
}  // namespace plyr::http
