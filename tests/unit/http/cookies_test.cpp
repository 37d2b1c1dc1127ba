#include "http/cookies.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

TEST(CookieParse, SplitsTrimsUnquotesAndSkipsJunk) {
    auto cookies = ParseCookieHeader(R"(a=1; b = two ;c="quoted"; junk; =novalue; d=; e=x=y)");
    std::vector<std::pair<std::string, std::string>> want = {
        {"a", "1"}, {"b", "two"}, {"c", "quoted"}, {"d", ""}, {"e", "x=y"}};
    EXPECT_EQ(cookies, want);
    EXPECT_TRUE(ParseCookieHeader("").empty());
    EXPECT_TRUE(ParseCookieHeader(";;;").empty());
}

TEST(CookieParse, FirstValueWinsAcrossPairsAndHeaderLines) {
    Request request;
    request.headers.Add("Cookie", "theme=dark; session_id=first");
    request.headers.Add("cookie", "session_id=second; other=1");
    EXPECT_EQ(FindCookie(request, "session_id"), "first");
    EXPECT_EQ(FindCookie(request, "other"), "1");
    EXPECT_FALSE(FindCookie(request, "missing"));
    EXPECT_FALSE(FindCookie(request, "SESSION_ID")) << "cookie names are case-sensitive";
    Request none;
    EXPECT_FALSE(FindCookie(none, "session_id"));
}

TEST(SetCookie, BuildsTheSessionCookieOfTheSpec) {
    CookieOptions options;
    options.max_age_seconds = 3600;
    auto header = BuildSetCookie(kSessionCookieName, "abc_DEF-123", options);
    ASSERT_TRUE(header);
    EXPECT_EQ(*header, "session_id=abc_DEF-123; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax");

    options.secure = false;
    options.max_age_seconds.reset();
    options.same_site = SameSite::kStrict;
    options.path = "/auth";
    EXPECT_EQ(*BuildSetCookie("flow", "v", options), "flow=v; Path=/auth; HttpOnly; SameSite=Strict");
}

TEST(SetCookie, ClearingUsesMaxAgeZeroAndAnEmptyValue) {
    CookieOptions options;
    options.max_age_seconds = 999;  // ignored: clearing is always Max-Age=0
    EXPECT_EQ(BuildClearCookie("session_id", options),
              "session_id=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    options.max_age_seconds = 0;
    EXPECT_EQ(*BuildSetCookie("x", "", options), "x=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
    options.max_age_seconds = -5;
    EXPECT_EQ(*BuildSetCookie("x", "1", options), "x=1; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax");
}

TEST(SetCookie, RefusesValuesThatCouldInjectAttributesWithoutEchoingThem) {
    CookieOptions options;
    for (std::string bad : {std::string("a;b"), std::string("a,b"), std::string("a b"), std::string("a\"b"),
                            std::string("a\\b"), std::string("a\nb"), std::string("a\rb"), std::string(1, '\0'),
                            std::string("\x7f"), std::string("caf\xc3\xa9")}) {
        auto header = BuildSetCookie("session_id", bad, options);
        ASSERT_FALSE(header) << bad;
        EXPECT_EQ(header.error().code, ErrorCode::kInvalidArgument);
        EXPECT_EQ(header.error().ToString().find(bad), std::string::npos);
        EXPECT_FALSE(IsValidCookieValue(bad));
    }
    for (const char* bad_name : {"", "a b", "a=b", "a;b", "a\tb", "é"}) {
        EXPECT_FALSE(BuildSetCookie(bad_name, "v", options)) << bad_name;
    }
    options.path = "/x; Domain=evil.example";
    EXPECT_FALSE(BuildSetCookie("a", "v", options));
    CookieOptions none;
    none.same_site = SameSite::kNone;
    none.secure = false;
    EXPECT_FALSE(BuildSetCookie("a", "v", none)) << "SameSite=None without Secure is dropped by browsers";
    none.secure = true;
    EXPECT_EQ(*BuildSetCookie("a", "v", none), "a=v; Path=/; HttpOnly; Secure; SameSite=None");
}

TEST(SetCookie, SecureUnlessPublicUrlIsPlainHttp) {
    EXPECT_TRUE(SecureCookiesFor("https://plyr.example"));
    EXPECT_FALSE(SecureCookiesFor("http://127.0.0.1:8001"));
    EXPECT_FALSE(SecureCookiesFor("HTTP://localhost:8001"));
}

}  // namespace
}  // namespace plyr::http
