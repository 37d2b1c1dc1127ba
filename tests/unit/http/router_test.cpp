#include "http/router.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

boost::asio::awaitable<Response> Noop(Request&) { co_return Response(200); }

Router MakeRouter(std::initializer_list<std::pair<std::string, std::string>> routes) {
    Router router;
    for (const auto& [method, pattern] : routes) EXPECT_TRUE(router.Add(method, pattern, Noop).has_value());
    return router;
}

TEST(Router, MatchesParametersAndDecodesThem) {
    Router router = MakeRouter({{"GET", "/tracks/{id}/likes"}, {"GET", "/artists/{did}"}});
    Match match = router.Find("GET", "/tracks/42/likes");
    ASSERT_EQ(match.kind, MatchKind::kFound);
    EXPECT_EQ(match.route->spec.pattern, "/tracks/{id}/likes");
    ASSERT_EQ(match.params.size(), 1u);
    EXPECT_EQ(match.params[0], (std::pair<std::string, std::string>{"id", "42"}));

    match = router.Find("GET", "/artists/did%3Aplc%3Aabc");
    ASSERT_EQ(match.kind, MatchKind::kFound);
    EXPECT_EQ(match.params[0].second, "did:plc:abc");
}

TEST(Router, EncodedSlashStaysInsideItsSegment) {
    Router router = MakeRouter({{"GET", "/artists/{did}"}});
    Match match = router.Find("GET", "/artists/a%2Fb");
    ASSERT_EQ(match.kind, MatchKind::kFound);
    EXPECT_EQ(match.params[0].second, "a/b");
    EXPECT_EQ(router.Find("GET", "/artists/a/b").kind, MatchKind::kNotFound);
}

TEST(Router, LiteralSegmentWinsOverParameterRegardlessOfOrder) {
    Router router = MakeRouter(
        {{"GET", "/artists/{did}"}, {"GET", "/artists/batch"}, {"GET", "/tracks/{id}"}, {"GET", "/tracks/top"}});
    EXPECT_EQ(router.Find("GET", "/artists/batch").route->spec.pattern, "/artists/batch");
    EXPECT_EQ(router.Find("GET", "/tracks/top").route->spec.pattern, "/tracks/top");
    EXPECT_EQ(router.Find("GET", "/tracks/7").route->spec.pattern, "/tracks/{id}");
}

TEST(Router, FallsBackToParameterBranchWhenLiteralBranchCannotMatch) {
    Router router = MakeRouter({{"GET", "/a/b/c"}, {"GET", "/a/{x}/d"}});
    Match match = router.Find("GET", "/a/b/d");
    ASSERT_EQ(match.kind, MatchKind::kFound);
    EXPECT_EQ(match.route->spec.pattern, "/a/{x}/d");
    EXPECT_EQ(match.params[0].second, "b");
}

TEST(Router, UnknownPathIsNotFound) {
    Router router = MakeRouter({{"GET", "/tracks/{id}"}});
    EXPECT_EQ(router.Find("GET", "/albums/1").kind, MatchKind::kNotFound);
    EXPECT_EQ(router.Find("GET", "/tracks/1/extra").kind, MatchKind::kNotFound);
    EXPECT_EQ(router.Find("GET", "/tracks//1").kind, MatchKind::kNotFound);
    EXPECT_EQ(router.Find("GET", "/tracks/%zz").kind, MatchKind::kNotFound);
}

TEST(Router, WrongMethodIsMethodNotAllowedWithAllowList) {
    Router router = MakeRouter({{"GET", "/tracks/{id}"}, {"DELETE", "/tracks/{id}"}, {"PATCH", "/tracks/{id}"}});
    Match match = router.Find("POST", "/tracks/1");
    ASSERT_EQ(match.kind, MatchKind::kMethodNotAllowed);
    EXPECT_EQ(match.allow, "GET, HEAD, PATCH, DELETE");
}

TEST(Router, HeadIsServedByGetRoute) {
    Router router = MakeRouter({{"GET", "/health"}});
    Match match = router.Find("HEAD", "/health");
    ASSERT_EQ(match.kind, MatchKind::kFound);
    EXPECT_EQ(match.route->spec.method, "GET");
}

TEST(Router, ExplicitHeadRouteBeatsGet) {
    Router router = MakeRouter({{"GET", "/x"}, {"HEAD", "/x"}});
    EXPECT_EQ(router.Find("HEAD", "/x").route->spec.method, "HEAD");
}

TEST(Router, CollectionRootAnswersWithAndWithoutTrailingSlash) {
    Router router = MakeRouter({{"POST", "/tracks/"}, {"GET", "/lists"}});
    EXPECT_EQ(router.Find("POST", "/tracks").kind, MatchKind::kFound);
    EXPECT_EQ(router.Find("POST", "/tracks/").kind, MatchKind::kFound);
    EXPECT_EQ(router.Find("GET", "/lists/").kind, MatchKind::kFound);
    EXPECT_EQ(router.Find("GET", "/lists").kind, MatchKind::kFound);
}

TEST(Router, RootPathMatches) {
    Router router = MakeRouter({{"GET", "/"}});
    EXPECT_EQ(router.Find("GET", "/").kind, MatchKind::kFound);
}

TEST(Router, RejectsBadPatternsAndDuplicates) {
    Router router;
    EXPECT_EQ(router.Add("GET", "tracks", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("FETCH", "/x", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("GET", "/a/{", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("GET", "/a/{b-c}", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("GET", "/a/{x}/{x}", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("GET", "/a//b", Noop).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(router.Add("GET", "/a/x{y}", Noop).error().code, ErrorCode::kInvalidArgument);
    ASSERT_TRUE(router.Add("GET", "/tracks/{id}", Noop).has_value());
    EXPECT_EQ(router.Add("GET", "/tracks/{track_id}", Noop).error().code, ErrorCode::kAlreadyExists);
    EXPECT_EQ(router.Add("GET", "/tracks/{id}/", Noop).error().code, ErrorCode::kAlreadyExists);
    EXPECT_TRUE(router.Add("PUT", "/tracks/{track_id}", Noop).has_value());
}

TEST(Router, DifferentParameterNamesAtTheSamePositionKeepTheirOwnNames) {
    Router router = MakeRouter({{"GET", "/tracks/{id}"}, {"GET", "/tracks/{track_id}/comments"}});
    EXPECT_EQ(router.Find("GET", "/tracks/5").params[0].first, "id");
    EXPECT_EQ(router.Find("GET", "/tracks/5/comments").params[0].first, "track_id");
}

TEST(ApiPaths, CoverProductPrefixesAndTheirCollectionRoots) {
    EXPECT_TRUE(IsApiPath("/tracks"));
    EXPECT_TRUE(IsApiPath("/tracks/"));
    EXPECT_TRUE(IsApiPath("/tracks/12"));
    EXPECT_TRUE(IsApiPath("/stats"));
    EXPECT_TRUE(IsApiPath("/stats/costs"));
    EXPECT_TRUE(IsApiPath("/health"));
    EXPECT_TRUE(IsApiPath("/admin/api/flags"));
    EXPECT_TRUE(IsApiPath("/.well-known/atproto-did"));
    EXPECT_TRUE(IsApiPath("/xrpc/com.atproto.label.queryLabels"));
    EXPECT_FALSE(IsApiPath("/"));
    EXPECT_FALSE(IsApiPath("/admin"));
    EXPECT_FALSE(IsApiPath("/statsx"));
    EXPECT_FALSE(IsApiPath("/healthz"));
    EXPECT_FALSE(IsApiPath("/u/alice"));
    EXPECT_FALSE(IsApiPath("/_app/immutable/x.js"));
}

}  // namespace
}  // namespace plyr::http
