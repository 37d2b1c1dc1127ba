// Service-level tests of auth::AuthService on a SQLite temp database, with doubles for the network
// (OAuthBackend, IdentitySource, HttpClient): the cases a single real PDS cannot produce (sub resolving to
// another issuer, iss mismatch, refresh races) and every flow rule of product.md §6.1–6.3.
#include "auth/auth_service.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <boost/url/parse.hpp>

#include "atproto/oauth/scope.hpp"
#include "auth/auth_fakes.hpp"
#include "core/encoding.hpp"
#include "storage/db/migrator.hpp"
#include "storage/repos/artist_repo.hpp"
#include "test_db.hpp"

namespace plyr::auth {
namespace {

using namespace plyr::auth::fakes;  // the suite's doubles
namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;
namespace repos = storage::repos;

// Every case runs on SQLite and, with PLYR_TEST_PG, on PostgreSQL.
class AuthServiceTest : public storage::db::testing::DbBackendTest {
  protected:
    void SetUp() override {
        DbBackendTest::SetUp();
        if (IsSkipped()) return;
        db_ = temp().Open();
        ASSERT_NE(db_, nullptr);
        auto applied = storage::db::migrator::Apply(*db_, false);
        ASSERT_TRUE(applied) << applied.error().ToString();
        identity_.Add(kAlice, "alice.test");
        identity_.Add(kBob, "bob.test");
        MakeService(AuthSettings{});
    }

    void MakeService(AuthSettings settings) {
        settings.public_url = "http://127.0.0.1:8001";
        settings.allow_test_handles = true;
        settings.development_mode = true;
        service_.reset();
        service_ =
            std::make_unique<AuthService>(std::move(settings), *db_, box_, http_, identity_, backend_, clock_, pool_);
    }

    // Start → callback for `did` (signing in with `input`); returns the callback's location.
    std::string SignIn(const std::string& input, const std::string& sub, std::optional<std::string> return_to = {},
                       std::string scope = GrantedBase()) {
        auto started =
            service_->StartLogin(input, return_to ? std::optional<std::string_view>(*return_to) : std::nullopt);
        EXPECT_TRUE(started) << (started ? "" : started.error().code);
        if (!started) return {};
        return Complete(*started, sub, scope);
    }

    std::string Complete(const StartResult& started, const std::string& sub, std::string scope = GrantedBase(),
                         std::optional<std::string> binding_override = {}) {
        std::string state = backend_.pars.back().state;
        std::string code = "code-" + std::to_string(++codes_);
        TokenSet t;
        t.access_token = "AT-" + code;
        t.refresh_token = "RT-" + code;
        t.scope = std::move(scope);
        t.sub = sub;
        t.expires_in = 3600;
        backend_.codes[code] = t;
        CallbackParams p;
        p.code = code;
        p.state = state;
        p.iss = std::string(kIssuer);
        p.binding = binding_override ? *binding_override : started.binding;
        return service_->Callback(p);
    }

    // Full login → exchange → authenticated session.
    AuthenticatedSession Login(const std::string& input, const std::string& sub) {
        std::string location = SignIn(input, sub);
        auto token = QueryOf(location)["exchange_token"];
        EXPECT_FALSE(token.empty()) << location;
        auto exchanged = service_->Exchange(token);
        EXPECT_TRUE(exchanged) << (exchanged ? "" : exchanged.error().code);
        auto session = service_->Authenticate(exchanged->session_id, std::nullopt);
        EXPECT_TRUE(session) << (session ? "" : session.error().code);
        session->via_cookie = true;
        return *session;
    }

    AuthenticatedSession Exchanged(const std::string& location) {
        auto token = QueryOf(location)["exchange_token"];
        auto exchanged = service_->Exchange(token);
        EXPECT_TRUE(exchanged) << location;
        auto session = service_->Authenticate(exchanged->session_id, std::nullopt);
        EXPECT_TRUE(session);
        return *session;
    }

    std::int64_t Count(const std::string& table) {
        auto v = db_->ReadValue<std::int64_t>([&](storage::db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM " + table);
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        return v ? *v : -1;
    }

    std::unique_ptr<storage::db::Db> db_;
    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
    OfflineHttp http_;
    FakeIdentity identity_;
    FakeBackend backend_;
    core::ManualClock clock_;
    net::BlockingPool pool_{2};
    std::unique_ptr<AuthService> service_;
    int codes_ = 0;
};

// ---- sign-in ----

TEST_P(AuthServiceTest, LoginCreatesSessionAndExchangeHandsItOverOnce) {
    std::string location = SignIn("alice.test", kAlice);
    EXPECT_EQ(PathOf(location), "/profile/setup");  // first sign-in, profile not completed
    auto token = QueryOf(location)["exchange_token"];
    ASSERT_FALSE(token.empty());
    auto exchanged = service_->Exchange(token);
    ASSERT_TRUE(exchanged);
    EXPECT_EQ(exchanged->did, kAlice);
    EXPECT_EQ(exchanged->handle, "alice.test");
    EXPECT_FALSE(exchanged->is_developer_token);
    EXPECT_EQ(exchanged->expires_at, clock_.NowMicros() + 14 * kDay);  // public (loopback) client
    auto again = service_->Exchange(token);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "invalid_exchange_token");

    auto session = service_->Authenticate(exchanged->session_id, std::nullopt);
    ASSERT_TRUE(session);
    EXPECT_EQ(session->session.did, kAlice);
    EXPECT_EQ(session->session_id.size(), 43u);  // 32 bytes base64url
    auto me = service_->Me(*session);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->at("did").as_string(), kAlice);
    EXPECT_EQ(me->at("linked_accounts").as_array().size(), 1u);
    EXPECT_EQ(Count("artists"), 1);
    EXPECT_EQ(Count("oauth_states"), 0);

    // The PAR carried the typed handle as login_hint and the base scope.
    ASSERT_EQ(backend_.pars.size(), 1u);
    EXPECT_EQ(backend_.pars[0].login_hint.value_or(""), "alice.test");
    EXPECT_EQ(backend_.pars[0].scope, GrantedBase());
    EXPECT_TRUE(backend_.pars[0].client_id.starts_with("http://localhost?redirect_uri="));
}

TEST_P(AuthServiceTest, SecondSignInLandsOnHomeAndKeepsOneArtistRow) {
    SignIn("alice.test", kAlice);
    std::string location = SignIn("alice.test", kAlice);
    EXPECT_EQ(PathOf(location), "/");
    EXPECT_EQ(Count("artists"), 1);
}

TEST_P(AuthServiceTest, ExchangeTokenExpiresAfterSixtySeconds) {
    std::string location = SignIn("alice.test", kAlice);
    clock_.Advance(61 * kSecond);
    auto exchanged = service_->Exchange(QueryOf(location)["exchange_token"]);
    ASSERT_FALSE(exchanged);
    EXPECT_EQ(exchanged.error().status, 400);
    EXPECT_EQ(exchanged.error().code, "invalid_exchange_token");
}

TEST_P(AuthServiceTest, ReplayedStateIsExpiredAndCreatesNothing) {
    auto started = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(started);
    std::string first = Complete(*started, kAlice);
    ASSERT_EQ(PathOf(first), "/profile/setup");
    CallbackParams p;
    p.state = backend_.pars.back().state;
    p.code = "code-again";
    p.iss = std::string(kIssuer);
    p.binding = started->binding;
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=expired");
    EXPECT_EQ(Count("user_sessions"), 1);
}

TEST_P(AuthServiceTest, UnknownOrExpiredStateIsExpired) {
    CallbackParams p;
    p.state = "no-such-state";
    p.code = "c";
    p.iss = std::string(kIssuer);
    p.binding = "b";
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=expired");

    auto started = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(started);
    clock_.Advance(kStateLifetimeMicros + kSecond);
    EXPECT_EQ(Complete(*started, kAlice), "/login?auth_error=expired");
    EXPECT_EQ(backend_.exchanges, 0);
    EXPECT_EQ(Count("user_sessions"), 0);
}

TEST_P(AuthServiceTest, CallbackWithoutBindingCookieIsExpiredAndMakesNoTokenRequest) {
    auto started = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(started);
    CallbackParams p;
    p.state = backend_.pars.back().state;
    p.code = "code-x";
    p.iss = std::string(kIssuer);
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=expired");
    EXPECT_EQ(backend_.exchanges, 0);
    EXPECT_EQ(Count("user_sessions"), 0);
    EXPECT_EQ(Count("oauth_states"), 0);  // consumed

    auto second = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(second);
    EXPECT_EQ(Complete(*second, kAlice, GrantedBase(), std::string("another-browser")), "/login?auth_error=expired");
    EXPECT_EQ(backend_.exchanges, 0);
}

TEST_P(AuthServiceTest, IssuerMismatchFailsWithoutTokenRequest) {
    auto started = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(started);
    CallbackParams p;
    p.state = backend_.pars.back().state;
    p.code = "code-x";
    p.iss = "https://evil.example";
    p.binding = started->binding;
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=failed");
    EXPECT_EQ(backend_.exchanges, 0);
    EXPECT_EQ(Count("user_sessions"), 0);
    EXPECT_EQ(Count("oauth_states"), 0);
}

TEST_P(AuthServiceTest, AccessDeniedIsDenied) {
    auto started = service_->StartLogin("alice.test", std::nullopt);
    ASSERT_TRUE(started);
    CallbackParams p;
    p.state = backend_.pars.back().state;
    p.error = "access_denied";
    p.iss = std::string(kIssuer);
    p.binding = started->binding;
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=denied");
    EXPECT_EQ(backend_.exchanges, 0);
}

TEST_P(AuthServiceTest, SubOtherThanExpectedDidIsRevokedAndFails) {
    EXPECT_EQ(SignIn("alice.test", kBob), "/login?auth_error=failed");
    EXPECT_EQ(backend_.RevokedCount(), 1u);
    EXPECT_EQ(Count("user_sessions"), 0);
    EXPECT_EQ(Count("exchange_tokens"), 0);
}

TEST_P(AuthServiceTest, SubResolvingToAnotherIssuerIsRevokedAndFails) {
    // Signing in by PDS URL has no expected DID: only the sub ⇄ issuer check stands between a malicious AS
    // and someone else's account.
    identity_.fresh_pds[kAlice] = "https://elsewhere.example";
    backend_.issuers["https://elsewhere.example"] = "https://other-as.example";
    EXPECT_EQ(SignIn("https://pds.example", kAlice), "/login?auth_error=failed");
    EXPECT_GE(identity_.fresh_calls, 1);
    EXPECT_EQ(backend_.RevokedCount(), 1u);
    EXPECT_EQ(Count("user_sessions"), 0);
    EXPECT_EQ(Count("artists"), 0);
}

TEST_P(AuthServiceTest, PdsUrlSignInSendsNoLoginHint) {
    std::string location = SignIn("https://pds.example", kAlice);
    EXPECT_EQ(PathOf(location), "/profile/setup");
    EXPECT_FALSE(backend_.pars.back().login_hint.has_value());
}

TEST_P(AuthServiceTest, DeselectedRepoScopesAreScopeMismatchAndRevoked) {
    EXPECT_EQ(SignIn("alice.test", kAlice, std::nullopt, "atproto blob:*/*"), "/login?auth_error=scope_mismatch");
    EXPECT_EQ(backend_.RevokedCount(), 1u);
    EXPECT_EQ(Count("user_sessions"), 0);
}

TEST_P(AuthServiceTest, InvalidInputIsInvalidHandleAndStoresNoState) {
    for (std::string bad : std::vector<std::string>{
             "alice..bsky.social", "x.local", "handle.invalid", std::string(300, 'a') + ".com", "did:plc:short",
             "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", "DID:PLC:aliceaaaaaaaaaaaaaaaaaaa",
             "https://pds.example/path", "ftp://pds.example", ""}) {
        auto started = service_->StartLogin(bad, std::nullopt);
        ASSERT_FALSE(started) << bad;
        EXPECT_EQ(started.error().status, 400) << bad;
        EXPECT_EQ(started.error().code, "invalid_handle") << bad;
    }
    EXPECT_EQ(Count("oauth_states"), 0);
    EXPECT_TRUE(backend_.pars.empty());
}

TEST_P(AuthServiceTest, ServerUrlThatIsAnAuthorizationServerSignsInThroughIt) {  // atproto.md §6.3 step 4
    backend_.issuer_only.insert("https://entryway.example");
    auto started = service_->StartLogin("https://entryway.example", std::nullopt);
    ASSERT_TRUE(started) << started.error().code << ": " << started.error().detail;
    EXPECT_EQ(backend_.issuer_discoveries, std::vector<std::string>{"https://entryway.example"});
    ASSERT_EQ(backend_.pars.size(), 1u);
    EXPECT_FALSE(backend_.pars.back().login_hint.has_value());
    // The account's own PDS (from its DID document) must name this issuer; then the sign-in completes.
    auto location = Complete(*started, kAlice);
    EXPECT_NE(QueryOf(location)["exchange_token"], "") << location;
}

TEST_P(AuthServiceTest, ReturnToIsKeptOnlyWhenRelative) {
    EXPECT_EQ(PathOf(SignIn("alice.test", kAlice, "/tracks/12?x=1")), "/tracks/12");
    for (std::string bad :
         std::vector<std::string>{"//evil.example", "https://evil.example", "/\\evil", "javascript:alert(1)", "evil"}) {
        EXPECT_EQ(PathOf(SignIn("alice.test", kAlice, bad)), "/") << bad;
    }
}

TEST_P(AuthServiceTest, ReturnToWithAFragmentGetsTheExchangeTokenInItsQuery) {
    std::string location = SignIn("alice.test", kAlice, "/tracks/12#comments");
    EXPECT_TRUE(location.starts_with("/tracks/12?exchange_token=")) << location;
    EXPECT_TRUE(location.ends_with("#comments")) << location;
    std::string with_query = SignIn("alice.test", kAlice, "/tracks/12?x=1#c?d");
    EXPECT_TRUE(with_query.starts_with("/tracks/12?x=1&exchange_token=")) << with_query;
    EXPECT_TRUE(with_query.ends_with("#c?d")) << with_query;
}

TEST(FormatTimestamp, IsIso8601UtcSeconds) {
    EXPECT_EQ(FormatTimestamp(1'700'000'000'000'000), "2023-11-14T22:13:20Z");
    EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00Z");
}

TEST(SanitizeReturnTo, AcceptsRelativePathsOnly) {
    EXPECT_EQ(SanitizeReturnTo("/portal").value_or(""), "/portal");
    EXPECT_EQ(SanitizeReturnTo("/a/b?c=d#e").value_or(""), "/a/b?c=d#e");
    EXPECT_FALSE(SanitizeReturnTo("//evil.example"));
    EXPECT_FALSE(SanitizeReturnTo("https://evil.example"));
    EXPECT_FALSE(SanitizeReturnTo("/\\evil"));
    EXPECT_FALSE(SanitizeReturnTo("/a\\b"));
    EXPECT_FALSE(SanitizeReturnTo("/%2F%2Fevil.example"));
    EXPECT_FALSE(SanitizeReturnTo("/a\nb"));
    EXPECT_FALSE(SanitizeReturnTo(""));
    EXPECT_FALSE(SanitizeReturnTo("relative"));
}

// ---- authentication ----

TEST_P(AuthServiceTest, UnknownSessionIsAuthenticationRequired) {
    for (auto [cookie, bearer] :
         std::vector<std::pair<std::optional<std::string_view>, std::optional<std::string_view>>>{
             {std::nullopt, std::nullopt}, {"random-cookie", std::nullopt}, {std::nullopt, "random-bearer"}}) {
        auto r = service_->Authenticate(cookie, bearer);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().status, 401);
        EXPECT_EQ(r.error().code, "authentication_required");
    }
}

TEST_P(AuthServiceTest, CookieWinsOverBearer) {
    auto alice = Login("alice.test", kAlice);
    auto r = service_->Authenticate(alice.session_id, "random-bearer");
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->via_cookie);
    auto b = service_->Authenticate(std::nullopt, alice.session_id);
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->via_cookie);
}

TEST_P(AuthServiceTest, ExpiredSessionIsSessionExpiredAndDeleted) {
    auto alice = Login("alice.test", kAlice);
    clock_.Advance(14 * kDay + kSecond);
    auto r = service_->Authenticate(alice.session_id, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, 401);
    EXPECT_EQ(r.error().code, "session_expired");
    EXPECT_EQ(Count("user_sessions"), 0);
    auto again = service_->Authenticate(alice.session_id, std::nullopt);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "authentication_required");
}

TEST_P(AuthServiceTest, UndecryptableSessionIsSessionExpiredAndDeleted) {
    core::SecretBox other_box = *core::SecretBox::FromKeys(std::string(32, 'z'));
    repos::SessionRepository other(*db_, other_box);
    repos::NewSession ns;
    ns.session_id = "sealed-with-another-key";
    ns.did = kAlice;
    ns.oauth = "{}";
    ns.granted_scope = GrantedBase();
    ns.expires_at = clock_.NowMicros() + kDay;
    ns.now = clock_.NowMicros();
    ASSERT_TRUE(other.Create(ns));
    auto r = service_->Authenticate(std::nullopt, "sealed-with-another-key");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "session_expired");
    EXPECT_EQ(Count("user_sessions"), 0);
}

TEST_P(AuthServiceTest, SessionLackingBaseScopeNeedsScopeUpgrade) {
    repos::SessionRepository sessions(*db_, box_);
    repos::NewSession ns;
    ns.session_id = "narrow-session";
    ns.did = kAlice;
    ns.oauth = "{}";
    ns.granted_scope = "atproto repo:fm.plyr.track";
    ns.expires_at = clock_.NowMicros() + kDay;
    ns.now = clock_.NowMicros();
    ASSERT_TRUE(sessions.Create(ns));
    auto r = service_->Authenticate(std::nullopt, "narrow-session");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, 403);
    EXPECT_EQ(r.error().code, "scope_upgrade_required");
    EXPECT_TRUE(service_->Authenticate(std::nullopt, "narrow-session", false));
}

TEST_P(AuthServiceTest, LastUsedIsWrittenAtMostOncePerMinute) {
    auto alice = Login("alice.test", kAlice);
    std::int64_t first = alice.session.last_used_at;
    clock_.Advance(30 * kSecond);
    auto r = service_->Authenticate(alice.session_id, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->session.last_used_at, first);
    clock_.Advance(31 * kSecond);
    r = service_->Authenticate(alice.session_id, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->session.last_used_at, clock_.NowMicros());
}

// ---- accounts ----

TEST_P(AuthServiceTest, AddAccountLinksSwitchRotatesAndLogoutSwitches) {
    auto alice = Login("alice.test", kAlice);
    auto started = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_TRUE(started);
    EXPECT_EQ(backend_.pars.back().prompt.value_or(""), "login");
    EXPECT_FALSE(backend_.pars.back().login_hint.has_value());
    std::string location = Complete(*started, kBob);
    EXPECT_EQ(PathOf(location), "/portal");
    EXPECT_EQ(QueryOf(location)["account_added"], "true");
    auto bob = Exchanged(location);
    bob.via_cookie = true;
    EXPECT_EQ(bob.session.group_id, alice.session.group_id);
    auto me = service_->Me(bob);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->at("linked_accounts").as_array().size(), 2u);

    auto switched = service_->SwitchAccount(bob, kAlice);
    ASSERT_TRUE(switched);
    EXPECT_EQ(switched->did, kAlice);
    EXPECT_NE(switched->session_id, alice.session_id);  // rotated: the old id is dead
    EXPECT_FALSE(service_->Authenticate(alice.session_id, std::nullopt));
    auto alice2 = service_->Authenticate(switched->session_id, std::nullopt);
    ASSERT_TRUE(alice2);

    auto unknown = service_->SwitchAccount(*alice2, "did:plc:nobodyyyyyyyyyyyyyyyyyyy");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, "account_not_linked");

    auto not_linked = service_->Logout(*alice2, std::string_view("did:plc:nobodyyyyyyyyyyyyyyyyyyy"));
    ASSERT_FALSE(not_linked);
    EXPECT_EQ(not_linked.error().status, 404);
    EXPECT_TRUE(service_->Authenticate(switched->session_id, std::nullopt));  // nothing changed

    auto out = service_->Logout(*alice2, std::string_view(kBob));
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->has_value());
    EXPECT_EQ((*out)->did, kBob);
    EXPECT_FALSE(service_->Authenticate(switched->session_id, std::nullopt));
    EXPECT_FALSE(service_->Authenticate(bob.session_id, std::nullopt));  // bob's id rotated too
    EXPECT_TRUE(service_->Authenticate((*out)->session_id, std::nullopt));
    EXPECT_TRUE(backend_.WaitForRevokes(1));  // alice's grant revoked in the background
}

TEST_P(AuthServiceTest, SwitchToExpiredMemberIsSessionExpiredAndRemovesIt) {
    auto alice = Login("alice.test", kAlice);
    auto started = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_TRUE(started);
    auto bob = Exchanged(Complete(*started, kBob));
    // Make alice's session expire while bob's stays live.
    ASSERT_TRUE(db_->Write([&](storage::db::Connection& c) -> Status {
        auto n = c.Exec("UPDATE user_sessions SET expires_at = $1 WHERE did = $2", {clock_.NowMicros(), kAlice});
        if (!n) return Fail(n.error());
        return Ok();
    }));
    auto r = service_->SwitchAccount(bob, kAlice);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, 401);
    EXPECT_EQ(r.error().code, "session_expired");
    EXPECT_EQ(Count("user_sessions"), 1);
}

TEST_P(AuthServiceTest, GroupHoldsAtMostFiveAccounts) {
    auto alice = Login("alice.test", kAlice);
    for (int i = 0; i < 4; ++i) {
        std::string did = "did:plc:member" + std::string(19, static_cast<char>('a' + i));
        identity_.Add(did, "m" + std::to_string(i) + ".test");
        auto started = service_->StartAddAccount(alice, "m" + std::to_string(i) + ".test");
        ASSERT_TRUE(started) << i;
        ASSERT_EQ(PathOf(Complete(*started, did)), "/portal");
    }
    auto sixth = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_FALSE(sixth);
    EXPECT_EQ(sixth.error().status, 409);
    EXPECT_EQ(sixth.error().code, "too_many_accounts");
}

TEST_P(AuthServiceTest, ConcurrentAddAccountFlowsCannotOverfillTheGroup) {
    auto alice = Login("alice.test", kAlice);
    for (int i = 0; i < 3; ++i) {
        std::string did = "did:plc:member" + std::string(19, static_cast<char>('a' + i));
        identity_.Add(did, "m" + std::to_string(i) + ".test");
        auto started = service_->StartAddAccount(alice, "m" + std::to_string(i) + ".test");
        ASSERT_TRUE(started) << i;
        ASSERT_EQ(PathOf(Complete(*started, did)), "/portal");
    }
    // Four members: two flows may still start, only one may finish.
    identity_.Add("did:plc:fifthhhhhhhhhhhhhhhhhhhh", "fifth.test");
    auto first = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_TRUE(first);
    std::string first_state = backend_.pars.back().state;
    auto second = service_->StartAddAccount(alice, std::string("fifth.test"));
    ASSERT_TRUE(second);
    EXPECT_EQ(PathOf(Complete(*second, "did:plc:fifthhhhhhhhhhhhhhhhhhhh")), "/portal");
    backend_.codes["late"] = TokenSet{"AT-late", "RT-late", GrantedBase(), kBob, 3600};
    CallbackParams p;
    p.code = "late";
    p.state = first_state;
    p.iss = std::string(kIssuer);
    p.binding = first->binding;
    EXPECT_EQ(service_->Callback(p), "/login?auth_error=failed");
    EXPECT_EQ(backend_.RevokedCount(), 1u);
    auto me = service_->Me(alice);
    ASSERT_TRUE(me);
    EXPECT_EQ(me->at("linked_accounts").as_array().size(), 5u);
}

TEST_P(AuthServiceTest, LogoutAllEndsTheGroupButNotDeveloperTokens) {
    auto alice = Login("alice.test", kAlice);
    auto add = service_->StartAddAccount(alice, std::string("bob.test"));
    ASSERT_TRUE(add);
    Complete(*add, kBob);
    auto dev = service_->StartDeveloperToken(alice, "ci", 30);
    ASSERT_TRUE(dev);
    auto dev_session = Exchanged(Complete(*dev, kAlice));
    auto n = service_->LogoutAll(alice);
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 2);
    EXPECT_FALSE(service_->Authenticate(alice.session_id, std::nullopt));
    EXPECT_TRUE(service_->Authenticate(std::nullopt, dev_session.session_id));
}

// ---- developer tokens ----

TEST_P(AuthServiceTest, DeveloperTokenHasPrefixCappedExpiryAndNoGroup) {
    auto alice = Login("alice.test", kAlice);
    auto bad_name = service_->StartDeveloperToken(alice, "", 30);
    ASSERT_FALSE(bad_name);
    EXPECT_EQ(bad_name.error().code, "invalid_name");
    auto bad_days = service_->StartDeveloperToken(alice, "ci", 366);
    ASSERT_FALSE(bad_days);
    EXPECT_EQ(bad_days.error().code, "invalid_expiry");
    EXPECT_FALSE(service_->StartDeveloperToken(alice, "ci", 0));

    auto started = service_->StartDeveloperToken(alice, "ci", 365);
    ASSERT_TRUE(started);
    EXPECT_EQ(backend_.pars.back().login_hint.value_or(""), "alice.test");
    std::string location = Complete(*started, kAlice);
    EXPECT_EQ(PathOf(location), "/settings");
    EXPECT_EQ(QueryOf(location)["dev_token"], "true");
    auto exchanged = service_->Exchange(QueryOf(location)["exchange_token"]);
    ASSERT_TRUE(exchanged);
    EXPECT_TRUE(exchanged->is_developer_token);
    EXPECT_EQ(exchanged->expires_at, clock_.NowMicros() + 14 * kDay);  // capped by the public client's lifetime
    auto token = service_->Authenticate(std::nullopt, exchanged->session_id);
    ASSERT_TRUE(token);
    EXPECT_FALSE(token->session.group_id.has_value());
    EXPECT_EQ(token->session.token_prefix.value_or(""), exchanged->session_id.substr(0, 8));

    auto list = service_->ListDeveloperTokens(alice);
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 1u);
    EXPECT_EQ((*list)[0].token_id, exchanged->session_id.substr(0, 8));
    EXPECT_EQ((*list)[0].name, "ci");

    auto missing = service_->RevokeDeveloperToken(alice, "zzzzzzzz");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().status, 404);
    ASSERT_TRUE(service_->RevokeDeveloperToken(alice, exchanged->session_id.substr(0, 8)));
    EXPECT_FALSE(service_->Authenticate(std::nullopt, exchanged->session_id));
}

TEST_P(AuthServiceTest, DeveloperTokenForAnotherAccountIsAccountMismatch) {
    auto alice = Login("alice.test", kAlice);
    auto started = service_->StartDeveloperToken(alice, "ci", 30);
    ASSERT_TRUE(started);
    // The AS let the user sign in as someone else despite the login_hint.
    EXPECT_EQ(Complete(*started, kBob), "/login?auth_error=account_mismatch");
    EXPECT_EQ(backend_.RevokedCount(), 1u);
    EXPECT_EQ(Count("user_sessions"), 1);
}

TEST_P(AuthServiceTest, AmbiguousDeveloperTokenPrefixIsRefused) {
    auto alice = Login("alice.test", kAlice);
    repos::SessionRepository sessions(*db_, box_);
    for (std::string id : std::vector<std::string>{"samepfx1-aaaa", "samepfx1-bbbb"}) {
        repos::NewSession ns;
        ns.session_id = id;
        ns.did = kAlice;
        ns.is_developer_token = true;
        ns.token_name = "t";
        ns.token_prefix = "samepfx1";
        ns.oauth = "{}";
        ns.granted_scope = GrantedBase();
        ns.expires_at = clock_.NowMicros() + kDay;
        ns.now = clock_.NowMicros();
        ASSERT_TRUE(sessions.Create(ns));
    }
    auto r = service_->RevokeDeveloperToken(alice, "samepfx1");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().code, "ambiguous_token_id");
}

// ---- scope upgrade ----

TEST_P(AuthServiceTest, ScopeUpgradeReplacesSessionInItsGroup) {
    auto alice = Login("alice.test", kAlice);
    auto bad = service_->StartScopeUpgrade(alice, {"email"}, std::nullopt);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, "invalid_scope_request");
    auto started = service_->StartScopeUpgrade(alice, {"teal"}, std::string_view("/settings/teal"));
    ASSERT_TRUE(started);
    std::string teal = oauth::TealExtraScope({"fm.teal.feed.play", "fm.teal.actor.status"});
    EXPECT_NE(backend_.pars.back().scope.find("repo:fm.teal.feed.play"), std::string::npos);
    std::string location = Complete(*started, kAlice, GrantedBase() + " " + teal);
    EXPECT_EQ(PathOf(location), "/settings/teal");
    EXPECT_EQ(QueryOf(location)["scope_upgraded"], "true");
    auto upgraded = Exchanged(location);
    EXPECT_EQ(upgraded.session.group_id, alice.session.group_id);
    EXPECT_FALSE(service_->Authenticate(alice.session_id, std::nullopt));
    auto me = service_->Me(upgraded);
    ASSERT_TRUE(me);
    EXPECT_TRUE(me->at("granted").at("teal").as_bool());
    EXPECT_FALSE(me->at("granted").at("bsky_post").as_bool());
}

TEST_P(AuthServiceTest, RefusedScopeUpgradeKeepsOldSession) {
    auto alice = Login("alice.test", kAlice);
    auto started = service_->StartScopeUpgrade(alice, {"bsky_post"}, std::nullopt);
    ASSERT_TRUE(started);
    CallbackParams p;
    p.state = backend_.pars.back().state;
    p.error = "access_denied";
    p.iss = std::string(kIssuer);
    p.binding = started->binding;
    EXPECT_EQ(service_->Callback(p), "/settings?scope_upgrade_error=refused");
    EXPECT_TRUE(service_->Authenticate(alice.session_id, std::nullopt));
}

TEST_P(AuthServiceTest, ScopeUpgradeWhoseExtraWasDeselectedIsRefusedAndKeepsTheOldSession) {
    auto alice = Login("alice.test", kAlice);
    auto started = service_->StartScopeUpgrade(alice, {"bsky_post"}, std::string_view("/settings/share"));
    ASSERT_TRUE(started);
    std::size_t revoked_before = backend_.RevokedCount();
    // The user unticked the extra at consent: only the base comes back.
    std::string location = Complete(*started, kAlice, GrantedBase());
    EXPECT_EQ(location, "/settings/share?scope_upgrade_error=refused");
    EXPECT_EQ(backend_.RevokedCount(), revoked_before + 1) << "the new grant is revoked";
    auto still = service_->Authenticate(alice.session_id, std::nullopt);
    ASSERT_TRUE(still) << "the old session is kept";
    auto me = service_->Me(*still);
    ASSERT_TRUE(me);
    EXPECT_FALSE(me->at("granted").at("bsky_post").as_bool());
}

// ---- refresh ----

TEST_P(AuthServiceTest, ConcurrentRefreshersMakeOneTokenRequest) {
    auto alice = Login("alice.test", kAlice);
    {
        std::lock_guard lock(backend_.mu);
        backend_.refresh_gate = true;
    }
    AuthResult<void> first, second;
    std::thread a([&] { first = service_->ForceRefresh(alice); });
    {
        std::unique_lock lock(backend_.mu);
        ASSERT_TRUE(backend_.cv.wait_for(lock, std::chrono::seconds(5), [&] { return backend_.refresh_entered; }));
    }
    // The lease is held by `a` (inside the token request): the second refresher must wait for its result.
    std::thread b([&] { second = service_->ForceRefresh(alice); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let b reach its wait loop
    {
        std::lock_guard lock(backend_.mu);
        backend_.refresh_gate = false;
    }
    backend_.cv.notify_all();
    a.join();
    b.join();
    EXPECT_TRUE(first);
    EXPECT_TRUE(second);
    EXPECT_EQ(backend_.refreshes, 1);
}

TEST_P(AuthServiceTest, AWaitingRefresherTakesOverWhenTheHolderFails) {
    auto alice = Login("alice.test", kAlice);
    {
        std::lock_guard lock(backend_.mu);
        backend_.refresh_gate = true;
        backend_.refresh_fail_once = true;
    }
    AuthResult<void> first, second;
    std::thread a([&] { first = service_->ForceRefresh(alice); });
    {
        std::unique_lock lock(backend_.mu);
        ASSERT_TRUE(backend_.cv.wait_for(lock, std::chrono::seconds(5), [&] { return backend_.refresh_entered; }));
    }
    std::thread b([&] { second = service_->ForceRefresh(alice); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let b reach its wait loop
    {
        std::lock_guard lock(backend_.mu);
        backend_.refresh_gate = false;
    }
    backend_.cv.notify_all();
    a.join();
    b.join();
    ASSERT_FALSE(first);
    EXPECT_EQ(first.error().code, "pds_error");
    EXPECT_TRUE(second) << second.error().code;
    EXPECT_EQ(backend_.refreshes, 2);
    EXPECT_EQ(Count("user_sessions"), 1);
}

TEST_P(AuthServiceTest, InvalidGrantOnRefreshDeletesTheSession) {
    auto alice = Login("alice.test", kAlice);
    backend_.refresh_invalid_grant = true;
    auto r = service_->ForceRefresh(alice);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().status, 401);
    EXPECT_EQ(r.error().code, "session_expired");
    EXPECT_EQ(Count("user_sessions"), 0);
}

TEST_P(AuthServiceTest, RefreshOfAnAccountNowServedByAnotherAuthorizationServerEndsTheSession) {
    auto alice = Login("alice.test", kAlice);
    int refreshes_before = backend_.refreshes;
    identity_.fresh_pds[kAlice] = "https://elsewhere.example";
    backend_.issuers["https://elsewhere.example"] = "https://other-as.example";
    auto r = service_->ForceRefresh(alice);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "session_expired");
    EXPECT_EQ(backend_.refreshes, refreshes_before) << "no refresh request to the old server";
    EXPECT_FALSE(service_->Authenticate(alice.session_id, std::nullopt)) << "the session is gone";
    EXPECT_TRUE(backend_.WaitForRevokes(1));
}

TEST_P(AuthServiceTest, RefreshThatCannotCheckTheAccountKeepsTheSession) {
    auto alice = Login("alice.test", kAlice);
    identity_.by_key.erase(kAlice);  // the PLC directory does not answer for it right now
    auto r = service_->ForceRefresh(alice);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "pds_error");
    EXPECT_TRUE(service_->Authenticate(alice.session_id, std::nullopt)) << "kept: nothing proves it dead";
    identity_.Add(kAlice, "alice.test");
    EXPECT_TRUE(service_->ForceRefresh(alice)) << "the lease was given back";
}

TEST_P(AuthServiceTest, RefreshWithAnotherSubEndsTheSession) {
    auto alice = Login("alice.test", kAlice);
    backend_.refresh_sub = kBob;
    auto r = service_->ForceRefresh(alice);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "session_expired");
}

// ---- client identity ----

TEST_P(AuthServiceTest, LoopbackClientHasNoMetadataOrJwks) {
    EXPECT_EQ(service_->client_kind(), ClientKind::kLoopbackPublic);
    EXPECT_FALSE(service_->ClientMetadata());
    EXPECT_FALSE(service_->Jwks());
    EXPECT_EQ(service_->redirect_uri(), "http://127.0.0.1:8001/auth/callback");
}

TEST_P(AuthServiceTest, ConfidentialClientServesMetadataAndLongerSessions) {
    AuthSettings settings;
    settings.client_key = *crypto::PrivateKey::Generate(crypto::Curve::kP256);
    settings.client_kid = "key-1";
    settings.development_mode = true;
    MakeService(std::move(settings));
    EXPECT_EQ(service_->client_kind(), ClientKind::kConfidential);
    EXPECT_EQ(service_->client_id(), "http://127.0.0.1:8001/oauth-client-metadata.json");
    auto metadata = service_->ClientMetadata();
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->at("client_id").as_string(), service_->client_id());
    EXPECT_NE(std::string(metadata->at("scope").as_string()).find("repo:app.bsky.feed.post?action=create"),
              std::string::npos);
    auto jwks = service_->Jwks();
    ASSERT_TRUE(jwks);
    EXPECT_EQ(jwks->at("keys").as_array().size(), 1u);
    std::string location = SignIn("alice.test", kAlice);
    auto exchanged = service_->Exchange(QueryOf(location)["exchange_token"]);
    ASSERT_TRUE(exchanged);
    EXPECT_EQ(exchanged->expires_at, clock_.NowMicros() + 180 * kDay);
    EXPECT_TRUE(backend_.pars.back().client_auth.has_value());
}

TEST_P(AuthServiceTest, HttpsWithoutAKeyIsAWebPublicClient) {
    AuthSettings settings;
    settings.public_url = "https://music.example";
    AuthService service(std::move(settings), *db_, box_, http_, identity_, backend_, clock_, pool_);
    EXPECT_EQ(service.client_kind(), ClientKind::kPublic);
    EXPECT_EQ(service.client_id(), "https://music.example/oauth-client-metadata.json");
    auto metadata = service.ClientMetadata();
    ASSERT_TRUE(metadata);
    EXPECT_EQ(metadata->at("token_endpoint_auth_method").as_string(), "none");
    EXPECT_FALSE(metadata->contains("jwks_uri"));
    EXPECT_FALSE(service.Jwks());
}

TEST_P(AuthServiceTest, PermissionSetFormRequestsIncludeButChecksConcreteScopes) {
    AuthSettings settings;
    settings.use_permission_sets = true;
    MakeService(std::move(settings));
    EXPECT_EQ(service_->base_scope(), "atproto blob:*/* include:fm.plyr.authFullApp");
    std::string location = SignIn("alice.test", kAlice);  // granted: the expanded granular scope
    EXPECT_EQ(PathOf(location), "/profile/setup");
    EXPECT_EQ(backend_.pars.back().scope, "atproto blob:*/* include:fm.plyr.authFullApp");
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthServiceTest, storage::db::testing::BackendValues(),
                         storage::db::testing::BackendName);

}  // namespace
}  // namespace plyr::auth
