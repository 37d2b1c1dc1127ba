// Issue 4, "Done when": the sign-in end to end against the reference PDS, as a browser performs it, for both
// client kinds (loopback public client; confidential client with private_key_jwt) — then authenticated PDS
// writes through plyr, a refresh, a second account, switching, logout, logout-all, developer tokens, and a
// restart of plyr that keeps every session.
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "auth_e2e.hpp"
#include "core/encoding.hpp"
#include "support/process.hpp"

namespace plyr::testing {
namespace {

std::string Str(const boost::json::value& v, const char* key) {
    if (!v.is_object()) return {};
    const auto* found = v.as_object().if_contains(key);
    return found != nullptr && found->is_string() ? std::string(found->as_string()) : std::string();
}

// A valid fm.plyr.like record (product.md §3.3).
std::string LikeRecordBody(const std::string& did) {
    boost::json::object subject{{"uri", "at://" + did + "/fm.plyr.track/3kabcdefgh222"},
                                {"cid", "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}};
    boost::json::object record{
        {"$type", "fm.plyr.like"}, {"subject", subject}, {"createdAt", "2026-11-25T16:00:00.000Z"}};
    return boost::json::serialize(boost::json::object{{"collection", "fm.plyr.like"}, {"record", record}});
}

std::vector<std::string> LinkedDids(const WebResponse& me) {
    std::vector<std::string> out;
    auto json = me.Json();
    if (!json.is_object() || !json.as_object().contains("linked_accounts")) return out;
    for (const auto& account : json.at("linked_accounts").as_array()) out.push_back(Str(account, "did"));
    std::sort(out.begin(), out.end());
    return out;
}

using AuthFlow = AuthE2EByKind;

TEST_P(AuthFlow, BrowserSignInGivesAnHttpOnlySessionAndStoresOnlyItsHash) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);

    EXPECT_EQ(signed_in->landing, "/profile/setup") << "first sign-in, profile not completed (§6.1 step 10)";

    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    auto json = me->Json();
    EXPECT_EQ(Str(json, "did"), alice.did);
    EXPECT_EQ(Str(json, "handle"), alice.handle);
    EXPECT_FALSE(json.at("session").at("is_developer_token").as_bool());
    EXPECT_EQ(LinkedDids(*me), std::vector<std::string>{alice.did});

    // Session lifetime follows the refresh-token lifetime of the client kind (product.md §6.1 step 9): 14 days
    // for the public loopback client, 180 days for the confidential one.
    auto cookie = signed_in->exchange.FindSetCookie("session_id");
    ASSERT_TRUE(cookie);
    long long max_age = std::atoll(cookie->Attribute("max-age").c_str());
    const long long day = 24 * 3600;
    if (GetParam() == ClientKind::kLoopback) {
        EXPECT_GT(max_age, 13 * day);
        EXPECT_LE(max_age, 14 * day);
    } else {
        EXPECT_GT(max_age, 179 * day);
        EXPECT_LE(max_age, 180 * day);
    }

    // Only the hash of the id is stored: neither the raw id nor the binding cookie's value are in the file.
    auto db = Db();
    EXPECT_EQ(db.Int("SELECT count(*) FROM user_sessions WHERE session_hash = '" +
                     core::Sha256Hex(signed_in->session_id) + "'"),
              1);
    EXPECT_EQ(db.Int("SELECT count(*) FROM user_sessions"), 1);
    EXPECT_FALSE(db.FileContains(signed_in->session_id));
    EXPECT_EQ(db.Int("SELECT count(*) FROM oauth_states"), 0) << "the state row is consumed by the callback";
}

TEST_P(AuthFlow, ExchangeTokenIsSingleUse) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto start = Start(browser, "handle=" + UrlEncode(alice.handle));
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 303) << start->body;
    auto callback = DeliverCallback(browser, Authorize(start->Header("location"), alice));
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    auto token = QueryParam(callback->Header("location"), "exchange_token");
    ASSERT_TRUE(token) << callback->Header("location");

    auto first = Exchange(browser, *token);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 200) << first->body;
    auto session = browser.Cookie("session_id");
    ASSERT_TRUE(session);

    WebClient other(Url());
    auto replay = Exchange(other, *token);
    ASSERT_TRUE(replay);
    EXPECT_EQ(replay->status, 400);
    EXPECT_EQ(replay->ErrorCode(), "invalid_exchange_token");
    EXPECT_FALSE(replay->FindSetCookie("session_id").has_value());
    EXPECT_FALSE(other.Cookie("session_id").has_value());
    // The first session is unaffected and no second one exists.
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200);
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions"), 1);
}

TEST_P(AuthFlow, AuthenticatedPdsWritesWorkBeforeAndAfterARefresh) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));

    auto created = Post(browser, "/auth/test/create-record", LikeRecordBody(alice.did));
    ASSERT_TRUE(created);
    ASSERT_EQ(created->status, 200) << created->body;
    std::string uri = Str(created->Json(), "uri");
    ASSERT_EQ(uri.rfind("at://" + alice.did + "/fm.plyr.like/", 0), 0u) << created->body;
    auto record = GetTestnetRecord(pds_url_, alice.did, "fm.plyr.like", uri.substr(uri.rfind('/') + 1));
    ASSERT_TRUE(record);
    ASSERT_EQ(record->status, 200) << record->body;
    EXPECT_EQ(Str(record->Json().at("value"), "$type"), "fm.plyr.like");
    EXPECT_EQ(Str(record->Json(), "cid"), Str(created->Json(), "cid"));

    auto refreshed = Post(browser, "/auth/test/refresh");
    ASSERT_TRUE(refreshed);
    ASSERT_EQ(refreshed->status, 200) << refreshed->body;

    auto again = Post(browser, "/auth/test/create-record", LikeRecordBody(alice.did));
    ASSERT_TRUE(again);
    ASSERT_EQ(again->status, 200) << again->body;
    std::string uri2 = Str(again->Json(), "uri");
    EXPECT_NE(uri2, uri);
    auto record2 = GetTestnetRecord(pds_url_, alice.did, "fm.plyr.like", uri2.substr(uri2.rfind('/') + 1));
    ASSERT_TRUE(record2);
    EXPECT_EQ(record2->status, 200) << record2->body;
    // Still one session: a refresh rewrites the row, it does not add one.
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions"), 1);
}

TEST_P(AuthFlow, AddAccountSwitchLogoutAndLogoutAllKeepDeveloperTokens) {
    auto alice = NewAccount("a");
    auto bob = NewAccount("b");
    WebClient browser(Url());
    auto alice_in = SignIn(browser, alice);
    ASSERT_TRUE(alice_in);

    // A developer token of alice's, to check logout-all leaves it alone.
    auto dev_start = Post(browser, "/auth/developer-token/start", R"({"name":"ci","expires_in_days":7})");
    ASSERT_TRUE(dev_start);
    ASSERT_EQ(dev_start->status, 200) << dev_start->body;
    auto dev_location = CompleteFlow(browser, Str(dev_start->Json(), "auth_url"), alice);
    ASSERT_TRUE(dev_location);
    auto dev_exchange = Exchange(browser, QueryParam(*dev_location, "exchange_token").value_or(""));
    ASSERT_TRUE(dev_exchange);
    ASSERT_EQ(dev_exchange->status, 200) << dev_exchange->body;
    std::string dev_token = Str(dev_exchange->Json(), "session_id");
    ASSERT_FALSE(dev_token.empty());
    ASSERT_EQ(browser.Cookie("session_id"), alice_in->session_id) << "a developer token never replaces the cookie";

    // Add bob: the new account becomes active, and both are linked.
    auto add = Post(browser, "/auth/add-account/start");
    ASSERT_TRUE(add);
    ASSERT_EQ(add->status, 200) << add->body;
    std::string add_url = Str(add->Json(), "auth_url");
    ASSERT_FALSE(add_url.empty()) << add->body;
    auto add_location = CompleteFlow(browser, add_url, bob);
    ASSERT_TRUE(add_location);
    EXPECT_EQ(QueryParam(*add_location, "account_added"), "true") << *add_location;
    auto bob_exchange = Exchange(browser, QueryParam(*add_location, "exchange_token").value_or(""));
    ASSERT_TRUE(bob_exchange);
    ASSERT_EQ(bob_exchange->status, 200) << bob_exchange->body;
    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(Str(me->Json(), "did"), bob.did);
    std::vector<std::string> both{alice.did, bob.did};
    std::sort(both.begin(), both.end());
    EXPECT_EQ(LinkedDids(*me), both);

    // Switch back to alice: her session gets a new id; the id it had before is dead.
    auto switched =
        Post(browser, "/auth/switch-account", boost::json::serialize(boost::json::object{{"did", alice.did}}));
    ASSERT_TRUE(switched);
    ASSERT_EQ(switched->status, 200) << switched->body;
    EXPECT_EQ(Str(switched->Json(), "did"), alice.did);
    auto rotated = browser.Cookie("session_id");
    ASSERT_TRUE(rotated);
    EXPECT_NE(*rotated, alice_in->session_id);
    WebClient stale(Url());
    stale.SetCookieValue("session_id", alice_in->session_id);
    auto stale_me = Me(stale);
    ASSERT_TRUE(stale_me);
    EXPECT_EQ(stale_me->status, 401);
    me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(Str(me->Json(), "did"), alice.did);

    // Log alice out, switching to bob: bob remains, alone in the group.
    auto logout = Post(browser, "/auth/logout?switch_to=" + UrlEncode(bob.did));
    ASSERT_TRUE(logout);
    ASSERT_EQ(logout->status, 200) << logout->body;
    EXPECT_EQ(Str(logout->Json().at("switched_to"), "did"), bob.did);
    me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(Str(me->Json(), "did"), bob.did);
    EXPECT_EQ(LinkedDids(*me), std::vector<std::string>{bob.did});

    // Logout-all: the browser's sessions are gone, the developer token is not.
    auto all = Post(browser, "/auth/logout-all");
    ASSERT_TRUE(all);
    ASSERT_EQ(all->status, 200) << all->body;
    EXPECT_GE(all->Json().at("logged_out").to_number<std::int64_t>(), 1);
    auto cleared = all->FindSetCookie("session_id");
    ASSERT_TRUE(cleared);
    EXPECT_TRUE(cleared->Clears());
    EXPECT_EQ(cleared->Attribute("path"), "/");
    EXPECT_FALSE(browser.Cookie("session_id").has_value());
    stale.SetCookieValue("session_id", *rotated);
    auto gone = Me(stale);
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->status, 401);
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions WHERE is_developer_token = 0"), 0);
    WebClient api(Url());
    auto dev_me = api.Get("/auth/me", {{"Authorization", "Bearer " + dev_token}});
    ASSERT_TRUE(dev_me);
    EXPECT_EQ(dev_me->status, 200) << dev_me->body;
}

TEST_P(AuthFlow, DeveloperTokenIsABearerSessionThatCanBeRevokedByPrefix) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));

    auto start = Post(browser, "/auth/developer-token/start", R"({"name":"my script","expires_in_days":30})");
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 200) << start->body;
    auto location = CompleteFlow(browser, Str(start->Json(), "auth_url"), alice);
    ASSERT_TRUE(location);
    EXPECT_EQ(QueryParam(*location, "dev_token"), "true") << *location;
    auto exchange = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    std::string token = Str(exchange->Json(), "session_id");
    ASSERT_GE(token.size(), 8u) << exchange->body;
    EXPECT_FALSE(Db().FileContains(token));

    WebClient api(Url());
    auto me = api.Get("/auth/me", {{"Authorization", "Bearer " + token}});
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(Str(me->Json(), "did"), alice.did);
    EXPECT_TRUE(me->Json().at("session").at("is_developer_token").as_bool());

    auto list = browser.Get("/auth/developer-tokens");
    ASSERT_TRUE(list);
    ASSERT_EQ(list->status, 200) << list->body;
    auto list_json = list->Json();
    const auto& tokens = list_json.at("tokens").as_array();
    ASSERT_EQ(tokens.size(), 1u) << list->body;
    std::string prefix = Str(tokens[0], "token_id");
    EXPECT_EQ(prefix, token.substr(0, 8));
    EXPECT_EQ(Str(tokens[0], "name"), "my script");
    EXPECT_EQ(list->body.find(token), std::string::npos) << "the list never shows the whole token";

    auto revoke = browser.Request("DELETE", "/auth/developer-tokens/" + prefix, {{"Origin", Url()}});
    ASSERT_TRUE(revoke);
    EXPECT_EQ(revoke->status, 204) << revoke->body;
    me = api.Get("/auth/me", {{"Authorization", "Bearer " + token}});
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 401);
    EXPECT_EQ(me->ErrorCode(), "authentication_required");
    // The browser session itself is untouched.
    auto own = Me(browser);
    ASSERT_TRUE(own);
    EXPECT_EQ(own->status, 200);
}

TEST_P(AuthFlow, RestartKeepsEverySession) {
    auto alice = NewAccount("a");
    auto bob = NewAccount("b");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));
    auto add = Post(browser, "/auth/add-account/start");
    ASSERT_TRUE(add);
    ASSERT_EQ(add->status, 200) << add->body;
    auto add_location = CompleteFlow(browser, Str(add->Json(), "auth_url"), bob);
    ASSERT_TRUE(add_location);
    auto bob_exchange = Exchange(browser, QueryParam(*add_location, "exchange_token").value_or(""));
    ASSERT_TRUE(bob_exchange);
    ASSERT_EQ(bob_exchange->status, 200) << bob_exchange->body;

    ASSERT_TRUE(server_->Restart()) << server_->Log();

    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(Str(me->Json(), "did"), bob.did);
    std::vector<std::string> both{alice.did, bob.did};
    std::sort(both.begin(), both.end());
    EXPECT_EQ(LinkedDids(*me), both);
    // Alice's session survived too (and its encrypted tokens still open): switch to it and write as her.
    auto switched =
        Post(browser, "/auth/switch-account", boost::json::serialize(boost::json::object{{"did", alice.did}}));
    ASSERT_TRUE(switched);
    ASSERT_EQ(switched->status, 200) << switched->body;
    auto created = Post(browser, "/auth/test/create-record", LikeRecordBody(alice.did));
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 200) << created->body;
}

TEST_P(AuthFlow, StartAcceptsADidOrThePdsUrlInsteadOfAHandle) {
    auto alice = NewAccount("a");
    for (const std::string& input : {alice.did, pds_url_}) {
        WebClient browser(Url());
        auto start = Start(browser, "handle=" + UrlEncode(input));
        ASSERT_TRUE(start);
        ASSERT_EQ(start->status, 303) << input << " " << start->body;
        auto callback = DeliverCallback(browser, Authorize(start->Header("location"), alice));
        ASSERT_TRUE(callback);
        ASSERT_EQ(callback->status, 303) << input;
        auto exchange = Exchange(browser, QueryParam(callback->Header("location"), "exchange_token").value_or(""));
        ASSERT_TRUE(exchange);
        ASSERT_EQ(exchange->status, 200) << input << " " << exchange->body;
        auto me = Me(browser);
        ASSERT_TRUE(me);
        ASSERT_EQ(me->status, 200) << input;
        EXPECT_EQ(Str(me->Json(), "did"), alice.did) << input;
        EXPECT_EQ(Str(me->Json(), "handle"), alice.handle) << input;
    }
}

TEST_P(AuthFlow, ScopeUpgradeReplacesTheSessionWithOneThatHasTheExtraScope) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200);
    ASSERT_FALSE(me->Json().at("granted").at("bsky_post").as_bool()) << me->body;

    auto start = Post(browser, "/auth/scope-upgrade/start", R"({"include":["bsky_post"],"return_to":"/settings"})");
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 200) << start->body;
    auto location = CompleteFlow(browser, Str(start->Json(), "auth_url"), alice);
    ASSERT_TRUE(location);
    EXPECT_EQ(QueryParam(*location, "scope_upgraded"), "true") << *location;
    EXPECT_EQ(PathOf(*location).rfind("/settings?", 0), 0u) << *location;
    auto exchange = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    EXPECT_NE(browser.Cookie("session_id"), signed_in->session_id) << "the cookie is rotated to the new session";

    me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_TRUE(me->Json().at("granted").at("bsky_post").as_bool()) << me->body;
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions"), 1) << "the new session replaces the old one";
    WebClient stale(Url());
    stale.SetCookieValue("session_id", signed_in->session_id);
    auto old = Me(stale);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->status, 401);
}

TEST_P(AuthFlow, ConcurrentRefreshesFromTwoProcessesKeepTheSessionAlive) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    // A second plyr process on the same DATA_DIR (same database and key) and the same PUBLIC_URL, as behind a
    // load balancer. Refresh tokens are single-use: unserialised refreshes would burn the grant.
    Env env = testnet_env_;
    env["PUBLIC_URL"] = Url();
    if (GetParam() == ClientKind::kConfidential) env["OAUTH_JWK"] = server_jwk();
    PlyrServer second(server_->data_dir(), env);
    ASSERT_TRUE(second.Start()) << second.Log();

    constexpr int kPerProcess = 3;
    std::vector<int> statuses(2 * kPerProcess, 0);
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < 2 * kPerProcess; ++i) {
            threads.emplace_back([&, i] {
                WebClient client(i % 2 == 0 ? Url() : second.url());
                client.SetCookieValue("session_id", signed_in->session_id);
                if (auto r = client.PostJson("/auth/test/refresh", "{}", {{"Origin", Url()}})) statuses[i] = r->status;
            });
        }
        for (auto& t : threads) t.join();
    }
    for (int i = 0; i < 2 * kPerProcess; ++i) EXPECT_EQ(statuses[i], 200) << "refresh " << i;

    // The session still works from both processes, for reads and for PDS writes.
    for (const std::string& base : {Url(), second.url()}) {
        WebClient client(base);
        client.SetCookieValue("session_id", signed_in->session_id);
        auto me = client.Get("/auth/me");
        ASSERT_TRUE(me);
        EXPECT_EQ(me->status, 200) << base << " " << me->body;
        auto created = client.PostJson("/auth/test/create-record", LikeRecordBody(alice.did), {{"Origin", Url()}});
        ASSERT_TRUE(created);
        EXPECT_EQ(created->status, 200) << base << " " << created->body;
    }
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions"), 1);
}

TEST_P(AuthFlow, ClientMetadataAndJwksMatchTheClientKind) {
    WebClient anyone(Url());
    auto metadata = anyone.Get("/oauth-client-metadata.json");
    auto jwks = anyone.Get("/.well-known/jwks.json");
    ASSERT_TRUE(metadata);
    ASSERT_TRUE(jwks);
    if (GetParam() == ClientKind::kLoopback) {
        EXPECT_EQ(metadata->status, 404);
        EXPECT_EQ(metadata->ErrorCode(), "not_found");
        EXPECT_EQ(jwks->status, 404);
        return;
    }
    ASSERT_EQ(metadata->status, 200) << metadata->body;
    auto doc = metadata->Json();
    EXPECT_EQ(Str(doc, "client_id"), Url() + "/oauth-client-metadata.json");
    EXPECT_EQ(Str(doc, "token_endpoint_auth_method"), "private_key_jwt");
    EXPECT_EQ(Str(doc, "token_endpoint_auth_signing_alg"), "ES256");
    EXPECT_EQ(Str(doc, "jwks_uri"), Url() + "/.well-known/jwks.json");
    EXPECT_TRUE(doc.at("dpop_bound_access_tokens").as_bool());
    ASSERT_EQ(doc.at("redirect_uris").as_array().size(), 1u);
    EXPECT_EQ(doc.at("redirect_uris").as_array()[0].as_string(), Url() + "/auth/callback");
    EXPECT_NE(Str(doc, "scope").find("atproto"), std::string::npos);

    ASSERT_EQ(jwks->status, 200) << jwks->body;
    auto jwks_json = jwks->Json();
    const auto& keys = jwks_json.at("keys").as_array();
    ASSERT_EQ(keys.size(), 1u);
    EXPECT_EQ(Str(keys[0], "kty"), "EC");
    EXPECT_EQ(Str(keys[0], "crv"), "P-256");
    EXPECT_FALSE(Str(keys[0], "kid").empty());
    EXPECT_FALSE(keys[0].as_object().contains("d")) << "the JWKS must never carry the private key";
}

// The same promise on the other database backend: sessions live in PostgreSQL, the key in DATA_DIR.
class AuthPostgres : public AuthE2E {};

TEST_F(AuthPostgres, SignInAddAccountAndRestartKeepEverySession) {
    if (skipped_) return;
    auto database = FreshPostgresDatabase("plyr_auth_e2e");
    if (!database) GTEST_SKIP() << "PLYR_TEST_PG not set";
    ASSERT_NO_FATAL_FAILURE(StartPlyr(ClientKind::kLoopback, {{"DATABASE_URL", *database}}));
    auto alice = NewAccount("a");
    auto bob = NewAccount("b");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));
    auto add = Post(browser, "/auth/add-account/start");
    ASSERT_TRUE(add);
    ASSERT_EQ(add->status, 200) << add->body;
    auto location = CompleteFlow(browser, Str(add->Json(), "auth_url"), bob);
    ASSERT_TRUE(location);
    auto exchange = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    auto replay = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
    ASSERT_TRUE(replay);
    EXPECT_EQ(replay->status, 400);
    EXPECT_EQ(replay->ErrorCode(), "invalid_exchange_token");

    ASSERT_TRUE(server_->Restart()) << server_->Log();

    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(Str(me->Json(), "did"), bob.did);
    std::vector<std::string> both{alice.did, bob.did};
    std::sort(both.begin(), both.end());
    EXPECT_EQ(LinkedDids(*me), both);
    auto switched =
        Post(browser, "/auth/switch-account", boost::json::serialize(boost::json::object{{"did", alice.did}}));
    ASSERT_TRUE(switched);
    ASSERT_EQ(switched->status, 200) << switched->body;
    auto created = Post(browser, "/auth/test/create-record", LikeRecordBody(alice.did));
    ASSERT_TRUE(created);
    EXPECT_EQ(created->status, 200) << created->body;
}

INSTANTIATE_TEST_SUITE_P(BothClients, AuthFlow, ::testing::Values(ClientKind::kLoopback, ClientKind::kConfidential),
                         ClientKindName);

}  // namespace
}  // namespace plyr::testing
