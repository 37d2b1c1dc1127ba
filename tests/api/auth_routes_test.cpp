// The /auth/* HTTP layer (src/api) over a real AuthService with network doubles: status codes, the error
// body shape, cookies (attributes, clearing), browser vs API behaviour, CSRF, rate limits, test-only routes.
#include "api/auth_routes.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "auth/auth_fakes.hpp"
#include "storage/db/migrator.hpp"
#include "test_db.hpp"

namespace plyr::api {
namespace {

using namespace plyr::auth::fakes;  // the doubles
using http::Request;
using http::Response;

class AuthRoutesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        db_ = temp_.Open();
        ASSERT_NE(db_, nullptr);
        auto applied = storage::db::migrator::Apply(*db_, false);
        ASSERT_TRUE(applied) << applied.error().ToString();
        identity_.Add(kAlice, "alice.test");
        identity_.Add(kBob, "bob.test");
        auth::AuthSettings settings;
        settings.public_url = "http://127.0.0.1:8001";
        settings.allow_test_handles = true;
        settings.development_mode = true;
        service_ = std::make_unique<auth::AuthService>(std::move(settings), *db_, box_, http_, identity_, backend_,
                                                       clock_, pool_);
    }

    void Build(AuthRoutesOptions options) {
        router_ = http::Router();
        if (options.credentialed_origins.empty()) options.credentialed_origins = {"http://127.0.0.1:8001"};
        auto added = AddAuthRoutes(router_, *service_, pool_, clock_, std::move(options));
        ASSERT_TRUE(added) << added.error().ToString();
    }

    Response Call(std::string method, std::string target, std::vector<std::pair<std::string, std::string>> headers = {},
                  std::string body = {}) {
        Request request;
        request.method = method;
        request.target = target;
        auto q = target.find('?');
        request.path = target.substr(0, q);
        if (q != std::string::npos) {
            for (const auto& [k, v] : QueryOf(target)) request.query.emplace_back(k, Decode(v));
        }
        for (const auto& [k, v] : headers) request.headers.Add(k, v);
        request.body = std::move(body);
        request.remote_address = "127.0.0.1";
        auto match = router_.Find(method, request.path);
        if (match.kind != http::MatchKind::kFound) return Response(404);
        request.path_params = match.params;
        boost::asio::io_context io;
        auto future = boost::asio::co_spawn(io, match.route->spec.handler(request), boost::asio::use_future);
        io.run();
        return future.get();
    }

    static std::string Decode(const std::string& v) {
        std::string out;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (v[i] == '%' && i + 2 < v.size()) {
                out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                out += v[i] == '+' ? ' ' : v[i];
            }
        }
        return out;
    }

    static std::vector<std::string> SetCookies(const Response& r) {
        std::vector<std::string> out;
        for (const auto& [k, v] : r.headers.entries()) {
            if (http::EqualsIgnoreCase(k, "Set-Cookie")) out.push_back(v);
        }
        return out;
    }
    static std::string CookieValue(const std::string& set_cookie) {
        auto eq = set_cookie.find('=');
        return set_cookie.substr(eq + 1, set_cookie.find(';') - eq - 1);
    }
    static boost::json::object Json(const Response& r) { return boost::json::parse(r.body).as_object(); }

    // Browser sign-in through the routes; returns the session cookie value.
    std::string BrowserSignIn(const std::string& handle, const std::string& did) {
        auto start = Call("GET", "/auth/start?handle=" + handle);
        EXPECT_EQ(start.status, 303);
        auto cookies = SetCookies(start);
        EXPECT_EQ(cookies.size(), 1u);
        std::string binding = CookieValue(cookies.at(0));
        std::string code = "code-" + did;
        auth::TokenSet t;
        t.access_token = "AT";
        t.refresh_token = "RT";
        t.scope = GrantedBase();
        t.sub = did;
        t.expires_in = 3600;
        backend_.codes[code] = t;
        auto callback = Call(
            "GET",
            "/auth/callback?code=" + code + "&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
            {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
        EXPECT_EQ(callback.status, 303);
        std::string location(callback.headers.Get("Location").value_or(""));
        auto exchange =
            Call("POST", "/auth/exchange",
                 {{"Content-Type", "application/json"},
                  {"Origin", "http://127.0.0.1:8001"},
                  {"Cookie", std::string(auth::kBindingCookie) + "=" + binding}},
                 boost::json::serialize(boost::json::object{{"exchange_token", QueryOf(location)["exchange_token"]}}));
        EXPECT_EQ(exchange.status, 200) << exchange.body;
        auto set = SetCookies(exchange);
        EXPECT_EQ(set.size(), 1u);
        return set.empty() ? std::string() : CookieValue(set[0]);
    }

    storage::db::testing::TempDatabase temp_{storage::db::Backend::kSqlite};
    std::unique_ptr<storage::db::Db> db_;
    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
    OfflineHttp http_;
    FakeIdentity identity_;
    FakeBackend backend_;
    core::ManualClock clock_;
    net::BlockingPool pool_{2};
    std::unique_ptr<auth::AuthService> service_;
    http::Router router_;
};

TEST_F(AuthRoutesTest, StartErrorsRedirectBrowsersAndAnswerJsonToApiClients) {
    Build({});
    auto browser = Call("GET", "/auth/start?handle=alice..test", {{"Accept", "text/html"}});
    EXPECT_EQ(browser.status, 303);
    EXPECT_EQ(browser.headers.Get("Location").value_or(""), "/login?auth_error=invalid_handle");
    EXPECT_TRUE(SetCookies(browser).empty());
    auto api = Call("GET", "/auth/start?handle=alice..test", {{"Accept", "application/json"}});
    EXPECT_EQ(api.status, 400);
    auto body = Json(api);
    EXPECT_EQ(body.at("error").as_string(), "invalid_handle");
    EXPECT_EQ(body.at("detail").as_string(), "invalid_handle");
    EXPECT_FALSE(body.at("message").as_string().empty());
}

TEST_F(AuthRoutesTest, StartRedirectsToTheAuthorizationServerWithABindingCookie) {
    Build({});
    auto r = Call("GET", "/auth/start?handle=alice.test&return_to=%2Fportal");
    EXPECT_EQ(r.status, 303);
    EXPECT_TRUE(r.headers.Get("Location").value_or("").starts_with("https://as.example/oauth/authorize?client_id="));
    auto cookies = SetCookies(r);
    ASSERT_EQ(cookies.size(), 1u);
    EXPECT_TRUE(cookies[0].starts_with(std::string(auth::kBindingCookie) + "="));
    EXPECT_NE(cookies[0].find("HttpOnly"), std::string::npos);
    EXPECT_NE(cookies[0].find("SameSite=Lax"), std::string::npos);
    EXPECT_NE(cookies[0].find("Max-Age=600"), std::string::npos);
}

TEST_F(AuthRoutesTest, BrowserSignInSetsTheSessionCookieAndMeAnswers) {
    AuthRoutesOptions options;
    options.secure_cookies = false;
    Build(options);
    auto start = Call("GET", "/auth/start?handle=alice.test");
    std::string binding = CookieValue(SetCookies(start).at(0));
    auth::TokenSet t{"AT", "RT", GrantedBase(), kAlice, 3600};
    backend_.codes["c1"] = t;
    auto callback =
        Call("GET", "/auth/callback?code=c1&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
             {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
    ASSERT_EQ(callback.status, 303);
    std::string location(callback.headers.Get("Location").value_or(""));
    EXPECT_EQ(PathOf(location), "/profile/setup");
    // The binding cookie is kept just long enough for the exchange, which must come from this browser.
    auto kept = SetCookies(callback);
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0],
              std::string(auth::kBindingCookie) + "=" + binding + "; Path=/; Max-Age=120; HttpOnly; SameSite=Lax");

    std::string token = QueryOf(location)["exchange_token"];
    auto exchange = Call("POST", "/auth/exchange",
                         {{"Content-Type", "application/json"},
                          {"Origin", "http://127.0.0.1:8001"},
                          {"Cookie", std::string(auth::kBindingCookie) + "=" + binding}},
                         boost::json::serialize(boost::json::object{{"exchange_token", token}}));
    ASSERT_EQ(exchange.status, 200) << exchange.body;
    auto body = Json(exchange);
    EXPECT_EQ(body.at("did").as_string(), kAlice);
    EXPECT_FALSE(body.contains("session_id")) << "browsers get the cookie, never the id in the body";
    auto cookies = SetCookies(exchange);
    ASSERT_EQ(cookies.size(), 1u);
    EXPECT_TRUE(cookies[0].starts_with("session_id="));
    EXPECT_NE(cookies[0].find("Path=/"), std::string::npos);
    EXPECT_NE(cookies[0].find("HttpOnly"), std::string::npos);
    EXPECT_NE(cookies[0].find("SameSite=Lax"), std::string::npos);
    EXPECT_EQ(cookies[0].find("Secure"), std::string::npos);           // http PUBLIC_URL
    EXPECT_NE(cookies[0].find("Max-Age=1209600"), std::string::npos);  // 14 days

    auto replay = Call("POST", "/auth/exchange", {{"Content-Type", "application/json"}},
                       boost::json::serialize(boost::json::object{{"exchange_token", token}}));
    EXPECT_EQ(replay.status, 400);
    EXPECT_EQ(Json(replay).at("error").as_string(), "invalid_exchange_token");

    auto me = Call("GET", "/auth/me", {{"Cookie", "session_id=" + CookieValue(cookies[0])}});
    ASSERT_EQ(me.status, 200) << me.body;
    EXPECT_EQ(Json(me).at("handle").as_string(), "alice.test");
}

TEST_F(AuthRoutesTest, SecureCookiesOnHttps) {
    AuthRoutesOptions options;
    options.secure_cookies = true;
    Build(options);
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    EXPECT_FALSE(cookie.empty());
    // The Set-Cookie of the exchange carried Secure (checked through a second sign-in's header).
    auto start = Call("GET", "/auth/start?handle=bob.test");
    EXPECT_NE(SetCookies(start).at(0).find("Secure"), std::string::npos);
}

TEST_F(AuthRoutesTest, ApiClientsGetTheSessionIdInTheBody) {
    Build({});
    auto start = Call("GET", "/auth/start?handle=alice.test");
    std::string binding = CookieValue(SetCookies(start).at(0));
    backend_.codes["c1"] = auth::TokenSet{"AT", "RT", GrantedBase(), kAlice, 3600};
    auto callback =
        Call("GET", "/auth/callback?code=c1&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
             {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
    std::string token = QueryOf(std::string(callback.headers.Get("Location").value_or("")))["exchange_token"];
    auto exchange = Call("POST", "/auth/exchange", {{"Content-Type", "application/json"}},
                         boost::json::serialize(boost::json::object{{"exchange_token", token}}));
    ASSERT_EQ(exchange.status, 200);
    EXPECT_TRUE(SetCookies(exchange).empty());
    std::string session_id(Json(exchange).at("session_id").as_string());
    auto me = Call("GET", "/auth/me", {{"Authorization", "Bearer " + session_id}});
    EXPECT_EQ(me.status, 200);
}

TEST_F(AuthRoutesTest, ExpiredSessionCookieIsClearedWithSessionExpired) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    clock_.Advance(15 * kDay);
    auto me = Call("GET", "/auth/me", {{"Cookie", "session_id=" + cookie}});
    EXPECT_EQ(me.status, 401);
    EXPECT_EQ(Json(me).at("error").as_string(), "session_expired");
    auto cookies = SetCookies(me);
    ASSERT_EQ(cookies.size(), 1u);
    EXPECT_TRUE(cookies[0].starts_with("session_id=;"));
    EXPECT_NE(cookies[0].find("Max-Age=0"), std::string::npos);
}

TEST_F(AuthRoutesTest, RandomCookieIsAuthenticationRequired) {
    Build({});
    auto me = Call("GET", "/auth/me", {{"Cookie", "session_id=tampered"}});
    EXPECT_EQ(me.status, 401);
    EXPECT_EQ(Json(me).at("error").as_string(), "authentication_required");
}

TEST_F(AuthRoutesTest, CookieMutationsNeedASameOriginButBearerIsExempt) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    auto cross = Call("POST", "/auth/logout", {{"Cookie", "session_id=" + cookie}, {"Origin", "https://evil.example"}});
    EXPECT_EQ(cross.status, 403);
    EXPECT_EQ(Json(cross).at("error").as_string(), "csrf_rejected");
    auto none = Call("POST", "/auth/logout-all", {{"Cookie", "session_id=" + cookie}});
    EXPECT_EQ(none.status, 403);
    auto me = Call("GET", "/auth/me", {{"Cookie", "session_id=" + cookie}});
    EXPECT_EQ(me.status, 200) << "nothing changed";

    auto bearer = Call("POST", "/auth/logout", {{"Authorization", "Bearer " + cookie}});
    EXPECT_EQ(bearer.status, 200) << bearer.body;
    EXPECT_TRUE(Json(bearer).at("switched_to").is_null());
    EXPECT_TRUE(SetCookies(bearer).empty());
    EXPECT_EQ(Call("GET", "/auth/me", {{"Cookie", "session_id=" + cookie}}).status, 401);
}

TEST_F(AuthRoutesTest, CrossSitePostIsRefusedBeforeTheSessionIsLookedUp) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    clock_.Advance(15 * kDay);  // expired: a lookup would delete the row and clear the cookie
    auto cross = Call("POST", "/auth/logout", {{"Cookie", "session_id=" + cookie}, {"Origin", "https://evil.example"}});
    EXPECT_EQ(cross.status, 403) << cross.body;
    EXPECT_EQ(Json(cross).at("error").as_string(), "csrf_rejected");
    EXPECT_TRUE(SetCookies(cross).empty()) << "the other site changes nothing, not even the cookie";
    auto me = Call("GET", "/auth/me", {{"Cookie", "session_id=" + cookie}});
    EXPECT_EQ(me.status, 401);
    EXPECT_EQ(Json(me).at("error").as_string(), "session_expired") << "the row was still there";
}

TEST_F(AuthRoutesTest, SameOriginLogoutClearsTheCookie) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    auto out = Call("POST", "/auth/logout", {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}});
    EXPECT_EQ(out.status, 200);
    auto cookies = SetCookies(out);
    ASSERT_EQ(cookies.size(), 1u);
    EXPECT_NE(cookies[0].find("Max-Age=0"), std::string::npos);
}

TEST_F(AuthRoutesTest, AccountStartsNeedTheBrowserCookie) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    auto bearer = Call("POST", "/auth/add-account/start", {{"Authorization", "Bearer " + cookie}});
    EXPECT_EQ(bearer.status, 403);
    auto ok = Call(
        "POST", "/auth/add-account/start",
        {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}},
        R"({"handle":"bob.test"})");
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_TRUE(std::string(Json(ok).at("auth_url").as_string()).starts_with("https://as.example/oauth/authorize"));
    EXPECT_EQ(SetCookies(ok).size(), 1u);  // the binding cookie

    auto bad = Call(
        "POST", "/auth/developer-token/start",
        {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}},
        R"({"name":"x","expires_in_days":"soon"})");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(Json(bad).at("error").as_string(), "invalid_expiry");
    auto scope = Call(
        "POST", "/auth/scope-upgrade/start",
        {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}},
        R"({"include":["everything"]})");
    EXPECT_EQ(scope.status, 400);
    EXPECT_EQ(Json(scope).at("error").as_string(), "invalid_scope_request");
}

TEST_F(AuthRoutesTest, StartFromAnotherSitesNavigationIsRefusedBeforeAnyFlowBegins) {
    Build({});
    auto browser = Call("GET", "/auth/start?handle=alice.test", {{"Sec-Fetch-Site", "cross-site"}});
    EXPECT_EQ(browser.status, 303);
    EXPECT_EQ(browser.headers.Get("Location").value_or(""), "/login?auth_error=csrf_rejected");
    EXPECT_TRUE(SetCookies(browser).empty()) << "no binding cookie for a flow another site chose";
    auto api = Call("GET", "/auth/start?handle=alice.test",
                    {{"Sec-Fetch-Site", "cross-site"}, {"Accept", "application/json"}});
    EXPECT_EQ(api.status, 403);
    EXPECT_EQ(Json(api).at("error").as_string(), "csrf_rejected");
    auto foreign = Call("GET", "/auth/start?handle=alice.test",
                        {{"Sec-Fetch-Site", "cross-site"}, {"Referer", "https://evil.example/page"}});
    EXPECT_EQ(foreign.headers.Get("Location").value_or(""), "/login?auth_error=csrf_rejected");
    EXPECT_TRUE(backend_.pars.empty()) << "no authorization request was pushed";

    // The app's own page, a typed URL, and a credentialed origin's page still start it.
    auto same = Call("GET", "/auth/start?handle=alice.test", {{"Sec-Fetch-Site", "same-origin"}});
    EXPECT_TRUE(same.headers.Get("Location").value_or("").starts_with("https://as.example/"));
    auto typed = Call("GET", "/auth/start?handle=alice.test", {{"Sec-Fetch-Site", "none"}});
    EXPECT_TRUE(typed.headers.Get("Location").value_or("").starts_with("https://as.example/"));
    auto credentialed = Call("GET", "/auth/start?handle=alice.test",
                             {{"Sec-Fetch-Site", "cross-site"}, {"Referer", "http://127.0.0.1:8001/login"}});
    EXPECT_TRUE(credentialed.headers.Get("Location").value_or("").starts_with("https://as.example/"));
    EXPECT_EQ(backend_.pars.size(), 3u);
}

TEST_F(AuthRoutesTest, DeveloperTokenInTheCookieCannotDoBrowserOnlyActions) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    const std::vector<std::pair<std::string, std::string>> same_origin = {
        {"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}};
    auto start = Call("POST", "/auth/developer-token/start", same_origin, R"({"name":"ci","expires_in_days":1})");
    ASSERT_EQ(start.status, 200) << start.body;
    std::string binding = CookieValue(SetCookies(start).at(0));
    backend_.codes["dev"] = auth::TokenSet{"AT2", "RT2", GrantedBase(), kAlice, 3600};
    auto callback =
        Call("GET", "/auth/callback?code=dev&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
             {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
    std::string location(callback.headers.Get("Location").value_or(""));
    ASSERT_NE(location.find("dev_token=true"), std::string::npos) << location;
    auto exchange =
        Call("POST", "/auth/exchange", {{"Content-Type", "application/json"}},
             boost::json::serialize(boost::json::object{{"exchange_token", QueryOf(location)["exchange_token"]}}));
    ASSERT_EQ(exchange.status, 200) << exchange.body;
    std::string token(Json(exchange).at("session_id").as_string());

    const std::vector<std::pair<std::string, std::string>> as_cookie = {
        {"Cookie", "session_id=" + token}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}};
    std::size_t pars_before = backend_.pars.size();
    auto upgrade = Call("POST", "/auth/scope-upgrade/start", as_cookie, R"({"include":["bsky_post"]})");
    EXPECT_EQ(upgrade.status, 403) << upgrade.body;
    EXPECT_EQ(Json(upgrade).at("error").as_string(), "developer_token_not_allowed");
    auto add = Call("POST", "/auth/add-account/start", as_cookie, R"({"handle":"bob.test"})");
    EXPECT_EQ(add.status, 403) << add.body;
    EXPECT_EQ(Json(add).at("error").as_string(), "developer_token_not_allowed");
    auto sw = Call("POST", "/auth/switch-account", as_cookie, R"({"did":")" + std::string(kBob) + R"("})");
    EXPECT_EQ(sw.status, 403) << sw.body;
    EXPECT_EQ(backend_.pars.size(), pars_before) << "no flow was started";
    // The token still works where a token may be used.
    EXPECT_EQ(Call("GET", "/auth/me", {{"Authorization", "Bearer " + token}}).status, 200);
}

TEST_F(AuthRoutesTest, ABrowserCannotRedeemAnExchangeTokenItsSignInDidNotProduce) {
    Build({});
    // The attacker signs in to their own account and stops at the callback's redirect.
    auto attacker_token = [&](const std::string& code, std::string& binding) {
        auto start = Call("GET", "/auth/start?handle=bob.test");
        binding = CookieValue(SetCookies(start).at(0));
        backend_.codes[code] = auth::TokenSet{"AT", "RT", GrantedBase(), kBob, 3600};
        auto callback = Call(
            "GET",
            "/auth/callback?code=" + code + "&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
            {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
        return QueryOf(std::string(callback.headers.Get("Location").value_or("")))["exchange_token"];
    };
    // The victim's browser follows the forwarded link: the web app posts the token from the right origin,
    // without the attacker's binding cookie, or with its own from another sign-in.
    for (std::string cookie : {std::string(), std::string(auth::kBindingCookie) + "=victims-own-binding"}) {
        std::string attacker_binding;
        std::string token = attacker_token("evil" + std::to_string(cookie.size()), attacker_binding);
        ASSERT_FALSE(token.empty());
        std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"},
                                                                    {"Origin", "http://127.0.0.1:8001"}};
        if (!cookie.empty()) headers.emplace_back("Cookie", cookie);
        auto body = boost::json::serialize(boost::json::object{{"exchange_token", token}});
        auto exchange = Call("POST", "/auth/exchange", headers, body);
        EXPECT_EQ(exchange.status, 400) << exchange.body;
        EXPECT_EQ(Json(exchange).at("error").as_string(), "invalid_exchange_token");
        EXPECT_TRUE(SetCookies(exchange).empty()) << "no session cookie for the victim";
        // The token is spent: not even the attacker's browser can use it now.
        auto again = Call("POST", "/auth/exchange",
                          {{"Content-Type", "application/json"},
                           {"Origin", "http://127.0.0.1:8001"},
                           {"Cookie", std::string(auth::kBindingCookie) + "=" + attacker_binding}},
                          body);
        EXPECT_EQ(again.status, 400);
    }
}

TEST_F(AuthRoutesTest, BearerLogoutWithSwitchToHandsOverTheRotatedId) {
    Build({});
    std::string alice = BrowserSignIn("alice.test", kAlice);
    auto add = Call(
        "POST", "/auth/add-account/start",
        {{"Cookie", "session_id=" + alice}, {"Origin", "http://127.0.0.1:8001"}, {"Content-Type", "application/json"}},
        R"({"handle":"bob.test"})");
    ASSERT_EQ(add.status, 200) << add.body;
    std::string binding = CookieValue(SetCookies(add).at(0));
    backend_.codes["c-bob"] = auth::TokenSet{"AT-b", "RT-b", GrantedBase(), kBob, 3600};
    auto callback =
        Call("GET", "/auth/callback?code=c-bob&state=" + backend_.pars.back().state + "&iss=https%3A%2F%2Fas.example",
             {{"Cookie", std::string(auth::kBindingCookie) + "=" + binding}});
    std::string location(callback.headers.Get("Location").value_or(""));
    ASSERT_NE(location.find("account_added=true"), std::string::npos) << location;

    // An API client holding alice's id signs her out and continues as the linked bob.
    auto out = Call("POST", "/auth/logout?switch_to=" + std::string(kBob), {{"Authorization", "Bearer " + alice}});
    ASSERT_EQ(out.status, 200) << out.body;
    auto switched = Json(out).at("switched_to").as_object();
    EXPECT_EQ(switched.at("did").as_string(), kBob);
    ASSERT_TRUE(switched.contains("session_id")) << out.body;
    EXPECT_TRUE(SetCookies(out).empty());
    std::string bob(switched.at("session_id").as_string());
    auto me = Call("GET", "/auth/me", {{"Authorization", "Bearer " + bob}});
    EXPECT_EQ(me.status, 200) << me.body;
    EXPECT_EQ(Call("GET", "/auth/me", {{"Authorization", "Bearer " + alice}}).status, 401);

    // A browser never gets the id in the body: it travels in the cookie.
    auto browser_out =
        Call("POST", "/auth/logout", {{"Cookie", "session_id=" + bob}, {"Origin", "http://127.0.0.1:8001"}});
    ASSERT_EQ(browser_out.status, 200);
    EXPECT_EQ(browser_out.body.find(bob), std::string::npos);
}

TEST_F(AuthRoutesTest, DeveloperTokenRevokeOfUnknownIdIs404) {
    Build({});
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    auto r = Call("DELETE", "/auth/developer-tokens/abcdefgh",
                  {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}});
    EXPECT_EQ(r.status, 404);
    auto list = Call("GET", "/auth/developer-tokens", {{"Cookie", "session_id=" + cookie}});
    EXPECT_EQ(list.status, 200);
    EXPECT_TRUE(Json(list).at("tokens").as_array().empty());
}

TEST_F(AuthRoutesTest, LoopbackClientHasNoMetadataDocumentOrJwks) {
    Build({});
    EXPECT_EQ(Call("GET", "/oauth-client-metadata.json").status, 404);
    EXPECT_EQ(Call("GET", "/.well-known/jwks.json").status, 404);
}

TEST_F(AuthRoutesTest, AuthStartIsRateLimitedPerIp) {
    auto limiter = std::make_shared<http::RateLimiter>(clock_, http::RateLimiter::Options{});
    ASSERT_TRUE(limiter->AddBucket(http::kRateBucketAuth, {2, std::chrono::seconds(60)}));
    AuthRoutesOptions options;
    options.limiter = limiter;
    Build(options);
    EXPECT_EQ(Call("GET", "/auth/start?handle=alice.test").status, 303);
    EXPECT_EQ(Call("GET", "/auth/start?handle=alice.test").status, 303);
    auto limited = Call("GET", "/auth/start?handle=alice.test");
    EXPECT_EQ(limited.status, 429);
    EXPECT_TRUE(limited.headers.Has("Retry-After"));
    // /auth/me is not in the auth bucket.
    EXPECT_EQ(Call("GET", "/auth/me").status, 401);
}

TEST_F(AuthRoutesTest, TestRoutesExistOnlyWhenEnabledAndAreHidden) {
    Build({});
    EXPECT_EQ(router_.Find("POST", "/auth/test/refresh").kind, http::MatchKind::kNotFound);
    EXPECT_EQ(router_.Find("POST", "/auth/test/create-record").kind, http::MatchKind::kNotFound);
    AuthRoutesOptions options;
    options.enable_test_routes = true;
    Build(options);
    auto refresh = router_.Find("POST", "/auth/test/refresh");
    ASSERT_EQ(refresh.kind, http::MatchKind::kFound);
    EXPECT_TRUE(refresh.route->spec.doc.hidden);
    std::string cookie = BrowserSignIn("alice.test", kAlice);
    auto r =
        Call("POST", "/auth/test/refresh", {{"Cookie", "session_id=" + cookie}, {"Origin", "http://127.0.0.1:8001"}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(backend_.refreshes, 1);
}

TEST_F(AuthRoutesTest, EveryAuthRouteIsDocumented) {
    Build({});
    for (const auto& route : router_.routes()) {
        EXPECT_FALSE(route->spec.doc.summary.empty()) << route->spec.pattern;
        EXPECT_FALSE(route->spec.doc.hidden) << route->spec.pattern;
    }
    EXPECT_EQ(router_.routes().size(), 14u);
}

}  // namespace
}  // namespace plyr::api
