// The e2e harness itself: Set-Cookie parsing and the cookie jar of support/web_client.hpp (against a real
// `plyr serve`), URL helpers, and PlyrServer start/restart. Hermetic: no testnet needed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "support/plyr_server.hpp"
#include "support/temp_dir.hpp"
#include "support/testnet.hpp"
#include "support/testnet_accounts.hpp"
#include "support/web_client.hpp"

namespace plyr::testing {
namespace {

TEST(WebClientSupport, ParsesSetCookieAttributes) {
    auto cookie = ParseSetCookie("session_id=abc-_123; Path=/; Max-Age=1209600; HttpOnly; SameSite=Lax");
    ASSERT_TRUE(cookie);
    EXPECT_EQ(cookie->name, "session_id");
    EXPECT_EQ(cookie->value, "abc-_123");
    EXPECT_EQ(cookie->Attribute("path"), "/");
    EXPECT_EQ(cookie->Attribute("Max-Age"), "1209600");
    EXPECT_TRUE(cookie->Has("httponly"));
    EXPECT_FALSE(cookie->Has("secure"));
    EXPECT_EQ(cookie->Attribute("samesite"), "Lax");
    EXPECT_FALSE(cookie->Clears());
}

TEST(WebClientSupport, RecognisesClearingCookies) {
    EXPECT_TRUE(ParseSetCookie("session_id=; Max-Age=0; Path=/")->Clears());
    EXPECT_TRUE(ParseSetCookie("a=b; Expires=Thu, 01 Jan 1970 00:00:00 GMT")->Clears());
    EXPECT_FALSE(ParseSetCookie("a=b; Expires=Fri, 01 Jan 2100 00:00:00 GMT")->Clears());
    EXPECT_FALSE(ParseSetCookie("novalue").has_value());
    EXPECT_FALSE(ParseSetCookie("=x").has_value());
}

TEST(WebClientSupport, UrlHelpers) {
    const std::string url = "http://127.0.0.1:4000/auth/callback?state=a%2Fb&iss=http%3A%2F%2Flocalhost%3A1&code=c";
    EXPECT_EQ(QueryParam(url, "state"), "a/b");
    EXPECT_EQ(QueryParam(url, "iss"), "http://localhost:1");
    EXPECT_FALSE(QueryParam(url, "error").has_value());
    EXPECT_EQ(OriginOf(url), "http://127.0.0.1:4000");
    EXPECT_EQ(PathOf(url), "/auth/callback?state=a%2Fb&iss=http%3A%2F%2Flocalhost%3A1&code=c");
    EXPECT_EQ(QueryParam("/portal?exchange_token=xyz&account_added=true", "exchange_token"), "xyz");
    EXPECT_EQ(UrlEncode("a b/c~d"), "a%20b%2Fc~d");
}

TEST(PlyrServerSupport, StartsAnswersAndRestartsOnTheSamePortAndDataDir) {
    TempDir dir;
    PlyrServer server(dir.str() + "/data");
    ASSERT_TRUE(server.Start()) << server.Log();
    WebClient client(server.url());
    auto health = client.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200) << health->body;
    EXPECT_EQ(health->Header("x-content-type-options"), "nosniff");
    EXPECT_EQ(health->Json().at("status").as_string(), "ok");
    ASSERT_TRUE(server.Restart()) << server.Log();
    auto again = client.Get("/health");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
    EXPECT_EQ(server.Stop(), 0) << server.Log();
    EXPECT_FALSE(client.Get("/health").has_value()) << "stopped means stopped";
}

TEST(PlyrServerSupport, APortTakenBeforeTheFirstStartIsReplaced) {
    TempDir dir;
    PlyrServer server(dir.str() + "/data");
    int taken = server.port();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(taken));
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    bool started = server.Start();
    close(fd);
    ASSERT_TRUE(started) << server.Log();
    EXPECT_NE(server.port(), taken);
    EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()));
    auto health = WebClient(server.url()).Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
}

TEST(TestnetAccountSupport, CreatesFreshAccountsWhoseHandlesResolve) {
    auto pds = TestnetPdsUrl();
    if (!pds) GTEST_SKIP() << "TESTNET_PDS_URL not set";
    std::string error;
    auto first = CreateTestnetAccount(*pds, "s", &error);
    ASSERT_TRUE(first) << error;
    auto second = CreateTestnetAccount(*pds, "s", &error);
    ASSERT_TRUE(second) << error;
    EXPECT_NE(first->handle, second->handle);
    EXPECT_NE(first->did, second->did);
    EXPECT_EQ(first->did.rfind("did:plc:", 0), 0u) << first->did;
    WebClient client(*pds);
    auto resolved = client.Get("/xrpc/com.atproto.identity.resolveHandle?handle=" + UrlEncode(first->handle));
    ASSERT_TRUE(resolved);
    ASSERT_EQ(resolved->status, 200) << resolved->body;
    EXPECT_EQ(resolved->Json().at("did").as_string(), first->did);
    auto missing = GetTestnetRecord(*pds, first->did, "fm.plyr.like", "3kabcdefgh222");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 400) << missing->body;  // RecordNotFound
}

}  // namespace
}  // namespace plyr::testing
