// Issue 4's negative cases and product.md §9 rows 32, 37, 38, 41-43, 45, 46 against the real binary and the
// reference PDS: each answer's status and code, and that nothing is left behind (no session row, no state
// row). The "sub resolves elsewhere" case (row 39) needs a doubled resolver: it is tested at the service level
// (tests/auth), not here.
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "auth_e2e.hpp"
#include "core/encoding.hpp"

namespace plyr::testing {
namespace {

class AuthNegative : public AuthE2E {
  protected:
    void SetUp() override {
        AuthE2E::SetUp();
        if (skipped_) return;
        StartPlyr(ClientKind::kLoopback);
    }

    long long Sessions() { return Db().Int("SELECT count(*) FROM user_sessions"); }
    long long States() { return Db().Int("SELECT count(*) FROM oauth_states"); }

    // A started flow signed in and consented at the AS, but not yet delivered to plyr's callback.
    struct PendingCallback {
        std::string callback_url;
        std::string binding;
    };
    std::optional<PendingCallback> AuthorizeOnly(WebClient& browser, const TestnetAccount& account) {
        auto start = Start(browser, "handle=" + UrlEncode(account.handle));
        if (!start || start->status != 303) {
            ADD_FAILURE() << "/auth/start: " << (start ? start->status : 0) << " " << (start ? start->body : "");
            return std::nullopt;
        }
        auto binding = browser.Cookie("plyr_oauth_binding");
        if (!binding) {
            ADD_FAILURE() << "no binding cookie";
            return std::nullopt;
        }
        std::string callback = Authorize(start->Header("location"), account);
        if (callback.empty()) return std::nullopt;
        return PendingCallback{callback, *binding};
    }

    static std::string WithParam(const std::string& url, const std::string& name, const std::string& value) {
        std::string path = PathOf(url);
        std::string base = path.substr(0, path.find('?'));
        std::string query = path.find('?') == std::string::npos ? "" : path.substr(path.find('?') + 1);
        std::string out = base + "?";
        bool replaced = false;
        std::size_t pos = 0;
        bool first = true;
        while (pos <= query.size() && !query.empty()) {
            std::size_t end = query.find('&', pos);
            if (end == std::string::npos) end = query.size();
            std::string pair = query.substr(pos, end - pos);
            if (!first) out += "&";
            first = false;
            if (pair.rfind(name + "=", 0) == 0) {
                out += name + "=" + UrlEncode(value);
                replaced = true;
            } else {
                out += pair;
            }
            pos = end + 1;
        }
        if (!replaced) out += (first ? "" : "&") + name + "=" + UrlEncode(value);
        return out;
    }

    void ExpectLoginError(const std::optional<WebResponse>& r, const std::string& code) {
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 303) << r->body;
        EXPECT_EQ(PathOf(r->Header("location")), "/login?auth_error=" + code) << r->Header("location");
        EXPECT_FALSE(r->FindSetCookie("session_id").has_value() && !r->FindSetCookie("session_id")->Clears());
    }
};

TEST_F(AuthNegative, NoCredentialsIsAuthenticationRequired) {
    WebClient anyone(Url());
    auto me = Me(anyone);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 401);
    EXPECT_EQ(me->ErrorCode(), "authentication_required");
}

TEST_F(AuthNegative, UnknownStateIsExpiredAndCreatesNothing) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto r = browser.Get(WithParam(pending->callback_url, "state", core::RandomHex(32)), {{"Accept", "text/html"}});
    ExpectLoginError(r, "expired");
    EXPECT_EQ(Sessions(), 0);
    EXPECT_EQ(Db().Int("SELECT count(*) FROM exchange_tokens"), 0);
}

TEST_F(AuthNegative, CallbackWithoutTheBindingCookieIsExpired) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    // Login CSRF: the attacker's completed authorization lands in a victim's browser, which lacks the cookie.
    WebClient victim(Url());
    auto r = DeliverCallback(victim, pending->callback_url);
    ExpectLoginError(r, "expired");
    EXPECT_EQ(Sessions(), 0);
    EXPECT_FALSE(victim.Cookie("session_id").has_value());
    // A wrong binding value is no better.
    WebClient forger(Url());
    forger.SetCookieValue("plyr_oauth_binding", core::RandomHex(32));
    ExpectLoginError(DeliverCallback(forger, pending->callback_url), "expired");
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, ReplayedCallbackAndCodeAreExpired) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto first = DeliverCallback(browser, pending->callback_url);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 303);
    ASSERT_TRUE(QueryParam(first->Header("location"), "exchange_token").has_value()) << first->Header("location");
    EXPECT_EQ(Sessions(), 1);
    // The same state + code again (the binding cookie is still in the jar): state consumed → expired; the code
    // is never sent to the AS a second time.
    browser.SetCookieValue("plyr_oauth_binding", pending->binding);
    ExpectLoginError(DeliverCallback(browser, pending->callback_url), "expired");
    EXPECT_EQ(Sessions(), 1);
}

TEST_F(AuthNegative, IssuerMismatchFailsWithoutATokenRequestAndConsumesTheState) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    ExpectLoginError(
        browser.Get(WithParam(pending->callback_url, "iss", "https://evil.example"), {{"Accept", "text/html"}}),
        "failed");
    EXPECT_EQ(Sessions(), 0);
    EXPECT_EQ(States(), 0);
    browser.SetCookieValue("plyr_oauth_binding", pending->binding);
    ExpectLoginError(DeliverCallback(browser, pending->callback_url), "expired");
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, StateOlderThanTenMinutesIsExpiredAndDeleted) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    ASSERT_EQ(States(), 1);
    ASSERT_EQ(Db().Exec("UPDATE oauth_states SET expires_at = 1"), 1);
    ExpectLoginError(DeliverCallback(browser, pending->callback_url), "expired");
    EXPECT_EQ(Sessions(), 0);
    EXPECT_EQ(States(), 0);
}

TEST_F(AuthNegative, ExchangeTokenUsedAfterItsLifetimeIsInvalid) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto callback = DeliverCallback(browser, pending->callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    auto token = QueryParam(callback->Header("location"), "exchange_token");
    ASSERT_TRUE(token) << callback->Header("location");
    ASSERT_EQ(Db().Exec("UPDATE exchange_tokens SET expires_at = 1"), 1);
    auto late = Exchange(browser, *token);
    ASSERT_TRUE(late);
    EXPECT_EQ(late->status, 400) << late->body;
    EXPECT_EQ(late->ErrorCode(), "invalid_exchange_token");
    EXPECT_FALSE(browser.Cookie("session_id").has_value());
    for (const std::string& junk : {std::string(""), std::string("x"), core::RandomHex(32)}) {
        auto r = Exchange(browser, junk);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << junk;
        EXPECT_EQ(r->ErrorCode(), "invalid_exchange_token") << junk;
    }
}

TEST_F(AuthNegative, AForwardedExchangeLinkDoesNotSignInAnotherBrowser) {
    // Login CSRF: the attacker signs in to their own account, stops at the callback's redirect and sends the
    // ?exchange_token= link to the victim, whose web app would post it from the right origin.
    auto mallory = NewAccount("m");
    WebClient attacker(Url());
    auto pending = AuthorizeOnly(attacker, mallory);
    ASSERT_TRUE(pending);
    auto callback = DeliverCallback(attacker, pending->callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    auto token = QueryParam(callback->Header("location"), "exchange_token");
    ASSERT_TRUE(token) << callback->Header("location");
    WebClient victim(Url());
    auto r = Exchange(victim, *token);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(r->ErrorCode(), "invalid_exchange_token");
    EXPECT_FALSE(r->FindSetCookie("session_id").has_value());
    EXPECT_FALSE(victim.Cookie("session_id").has_value());
    EXPECT_EQ(Sessions(), 0) << "the orphaned session is ended";
}

TEST_F(AuthNegative, ApiExchangeWithoutOriginReturnsTheSessionIdForBearerUse) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto callback = DeliverCallback(browser, pending->callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    auto token = QueryParam(callback->Header("location"), "exchange_token");
    ASSERT_TRUE(token);
    WebClient api(Url());
    // A body that is not declared JSON (what a cross-site form or simple fetch can send) is refused before
    // the token is looked at: it stays redeemable.
    auto plain =
        api.Request("POST", "/auth/exchange", {{"Content-Type", "text/plain"}, {"Origin", "https://evil.example"}},
                    "{\"exchange_token\":\"" + *token + "\"}");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 415) << plain->body;
    EXPECT_EQ(plain->ErrorCode(), "unsupported_media_type");
    EXPECT_FALSE(plain->FindSetCookie("session_id").has_value());
    auto r = api.PostJson("/auth/exchange", "{\"exchange_token\":\"" + *token + "\"}");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    auto json = r->Json();
    std::string session_id(json.at("session_id").as_string());
    EXPECT_EQ(json.at("did").as_string(), alice.did);
    EXPECT_FALSE(r->FindSetCookie("session_id").has_value()) << "an API client gets the id in the body only";
    auto me = api.Get("/auth/me", {{"Authorization", "Bearer " + session_id}});
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200) << me->body;
    EXPECT_FALSE(me->Json().at("session").at("is_developer_token").as_bool());
}

TEST_F(AuthNegative, SwitchOrLogoutToAnUnlinkedAccountIsAccountNotLinkedAndChangesNothing) {
    auto alice = NewAccount("a");
    auto stranger = NewAccount("s");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    auto sw = Post(browser, "/auth/switch-account", "{\"did\":\"" + stranger.did + "\"}");
    ASSERT_TRUE(sw);
    EXPECT_EQ(sw->status, 404) << sw->body;
    EXPECT_EQ(sw->ErrorCode(), "account_not_linked");
    auto out = Post(browser, "/auth/logout?switch_to=" + UrlEncode(stranger.did));
    ASSERT_TRUE(out);
    EXPECT_EQ(out->status, 404) << out->body;
    EXPECT_EQ(out->ErrorCode(), "account_not_linked");
    EXPECT_EQ(browser.Cookie("session_id"), signed_in->session_id);
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200);
    EXPECT_EQ(Sessions(), 1);
}

TEST_F(AuthNegative, DeveloperTokenStartValidatesNameAndExpiry) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"({"name":"","expires_in_days":7})", "invalid_name"},
        {R"({"name":")" + std::string(65, 'n') + R"(","expires_in_days":7})", "invalid_name"},
        {R"({"name":"ok","expires_in_days":0})", "invalid_expiry"},
        {R"({"name":"ok","expires_in_days":100000})", "invalid_expiry"}};
    for (const auto& [body, code] : cases) {
        auto r = Post(browser, "/auth/developer-token/start", body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << body << " " << r->body;
        EXPECT_EQ(r->ErrorCode(), code) << body;
    }
    EXPECT_EQ(Db().Int("SELECT count(*) FROM pending_dev_tokens"), 0);
    EXPECT_EQ(States(), 0);
    auto unknown = browser.Request("DELETE", "/auth/developer-tokens/abcdefgh", {{"Origin", Url()}});
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404) << unknown->body;
}

TEST_F(AuthNegative, DeniedConsentIsDenied) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto start = Start(browser, "handle=" + UrlEncode(alice.handle));
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 303) << start->body;
    std::string callback = Authorize(start->Header("location"), alice, /*deny=*/true);
    ASSERT_FALSE(callback.empty());
    ASSERT_EQ(QueryParam(callback, "error"), "access_denied") << callback;
    ExpectLoginError(DeliverCallback(browser, callback), "denied");
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, ExpiredSessionIsSessionExpiredAndClearsTheCookie) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    ASSERT_EQ(Db().Exec("UPDATE user_sessions SET expires_at = 1 WHERE session_hash = '" +
                        core::Sha256Hex(signed_in->session_id) + "'"),
              1);
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 401);
    EXPECT_EQ(me->ErrorCode(), "session_expired");
    auto cleared = me->FindSetCookie("session_id");
    ASSERT_TRUE(cleared) << "the expired cookie must be cleared";
    EXPECT_EQ(cleared->Attribute("max-age"), "0");
    EXPECT_EQ(cleared->Attribute("path"), "/") << "a clearing cookie must match the cookie's path";
    EXPECT_TRUE(cleared->value.empty());
    EXPECT_EQ(Sessions(), 0) << "the expired row is deleted";
    // Once deleted, the old id is simply unknown.
    WebClient again(Url());
    again.SetCookieValue("session_id", signed_in->session_id);
    auto after = Me(again);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 401);
}

TEST_F(AuthNegative, TamperedCookieAndRandomBearerAreAuthenticationRequired) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    std::string tampered = signed_in->session_id;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    WebClient mallory(Url());
    mallory.SetCookieValue("session_id", tampered);
    auto me = Me(mallory);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 401);
    EXPECT_EQ(me->ErrorCode(), "authentication_required");

    WebClient api(Url());
    for (const std::string& bearer : {core::RandomHex(32), std::string("x"), signed_in->session_id + "x"}) {
        auto r = api.Get("/auth/me", {{"Authorization", "Bearer " + bearer}});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401) << bearer;
        EXPECT_EQ(r->ErrorCode(), "authentication_required") << bearer;
    }
    // The real session is unaffected.
    auto own = Me(browser);
    ASSERT_TRUE(own);
    EXPECT_EQ(own->status, 200);
    EXPECT_EQ(Sessions(), 1);
}

TEST_F(AuthNegative, CrossSitePostWithTheCookieIsCsrfRejected) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));
    for (const Headers& headers : std::vector<Headers>{
             {{"Origin", "https://evil.example"}}, {{"Origin", "null"}}, {{"Sec-Fetch-Site", "cross-site"}}, {}}) {
        auto r = browser.Request("POST", "/auth/logout", headers);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 403) << r->body;
        EXPECT_EQ(r->ErrorCode(), "csrf_rejected");
    }
    // Without Origin the Referer decides: a page of plyr passes the CSRF check (and then fails validation), a
    // foreign page does not.
    auto same = browser.Request("POST", "/auth/developer-token/start",
                                {{"Referer", Url() + "/settings"}, {"Content-Type", "application/json"}},
                                R"({"name":"","expires_in_days":7})");
    ASSERT_TRUE(same);
    EXPECT_EQ(same->status, 400) << same->body;
    EXPECT_EQ(same->ErrorCode(), "invalid_name");
    auto foreign = browser.Request("POST", "/auth/developer-token/start",
                                   {{"Referer", "https://evil.example/page"}, {"Content-Type", "application/json"}},
                                   R"({"name":"x","expires_in_days":7})");
    ASSERT_TRUE(foreign);
    EXPECT_EQ(foreign->status, 403) << foreign->body;
    EXPECT_EQ(foreign->ErrorCode(), "csrf_rejected");
    EXPECT_EQ(Db().Int("SELECT count(*) FROM pending_dev_tokens"), 0);
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200) << "nothing changed";
    EXPECT_EQ(Sessions(), 1);
}

TEST_F(AuthNegative, BadHandlesAreInvalidHandleAndLeaveNoStateRow) {
    const std::vector<std::string> bad{"alice..bsky.social",
                                       "x.local",
                                       "handle.invalid",
                                       std::string(300, 'a') + ".test",
                                       "did:plc:short",
                                       "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                                       "DID:PLC:ewvi7nxzyoun6zhxrhs64oiz",
                                       "",
                                       "http://example.com",
                                       "https://pds.example/with/path"};
    WebClient browser(Url());
    for (const auto& handle : bad) {
        auto page = Start(browser, "handle=" + UrlEncode(handle));
        ASSERT_TRUE(page);
        EXPECT_EQ(page->status, 303) << handle;
        EXPECT_EQ(PathOf(page->Header("location")), "/login?auth_error=invalid_handle") << handle;
        EXPECT_FALSE(page->FindSetCookie("plyr_oauth_binding").has_value()) << handle;

        auto api = browser.Get("/auth/start?handle=" + UrlEncode(handle), {{"Accept", "application/json"}});
        ASSERT_TRUE(api);
        EXPECT_EQ(api->status, 400) << handle << " " << api->body;
        EXPECT_EQ(api->ErrorCode(), "invalid_handle") << handle;
    }
    EXPECT_EQ(States(), 0);
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, ForeignReturnToIsIgnoredAndALocalOneIsKept) {
    auto alice = NewAccount("a");
    // The default target: the profile setup on the very first sign-in, the home page afterwards.
    std::string expected_default = "/profile/setup";
    for (std::string evil : {"//evil.example", "https://evil.example", "/\\evil.example"}) {
        WebClient browser(Url());
        auto signed_in = SignIn(browser, alice, "&return_to=" + UrlEncode(evil));
        ASSERT_TRUE(signed_in) << evil;
        EXPECT_EQ(signed_in->landing, expected_default) << evil;
        expected_default = "/";
        EXPECT_EQ(signed_in->landing.rfind("/", 0), 0u) << evil << " → " << signed_in->landing;
        EXPECT_NE(signed_in->landing.rfind("//", 0), 0u) << evil << " → " << signed_in->landing;
        EXPECT_EQ(signed_in->landing.find("evil"), std::string::npos) << evil << " → " << signed_in->landing;
        EXPECT_EQ(signed_in->landing.find('\\'), std::string::npos) << evil << " → " << signed_in->landing;
    }
    WebClient browser(Url());
    auto kept = SignIn(browser, alice, "&return_to=" + UrlEncode("/library"));
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->landing, "/library");
}

class AuthRateLimit : public AuthE2E {};

TEST_F(AuthRateLimit, AuthStartIsRateLimitedPerClient) {
    if (skipped_) return;
    ASSERT_NO_FATAL_FAILURE(
        StartPlyr(ClientKind::kLoopback, {{"RATE_LIMIT_ENABLED", "true"}, {"RATE_LIMIT_AUTH_LIMIT", "3/minute"}}));
    WebClient browser(Url());
    for (int i = 0; i < 3; ++i) {
        auto r = browser.Get("/auth/start?handle=bad..handle", {{"Accept", "application/json"}});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << i << " " << r->body;
    }
    auto limited = browser.Get("/auth/start?handle=bad..handle", {{"Accept", "application/json"}});
    ASSERT_TRUE(limited);
    EXPECT_EQ(limited->status, 429) << limited->body;
    EXPECT_EQ(limited->ErrorCode(), "rate_limited");
    EXPECT_GT(std::atoi(limited->Header("retry-after").c_str()), 0) << limited->Header("retry-after");
    auto exchange = Exchange(browser, "nope");
    ASSERT_TRUE(exchange);
    // /auth/exchange shares the auth bucket (product.md §4.1).
    EXPECT_EQ(exchange->status, 429) << exchange->body;
    // Other routes are not in the auth bucket.
    auto health = browser.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_NE(health->status, 429);
    EXPECT_EQ(Db().Int("SELECT count(*) FROM oauth_states"), 0);
}

// Issue 4 item 7: secrets never reach the log, even at debug level.
class AuthLogs : public AuthE2E {};

TEST_F(AuthLogs, NoSecretOfTheSignInIsLoggedAtDebugLevel) {
    if (skipped_) return;
    ASSERT_NO_FATAL_FAILURE(StartPlyr(ClientKind::kConfidential, {{"LOG_LEVEL", "debug"}}));
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto start = Start(browser, "handle=" + UrlEncode(alice.handle));
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 303) << start->body;
    std::string binding = browser.Cookie("plyr_oauth_binding").value_or("");
    std::string callback_url = Authorize(start->Header("location"), alice);
    ASSERT_FALSE(callback_url.empty());
    auto callback = DeliverCallback(browser, callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    std::string exchange_token = QueryParam(callback->Header("location"), "exchange_token").value_or("");
    auto exchange = Exchange(browser, exchange_token);
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    std::string session_id = browser.Cookie("session_id").value_or("");
    ASSERT_FALSE(session_id.empty());
    auto refreshed = Post(browser, "/auth/test/refresh");
    ASSERT_TRUE(refreshed);
    EXPECT_EQ(refreshed->status, 200) << refreshed->body;
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 200);

    std::string log = server_->Log();
    // The access log of the callback is there (so the checks below look at real request logging).
    ASSERT_NE(log.find("/auth/callback"), std::string::npos) << log;
    const std::map<std::string, std::string> secrets{
        {"session id", session_id},
        {"exchange token", exchange_token},
        {"binding cookie", binding},
        {"authorization code", QueryParam(callback_url, "code").value_or("")},
        {"state", QueryParam(callback_url, "state").value_or("")},
        {"password", alice.password}};
    for (const auto& [what, secret] : secrets) {
        ASSERT_GE(secret.size(), 8u) << what;
        EXPECT_EQ(log.find(secret), std::string::npos) << "the " << what << " appears in the log";
    }
}

TEST_F(AuthNegative, SwitchToAnExpiredLinkedAccountIsSessionExpiredAndUnlinksIt) {
    auto alice = NewAccount("a");
    auto bob = NewAccount("b");
    WebClient browser(Url());
    auto alice_in = SignIn(browser, alice);
    ASSERT_TRUE(alice_in);
    auto add = Post(browser, "/auth/add-account/start");
    ASSERT_TRUE(add);
    ASSERT_EQ(add->status, 200) << add->body;
    auto location = CompleteFlow(browser, std::string(add->Json().at("auth_url").as_string()), bob);
    ASSERT_TRUE(location);
    auto exchange = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    std::string bob_cookie = browser.Cookie("session_id").value_or("");
    ASSERT_EQ(Db().Exec("UPDATE user_sessions SET expires_at = 1 WHERE did = '" + alice.did + "'"), 1);

    auto sw = Post(browser, "/auth/switch-account", "{\"did\":\"" + alice.did + "\"}");
    ASSERT_TRUE(sw);
    EXPECT_EQ(sw->status, 401) << sw->body;
    EXPECT_EQ(sw->ErrorCode(), "session_expired");
    EXPECT_EQ(browser.Cookie("session_id"), bob_cookie) << "the caller's own session stays";
    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->status, 200) << me->body;
    EXPECT_EQ(me->Json().at("did").as_string(), bob.did);
    EXPECT_EQ(me->Json().at("linked_accounts").as_array().size(), 1u) << me->body;
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions WHERE did = '" + alice.did + "'"), 0);
}

TEST_F(AuthNegative, RefreshAnsweredInvalidGrantIsSessionExpiredAndDeletesTheSession) {
    const char* admin_password = std::getenv("TESTNET_ADMIN_PASSWORD");
    if (admin_password == nullptr) GTEST_SKIP() << "TESTNET_ADMIN_PASSWORD not set";
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto signed_in = SignIn(browser, alice);
    ASSERT_TRUE(signed_in);
    // The account disappears at its PDS: its grants die with it, so the next refresh is invalid_grant.
    WebClient pds(pds_url_);
    auto deleted =
        pds.PostJson("/xrpc/com.atproto.admin.deleteAccount", "{\"did\":\"" + alice.did + "\"}",
                     {{"Authorization", "Basic " + core::Base64Encode("admin:" + std::string(admin_password))}});
    ASSERT_TRUE(deleted);
    ASSERT_EQ(deleted->status, 200) << deleted->body;

    auto refreshed = Post(browser, "/auth/test/refresh");
    ASSERT_TRUE(refreshed);
    EXPECT_EQ(refreshed->status, 401) << refreshed->body;
    EXPECT_EQ(refreshed->ErrorCode(), "session_expired");
    EXPECT_EQ(Db().Int("SELECT count(*) FROM user_sessions"), 0) << "the grant's sessions are deleted";
    auto me = Me(browser);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->status, 401);
}

TEST_F(AuthNegative, ScopeUpgradeRejectsUnknownExtras) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, alice));
    for (const std::string body : {R"({"include":["everything"]})", R"({"include":[]})", R"({"include":"teal"})"}) {
        auto r = Post(browser, "/auth/scope-upgrade/start", body);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << body << " " << r->body;
        EXPECT_EQ(r->ErrorCode(), "invalid_scope_request") << body;
    }
    EXPECT_EQ(Db().Int("SELECT count(*) FROM pending_scope_upgrades"), 0);
    EXPECT_EQ(States(), 0);
}

TEST_F(AuthNegative, ASixthLinkedAccountIsTooManyAccounts) {
    WebClient browser(Url());
    ASSERT_TRUE(SignIn(browser, NewAccount("g")));
    for (int i = 1; i < 5; ++i) {
        auto add = Post(browser, "/auth/add-account/start");
        ASSERT_TRUE(add);
        ASSERT_EQ(add->status, 200) << i << " " << add->body;
        auto location = CompleteFlow(browser, std::string(add->Json().at("auth_url").as_string()), NewAccount("g"));
        ASSERT_TRUE(location);
        auto exchange = Exchange(browser, QueryParam(*location, "exchange_token").value_or(""));
        ASSERT_TRUE(exchange);
        ASSERT_EQ(exchange->status, 200) << i << " " << exchange->body;
    }
    auto me = Me(browser);
    ASSERT_TRUE(me);
    ASSERT_EQ(me->Json().at("linked_accounts").as_array().size(), 5u) << me->body;
    auto sixth = Post(browser, "/auth/add-account/start");
    ASSERT_TRUE(sixth);
    EXPECT_EQ(sixth->status, 409) << sixth->body;
    EXPECT_EQ(sixth->ErrorCode(), "too_many_accounts");
    EXPECT_EQ(Db().Int("SELECT count(*) FROM pending_add_accounts"), 0);
    EXPECT_EQ(States(), 0);
    EXPECT_EQ(Sessions(), 5);
}

TEST_F(AuthNegative, ConcurrentExchangesOfOneTokenHaveExactlyOneWinner) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto callback = DeliverCallback(browser, pending->callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    std::string token = QueryParam(callback->Header("location"), "exchange_token").value_or("");
    ASSERT_FALSE(token.empty());
    std::string binding = browser.Cookie("plyr_oauth_binding").value_or("");
    ASSERT_FALSE(binding.empty()) << "the callback keeps the binding cookie for the exchange";
    constexpr int kRacers = 6;
    std::vector<int> statuses(kRacers, 0);
    std::vector<std::string> codes(kRacers);
    {
        std::vector<std::thread> racers;
        for (int i = 0; i < kRacers; ++i) {
            racers.emplace_back([&, i] {
                WebClient client(Url());  // one client per thread: WebClient is not thread-safe
                // The same browser (its binding cookie): a browser exchange is bound to the sign-in's browser.
                client.SetCookieValue("plyr_oauth_binding", binding);
                if (auto r = Exchange(client, token)) {
                    statuses[i] = r->status;
                    codes[i] = r->ErrorCode();
                }
            });
        }
        for (auto& t : racers) t.join();
    }
    int winners = 0;
    for (int i = 0; i < kRacers; ++i) {
        if (statuses[i] == 200) {
            ++winners;
        } else {
            EXPECT_EQ(statuses[i], 400) << i;
            EXPECT_EQ(codes[i], "invalid_exchange_token") << i;
        }
    }
    EXPECT_EQ(winners, 1);
    EXPECT_EQ(Sessions(), 1);
}

TEST_F(AuthNegative, BrowserOnlyActionsRefuseABearerSession) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    auto callback = DeliverCallback(browser, pending->callback_url);
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    WebClient api(Url());
    auto exchange = api.PostJson(
        "/auth/exchange",
        "{\"exchange_token\":\"" + QueryParam(callback->Header("location"), "exchange_token").value_or("") + "\"}");
    ASSERT_TRUE(exchange);
    ASSERT_EQ(exchange->status, 200) << exchange->body;
    std::string bearer(exchange->Json().at("session_id").as_string());
    const std::vector<std::pair<std::string, std::string>> cookie_only{
        {"/auth/add-account/start", "{}"},
        {"/auth/switch-account", "{\"did\":\"" + alice.did + "\"}"},
        {"/auth/developer-token/start", R"({"name":"x","expires_in_days":7})"},
        {"/auth/scope-upgrade/start", R"({"include":["teal"]})"}};
    for (const auto& [path, body] : cookie_only) {
        auto r = api.PostJson(path, body, {{"Authorization", "Bearer " + bearer}});
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 403) << path << " " << r->body;
        EXPECT_EQ(r->ErrorCode(), "cookie_required") << path;
    }
    EXPECT_EQ(States(), 0);
    EXPECT_EQ(Db().Int("SELECT (SELECT count(*) FROM pending_add_accounts) + (SELECT count(*) FROM "
                       "pending_dev_tokens) + (SELECT count(*) FROM pending_scope_upgrades)"),
              0);
    // Bearer requests are exempt from the Origin check: a Bearer mutation from anywhere works.
    auto logout =
        api.PostJson("/auth/logout", "{}", {{"Authorization", "Bearer " + bearer}, {"Origin", "https://evil.example"}});
    ASSERT_TRUE(logout);
    EXPECT_EQ(logout->status, 200) << logout->body;
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, CallbackWithoutIssFailsAndCreatesNothing) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto pending = AuthorizeOnly(browser, alice);
    ASSERT_TRUE(pending);
    std::string without_iss =
        "/auth/callback?state=" + UrlEncode(QueryParam(pending->callback_url, "state").value_or("")) +
        "&code=" + UrlEncode(QueryParam(pending->callback_url, "code").value_or(""));
    ExpectLoginError(browser.Get(without_iss, {{"Accept", "text/html"}}), "failed");
    EXPECT_EQ(Sessions(), 0);
}

TEST_F(AuthNegative, ReturnToWithControlCharactersIsIgnored) {
    auto alice = NewAccount("a");
    WebClient browser(Url());
    auto start = Start(browser, "handle=" + UrlEncode(alice.handle) + "&return_to=" + UrlEncode("/ok\r\nX-Evil: 1"));
    ASSERT_TRUE(start);
    ASSERT_EQ(start->status, 303) << start->body;
    auto callback = DeliverCallback(browser, Authorize(start->Header("location"), alice));
    ASSERT_TRUE(callback);
    ASSERT_EQ(callback->status, 303);
    EXPECT_TRUE(callback->Header("x-evil").empty());
    std::string location = PathOf(callback->Header("location"));
    EXPECT_EQ(location.substr(0, location.find('?')), "/profile/setup") << callback->Header("location");
}

}  // namespace
}  // namespace plyr::testing
