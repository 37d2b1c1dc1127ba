// Files over real sockets: Range/conditional answers, sendfile bodies, traversal, SPA fallback.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "http/files.hpp"
#include "http/json.hpp"
#include "server_fixture.hpp"
#include "temp_dir.hpp"

namespace plyr::http {
namespace {

using namespace std::chrono_literals;
using testing::RequestText;
using testing::TempDir;
using testing::TestConnection;

constexpr std::size_t kBigSize = 8 * 1024 * 1024 + 123;

class StaticServerTest : public testing::ServerTest {
  protected:
    void SetUp() override {
        ServerTest::SetUp();
        big_.resize(kBigSize);
        std::uint32_t state = 12345;
        for (char& c : big_) {
            state = state * 1664525u + 1013904223u;
            c = static_cast<char>(state >> 24);
        }
        dir_.Write("site/index.html", "<!doctype html><html>app</html>");
        dir_.Write("site/_app/immutable/entry.abc.js", "export const x = 1;");
        dir_.Write("site/robots.txt", "User-agent: *");
        dir_.Write("secret.txt", "root:x:0:0:do-not-serve");
        std::filesystem::create_symlink(dir_.path() / "secret.txt", dir_.path() / "site" / "link.txt");
        big_path_ = dir_.Write("media/big.bin", big_);

        auto site = StaticSite::Create(dir_.path() / "site");
        ASSERT_TRUE(site.has_value());
        Router router;
        std::filesystem::path big_path = big_path_;
        ASSERT_TRUE(router
                        .Add("GET", "/audio/{file_id}",
                             [big_path](Request& request) -> boost::asio::awaitable<Response> {
                                 co_return ServeFile(request, big_path, "audio/mpeg", "private, max-age=3600");
                             })
                        .has_value());
        ASSERT_TRUE(router
                        .Add("GET", "/health",
                             [](Request&) -> boost::asio::awaitable<Response> {
                                 co_return JsonResponse(200, boost::json::object{{"ok", true}});
                             })
                        .has_value());
        router.SetFallback((*site)->AsHandler());
        StartServer(std::move(router));
    }

    TempDir dir_;
    std::string big_;
    std::filesystem::path big_path_;
};

TEST_F(StaticServerTest, MultiMegabyteFileIsSentByteForByte) {
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/audio/0123456789abcdef")));
    auto response = connection.ReadResponse(false, 10s);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("Content-Length"), std::to_string(kBigSize));
    EXPECT_EQ(response->Header("Accept-Ranges"), "bytes");
    ASSERT_EQ(response->body.size(), big_.size());
    EXPECT_TRUE(response->body == big_);
    // Keep-alive survives a sendfile body.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
}

TEST_F(StaticServerTest, RangeIs206WithExactBytes) {
    auto response = Fetch(RequestText("GET", "/audio/x", {"Range: bytes=1000000-1999999"}));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 206);
    EXPECT_EQ(response->Header("Content-Range"), "bytes 1000000-1999999/" + std::to_string(kBigSize));
    EXPECT_EQ(response->body, big_.substr(1000000, 1000000));

    auto suffix = Fetch(RequestText("GET", "/audio/x", {"Range: bytes=-10"}));
    ASSERT_TRUE(suffix);
    EXPECT_EQ(suffix->status, 206);
    EXPECT_EQ(suffix->body, big_.substr(kBigSize - 10));
}

TEST_F(StaticServerTest, UnsatisfiableRangeIs416WithStarContentRange) {
    for (const char* range : {"bytes=999999999-", "bytes=-0"}) {
        auto response = Fetch(RequestText("GET", "/audio/x", {std::string("Range: ") + range}));
        ASSERT_TRUE(response) << range;
        EXPECT_EQ(response->status, 416) << range;
        EXPECT_EQ(response->Header("Content-Range"), "bytes */" + std::to_string(kBigSize));
        EXPECT_EQ(boost::json::parse(response->body).at("error").as_string(), "range_not_satisfiable");
    }
}

TEST_F(StaticServerTest, MalformedAndMultiRangesServeTheFullBody) {
    for (const char* range : {"bytes=abc", "items=0-5", "bytes=9-3", "bytes=0-1,4-5"}) {
        auto response = Fetch(RequestText("GET", "/audio/x", {std::string("Range: ") + range}));
        ASSERT_TRUE(response) << range;
        EXPECT_EQ(response->status, 200) << range;
        EXPECT_EQ(response->body.size(), kBigSize);
    }
}

TEST_F(StaticServerTest, ConditionalRequests) {
    auto first = Fetch(RequestText("HEAD", "/audio/x"), /*head=*/true);
    ASSERT_TRUE(first);
    std::string etag = first->Header("ETag").value();

    auto not_modified = Fetch(RequestText("GET", "/audio/x", {"If-None-Match: " + etag}));
    ASSERT_TRUE(not_modified);
    EXPECT_EQ(not_modified->status, 304);
    EXPECT_TRUE(not_modified->body.empty());
    EXPECT_EQ(not_modified->Header("ETag"), etag);

    auto stale_if_range = Fetch(RequestText("GET", "/audio/x", {"Range: bytes=0-9", "If-Range: \"stale-etag\""}));
    ASSERT_TRUE(stale_if_range);
    EXPECT_EQ(stale_if_range->status, 200);
    EXPECT_EQ(stale_if_range->body.size(), kBigSize);

    auto fresh_if_range = Fetch(RequestText("GET", "/audio/x", {"Range: bytes=0-9", "If-Range: " + etag}));
    ASSERT_TRUE(fresh_if_range);
    EXPECT_EQ(fresh_if_range->status, 206);
    EXPECT_EQ(fresh_if_range->body, big_.substr(0, 10));
}

TEST_F(StaticServerTest, HeadHasFileHeadersAndNoBody) {
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("HEAD", "/audio/x", {"Range: bytes=0-99"})));
    auto head = connection.ReadResponse(/*head_request=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 206);
    EXPECT_EQ(head->Header("Content-Length"), "100");
    EXPECT_EQ(head->Header("Content-Range"), "bytes 0-99/" + std::to_string(kBigSize));
    EXPECT_TRUE(head->Header("ETag").has_value());
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
}

TEST_F(StaticServerTest, MediaResponsesCarryMediaCors) {
    auto response = Fetch(RequestText("GET", "/audio/x", {"Origin: https://anywhere.example", "Range: bytes=0-0"}));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->Header("Access-Control-Allow-Origin"), "*");
    EXPECT_EQ(response->Header("Access-Control-Expose-Headers"), "Content-Range, Accept-Ranges, Content-Length, ETag");
}

TEST_F(StaticServerTest, TraversalNeverLeavesTheRoot) {
    for (const char* target : {"/../../etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/%2e%2e/secret.txt",
                               "/..%2fsecret.txt", "/index.html%00.js", "/link.txt", "/.%2e/secret.txt"}) {
        for (const char* accept : {"Accept: */*", "Accept: text/html"}) {
            auto response = Fetch(RequestText("GET", target, {accept}));
            ASSERT_TRUE(response) << target;
            EXPECT_TRUE(response->status == 400 || response->status == 404) << target << " " << response->status;
            EXPECT_EQ(response->body.find("root:"), std::string::npos) << target;
            EXPECT_EQ(response->body.find("do-not-serve"), std::string::npos) << target;
        }
    }
}

TEST_F(StaticServerTest, HashedAssetsAreImmutableAndIndexIsNoCache) {
    auto asset = Fetch(RequestText("GET", "/_app/immutable/entry.abc.js"));
    ASSERT_TRUE(asset);
    EXPECT_EQ(asset->status, 200);
    EXPECT_EQ(asset->body, "export const x = 1;");
    EXPECT_EQ(asset->Header("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(asset->Header("Content-Type"), "text/javascript; charset=utf-8");

    auto index = Fetch(RequestText("GET", "/", {"Accept: text/html"}));
    ASSERT_TRUE(index);
    EXPECT_EQ(index->status, 200);
    EXPECT_EQ(index->Header("Cache-Control"), "no-cache");
    EXPECT_EQ(index->body, "<!doctype html><html>app</html>");
}

TEST_F(StaticServerTest, SpaFallbackForHtmlButJson404UnderApiPrefixes) {
    auto page = Fetch(RequestText("GET", "/u/alice.bsky.social", {"Accept: text/html,application/xhtml+xml"}));
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_EQ(page->body, "<!doctype html><html>app</html>");
    EXPECT_EQ(page->Header("Content-Type"), "text/html; charset=utf-8");

    auto asset = Fetch(RequestText("GET", "/_app/immutable/missing.js", {"Accept: */*"}));
    ASSERT_TRUE(asset);
    EXPECT_EQ(asset->status, 404);
    EXPECT_EQ(boost::json::parse(asset->body).at("error").as_string(), "not_found");

    for (const char* path : {"/tracks/999/nothing", "/stats/nothing", "/admin/api/nothing"}) {
        auto api = Fetch(RequestText("GET", path, {"Accept: text/html"}));
        ASSERT_TRUE(api) << path;
        EXPECT_EQ(api->status, 404) << path;
        EXPECT_EQ(api->Header("Content-Type"), "application/json") << path;
    }
}

}  // namespace
}  // namespace plyr::http
