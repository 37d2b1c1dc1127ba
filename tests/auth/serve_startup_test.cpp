// `plyr serve` start-up with the sign-in wired in (src/app/serve.cpp): the encryption-key rule, the client kind
// that PUBLIC_URL and OAUTH_JWK select, the development key that survives a restart. The real binary.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <boost/json/parse.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace plyr::testing {
namespace {

using namespace std::chrono_literals;

Env ServeEnv(const TempDir& dir, int port, const std::string& public_url) {
    return BaseEnv({{"DATA_DIR", dir.str() + "/data"},
                    {"PORT", std::to_string(port)},
                    {"PUBLIC_URL", public_url},
                    {"WORKER_IN_PROCESS", "false"},
                    {"LOG_LEVEL", "info"}});
}

TEST(ServeStartup, RefusesToStartWithoutAnEncryptionKeyOutsideDevelopmentMode) {
    TempDir dir;
    int port = FreePort();
    auto r = RunProcess({PlyrBinary(), "serve"}, ServeEnv(dir, port, "https://music.example"), dir.str(), 60s);
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("OAUTH_ENCRYPTION_KEY"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / "secrets")) << "no key is generated in production";
}

TEST(ServeStartup, HttpsWithAKeyButNoJwkServesAPublicClientDocument) {
    TempDir dir;
    int port = FreePort();
    Env env = ServeEnv(dir, port, "https://music.example");
    env["OAUTH_ENCRYPTION_KEY"] = std::string(43, 'A');  // base64url of 32 zero bytes
    ChildProcess child;
    ASSERT_TRUE(child.Start({PlyrBinary(), "serve"}, env, dir.str()));
    ASSERT_TRUE(child.WaitForStderr("server.listening", 60s)) << child.stderr_text();
    auto metadata = HttpRequest(port, "GET", "/oauth-client-metadata.json", {});
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->status, 200) << metadata->body;
    auto doc = boost::json::parse(metadata->body).as_object();
    EXPECT_EQ(doc.at("client_id").as_string(), "https://music.example/oauth-client-metadata.json");
    EXPECT_EQ(doc.at("token_endpoint_auth_method").as_string(), "none");
    auto jwks = HttpRequest(port, "GET", "/.well-known/jwks.json", {});
    ASSERT_TRUE(jwks);
    EXPECT_EQ(jwks->status, 404);
    child.Signal(SIGTERM);
    EXPECT_EQ(child.Wait(20s).value_or(-1), 0);
}

TEST(ServeStartup, DevelopmentModeGeneratesOneKeyAndKeepsItAcrossRestarts) {
    TempDir dir;
    int port = FreePort();
    Env env = ServeEnv(dir, port, "http://127.0.0.1:" + std::to_string(port));
    std::string first_key;
    for (int run = 0; run < 2; ++run) {
        ChildProcess child;
        ASSERT_TRUE(child.Start({PlyrBinary(), "serve"}, env, dir.str()));
        ASSERT_TRUE(child.WaitForStderr("server.listening", 60s)) << child.stderr_text();
        auto metadata = HttpRequest(port, "GET", "/oauth-client-metadata.json", {});
        ASSERT_TRUE(metadata);
        EXPECT_EQ(metadata->status, 404) << "loopback client: no metadata document";
        child.Signal(SIGTERM);
        EXPECT_EQ(child.Wait(20s).value_or(-1), 0);
        auto key = dir.path() / "data" / "secrets" / "oauth-encryption-key";
        ASSERT_TRUE(std::filesystem::exists(key));
        std::ifstream in(key);
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (run == 0) first_key = content;
        EXPECT_EQ(content, first_key);
        EXPECT_EQ(child.stderr_text().find(content), std::string::npos) << "the key is never logged";
    }
}

}  // namespace
}  // namespace plyr::testing
