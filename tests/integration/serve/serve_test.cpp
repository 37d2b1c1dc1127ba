// `plyr serve` as a user runs it: the real binary on a free loopback port with PUBLIC_URL to match, on
// SQLite + local disk, on PostgreSQL (PLYR_TEST_PG) and on S3 (PLYR_TEST_S3).
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "support/process.hpp"

namespace plyr::testing {
namespace {

using namespace std::chrono_literals;

class PlyrServer {
  public:
    PlyrServer(const TempDir& dir, Env extra, std::vector<std::string> args = {}) : port_(FreePort()) {
        Env env = BaseEnv({{"DATA_DIR", dir.str() + "/data"},
                           {"PORT", std::to_string(port_)},
                           {"PUBLIC_URL", "http://127.0.0.1:" + std::to_string(port_)},
                           {"LOG_LEVEL", "info"}});
        for (auto& [k, v] : extra) env[k] = v;
        std::vector<std::string> argv{PlyrBinary(), "serve"};
        argv.insert(argv.end(), args.begin(), args.end());
        started_ = child_.Start(argv, env, dir.path());
    }
    ~PlyrServer() {
        child_.Signal(SIGTERM);
        child_.Wait(10s);
    }
    bool WaitReady() { return started_ && child_.WaitForStderr("server.listening", 60s).has_value(); }
    int port() const { return port_; }
    ChildProcess& child() { return child_; }
    std::optional<HttpResponse> Get(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
        return HttpRequest(port_, "GET", path, headers);
    }

  private:
    int port_;
    bool started_ = false;
    ChildProcess child_;
};

boost::json::value Json(const HttpResponse& r) { return boost::json::parse(r.body); }

void ExpectHealthy(PlyrServer& server, const std::string& db, const std::string& storage) {
    auto health = server.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200) << health->body;
    auto body = Json(*health);
    EXPECT_EQ(body.at("status").as_string(), "ok");
    EXPECT_EQ(body.at("db").as_string(), "ok");
    EXPECT_EQ(body.at("storage").as_string(), "ok");
    EXPECT_EQ(body.at("database_backend").as_string(), db);
    EXPECT_EQ(body.at("storage_backend").as_string(), storage);
    EXPECT_FALSE(body.at("version").as_string().empty());
}

TEST(Serve, AnswersHealthOnTheEmbeddedDefault) {
    TempDir dir;
    PlyrServer server(dir, {});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    ExpectHealthy(server, "sqlite", "local");
    EXPECT_TRUE(std::filesystem::exists(dir.str() + "/data/plyr.db"));
}

TEST(Serve, AnswersHealthOnPostgres) {
    auto url = FreshPostgresDatabase("plyr_serve_health");
    if (!url) GTEST_SKIP() << "PLYR_TEST_PG not set";
    TempDir dir;
    PlyrServer server(dir, {{"DATABASE_URL", *url}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    ExpectHealthy(server, "postgres", "local");
}

TEST(Serve, AnswersHealthOnS3) {
    const char* s3 = std::getenv("PLYR_TEST_S3");
    if (s3 == nullptr || *s3 == '\0') GTEST_SKIP() << "PLYR_TEST_S3 not set";
    TempDir dir;
    PlyrServer server(dir, {{"STORAGE_BACKEND", "s3"},
                            {"R2_ENDPOINT_URL", s3},
                            {"S3_FORCE_PATH_STYLE", "true"},
                            {"S3_REGION", "us-east-1"},
                            {"AWS_ACCESS_KEY_ID", "S3RVER"},
                            {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
                            {"R2_BUCKET", "plyr-audio"},
                            {"R2_PUBLIC_BUCKET_URL", "https://audio.plyr.example/bucket"}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    ExpectHealthy(server, "sqlite", "s3");
    // The player fetches redirected audio from the bucket: the CSP lets media and fetches reach it (§4.1).
    auto page = server.Get("/", {{"Accept", "text/html"}});
    ASSERT_TRUE(page);
    std::string csp = page->Header("content-security-policy");
    EXPECT_NE(csp.find("media-src 'self' blob: https://audio.plyr.example"), std::string::npos) << csp;
    EXPECT_NE(csp.find(std::string(s3).substr(0, std::string(s3).find('/', 8))), std::string::npos) << csp;
}

TEST(Serve, UnreachableDatabaseMeansDegradedHealthButTheAppStillLoads) {
    TempDir dir;
    std::filesystem::create_directories(dir.str() + "/site");
    std::ofstream(dir.str() + "/site/index.html") << "<!doctype html><title>plyr</title>";
    PlyrServer server(dir,
                      {{"DATABASE_URL", "postgres://plyr:pw@127.0.0.1:" + std::to_string(FreePort()) + "/x"},
                       {"AUTO_MIGRATE", "false"},
                       {"STATIC_DIR", dir.str() + "/site"}},
                      {"--workers", "0"});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    auto health = server.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 503);
    auto body = Json(*health);
    EXPECT_EQ(body.at("status").as_string(), "degraded");
    EXPECT_NE(body.at("db").as_string(), "ok");
    EXPECT_EQ(health->body.find("pw@"), std::string::npos);
    auto page = server.Get("/library", {{"Accept", "text/html"}});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find("<title>plyr</title>"), std::string::npos);
}

TEST(Serve, AutoMigrateFailureOnUnreachableDatabaseIsAClearRuntimeError) {
    TempDir dir;
    Env env = BaseEnv({{"DATA_DIR", dir.path()},
                       {"PORT", std::to_string(FreePort())},
                       {"DATABASE_URL", "postgres://plyr:pw@127.0.0.1:" + std::to_string(FreePort()) + "/x"}});
    auto r = RunProcess({PlyrBinary(), "serve"}, env, dir.path());
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("database"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(":pw@"), std::string::npos) << r.err;
}

TEST(Serve, ConfigIsPublicAndCarriesNoSecrets) {
    TempDir dir;
    PlyrServer server(dir, {{"METRICS_TOKEN", "metrics-secret"}, {"MAX_UPLOAD_SIZE_MB", "200"}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    auto r = server.Get("/config");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.find("metrics-secret"), std::string::npos);
    auto body = Json(*r);
    EXPECT_EQ(body.at("namespace").as_string(), "fm.plyr");
    EXPECT_EQ(body.at("max_upload_size_mb").as_int64(), 200);
    for (const char* key :
         {"version", "max_image_size_mb", "max_tags", "max_tag_length", "comment_max_bytes", "comments_max_per_track",
          "default_hidden_tags", "audio_formats", "labeler_did", "features"}) {
        EXPECT_TRUE(body.as_object().contains(key)) << key;
    }
    EXPECT_EQ(r->Header("cache-control"), "no-store");
    EXPECT_EQ(r->Header("x-content-type-options"), "nosniff");
    EXPECT_EQ(r->Header("x-frame-options"), "DENY");
    EXPECT_FALSE(r->Header("x-request-id").empty());
}

TEST(Serve, MetricsNeedTheTokenWhenOneIsConfigured) {
    TempDir dir;
    PlyrServer server(dir, {{"METRICS_TOKEN", "metrics-secret"}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    server.Get("/health");
    auto anonymous = server.Get("/metrics");
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 403);
    EXPECT_EQ(Json(*anonymous).at("error").as_string(), "forbidden");
    auto wrong = server.Get("/metrics", {{"Authorization", "Bearer nope"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 403);
    auto ok = server.Get("/metrics", {{"Authorization", "Bearer metrics-secret"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_NE(ok->body.find("plyr_http_requests_total"), std::string::npos) << ok->body;
    EXPECT_NE(ok->Header("content-type").find("text/plain"), std::string::npos);
}

TEST(Serve, MetricsAreOpenToLoopbackWithoutAToken) {
    TempDir dir;
    PlyrServer server(dir, {});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    auto r = server.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("# TYPE"), std::string::npos);
}

TEST(Serve, OpenApiDescribesEveryRoute) {
    TempDir dir;
    PlyrServer server(dir, {});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    auto r = server.Get("/openapi.json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    auto doc = Json(*r);
    EXPECT_EQ(doc.at("openapi").as_string().subview(0, 3), "3.1");
    const auto& paths = doc.at("paths").as_object();
    for (const char* path : {"/health", "/config", "/metrics", "/openapi.json"}) {
        EXPECT_TRUE(paths.contains(path)) << path;
    }
}

TEST(Serve, ServesTheWebAppWithSpaFallbackAndApiNotFound) {
    TempDir dir;
    std::filesystem::create_directories(dir.str() + "/site/_app/immutable");
    std::ofstream(dir.str() + "/site/index.html") << "<!doctype html><title>plyr app</title>";
    std::ofstream(dir.str() + "/site/_app/immutable/app.abc123.js") << "console.log('plyr');";
    PlyrServer server(dir, {{"STATIC_DIR", dir.str() + "/site"}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();

    auto asset = server.Get("/_app/immutable/app.abc123.js");
    ASSERT_TRUE(asset);
    EXPECT_EQ(asset->status, 200);
    EXPECT_EQ(asset->body, "console.log('plyr');");
    EXPECT_EQ(asset->Header("cache-control"), "public, max-age=31536000, immutable");

    auto ranged = server.Get("/_app/immutable/app.abc123.js", {{"Range", "bytes=0-6"}});
    ASSERT_TRUE(ranged);
    EXPECT_EQ(ranged->status, 206);
    EXPECT_EQ(ranged->body, "console");

    auto page = server.Get("/track/42", {{"Accept", "text/html,application/xhtml+xml"}});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_NE(page->body.find("plyr app"), std::string::npos);
    EXPECT_EQ(page->Header("cache-control"), "no-cache");
    EXPECT_FALSE(page->Header("content-security-policy").empty());

    // An unknown path under an API prefix is JSON 404, never the web app (a malformed id in an id position is
    // 400 invalid_id instead: /tracks/does-not-exist).
    auto api = server.Get("/tracks/1/no-such-thing", {{"Accept", "text/html"}});
    ASSERT_TRUE(api);
    EXPECT_EQ(api->status, 404);
    EXPECT_EQ(Json(*api).at("error").as_string(), "not_found");
    auto bad_id = server.Get("/tracks/does-not-exist", {{"Accept", "text/html"}});
    ASSERT_TRUE(bad_id);
    EXPECT_EQ(bad_id->status, 400);
    EXPECT_EQ(Json(*bad_id).at("error").as_string(), "invalid_id");

    auto traversal = server.Get("/..%2f..%2fetc%2fpasswd");
    ASSERT_TRUE(traversal);
    EXPECT_TRUE(traversal->status == 400 || traversal->status == 404) << traversal->status;
    EXPECT_EQ(traversal->body.find("root:"), std::string::npos);
}

TEST(Serve, SigtermDrainsAndExitsZero) {
    TempDir dir;
    PlyrServer server(dir, {{"HTTP_SHUTDOWN_GRACE_SECONDS", "5"}});
    ASSERT_TRUE(server.WaitReady()) << server.child().stderr_text();
    server.child().Signal(SIGTERM);
    auto code = server.child().Wait(15s);
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << server.child().stderr_text();
    EXPECT_FALSE(HttpRequest(server.port(), "GET", "/health").has_value());
}

TEST(Serve, RefusesToStartWhenThePortIsTaken) {
    TempDir dir;
    PlyrServer first(dir, {});
    ASSERT_TRUE(first.WaitReady());
    TempDir dir2;
    Env env = BaseEnv({{"DATA_DIR", dir2.path()}, {"PORT", std::to_string(first.port())}});
    auto r = RunProcess({PlyrBinary(), "serve"}, env, dir2.path(), std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(std::to_string(first.port())), std::string::npos) << r.err;
}

}  // namespace
}  // namespace plyr::testing
