// The whole OAuth session against the REAL reference authorization server and PDS of the local testnet, as
// the loopback development client: PAR → headless sign-in and consent (tests/support/oauth_signin.hpp) →
// code exchange → sub ⇄ issuer verification through the PLC directory → an authenticated createRecord with
// DPoP (PdsSession) → refresh → revocation → the dead grant ends as session_expired. Every test signs in a
// fresh account. Skipped when TESTNET_PDS_URL is not set.
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>

#include <gtest/gtest.h>

#include "atproto/crypto/keys.hpp"
#include "atproto/identity/did_resolver.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/oauth/pkce.hpp"
#include "atproto/oauth/token.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "http/json.hpp"
#include "local_server.hpp"
#include "net/http_client.hpp"
#include "support/oauth_signin.hpp"
#include "support/testnet.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::string_view kRedirectUri = "http://127.0.0.1:8001/auth/callback";
constexpr std::string_view kScope = "atproto repo:fm.plyr.like";

std::string AuthorityOf(const std::string& url) {
    std::string authority = url.substr(url.find("://") + 3);
    return authority.substr(0, authority.find('/'));
}

// The storage side of a session, in memory: refreshes with RefreshTokens when the stored token is the stale
// one (what H4's repository-backed source does under its lease).
class MemorySource : public CredentialSource {
  public:
    MemorySource(net::HttpClient& http, TokenEndpointContext ctx, TokenSet tokens, crypto::PrivateKey key)
        : http_(http), ctx_(std::move(ctx)), tokens_(std::move(tokens)), key_(std::move(key)) {}
    Result<Credentials> Current() override { return Credentials{tokens_.access_token, key_, tokens_.expires_at_us}; }
    Result<Credentials> Refresh(const Credentials& stale) override {
        ++refreshes;
        if (stale.access_token != tokens_.access_token) return Current();
        auto fresh = RefreshTokens(http_, ctx_, tokens_.refresh_token, tokens_.sub);
        if (!fresh) return Fail(fresh.error());
        tokens_ = std::move(*fresh);
        return Current();
    }
    const TokenSet& tokens() const { return tokens_; }
    int refreshes = 0;

  private:
    net::HttpClient& http_;
    TokenEndpointContext ctx_;
    TokenSet tokens_;
    crypto::PrivateKey key_;
};

class OauthSessionTestnetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto url = plyr::testing::TestnetPdsUrl();
        if (!url) GTEST_SKIP() << "TESTNET_PDS_URL not set (scripts/testnet.sh start)";
        const char* plc = std::getenv("TESTNET_PLC_URL");
        if (plc == nullptr || *plc == '\0') GTEST_SKIP() << "TESTNET_PLC_URL not set";
        log::Init(log::Level::kError, log::Format::kJson);
        pds_url_ = *url;
        plc_url_ = plc;
        // Exactly the PDS and the PLC directory are reachable; every other private target stays refused.
        auto policy = net::PrivateNetworkPolicy::Parse(AuthorityOf(pds_url_) + "," + AuthorityOf(plc_url_));
        ASSERT_TRUE(policy) << policy.error().ToString();
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        CreateAccount();
    }
    void TearDown() override { log::Init(log::Level::kInfo, log::Format::kJson); }

    void CreateAccount() {
        const std::string name = "o" + core::RandomHex(6);
        handle_ = name + ".test";
        password_ = name + "-pass";
        xrpc::XrpcClient anonymous(pds_url_, *http_);
        Value input(Value::Map{{"handle", handle_}, {"email", name + "@example.com"}, {"password", password_}});
        auto output = anonymous.Procedure("com.atproto.server.createAccount", xrpc::Body::Json(input));
        ASSERT_TRUE(output.has_value()) << output.error().ToString();
        did_ = *output->Find("did")->AsString();
    }

    // PAR → sign-in + consent → callback checks → token exchange, for the loopback client.
    void SignIn() {
        auto found = DiscoverFromPds(*http_, pds_url_);
        ASSERT_TRUE(found) << found.error().ToString();
        server_ = found->server;
        auto client_id = BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
        ASSERT_TRUE(client_id) << client_id.error().ToString();
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        ASSERT_TRUE(key);
        dpop_key_.emplace(std::move(*key));
        auto pkce = GeneratePkce();
        ASSERT_TRUE(pkce);

        ParRequest request;
        request.client_id = *client_id;
        request.redirect_uri = std::string(kRedirectUri);
        request.scope = std::string(kScope);
        request.state = GenerateState();
        request.code_challenge = pkce->challenge;
        request.login_hint = handle_;
        auto par_origin = OriginOf(server_.pushed_authorization_request_endpoint);
        ASSERT_TRUE(par_origin);
        auto par = PushAuthorizationRequest(*http_, server_, request, *dpop_key_, nonces_.Get(*par_origin), clock_);
        ASSERT_TRUE(par) << par.error().ToString();
        if (par->dpop_nonce) nonces_.Put(*par_origin, *par->dpop_nonce);

        auto location = plyr::testing::SignInAndConsent(AuthorizationRedirectUrl(server_, *client_id, par->request_uri),
                                                        handle_, password_);
        ASSERT_TRUE(location) << location.error().ToString();
        ASSERT_EQ(location->rfind(std::string(kRedirectUri) + "?", 0), 0u) << *location;
        auto params = plyr::testing::CallbackParams(*location);
        ASSERT_TRUE(params);
        EXPECT_EQ((*params)["state"], request.state);
        EXPECT_EQ((*params)["iss"], server_.issuer);
        ASSERT_FALSE((*params)["code"].empty()) << *location;

        ctx_.server = &server_;
        ctx_.client_id = *client_id;
        ctx_.dpop_key = &*dpop_key_;
        ctx_.nonces = &nonces_;
        ctx_.clock = &clock_;
        auto tokens = ExchangeCode(*http_, ctx_, (*params)["code"], kRedirectUri, pkce->verifier, did_);
        ASSERT_TRUE(tokens) << tokens.error().ToString();
        tokens_ = std::move(*tokens);
    }

    static xrpc::XrpcResult<Value> CreateLike(const xrpc::XrpcClient& client, const std::string& did) {
        Value record(Value::Map{
            {"$type", "fm.plyr.like"},
            {"subject", Value(Value::Map{{"uri", "at://" + did + "/fm.plyr.track/3kaaaaaaaaaaa"}, {"cid", "bafyx"}})},
            {"createdAt", "2026-01-01T00:00:00.000Z"}});
        Value input(Value::Map{{"repo", did}, {"collection", "fm.plyr.like"}, {"record", record}});
        return client.Procedure("com.atproto.repo.createRecord", xrpc::Body::Json(input));
    }

    std::string pds_url_;
    std::string plc_url_;
    std::unique_ptr<net::CurlHttpClient> http_;
    core::SystemClock clock_;
    DpopNonceCache nonces_;
    std::string handle_;
    std::string password_;
    std::string did_;
    AuthServerMetadata server_;
    std::optional<crypto::PrivateKey> dpop_key_;
    TokenEndpointContext ctx_;
    TokenSet tokens_;
};

TEST_F(OauthSessionTestnetTest, SignInCallRefreshRevokeEndsInSessionExpired) {
    ASSERT_NO_FATAL_FAILURE(SignIn());
    EXPECT_EQ(tokens_.sub, did_);
    EXPECT_TRUE(tokens_.token_type == "DPoP" || tokens_.token_type == "dpop") << tokens_.token_type;
    EXPECT_NE(tokens_.scope.find("repo:fm.plyr.like"), std::string::npos) << tokens_.scope;
    EXPECT_GT(tokens_.expires_at_us, clock_.NowMicros());

    // sub ⇄ issuer: the DID document (fresh from the PLC directory) names this PDS, whose AS is the issuer.
    identity::HttpDidResolver resolver(*http_, identity::DidResolverOptions{plc_url_});
    FreshPdsResolver fresh = [&](std::string_view did) -> Result<std::string> {
        auto doc = resolver.Resolve(did);
        if (!doc) return Fail(doc.error());
        if (!doc->pds_endpoint) return Fail(ErrorCode::kNotFound, "no PDS in the DID document");
        return *doc->pds_endpoint;
    };
    auto pds = VerifySubIssuer(*http_, tokens_.sub, server_.issuer, fresh);
    ASSERT_TRUE(pds) << pds.error().ToString();
    EXPECT_EQ(*pds, pds_url_);
    auto wrong = VerifySubIssuer(*http_, tokens_.sub, "https://other-issuer.example", fresh);
    ASSERT_FALSE(wrong);
    EXPECT_TRUE(IsIssuerMismatch(wrong.error())) << wrong.error().ToString();

    // An authenticated createRecord through the session-bound client (DPoP + the PDS nonce challenge).
    MemorySource source(*http_, ctx_, tokens_, *dpop_key_);
    PdsSession session(*http_, *pds, source, nonces_, clock_);
    auto created = session.Run([&](const xrpc::XrpcClient& client) { return CreateLike(client, did_); });
    ASSERT_TRUE(created) << created.error().ToString();
    const auto* uri = created->Find("uri");
    ASSERT_NE(uri, nullptr);
    EXPECT_EQ(uri->AsString()->rfind("at://" + did_ + "/fm.plyr.like/", 0), 0u);
    EXPECT_EQ(source.refreshes, 0);
    EXPECT_TRUE(nonces_.Get(*OriginOf(*pds)).has_value());

    // Refresh: a new pair; the session keeps working with it.
    auto refreshed = RefreshTokens(*http_, ctx_, tokens_.refresh_token, did_);
    ASSERT_TRUE(refreshed) << refreshed.error().ToString();
    EXPECT_NE(refreshed->refresh_token, tokens_.refresh_token);
    EXPECT_NE(refreshed->access_token, tokens_.access_token);
    EXPECT_EQ(refreshed->sub, did_);
    MemorySource source2(*http_, ctx_, *refreshed, *dpop_key_);
    PdsSession session2(*http_, *pds, source2, nonces_, clock_);
    ASSERT_TRUE(session2.Run([&](const xrpc::XrpcClient& client) { return CreateLike(client, did_); }));

    // Revoke: the access token is refused afterwards, the refresh fails with invalid_grant, and the wrapper
    // reports session_expired.
    ASSERT_TRUE(RevokeToken(*http_, ctx_, refreshed->refresh_token));
    auto options = DpopXrpcOptions(*pds, std::make_shared<const Credentials>(*source2.Current()), nonces_, clock_);
    ASSERT_TRUE(options);
    xrpc::XrpcClient direct(*pds, *http_, *options);
    auto refused = CreateLike(direct, did_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().status, 401) << refused.error().ToString();
    EXPECT_TRUE(IsInvalidTokenError(refused.error())) << refused.error().ToString();

    auto after = session2.Run([&](const xrpc::XrpcClient& client) { return CreateLike(client, did_); });
    ASSERT_FALSE(after);
    EXPECT_TRUE(IsSessionExpired(after.error())) << after.error().ToString();
    EXPECT_EQ(source2.refreshes, 1);
}

TEST_F(OauthSessionTestnetTest, ReplayedRefreshTokenIsInvalidGrantAndKillsTheGrant) {
    ASSERT_NO_FATAL_FAILURE(SignIn());
    auto refreshed = RefreshTokens(*http_, ctx_, tokens_.refresh_token, did_);
    ASSERT_TRUE(refreshed) << refreshed.error().ToString();
    auto replay = RefreshTokens(*http_, ctx_, tokens_.refresh_token, did_);
    ASSERT_FALSE(replay);
    EXPECT_TRUE(IsInvalidGrant(replay.error())) << replay.error().ToString();
    // The reference AS deletes the whole session on a replay: the newest refresh token is dead too.
    auto newest = RefreshTokens(*http_, ctx_, refreshed->refresh_token, did_);
    ASSERT_FALSE(newest);
    EXPECT_TRUE(IsInvalidGrant(newest.error())) << newest.error().ToString();
}

TEST_F(OauthSessionTestnetTest, DeniedConsentRedirectsWithAccessDenied) {
    auto found = DiscoverFromPds(*http_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    auto client_id = BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
    ASSERT_TRUE(client_id);
    auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(key);
    ParRequest request;
    request.client_id = *client_id;
    request.redirect_uri = std::string(kRedirectUri);
    request.scope = std::string(kScope);
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    auto par = PushAuthorizationRequest(*http_, found->server, request, *key, std::nullopt, clock_);
    ASSERT_TRUE(par) << par.error().ToString();
    plyr::testing::SignInOptions options;
    options.deny = true;
    auto location = plyr::testing::SignInAndConsent(
        AuthorizationRedirectUrl(found->server, *client_id, par->request_uri), handle_, password_, options);
    ASSERT_TRUE(location) << location.error().ToString();
    auto params = plyr::testing::CallbackParams(*location);
    ASSERT_TRUE(params);
    EXPECT_EQ((*params)["error"], "access_denied") << *location;
    EXPECT_EQ((*params)["state"], request.state);
    EXPECT_EQ((*params)["iss"], found->server.issuer);
    EXPECT_EQ(params->count("code"), 0u);
}

TEST_F(OauthSessionTestnetTest, SecondSignInOnTheSameDeviceReusesTheCookieJar) {
    const std::string first_handle = handle_;
    const std::string first_password = password_;
    const std::string first_did = did_;
    ASSERT_NO_FATAL_FAILURE(CreateAccount());  // a second account
    auto found = DiscoverFromPds(*http_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    auto client_id = BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
    ASSERT_TRUE(client_id);
    auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(key);
    plyr::testing::SignInCookieJar jar;
    plyr::testing::SignInOptions options;
    options.jar = &jar;
    std::string device;
    for (const auto& [handle, password, prompt] :
         {std::tuple{first_handle, first_password, std::optional<std::string>{}},
          std::tuple{handle_, password_, std::optional<std::string>{"login"}}}) {
        ParRequest request;
        request.client_id = *client_id;
        request.redirect_uri = std::string(kRedirectUri);
        request.scope = std::string(kScope);
        request.state = GenerateState();
        request.code_challenge = GeneratePkce()->challenge;
        request.prompt = prompt;
        auto par = PushAuthorizationRequest(*http_, found->server, request, *key, std::nullopt, clock_);
        ASSERT_TRUE(par) << par.error().ToString();
        auto location = plyr::testing::SignInAndConsent(
            AuthorizationRedirectUrl(found->server, *client_id, par->request_uri), handle, password, options);
        ASSERT_TRUE(location) << handle << ": " << location.error().ToString();
        auto params = plyr::testing::CallbackParams(*location);
        ASSERT_TRUE(params);
        EXPECT_EQ((*params)["state"], request.state);
        EXPECT_FALSE((*params)["code"].empty()) << *location;
        // The device cookies live on in the caller's jar (the provider rotates them at consent, so the values
        // change from call to call).
        ASSERT_TRUE(jar.Get("dev-id").has_value());
        ASSERT_TRUE(jar.Get("csrf-token").has_value());
        if (!device.empty()) {
            EXPECT_NE(*jar.Get("dev-id"), device);
        }
        device = *jar.Get("dev-id");
    }
    EXPECT_NE(first_did, did_);
}

// The confidential client (private_key_jwt) needs the fixture's opt-in for loopback-hosted client ids
// (atproto-testnet/README.md "Confidential client"): its metadata document and JWKS are served here by a
// plyr http::Server on 127.0.0.1:<free port>.
class ClientDocuments {
  public:
    ClientDocuments() : server_(MakeRouter()) {}
    bool ok() const { return server_.ok(); }
    std::string Origin() const { return server_.Origin(); }
    void Set(boost::json::object metadata, boost::json::object jwks) {
        std::lock_guard lock(mutex_);
        metadata_ = std::move(metadata);
        jwks_ = std::move(jwks);
    }

  private:
    http::Router MakeRouter() {
        http::Router router;
        (void)router.Add("GET", std::string(kClientMetadataPath),
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(200, metadata_);
                         });
        (void)router.Add("GET", std::string(kJwksPath),
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(200, jwks_);
                         });
        return router;
    }
    std::mutex mutex_;
    boost::json::object metadata_;
    boost::json::object jwks_;
    net::testing::LocalServer server_;
};

TEST_F(OauthSessionTestnetTest, ConfidentialClientExchangesRefreshesAndRevokesWithClientAssertions) {
    const char* allow = std::getenv("TESTNET_ALLOW_LOOPBACK_CLIENTS");
    if (allow == nullptr || (std::string_view(allow) != "1" && std::string_view(allow) != "true")) {
        GTEST_SKIP() << "the testnet does not accept loopback-hosted confidential clients "
                        "(TESTNET_ALLOW_LOOPBACK_CLIENTS=1)";
    }
    ClientDocuments documents;
    ASSERT_TRUE(documents.ok());
    auto client_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(client_key);
    ConfidentialClientOptions client;
    client.public_url = documents.Origin();
    client.client_name = "plyr (oauth_session_testnet_test)";
    client.redirect_uris = {documents.Origin() + "/auth/callback"};
    client.scope = std::string(kScope);
    client.allow_http = true;
    auto metadata = BuildConfidentialClientMetadata(client);
    ASSERT_TRUE(metadata) << metadata.error().ToString();
    auto jwks = BuildJwks({{"key-1", client_key->Public()}});
    ASSERT_TRUE(jwks) << jwks.error().ToString();
    documents.Set(*metadata, *jwks);
    auto client_id = ConfidentialClientId(client.public_url, true);
    ASSERT_TRUE(client_id);

    auto found = DiscoverFromPds(*http_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    server_ = found->server;
    auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(key);
    dpop_key_.emplace(std::move(*key));
    auto pkce = GeneratePkce();
    ASSERT_TRUE(pkce);
    ParRequest request;
    request.client_id = *client_id;
    request.redirect_uri = client.redirect_uris[0];
    request.scope = std::string(kScope);
    request.state = GenerateState();
    request.code_challenge = pkce->challenge;
    request.client_auth = ClientAuth{&*client_key, "key-1"};
    auto par = PushAuthorizationRequest(*http_, server_, request, *dpop_key_, std::nullopt, clock_);
    ASSERT_TRUE(par) << par.error().ToString();
    auto location = plyr::testing::SignInAndConsent(AuthorizationRedirectUrl(server_, *client_id, par->request_uri),
                                                    handle_, password_);
    ASSERT_TRUE(location) << location.error().ToString();
    auto params = plyr::testing::CallbackParams(*location);
    ASSERT_TRUE(params);
    ASSERT_EQ((*params)["state"], request.state);

    ctx_.server = &server_;
    ctx_.client_id = *client_id;
    ctx_.client_auth = ClientAuth{&*client_key, "key-1"};
    ctx_.dpop_key = &*dpop_key_;
    ctx_.nonces = &nonces_;
    ctx_.clock = &clock_;
    // Without the client assertion the AS refuses the confidential client: a rejection, not invalid_grant.
    TokenEndpointContext anonymous = ctx_;
    anonymous.client_auth.reset();
    auto refused = ExchangeCode(*http_, anonymous, (*params)["code"], request.redirect_uri, pkce->verifier, did_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(ClassifyTokenError(refused.error()), TokenErrorKind::kRejected) << refused.error().ToString();

    auto tokens = ExchangeCode(*http_, ctx_, (*params)["code"], request.redirect_uri, pkce->verifier, did_);
    ASSERT_TRUE(tokens) << tokens.error().ToString();
    EXPECT_EQ(tokens->sub, did_);
    MemorySource source(*http_, ctx_, *tokens, *dpop_key_);
    PdsSession session(*http_, pds_url_, source, nonces_, clock_);
    ASSERT_TRUE(session.Run([&](const xrpc::XrpcClient& c) { return CreateLike(c, did_); }));
    auto refreshed = RefreshTokens(*http_, ctx_, tokens->refresh_token, did_);
    ASSERT_TRUE(refreshed) << refreshed.error().ToString();
    ASSERT_TRUE(RevokeToken(*http_, ctx_, refreshed->refresh_token));
    auto dead = RefreshTokens(*http_, ctx_, refreshed->refresh_token, did_);
    ASSERT_FALSE(dead);
    EXPECT_TRUE(IsInvalidGrant(dead.error())) << dead.error().ToString();
}

TEST_F(OauthSessionTestnetTest, WrongPasswordFailsAtTheSignInStep) {
    auto found = DiscoverFromPds(*http_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    auto client_id = BuildLoopbackClientId({std::string(kRedirectUri)}, kScope);
    ASSERT_TRUE(client_id);
    auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(key);
    ParRequest request;
    request.client_id = *client_id;
    request.redirect_uri = std::string(kRedirectUri);
    request.scope = std::string(kScope);
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    auto par = PushAuthorizationRequest(*http_, found->server, request, *key, std::nullopt, clock_);
    ASSERT_TRUE(par) << par.error().ToString();
    auto location = plyr::testing::SignInAndConsent(
        AuthorizationRedirectUrl(found->server, *client_id, par->request_uri), handle_, "wrong-password");
    ASSERT_FALSE(location);
    EXPECT_EQ(location.error().code, ErrorCode::kProtocol);
    EXPECT_NE(location.error().detail.find("sign-in"), std::string::npos) << location.error().detail;
}

}  // namespace
}  // namespace plyr::atproto::oauth
