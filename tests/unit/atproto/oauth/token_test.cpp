// Token endpoint, revocation, sub→issuer verification and session-bound PDS calls against a stand-in
// authorization server + PDS: plyr's own http::Server on 127.0.0.1:0 (hermetic). The stand-in verifies every
// DPoP proof with atproto/crypto (htm, htu, nonce, and ath on the PDS), answers a proof without the current
// nonce with the reference server's `use_dpop_nonce` challenge (400 on the AS, 401 + WWW-Authenticate on the
// PDS), verifies client assertions for the confidential client and rotates single-use refresh tokens.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/crypto/jwt.hpp"
#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/oauth/token.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/log.hpp"
#include "http/json.hpp"
#include "http/uri.hpp"
#include "local_server.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::string_view kAsNonce = "as-nonce-1";
constexpr std::string_view kPdsNonce = "pds-nonce-1";
constexpr std::string_view kDid = "did:plc:abcdefghijklmnopqrstuvwx";
constexpr std::string_view kConfidentialId = "https://music.example/oauth-client-metadata.json";
const core::SystemClock kClock;

std::map<std::string, std::string> ParseForm(std::string_view body) {
    std::map<std::string, std::string> out;
    for (auto& [k, v] : http::ParseQuery(body)) out[k] = v;
    return out;
}

http::Response Json(int status, const boost::json::value& body) {
    auto response = http::JsonResponse(status, body);
    return response;
}

class FakeServer {
  public:
    FakeServer() : server_(MakeRouter()) {}
    std::string Origin() const { return server_.Origin(); }
    std::string AllowEntry() const { return server_.AllowEntry(); }
    bool ok() const { return server_.ok(); }

    AuthServerMetadata Metadata() const {
        AuthServerMetadata m;
        m.issuer = Origin();
        m.authorization_endpoint = Origin() + "/oauth/authorize";
        m.token_endpoint = Origin() + "/oauth/token";
        m.pushed_authorization_request_endpoint = Origin() + "/oauth/par";
        m.revocation_endpoint = Origin() + "/oauth/revoke";
        return m;
    }

    // What the next successful token response looks like (mutated by validation tests).
    boost::json::object GoodTokenResponse() {
        std::lock_guard lock(mutex_);
        return NextTokensLocked();
    }
    void OverrideTokenResponse(int status, boost::json::value body) {
        std::lock_guard lock(mutex_);
        override_ = std::make_pair(status, std::move(body));
    }
    void RequireClientAssertion(crypto::PublicKey key) {
        std::lock_guard lock(mutex_);
        client_key_ = std::move(key);
    }
    void SetResourceIssuer(std::string issuer) {
        std::lock_guard lock(mutex_);
        resource_issuer_ = std::move(issuer);
    }
    void InvalidateAccessTokens() {
        std::lock_guard lock(mutex_);
        valid_access_.clear();
    }
    void AddValidAccessToken(const std::string& token) {
        std::lock_guard lock(mutex_);
        valid_access_.insert(token);
    }
    void SetKeyBindingFailure(bool on) { key_binding_failure_ = on; }

    int token_hits() const { return token_hits_.load(); }
    int revoke_hits() const { return revoke_hits_.load(); }
    int pds_hits() const { return pds_hits_.load(); }
    std::vector<std::string> sent_jtis() {
        std::lock_guard lock(mutex_);
        return sent_jtis_;
    }
    std::vector<boost::json::object> assertions() {
        std::lock_guard lock(mutex_);
        return assertions_;
    }
    std::map<std::string, std::string> last_form() {
        std::lock_guard lock(mutex_);
        return last_form_;
    }
    std::vector<std::string> revoked() {
        std::lock_guard lock(mutex_);
        return revoked_;
    }
    std::string current_refresh() {
        std::lock_guard lock(mutex_);
        return refresh_;
    }
    boost::json::object last_pds_proof() {
        std::lock_guard lock(mutex_);
        return last_pds_proof_;
    }

  private:
    boost::json::object NextTokensLocked() {
        ++generation_;
        return boost::json::object{{"access_token", "acc-" + std::to_string(generation_)},
                                   {"token_type", "DPoP"},
                                   {"expires_in", 3599},
                                   {"refresh_token", "ref-" + std::to_string(generation_)},
                                   {"scope", "atproto repo:fm.plyr.like"},
                                   {"sub", std::string(kDid)}};
    }

    // Common AS checks: DPoP (nonce challenge first), client assertion. Returns a response to send, or
    // nullopt to continue.
    std::optional<http::Response> CheckAsRequest(http::Request& request, std::string_view path,
                                                 const std::map<std::string, std::string>& form) {
        if (auto it = form.find("client_assertion"); it != form.end()) {
            if (auto jwt = crypto::ParseJwt(it->second); jwt && jwt->payload.contains("jti")) {
                std::lock_guard lock(mutex_);
                sent_jtis_.emplace_back(jwt->payload.at("jti").as_string());
            }
        }
        crypto::DpopExpectation expected;
        expected.htm = "POST";
        expected.htu = Origin() + std::string(path);
        expected.nonce = std::string(kAsNonce);
        auto proof = request.Header("DPoP");
        if (!proof) {
            return Json(401, {{"error", "invalid_dpop_proof"}, {"error_description", "DPoP proof required"}});
        }
        auto verified = crypto::VerifyDpopProof(*proof, expected, kClock);
        if (!verified && verified.error().code == ErrorCode::kConflict) {
            auto r = Json(400, {{"error", "use_dpop_nonce"},
                                {"error_description", "Authorization server requires nonce in DPoP proof"}});
            r.headers.Set("DPoP-Nonce", kAsNonce);
            return r;
        }
        if (!verified) return Json(401, {{"error", "invalid_dpop_proof"}, {"error_description", "bad proof"}});
        if (verified->payload.contains("ath")) {
            return Json(401,
                        {{"error", "invalid_dpop_proof"}, {"error_description", "DPoP \"ath\" claim not allowed"}});
        }
        std::lock_guard lock(mutex_);
        if (client_key_) {
            auto it = form.find("client_assertion");
            if (it == form.end() || form.count("client_assertion_type") == 0) {
                return Json(400, {{"error", "invalid_client"}, {"error_description", "assertion required"}});
            }
            auto jwt = crypto::ParseJwt(it->second);
            if (!jwt || !crypto::VerifyJwtSignature(*jwt, *client_key_)) {
                return Json(400, {{"error", "invalid_client"}, {"error_description", "bad assertion"}});
            }
            assertions_.push_back(jwt->payload);
            const auto& p = jwt->payload;
            if (p.at("aud") != Origin().c_str() || p.at("iss") != form.at("client_id").c_str() ||
                p.at("sub") != form.at("client_id").c_str() || !jwt->header.contains("kid") ||
                !jtis_.insert(std::string(p.at("jti").as_string())).second) {
                return Json(400, {{"error", "invalid_client"}, {"error_description", "assertion claims"}});
            }
        } else if (form.count("client_assertion") != 0) {
            return Json(400, {{"error", "invalid_client"}, {"error_description", "public client"}});
        }
        return std::nullopt;
    }

    http::Router MakeRouter() {
        http::Router router;
        (void)router.Add(
            "POST", "/oauth/token", [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                token_hits_.fetch_add(1);
                auto form = ParseForm(request.body);
                {
                    std::lock_guard lock(mutex_);
                    last_form_ = form;
                }
                if (auto early = CheckAsRequest(request, "/oauth/token", form)) {
                    early->headers.Set("DPoP-Nonce", kAsNonce);
                    co_return std::move(*early);
                }
                std::lock_guard lock(mutex_);
                http::Response response(200);
                if (override_) {
                    response = Json(override_->first, override_->second);
                } else if (form["grant_type"] == "authorization_code") {
                    if (form["code"] != "cod-good" || form["code_verifier"] != "verifier" ||
                        form["redirect_uri"].empty()) {
                        response = Json(400, {{"error", "invalid_grant"}, {"error_description", "Invalid code"}});
                    } else {
                        auto tokens = NextTokensLocked();
                        refresh_ = std::string(tokens.at("refresh_token").as_string());
                        valid_access_.insert(std::string(tokens.at("access_token").as_string()));
                        response = Json(200, tokens);
                    }
                } else if (form["grant_type"] == "refresh_token") {
                    if (refresh_.empty() || form["refresh_token"] != refresh_) {
                        refresh_.clear();  // the reference deletes the whole session on a replay
                        valid_access_.clear();
                        response =
                            Json(400, {{"error", "invalid_grant"}, {"error_description", "Refresh token replayed"}});
                    } else {
                        auto tokens = NextTokensLocked();
                        refresh_ = std::string(tokens.at("refresh_token").as_string());
                        valid_access_.insert(std::string(tokens.at("access_token").as_string()));
                        response = Json(200, tokens);
                    }
                } else {
                    response = Json(400, {{"error", "unsupported_grant_type"}});
                }
                response.headers.Set("DPoP-Nonce", kAsNonce);
                response.headers.Set("Cache-Control", "no-store");
                co_return response;
            });
        (void)router.Add("POST", "/oauth/revoke",
                         [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                             revoke_hits_.fetch_add(1);
                             auto form = ParseForm(request.body);
                             if (auto early = CheckAsRequest(request, "/oauth/revoke", form)) {
                                 early->headers.Set("DPoP-Nonce", kAsNonce);
                                 co_return std::move(*early);
                             }
                             std::lock_guard lock(mutex_);
                             revoked_.push_back(form["token"]);
                             valid_access_.clear();
                             refresh_.clear();
                             auto response = Json(200, boost::json::object{});
                             response.headers.Set("DPoP-Nonce", kAsNonce);
                             co_return response;
                         });
        (void)router.Add("GET", "/.well-known/oauth-protected-resource",
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             std::lock_guard lock(mutex_);
                             const std::string issuer = resource_issuer_.empty() ? Origin() : resource_issuer_;
                             co_return Json(200, {{"resource", Origin()}, {"authorization_servers", {issuer}}});
                         });
        (void)router.Add(
            "POST", "/xrpc/com.atproto.repo.createRecord",
            [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                pds_hits_.fetch_add(1);
                auto challenge = [](std::string_view error, std::string_view description) {
                    auto r = Json(401, {{"error", std::string(error)}, {"message", std::string(description)}});
                    r.headers.Set("WWW-Authenticate", "DPoP algs=\"RS256 ES256\", error=\"" + std::string(error) +
                                                          "\", error_description=\"" + std::string(description) + "\"");
                    r.headers.Set("DPoP-Nonce", kPdsNonce);
                    return r;
                };
                auto auth = request.Header("Authorization");
                auto proof = request.Header("DPoP");
                if (!auth || auth->substr(0, 5) != "DPoP " || !proof) {
                    co_return Json(400, {{"error", "InvalidToken"}, {"message", "Malformed token"}});
                }
                const std::string token(auth->substr(5));
                crypto::DpopExpectation expected;
                expected.htm = "POST";
                expected.htu = Origin() + "/xrpc/com.atproto.repo.createRecord";
                expected.nonce = std::string(kPdsNonce);
                expected.access_token = token;
                auto verified = crypto::VerifyDpopProof(*proof, expected, kClock);
                if (!verified && verified.error().code == ErrorCode::kConflict) {
                    co_return challenge("use_dpop_nonce", "Authorization server requires nonce in DPoP proof");
                }
                if (!verified) co_return challenge("invalid_dpop_proof", "bad proof");
                std::lock_guard lock(mutex_);
                last_pds_proof_ = verified->payload;
                if (key_binding_failure_) co_return challenge("invalid_token", "Invalid DPoP key binding");
                if (valid_access_.count(token) == 0) co_return challenge("invalid_token", "Invalid token");
                auto r = Json(200, {{"uri", "at://" + std::string(kDid) + "/fm.plyr.like/3k"}, {"cid", "bafy"}});
                r.headers.Set("DPoP-Nonce", kPdsNonce);
                co_return r;
            });
        return router;
    }

    std::mutex mutex_;
    int generation_ = 0;
    std::string refresh_;
    std::set<std::string> valid_access_;
    std::optional<std::pair<int, boost::json::value>> override_;
    std::optional<crypto::PublicKey> client_key_;
    std::set<std::string> jtis_;
    std::vector<boost::json::object> assertions_;
    std::vector<std::string> sent_jtis_;
    std::map<std::string, std::string> last_form_;
    std::vector<std::string> revoked_;
    std::string resource_issuer_;
    boost::json::object last_pds_proof_;
    std::atomic<bool> key_binding_failure_{false};
    std::atomic<int> token_hits_{0};
    std::atomic<int> revoke_hits_{0};
    std::atomic<int> pds_hits_{0};
    net::testing::LocalServer server_;
};

class TokenTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);
        server_ = std::make_unique<FakeServer>();
        ASSERT_TRUE(server_->ok());
        auto policy = net::PrivateNetworkPolicy::Parse(server_->AllowEntry());
        ASSERT_TRUE(policy) << policy.error().ToString();
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        metadata_ = server_->Metadata();
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        ASSERT_TRUE(key);
        dpop_key_.emplace(std::move(*key));
        ctx_.server = &metadata_;
        ctx_.client_id = "http://localhost";
        ctx_.dpop_key = &*dpop_key_;
        ctx_.nonces = &nonces_;
        ctx_.clock = &kClock;
    }
    void TearDown() override {
        server_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    Result<TokenSet> Exchange() { return ExchangeCode(*http_, ctx_, "cod-good", "http://127.0.0.1/cb", "verifier"); }

    void ExpectInvalidResponse(const std::function<void(boost::json::object&)>& mutate,
                               std::string_view expected_sub = {}) {
        auto body = server_->GoodTokenResponse();
        mutate(body);
        server_->OverrideTokenResponse(200, body);
        auto result = ExchangeCode(*http_, ctx_, "cod-good", "http://127.0.0.1/cb", "verifier", expected_sub);
        ASSERT_FALSE(result) << boost::json::serialize(body);
        EXPECT_EQ(ClassifyTokenError(result.error()), TokenErrorKind::kInvalidResponse) << result.error().ToString();
        EXPECT_EQ(result.error().code, ErrorCode::kProtocol);
        // Token values never reach the error.
        EXPECT_EQ(result.error().ToString().find("acc-"), std::string::npos);
        EXPECT_EQ(result.error().ToString().find("ref-"), std::string::npos);
    }

    std::unique_ptr<FakeServer> server_;
    std::unique_ptr<net::CurlHttpClient> http_;
    AuthServerMetadata metadata_;
    std::optional<crypto::PrivateKey> dpop_key_;
    DpopNonceCache nonces_;
    TokenEndpointContext ctx_;
};

TEST_F(TokenTest, ExchangeRetriesOnceWithTheServerNonceAndCachesIt) {
    const std::int64_t before = kClock.NowMicros();
    auto tokens = Exchange();
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    EXPECT_EQ(server_->token_hits(), 2);  // challenge, then the retry
    EXPECT_EQ(tokens->access_token, "acc-1");
    EXPECT_EQ(tokens->refresh_token, "ref-1");
    EXPECT_EQ(tokens->token_type, "DPoP");
    EXPECT_EQ(tokens->scope, "atproto repo:fm.plyr.like");
    EXPECT_EQ(tokens->sub, kDid);
    EXPECT_GE(tokens->expires_at_us, before + 3599LL * 1'000'000);
    EXPECT_LE(tokens->expires_at_us, kClock.NowMicros() + 3599LL * 1'000'000);
    EXPECT_EQ(nonces_.Get(server_->Origin()), std::string(kAsNonce));
    auto form = server_->last_form();
    EXPECT_EQ(form["grant_type"], "authorization_code");
    EXPECT_EQ(form["redirect_uri"], "http://127.0.0.1/cb");
    EXPECT_EQ(form["code_verifier"], "verifier");
    EXPECT_EQ(form["client_id"], "http://localhost");
    EXPECT_EQ(form.count("client_assertion"), 0u);

    // The cached nonce serves the next request to the same origin at once.
    auto refreshed = RefreshTokens(*http_, ctx_, tokens->refresh_token, kDid);
    ASSERT_TRUE(refreshed) << refreshed.error().ToString();
    EXPECT_EQ(server_->token_hits(), 3);
}

TEST_F(TokenTest, LowercaseDpopTokenTypeIsAccepted) {
    auto body = server_->GoodTokenResponse();
    body["token_type"] = "dpop";
    server_->OverrideTokenResponse(200, body);
    auto tokens = Exchange();
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    EXPECT_EQ(tokens->token_type, "dpop");
}

TEST_F(TokenTest, EachInvalidTokenResponseIsRefused) {
    ExpectInvalidResponse([](auto& b) { b["token_type"] = "Bearer"; });
    ExpectInvalidResponse([](auto& b) { b.erase("token_type"); });
    ExpectInvalidResponse([](auto& b) { b.erase("scope"); });
    ExpectInvalidResponse([](auto& b) { b["scope"] = "atprotox repo:fm.plyr.like"; });
    ExpectInvalidResponse([](auto& b) { b["scope"] = 7; });
    ExpectInvalidResponse([](auto& b) { b.erase("sub"); });
    ExpectInvalidResponse([](auto& b) { b["sub"] = "alice.test"; });
    ExpectInvalidResponse([](auto& b) { b["sub"] = "did:key:zDnaeTiq1PdzvZXUaMdezchcMJQpBdH2VN4pgrrEhMCCbmwSb"; });
    ExpectInvalidResponse([](auto& b) { b.erase("access_token"); });
    ExpectInvalidResponse([](auto& b) { b["access_token"] = ""; });
    ExpectInvalidResponse([](auto& b) { b["access_token"] = 42; });
    ExpectInvalidResponse([](auto& b) { b.erase("refresh_token"); });
    ExpectInvalidResponse([](auto& b) { b["refresh_token"] = nullptr; });
    ExpectInvalidResponse([](auto& b) { b.erase("expires_in"); });
    ExpectInvalidResponse([](auto& b) { b["expires_in"] = 0; });
    ExpectInvalidResponse([](auto& b) { b["expires_in"] = -5; });
    ExpectInvalidResponse([](auto& b) { b["expires_in"] = "3600"; });
    ExpectInvalidResponse([](auto& b) { b["expires_in"] = 3.5; });
    ExpectInvalidResponse([](auto&) {}, "did:plc:zzzzzzzzzzzzzzzzzzzzzzzz");  // sub ≠ expected
    server_->OverrideTokenResponse(200, boost::json::array{});
    auto not_object = Exchange();
    ASSERT_FALSE(not_object);
    EXPECT_EQ(ClassifyTokenError(not_object.error()), TokenErrorKind::kInvalidResponse);
}

TEST_F(TokenTest, DeadCodeOrRefreshTokenIsInvalidGrant) {
    auto bad = ExchangeCode(*http_, ctx_, "cod-spent", "http://127.0.0.1/cb", "verifier");
    ASSERT_FALSE(bad);
    EXPECT_TRUE(IsInvalidGrant(bad.error())) << bad.error().ToString();
    EXPECT_EQ(bad.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(bad.error().detail.find("Invalid code"), std::string::npos);

    auto tokens = Exchange();
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    auto first = RefreshTokens(*http_, ctx_, tokens->refresh_token, kDid);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_NE(first->refresh_token, tokens->refresh_token);
    EXPECT_NE(first->access_token, tokens->access_token);
    // The old refresh token is spent: invalid_grant, and the session is gone on the server.
    auto replay = RefreshTokens(*http_, ctx_, tokens->refresh_token, kDid);
    ASSERT_FALSE(replay);
    EXPECT_EQ(ClassifyTokenError(replay.error()), TokenErrorKind::kInvalidGrant);
    EXPECT_NE(replay.error().detail.find("Refresh token replayed"), std::string::npos);
    EXPECT_EQ(replay.error().ToString().find(tokens->refresh_token), std::string::npos);
}

TEST_F(TokenTest, OtherRefusalsAndOutagesAreDistinguishedFromInvalidGrant) {
    server_->OverrideTokenResponse(
        400, boost::json::object{{"error", "invalid_client"}, {"error_description", "Client authentication failed"}});
    auto rejected = Exchange();
    ASSERT_FALSE(rejected);
    EXPECT_EQ(ClassifyTokenError(rejected.error()), TokenErrorKind::kRejected);
    EXPECT_FALSE(IsInvalidGrant(rejected.error()));
    EXPECT_NE(rejected.error().detail.find("token_rejected: status 400 invalid_client: Client authentication failed"),
              std::string::npos)
        << rejected.error().detail;

    server_->OverrideTokenResponse(503, boost::json::object{{"error", "server_error"}});
    auto down = Exchange();
    ASSERT_FALSE(down);
    EXPECT_EQ(ClassifyTokenError(down.error()), TokenErrorKind::kTransport);
    EXPECT_EQ(down.error().code, ErrorCode::kUnavailable);

    // Nobody listening at all.
    AuthServerMetadata gone = metadata_;
    gone.token_endpoint = "http://127.0.0.1:" + std::to_string(net::testing::UnusedPort()) + "/oauth/token";
    auto policy = net::PrivateNetworkPolicy::Parse("127.0.0.0/8");
    ASSERT_TRUE(policy);
    net::CurlHttpClientOptions options;
    options.policy = *policy;
    net::CurlHttpClient loose(std::move(options));
    TokenEndpointContext ctx = ctx_;
    ctx.server = &gone;
    auto unreachable = ExchangeCode(loose, ctx, "cod-good", "http://127.0.0.1/cb", "verifier");
    ASSERT_FALSE(unreachable);
    EXPECT_EQ(ClassifyTokenError(unreachable.error()), TokenErrorKind::kTransport);
    EXPECT_EQ(unreachable.error().code, ErrorCode::kUnavailable);
}

TEST_F(TokenTest, ASecondNonceChallengeIsNotRetriedAgain) {
    server_->OverrideTokenResponse(400, boost::json::object{{"error", "use_dpop_nonce"}});
    auto result = Exchange();  // first attempt: real challenge; second: the override (same nonce) → stop
    ASSERT_FALSE(result);
    EXPECT_EQ(ClassifyTokenError(result.error()), TokenErrorKind::kRejected);
    EXPECT_EQ(server_->token_hits(), 2);
}

TEST_F(TokenTest, ConfidentialClientSendsAFreshVerifiedAssertionPerAttempt) {
    auto client_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(client_key);
    server_->RequireClientAssertion(client_key->Public());
    ctx_.client_id = std::string(kConfidentialId);
    ctx_.client_auth = ClientAuth{&*client_key, "key-1"};
    auto tokens = Exchange();  // nonce challenge + retry: two assertions
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    auto refreshed = RefreshTokens(*http_, ctx_, tokens->refresh_token, kDid);
    ASSERT_TRUE(refreshed) << refreshed.error().ToString();
    ASSERT_TRUE(RevokeToken(*http_, ctx_, refreshed->refresh_token));
    // Four requests (the first answered with the nonce challenge), four different assertions; the three
    // that got past the challenge were verified (signature, claims, jti never seen before).
    auto jtis = server_->sent_jtis();
    ASSERT_EQ(jtis.size(), 4u);
    EXPECT_EQ(std::set<std::string>(jtis.begin(), jtis.end()).size(), 4u);
    auto assertions = server_->assertions();
    ASSERT_EQ(assertions.size(), 3u);
    for (const auto& a : assertions) {
        EXPECT_EQ(a.at("aud").as_string(), server_->Origin());  // the issuer, not the token endpoint
        EXPECT_EQ(a.at("iss").as_string(), kConfidentialId);
    }
    EXPECT_EQ(server_->last_form()["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");

    // Without the assertion the same server refuses the client: not invalid_grant.
    ctx_.client_auth.reset();
    auto anonymous = Exchange();
    ASSERT_FALSE(anonymous);
    EXPECT_EQ(ClassifyTokenError(anonymous.error()), TokenErrorKind::kRejected);
}

TEST_F(TokenTest, RevokePostsTheTokenWithDpop) {
    auto tokens = Exchange();
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    DpopNonceCache fresh;  // no nonce yet: challenge + retry on the revocation endpoint as well
    ctx_.nonces = &fresh;
    ASSERT_TRUE(RevokeToken(*http_, ctx_, tokens->refresh_token));
    EXPECT_EQ(server_->revoke_hits(), 2);
    ASSERT_EQ(server_->revoked().size(), 1u);
    EXPECT_EQ(server_->revoked()[0], tokens->refresh_token);
    EXPECT_EQ(fresh.Get(server_->Origin()), std::string(kAsNonce));

    metadata_.revocation_endpoint.clear();
    auto none = RevokeToken(*http_, ctx_, tokens->refresh_token);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::kUnsupported);
}

TEST_F(TokenTest, IncompleteContextIsALocalError) {
    TokenEndpointContext empty;
    auto result = ExchangeCode(*http_, empty, "cod-good", "http://127.0.0.1/cb", "verifier");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(server_->token_hits(), 0);
}

TEST_F(TokenTest, SubIssuerVerificationFollowsTheDidToItsAuthorizationServer) {
    std::vector<std::string> resolved;
    FreshPdsResolver resolver = [&](std::string_view did) -> Result<std::string> {
        resolved.emplace_back(did);
        return server_->Origin();
    };
    auto pds = VerifySubIssuer(*http_, kDid, server_->Origin(), resolver);
    ASSERT_TRUE(pds) << pds.error().ToString();
    EXPECT_EQ(*pds, server_->Origin());
    ASSERT_EQ(resolved.size(), 1u);
    EXPECT_EQ(resolved[0], kDid);

    server_->SetResourceIssuer("https://evil.example");
    auto mismatch = VerifySubIssuer(*http_, kDid, server_->Origin(), resolver);
    ASSERT_FALSE(mismatch);
    EXPECT_TRUE(IsIssuerMismatch(mismatch.error())) << mismatch.error().ToString();
    EXPECT_EQ(mismatch.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(mismatch.error().detail.rfind(kIssuerMismatch, 0), 0u);

    FreshPdsResolver failing = [](std::string_view) -> Result<std::string> {
        return Fail(ErrorCode::kNotFound, "DID not found");
    };
    auto unresolved = VerifySubIssuer(*http_, kDid, server_->Origin(), failing);
    ASSERT_FALSE(unresolved);
    EXPECT_EQ(unresolved.error().code, ErrorCode::kNotFound);
    EXPECT_FALSE(IsIssuerMismatch(unresolved.error()));

    auto not_a_did = VerifySubIssuer(*http_, "alice.test", server_->Origin(), resolver);
    ASSERT_FALSE(not_a_did);
    EXPECT_EQ(not_a_did.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(resolved.size(), 2u);  // the invalid sub never reached the resolver
}

// ---------------------------------------------------------------------------------------------- nonce cache

TEST(DpopNonceCacheTest, KeepsTheLatestNoncePerOriginAndIgnoresEmptyOnes) {
    DpopNonceCache cache;
    EXPECT_FALSE(cache.Get("https://as.example"));
    cache.Put("https://as.example", "n1");
    cache.Put("https://pds.example", "p1");
    cache.Put("https://as.example", "n2");
    cache.Put("https://as.example", "");
    EXPECT_EQ(cache.Get("https://as.example"), std::string("n2"));
    EXPECT_EQ(cache.Get("https://pds.example"), std::string("p1"));
    EXPECT_EQ(cache.size(), 2u);
}

TEST(DpopNonceCacheTest, EvictsTheLeastRecentlyWrittenOriginAtCapacity) {
    DpopNonceCache cache(3);
    cache.Put("a", "1");
    cache.Put("b", "1");
    cache.Put("c", "1");
    cache.Put("a", "2");  // a is now the newest
    cache.Put("d", "1");  // evicts b
    EXPECT_EQ(cache.size(), 3u);
    EXPECT_FALSE(cache.Get("b"));
    EXPECT_EQ(cache.Get("a"), std::string("2"));
    EXPECT_TRUE(cache.Get("c"));
    EXPECT_TRUE(cache.Get("d"));
}

TEST(DpopNonceCacheTest, ConcurrentWritersAndReadersStayConsistentAndBounded) {
    DpopNonceCache cache(64);
    std::vector<std::thread> threads;
    std::atomic<int> bad{0};
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::string origin = "https://o" + std::to_string((i * 7 + t) % 100) + ".example";
                cache.Put(origin, "n" + std::to_string(i));
                auto got = cache.Get(origin);
                if (got && got->rfind("n", 0) != 0) bad.fetch_add(1);
                if (cache.size() > 64) bad.fetch_add(1);
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(cache.size(), 64u);
}

// ------------------------------------------------------------------------------------ session-bound calls

TEST(WwwAuthenticateTest, FindsTheErrorParameterByName) {
    EXPECT_EQ(
        WwwAuthenticateError(R"(DPoP algs="RS256 ES256", error="invalid_token", error_description="Invalid token")"),
        "invalid_token");
    EXPECT_EQ(WwwAuthenticateError(R"(DPoP error_description="x error=\"no\"", error="use_dpop_nonce")"),
              "use_dpop_nonce");
    EXPECT_EQ(WwwAuthenticateError(R"(Bearer realm="pds", error=invalid_token)"), "invalid_token");
    EXPECT_EQ(WwwAuthenticateError(R"(DPoP algs="ES256")"), "");
    EXPECT_EQ(WwwAuthenticateError(""), "");
}

TEST(InvalidTokenTest, ClassifiesPdsAnswers) {
    xrpc::XrpcError e;
    e.status = 401;
    e.www_authenticate = R"(DPoP algs="ES256", error="invalid_token", error_description="Invalid token")";
    EXPECT_TRUE(IsInvalidTokenError(e));
    e.www_authenticate.clear();
    e.error = "ExpiredToken";
    EXPECT_TRUE(IsInvalidTokenError(e));
    e.error = "InvalidToken";
    EXPECT_TRUE(IsInvalidTokenError(e));
    e.status = 400;  // "Malformed token": a client bug, not an expiry
    EXPECT_FALSE(IsInvalidTokenError(e));
    e.status = 401;
    e.error = "invalid_token";
    e.message = "Invalid DPoP key binding";
    EXPECT_FALSE(IsInvalidTokenError(e));
    e.message.clear();
    e.error = "invalid_dpop_proof";
    EXPECT_FALSE(IsInvalidTokenError(e));
}

TEST_F(TokenTest, AuthHookSignsAFreshProofWithAthHtmHtuAndTheCachedNonce) {
    auto credentials = std::make_shared<const Credentials>(Credentials{"acc-xyz", *dpop_key_, 0});
    nonces_.Put(server_->Origin(), "cached-nonce");
    auto hook = MakeDpopAuthHook(credentials, nonces_, kClock);
    const std::string url = server_->Origin() + "/xrpc/com.atproto.repo.getRecord?repo=x&collection=y";
    const std::string htu = server_->Origin() + "/xrpc/com.atproto.repo.getRecord";
    xrpc::AuthContext ctx;
    ctx.method = "GET";
    ctx.url = url;
    ctx.htu = htu;
    ctx.nsid = "com.atproto.repo.getRecord";
    auto headers = hook(ctx);
    ASSERT_TRUE(headers) << headers.error().ToString();
    std::map<std::string, std::string> h(headers->begin(), headers->end());
    EXPECT_EQ(h["Authorization"], "DPoP acc-xyz");
    crypto::DpopExpectation expected;
    expected.htm = "GET";
    expected.htu = htu;
    expected.nonce = "cached-nonce";
    expected.access_token = "acc-xyz";
    auto verified = crypto::VerifyDpopProof(h["DPoP"], expected, kClock);
    ASSERT_TRUE(verified) << verified.error().ToString();
    EXPECT_EQ(verified->payload.at("htu").as_string(), htu);  // no query string
    EXPECT_EQ(verified->jkt, dpop_key_->Public().JwkThumbprint());

    // A challenge within the call overrides the cache; every attempt gets a new jti.
    ctx.attempt = 1;
    ctx.dpop_nonce = "challenge-nonce";
    auto again = hook(ctx);
    ASSERT_TRUE(again);
    std::map<std::string, std::string> h2(again->begin(), again->end());
    expected.nonce = "challenge-nonce";
    auto verified2 = crypto::VerifyDpopProof(h2["DPoP"], expected, kClock);
    ASSERT_TRUE(verified2) << verified2.error().ToString();
    EXPECT_NE(verified2->jti, verified->jti);

    // No nonce known at all: the proof carries none.
    DpopNonceCache empty;
    auto bare = MakeDpopAuthHook(credentials, empty, kClock);
    ctx.dpop_nonce = {};
    auto h3 = bare(ctx);
    ASSERT_TRUE(h3);
    auto jwt = crypto::ParseJwt((*h3)[1].second);
    ASSERT_TRUE(jwt);
    EXPECT_FALSE(jwt->payload.contains("nonce"));
}

// A CredentialSource double: hands out `current`, and on Refresh the next entry of `refreshes`.
class FakeSource : public CredentialSource {
  public:
    explicit FakeSource(Credentials current) : current_(std::move(current)) {}
    Result<Credentials> Current() override { return current_; }
    Result<Credentials> Refresh(const Credentials& stale) override {
        ++refresh_calls;
        last_stale = stale.access_token;
        if (!next) return Fail(next.error());
        current_ = *next;
        return current_;
    }
    int refresh_calls = 0;
    std::string last_stale;
    Result<Credentials> next = Fail(ErrorCode::kInternal, "no refresh configured");

  private:
    Credentials current_;
};

class PdsSessionTest : public TokenTest {
  protected:
    xrpc::XrpcResult<Value> CreateLike(const PdsSession& session) {
        return session.Run([](const xrpc::XrpcClient& client) {
            Value::Map record;
            record.emplace("$type", Value("fm.plyr.like"));
            return client.Procedure("com.atproto.repo.createRecord", xrpc::Body::Json(Value(std::move(record))));
        });
    }
    Credentials Creds(std::string token, std::int64_t expires_at_us = 0) {
        return Credentials{std::move(token), *dpop_key_, expires_at_us};
    }
};

TEST_F(PdsSessionTest, ValidTokenCallsOnceWithDpopAndCachesThePdsNonce) {
    server_->AddValidAccessToken("acc-live");
    FakeSource source(Creds("acc-live"));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_TRUE(created) << created.error().ToString();
    EXPECT_EQ(source.refresh_calls, 0);
    EXPECT_EQ(server_->pds_hits(), 2);  // use_dpop_nonce challenge, handled by the XRPC client's retry
    EXPECT_EQ(nonces_.Get(server_->Origin()), std::string(kPdsNonce));
    auto proof = server_->last_pds_proof();
    EXPECT_EQ(proof.at("htm").as_string(), "POST");
    EXPECT_EQ(proof.at("nonce").as_string(), kPdsNonce);
    EXPECT_TRUE(proof.contains("ath"));

    ASSERT_TRUE(CreateLike(session));  // nonce known now: one request
    EXPECT_EQ(server_->pds_hits(), 3);
}

TEST_F(PdsSessionTest, InvalidTokenRefreshesOnceAndRetriesWithTheNewToken) {
    server_->AddValidAccessToken("acc-new");
    FakeSource source(Creds("acc-old"));
    source.next = Creds("acc-new");
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_TRUE(created) << created.error().ToString();
    EXPECT_EQ(source.refresh_calls, 1);
    EXPECT_EQ(source.last_stale, "acc-old");
    EXPECT_EQ(server_->pds_hits(), 2);
}

TEST_F(PdsSessionTest, StillInvalidAfterTheRefreshIsSessionExpired) {
    FakeSource source(Creds("acc-old"));
    source.next = Creds("acc-also-dead");
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_FALSE(created);
    EXPECT_TRUE(IsSessionExpired(created.error())) << created.error().ToString();
    EXPECT_TRUE(IsSessionExpired(created.error().ToError()));
    EXPECT_EQ(created.error().status, 401);
    EXPECT_EQ(source.refresh_calls, 1);  // never a second refresh
    EXPECT_EQ(server_->pds_hits(), 2);
}

TEST_F(PdsSessionTest, RefreshRefusedWithInvalidGrantIsSessionExpired) {
    FakeSource source(Creds("acc-old"));
    source.next = Fail(ErrorCode::kPermissionDenied, "grant dead", "invalid_grant: Refresh token replayed");
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_FALSE(created);
    EXPECT_TRUE(IsSessionExpired(created.error())) << created.error().ToString();
    EXPECT_EQ(server_->pds_hits(), 1);
}

TEST_F(PdsSessionTest, RefreshOutageIsNotSessionExpired) {
    FakeSource source(Creds("acc-old"));
    source.next = Fail(ErrorCode::kUnavailable, "authorization server down", "token_endpoint_unavailable: status 503");
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_FALSE(created);
    EXPECT_FALSE(IsSessionExpired(created.error()));
    EXPECT_EQ(created.error().code, ErrorCode::kUnavailable);
}

TEST_F(PdsSessionTest, WrongKeyBindingIsReturnedWithoutRefreshing) {
    server_->AddValidAccessToken("acc-live");
    server_->SetKeyBindingFailure(true);
    FakeSource source(Creds("acc-live"));
    source.next = Creds("acc-other");
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_FALSE(created);
    EXPECT_EQ(source.refresh_calls, 0);
    EXPECT_FALSE(IsSessionExpired(created.error()));
    EXPECT_EQ(created.error().status, 401);
}

TEST_F(PdsSessionTest, TokenAboutToExpireIsRefreshedBeforeTheCall) {
    server_->AddValidAccessToken("acc-new");
    FakeSource source(Creds("acc-old", kClock.NowMicros() + 5'000'000));
    source.next = Creds("acc-new", kClock.NowMicros() + 3'600'000'000LL);
    nonces_.Put(server_->Origin(), std::string(kPdsNonce));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto created = CreateLike(session);
    ASSERT_TRUE(created) << created.error().ToString();
    EXPECT_EQ(source.refresh_calls, 1);
    EXPECT_EQ(server_->pds_hits(), 1);
}

TEST_F(PdsSessionTest, OtherErrorsPassThroughUntouched) {
    FakeSource source(Creds("acc-live"));
    PdsSession session(*http_, server_->Origin(), source, nonces_, kClock);
    auto missing = session.Run([](const xrpc::XrpcClient& client) {
        return client.Query("com.atproto.repo.getRecord", {{"repo", "x"}});
    });
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().status, 404);
    EXPECT_EQ(source.refresh_calls, 0);
}

}  // namespace
}  // namespace plyr::atproto::oauth
