#include "http/files.hpp"

#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "temp_dir.hpp"

namespace plyr::http {
namespace {

using testing::TempDir;

Request Get(std::string path) {
    Request request;
    request.method = "GET";
    request.path = std::move(path);
    return request;
}

class ServeFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        content_.resize(100);
        for (std::size_t i = 0; i < content_.size(); ++i) content_[i] = static_cast<char>('a' + i % 26);
        file_ = dir_.Write("file.bin", content_);
    }
    Response Serve(const Request& request) { return ServeFile(request, file_, "audio/mpeg", "private"); }
    std::string Etag() { return std::string(Serve(Get("/")).headers.Get("ETag").value()); }

    TempDir dir_;
    std::string content_;
    std::filesystem::path file_;
};

TEST_F(ServeFileTest, FullBodyWithValidatorsAndAcceptRanges) {
    Response response = Serve(Get("/"));
    EXPECT_EQ(response.status, 200);
    ASSERT_TRUE(response.file.has_value());
    EXPECT_EQ(response.file->offset, 0u);
    EXPECT_EQ(response.file->length, 100u);
    EXPECT_EQ(response.headers.Get("Accept-Ranges"), "bytes");
    EXPECT_EQ(response.headers.Get("Content-Type"), "audio/mpeg");
    EXPECT_EQ(response.headers.Get("Cache-Control"), "private");
    std::string etag(response.headers.Get("ETag").value());
    EXPECT_TRUE(etag.starts_with("\"64-")) << etag;  // size 100 in hex, strong
    EXPECT_TRUE(response.headers.Has("Last-Modified"));
}

TEST_F(ServeFileTest, SingleRangeIs206WithContentRange) {
    Request request = Get("/");
    request.headers.Set("Range", "bytes=10-19");
    Response response = Serve(request);
    EXPECT_EQ(response.status, 206);
    EXPECT_EQ(response.headers.Get("Content-Range"), "bytes 10-19/100");
    EXPECT_EQ(response.file->offset, 10u);
    EXPECT_EQ(response.file->length, 10u);
}

TEST_F(ServeFileTest, UnsatisfiableRangeIs416JsonWithStarContentRange) {
    for (const char* range : {"bytes=100-", "bytes=-0", "bytes=999999999-"}) {
        Request request = Get("/");
        request.headers.Set("Range", range);
        Response response = Serve(request);
        EXPECT_EQ(response.status, 416) << range;
        EXPECT_EQ(response.headers.Get("Content-Range"), "bytes */100");
        EXPECT_FALSE(response.file.has_value());
        EXPECT_EQ(boost::json::parse(response.body).at("error").as_string(), "range_not_satisfiable");
    }
}

TEST_F(ServeFileTest, MalformedRangeServesFullBody) {
    for (const char* range : {"bytes=abc", "items=0-5", "bytes=9-3", "bytes=0-1,3-4"}) {
        Request request = Get("/");
        request.headers.Set("Range", range);
        Response response = Serve(request);
        EXPECT_EQ(response.status, 200) << range;
        EXPECT_EQ(response.file->length, 100u);
        EXPECT_FALSE(response.headers.Has("Content-Range"));
    }
}

TEST_F(ServeFileTest, IfNoneMatchHitIs304WithoutBody) {
    Request request = Get("/");
    request.headers.Set("If-None-Match", "\"other\", " + Etag());
    Response response = Serve(request);
    EXPECT_EQ(response.status, 304);
    EXPECT_FALSE(response.file.has_value());
    EXPECT_EQ(response.headers.Get("ETag"), Etag());

    Request weak = Get("/");
    weak.headers.Set("If-None-Match", "W/" + Etag());
    EXPECT_EQ(Serve(weak).status, 304);

    Request star = Get("/");
    star.headers.Set("If-None-Match", "*");
    EXPECT_EQ(Serve(star).status, 304);

    Request miss = Get("/");
    miss.headers.Set("If-None-Match", "\"nope\"");
    EXPECT_EQ(Serve(miss).status, 200);
}

TEST_F(ServeFileTest, IfModifiedSinceIs304WhenNotNewer) {
    std::string last_modified(Serve(Get("/")).headers.Get("Last-Modified").value());
    Request request = Get("/");
    request.headers.Set("If-Modified-Since", last_modified);
    EXPECT_EQ(Serve(request).status, 304);
    Request old = Get("/");
    old.headers.Set("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(Serve(old).status, 200);
}

TEST_F(ServeFileTest, IfRangeWithCurrentStrongEtagKeepsRange) {
    Request request = Get("/");
    request.headers.Set("Range", "bytes=0-9");
    request.headers.Set("If-Range", Etag());
    EXPECT_EQ(Serve(request).status, 206);
}

TEST_F(ServeFileTest, IfRangeWithStaleOrWeakEtagServesFullBody) {
    for (std::string validator : {std::string("\"stale\""), "W/" + Etag(), std::string("garbage")}) {
        Request request = Get("/");
        request.headers.Set("Range", "bytes=0-9");
        request.headers.Set("If-Range", validator);
        Response response = Serve(request);
        EXPECT_EQ(response.status, 200) << validator;
        EXPECT_EQ(response.file->length, 100u);
    }
}

TEST_F(ServeFileTest, IfRangeWithMatchingDateKeepsRange) {
    std::string last_modified(Serve(Get("/")).headers.Get("Last-Modified").value());
    Request request = Get("/");
    request.headers.Set("Range", "bytes=0-9");
    request.headers.Set("If-Range", last_modified);
    EXPECT_EQ(Serve(request).status, 206);
}

TEST_F(ServeFileTest, MissingFileIs404Json) {
    Response response = ServeFile(Get("/"), dir_.path() / "absent", "audio/mpeg", "");
    EXPECT_EQ(response.status, 404);
    EXPECT_EQ(boost::json::parse(response.body).at("error").as_string(), "not_found");
    Response directory = ServeFile(Get("/"), dir_.path(), "audio/mpeg", "");
    EXPECT_EQ(directory.status, 404);
}

TEST_F(ServeFileTest, EtagChangesWithContent) {
    std::string before = Etag();
    dir_.Write("file.bin", content_ + "more");
    EXPECT_NE(Etag(), before);
}

TEST(HttpDate, FormatsAndParsesImfFixdate) {
    EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    EXPECT_EQ(FormatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(ParseHttpDate(FormatHttpDate(1700000000)), 1700000000);
    EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"));
    EXPECT_FALSE(ParseHttpDate("Sun, 31 Feb 1994 08:49:37 GMT"));
    EXPECT_FALSE(ParseHttpDate("Sun, 06 Foo 1994 08:49:37 GMT"));
    EXPECT_FALSE(ParseHttpDate("Sun, 06 Nov 1994 25:49:37 GMT"));
    EXPECT_FALSE(ParseHttpDate(""));
}

TEST(SafeRelativePath, AcceptsOrdinaryPaths) {
    EXPECT_EQ(SafeRelativePath("/"), "");
    EXPECT_EQ(SafeRelativePath("/_app/immutable/x.js"), "_app/immutable/x.js");
    EXPECT_EQ(SafeRelativePath("/a%20b.txt"), "a b.txt");
    EXPECT_EQ(SafeRelativePath("/dir/"), "dir");
}

TEST(SafeRelativePath, RejectsTraversalEncodedTraversalNulAndDotfiles) {
    for (const char* path :
         {"/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2e%2e%2fetc%2fpasswd", "/a/%2E%2E/b", "/a/./b",
          "/index.html%00.js", "/a%2fb", "/a%5cb", "/.env", "/.git/config", "/a//b", "relative", "", "/%zz", "/.."}) {
        EXPECT_FALSE(SafeRelativePath(path).has_value()) << path;
    }
}

TEST(ContentTypes, ByExtension) {
    EXPECT_EQ(ContentTypeForPath("/index.html"), "text/html; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("/_app/immutable/chunk.JS"), "text/javascript; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("/a.css"), "text/css; charset=utf-8");
    EXPECT_EQ(ContentTypeForPath("/a.woff2"), "font/woff2");
    EXPECT_EQ(ContentTypeForPath("/a.svg"), "image/svg+xml");
    EXPECT_EQ(ContentTypeForPath("/noext"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("/a.unknown"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForPath("/dir.d/noext"), "application/octet-stream");
}

TEST(InlineScripts, HashesInlineScriptsOnly) {
    std::string html =
        "<html><head><script>alert(1)</script><script src=\"/x.js\"></script>"
        "<SCRIPT type=\"module\">import('/a.js')</SCRIPT></head></html>";
    auto hashes = InlineScriptHashes(html);
    ASSERT_EQ(hashes.size(), 2u);
    // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
    EXPECT_EQ(hashes[0], "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='");
    EXPECT_TRUE(hashes[1].starts_with("'sha256-"));
}

class StaticSiteTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.Write("site/index.html", "<html>app</html>");
        dir_.Write("site/_app/immutable/app.abc123.js", "console.log(1)");
        dir_.Write("site/favicon.svg", "<svg/>");
        dir_.Write("secret.txt", "outside");
        std::filesystem::create_symlink(dir_.path() / "secret.txt", dir_.path() / "site" / "escape.txt");
        std::filesystem::create_symlink(dir_.path() / "site" / "favicon.svg", dir_.path() / "site" / "alias.svg");
        auto site = StaticSite::Create(dir_.path() / "site");
        ASSERT_TRUE(site.has_value());
        site_ = *site;
    }
    TempDir dir_;
    std::shared_ptr<const StaticSite> site_;
};

TEST_F(StaticSiteTest, CreateFailsForMissingRoot) {
    EXPECT_EQ(StaticSite::Create(dir_.path() / "nope").error().code, ErrorCode::kNotFound);
}

TEST_F(StaticSiteTest, SymlinksInsideRootWorkButCannotEscapeIt) {
    EXPECT_TRUE(site_->Open("/alias.svg").has_value());
    auto escaped = site_->Open("/escape.txt");
    ASSERT_FALSE(escaped.has_value());
    EXPECT_EQ(escaped.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(StaticSiteTest, ImmutableAssetsGetLongCacheAndIndexGetsNoCache) {
    Response asset = site_->Serve(Get("/_app/immutable/app.abc123.js"));
    EXPECT_EQ(asset.status, 200);
    EXPECT_EQ(asset.headers.Get("Cache-Control"), "public, max-age=31536000, immutable");
    EXPECT_EQ(asset.headers.Get("Content-Type"), "text/javascript; charset=utf-8");
    Response index = site_->Serve(Get("/"));
    EXPECT_EQ(index.status, 200);
    EXPECT_EQ(index.headers.Get("Cache-Control"), "no-cache");
    EXPECT_EQ(index.headers.Get("Content-Type"), "text/html; charset=utf-8");
    Response other = site_->Serve(Get("/favicon.svg"));
    EXPECT_EQ(other.headers.Get("Cache-Control"), "no-cache");
}

TEST_F(StaticSiteTest, HtmlRequestsForUnknownPathsGetIndex) {
    Request request = Get("/u/alice/playlists");
    request.headers.Set("Accept", "text/html,application/xhtml+xml");
    Response response = site_->Serve(request);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.headers.Get("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(response.file->length, std::string("<html>app</html>").size());
}

TEST_F(StaticSiteTest, NonHtmlUnknownPathsAndApiPathsAre404Json) {
    Response missing = site_->Serve(Get("/missing.js"));
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(boost::json::parse(missing.body).at("error").as_string(), "not_found");
    Request api = Get("/tracks/999");
    api.headers.Set("Accept", "text/html");
    EXPECT_EQ(site_->Serve(api).status, 404);
}

TEST_F(StaticSiteTest, TraversalAndEscapingSymlinksAre404EvenForHtmlRequests) {
    for (const char* path : {"/%2e%2e/secret.txt", "/escape.txt"}) {
        Request request = Get(path);
        request.headers.Set("Accept", "text/html");
        Response response = site_->Serve(request);
        EXPECT_EQ(response.status, 404) << path;
        EXPECT_FALSE(response.file.has_value()) << path;
    }
}

TEST_F(StaticSiteTest, NonGetIs405) {
    Request request = Get("/favicon.svg");
    request.method = "POST";
    Response response = site_->Serve(request);
    EXPECT_EQ(response.status, 405);
    EXPECT_EQ(response.headers.Get("Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace plyr::http
