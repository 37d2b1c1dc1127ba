// Discovery and PAR against a stand-in PDS/authorization server: plyr's own http::Server on 127.0.0.1:0
// (hermetic). The PAR endpoint verifies the DPoP proof with atproto/crypto and answers the first proof
// without a nonce with the reference server's `use_dpop_nonce` challenge.
#include "atproto/oauth/discovery.hpp"

#include <atomic>
#include <mutex>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/pkce.hpp"
#include "core/log.hpp"
#include "http/json.hpp"
#include "local_server.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::string_view kNonce = "server-nonce-1";
const core::SystemClock kClock;

class FakeAuthServer {
  public:
    FakeAuthServer() : server_(MakeRouter()) {}
    std::string Origin() const { return server_.Origin(); }
    std::string AllowEntry() const { return server_.AllowEntry(); }
    bool ok() const { return server_.ok(); }

    void SetProtectedResource(int status, boost::json::value body) {
        std::lock_guard lock(mutex_);
        resource_ = {status, std::move(body)};
    }
    void SetMetadata(boost::json::value body) {
        std::lock_guard lock(mutex_);
        metadata_ = std::move(body);
    }
    boost::json::object GoodMetadata() const {
        const std::string o = Origin();
        return boost::json::object{
            {"issuer", o},
            {"authorization_endpoint", o + "/oauth/authorize"},
            {"token_endpoint", o + "/oauth/token"},
            {"revocation_endpoint", o + "/oauth/revoke"},
            {"pushed_authorization_request_endpoint", o + "/oauth/par"},
            {"require_pushed_authorization_requests", true},
            {"authorization_response_iss_parameter_supported", true},
            {"client_id_metadata_document_supported", true},
            {"response_types_supported", {"code"}},
            {"grant_types_supported", {"authorization_code", "refresh_token"}},
            {"code_challenge_methods_supported", {"S256"}},
            {"token_endpoint_auth_methods_supported", {"none", "private_key_jwt"}},
            {"token_endpoint_auth_signing_alg_values_supported", {"ES256"}},
            {"dpop_signing_alg_values_supported", {"ES256"}},
            {"scopes_supported", {"atproto", "transition:generic"}},
            {"protected_resources", {o}},
        };
    }
    boost::json::object GoodResource() const {
        return boost::json::object{{"resource", Origin()}, {"authorization_servers", {Origin()}}};
    }
    int par_hits() const { return par_hits_.load(); }
    std::string last_par_body() {
        std::lock_guard lock(mutex_);
        return last_par_body_;
    }

  private:
    http::Router MakeRouter() {
        http::Router router;
        (void)router.Add("GET", "/.well-known/oauth-protected-resource",
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(resource_.first, resource_.second);
                         });
        (void)router.Add("GET", "/.well-known/oauth-authorization-server",
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(200, metadata_);
                         });
        (void)router.Add("POST", "/oauth/par", [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
            par_hits_.fetch_add(1);
            {
                std::lock_guard lock(mutex_);
                last_par_body_ = request.body;
            }
            crypto::DpopExpectation expected;
            expected.htm = "POST";
            expected.htu = Origin() + "/oauth/par";
            expected.nonce = std::string(kNonce);
            auto proof = request.Header("DPoP");
            http::Response response(400);
            response.headers.Set("Content-Type", "application/json");
            response.headers.Set("DPoP-Nonce", kNonce);
            if (!proof) {
                response.body = R"({"error":"invalid_dpop_proof","error_description":"DPoP proof required"})";
                co_return response;
            }
            auto verified = crypto::VerifyDpopProof(*proof, expected, kClock);
            if (!verified && verified.error().code == ErrorCode::kConflict) {
                response.body =
                    R"({"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"})";
                co_return response;
            }
            if (request.body.find("scope=atproto") == std::string::npos) {
                response.body = R"({"error":"invalid_scope","error_description":"The \"atproto\" scope is required"})";
                co_return response;
            }
            if (!verified || request.body.find("code_challenge_method=S256") == std::string::npos) {
                response.body = R"({"error":"invalid_request","error_description":"bad request"})";
                co_return response;
            }
            response.status = 201;
            response.body = R"({"request_uri":"urn:ietf:params:oauth:request_uri:req-0123","expires_in":299})";
            co_return response;
        });
        return router;
    }

    mutable std::mutex mutex_;
    std::pair<int, boost::json::value> resource_{404, boost::json::object{}};
    boost::json::value metadata_ = boost::json::object{};
    std::string last_par_body_;
    std::atomic<int> par_hits_{0};
    net::testing::LocalServer server_;
};

class DiscoveryTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);  // before the server starts: no listen/stop lines
        server_ = std::make_unique<FakeAuthServer>();
        ASSERT_TRUE(server_->ok());
        auto policy = net::PrivateNetworkPolicy::Parse(server_->AllowEntry());
        ASSERT_TRUE(policy) << policy.error().ToString();
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        client_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        server_->SetProtectedResource(200, server_->GoodResource());
        server_->SetMetadata(server_->GoodMetadata());
    }
    void TearDown() override {
        server_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    void ExpectAuthServerInvalid(const Result<Discovery>& result) {
        ASSERT_FALSE(result.has_value());
        EXPECT_EQ(result.error().code, ErrorCode::kProtocol);
        EXPECT_EQ(result.error().detail.rfind(kAuthServerInvalid, 0), 0u) << result.error().detail;
    }
    void ExpectMetadataRefused(const std::function<void(boost::json::object&)>& mutate) {
        auto metadata = server_->GoodMetadata();
        mutate(metadata);
        server_->SetMetadata(metadata);
        ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
    }

    std::unique_ptr<FakeAuthServer> server_;
    std::unique_ptr<net::CurlHttpClient> client_;
};

TEST_F(DiscoveryTest, ValidDocumentsYieldTheEndpoints) {
    auto found = DiscoverFromPds(*client_, server_->Origin() + "/");
    ASSERT_TRUE(found) << found.error().ToString();
    EXPECT_EQ(found->pds_origin, server_->Origin());
    EXPECT_EQ(found->server.issuer, server_->Origin());
    EXPECT_EQ(found->server.pushed_authorization_request_endpoint, server_->Origin() + "/oauth/par");
    EXPECT_EQ(found->server.token_endpoint, server_->Origin() + "/oauth/token");
    EXPECT_EQ(found->server.authorization_endpoint, server_->Origin() + "/oauth/authorize");
    EXPECT_EQ(found->server.revocation_endpoint, server_->Origin() + "/oauth/revoke");
}

TEST_F(DiscoveryTest, MissingProtectedResourceMeansThePdsIsItsOwnServer) {
    server_->SetProtectedResource(404, boost::json::object{});
    auto found = DiscoverFromPds(*client_, server_->Origin());
    ASSERT_TRUE(found) << found.error().ToString();
    EXPECT_EQ(found->server.issuer, server_->Origin());
}

TEST_F(DiscoveryTest, TwoAuthorizationServersAreRefused) {
    auto resource = server_->GoodResource();
    resource["authorization_servers"] = {server_->Origin(), "https://other.example"};
    server_->SetProtectedResource(200, resource);
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
}

TEST_F(DiscoveryTest, ResourceOtherThanThePdsIsRefused) {
    auto resource = server_->GoodResource();
    resource["resource"] = "https://elsewhere.example";
    server_->SetProtectedResource(200, resource);
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
}

TEST_F(DiscoveryTest, AuthorizationServerWithPathIsRefused) {
    auto resource = server_->GoodResource();
    resource["authorization_servers"] = {server_->Origin() + "/as"};
    server_->SetProtectedResource(200, resource);
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
}

TEST_F(DiscoveryTest, NonJsonOrErrorStatusIsRefused) {
    server_->SetProtectedResource(302, boost::json::object{});  // redirects are never followed
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
    server_->SetProtectedResource(500, boost::json::object{});
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
    server_->SetProtectedResource(200, boost::json::array{});
    ExpectAuthServerInvalid(DiscoverFromPds(*client_, server_->Origin()));
}

TEST_F(DiscoveryTest, IssuerMismatchIsRefused) {
    ExpectMetadataRefused([&](auto& m) { m["issuer"] = server_->Origin() + "/"; });
    ExpectMetadataRefused([&](auto& m) { m["issuer"] = "https://evil.example"; });
}

TEST_F(DiscoveryTest, MissingParIsRefused) {
    ExpectMetadataRefused([](auto& m) { m.erase("pushed_authorization_request_endpoint"); });
    ExpectMetadataRefused([](auto& m) { m["require_pushed_authorization_requests"] = false; });
}

TEST_F(DiscoveryTest, MissingCapabilitiesAreRefused) {
    ExpectMetadataRefused([](auto& m) { m["dpop_signing_alg_values_supported"] = {"RS256"}; });
    ExpectMetadataRefused([](auto& m) { m["code_challenge_methods_supported"] = {"plain"}; });
    ExpectMetadataRefused([](auto& m) { m["scopes_supported"] = {"openid"}; });
    ExpectMetadataRefused([](auto& m) { m.erase("authorization_response_iss_parameter_supported"); });
    ExpectMetadataRefused([](auto& m) { m["token_endpoint_auth_methods_supported"] = {"none"}; });
    ExpectMetadataRefused([](auto& m) { m["grant_types_supported"] = {"authorization_code"}; });
    ExpectMetadataRefused([](auto& m) { m.erase("token_endpoint"); });
    ExpectMetadataRefused([](auto& m) { m["token_endpoint"] = "ftp://x.example/token"; });
    ExpectMetadataRefused([](auto& m) { m["protected_resources"] = {"https://other.example"}; });
}

TEST(DiscoveryPolicy, PlainHttpEndpointsAreRefusedWithoutPrivateNetworkPermission) {
    net::CurlHttpClient strict;  // default policy: no http, no private addresses
    auto result = FetchAuthServerMetadata(strict, "http://127.0.0.1:9");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().detail.rfind(kAuthServerInvalid, 0), 0u);
}

TEST_F(DiscoveryTest, ParRetriesOnceWithTheServerNonceAndReturnsTheRequestUri) {
    auto found = DiscoverFromPds(*client_, server_->Origin());
    ASSERT_TRUE(found);
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key);
    auto pkce = GeneratePkce();
    ASSERT_TRUE(pkce);
    ParRequest request;
    request.client_id = "http://localhost";
    request.redirect_uri = "http://127.0.0.1/";
    request.scope = "atproto";
    request.state = GenerateState();
    request.code_challenge = pkce->challenge;
    request.login_hint = "alice.test";
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::nullopt, kClock);
    ASSERT_TRUE(par) << par.error().ToString();
    EXPECT_EQ(par->request_uri, "urn:ietf:params:oauth:request_uri:req-0123");
    EXPECT_EQ(par->expires_in, 299);
    EXPECT_EQ(par->dpop_nonce, std::string(kNonce));
    EXPECT_EQ(server_->par_hits(), 2);
    const auto body = server_->last_par_body();
    EXPECT_NE(body.find("login_hint=alice.test"), std::string::npos);
    EXPECT_NE(body.find("code_challenge=" + pkce->challenge), std::string::npos);
    EXPECT_NE(body.find("client_id=http%3A%2F%2Flocalhost"), std::string::npos);
    EXPECT_EQ(body.find("client_assertion"), std::string::npos);  // public client

    // With the nonce already known, one request suffices.
    auto again = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, par->dpop_nonce, kClock);
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_EQ(server_->par_hits(), 3);
    EXPECT_EQ(AuthorizationRedirectUrl(found->server, "http://localhost", again->request_uri),
              server_->Origin() +
                  "/oauth/authorize?client_id=http%3A%2F%2Flocalhost&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_"
                  "uri%3Areq-0123");
}

TEST_F(DiscoveryTest, ConfidentialParCarriesAFreshClientAssertion) {
    auto found = DiscoverFromPds(*client_, server_->Origin());
    ASSERT_TRUE(found);
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    auto client_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key && client_key);
    ParRequest request;
    request.client_id = "https://music.example/oauth-client-metadata.json";
    request.redirect_uri = "https://music.example/auth/callback";
    request.scope = "atproto";
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    request.client_auth = ClientAuth{&*client_key, "k1"};
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::string(kNonce), kClock);
    ASSERT_TRUE(par) << par.error().ToString();
    const auto body = server_->last_par_body();
    EXPECT_NE(body.find("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"),
              std::string::npos);
    EXPECT_NE(body.find("&client_assertion=ey"), std::string::npos);
}

TEST_F(DiscoveryTest, StaleNonceIsReplacedAndRetriedOnce) {
    auto found = DiscoverFromPds(*client_, server_->Origin());
    ASSERT_TRUE(found);
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key);
    ParRequest request;
    request.client_id = "http://localhost";
    request.redirect_uri = "http://127.0.0.1/";
    request.scope = "atproto";
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::string("stale"), kClock);
    ASSERT_TRUE(par) << par.error().ToString();
    EXPECT_EQ(server_->par_hits(), 2);
    EXPECT_EQ(par->dpop_nonce, std::string(kNonce));
}

TEST_F(DiscoveryTest, ParErrorsCarryTheServerErrorWithoutRetrying) {
    auto found = DiscoverFromPds(*client_, server_->Origin());
    ASSERT_TRUE(found);
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key);
    ParRequest request;
    request.client_id = "http://localhost";
    request.redirect_uri = "http://127.0.0.1/";
    request.scope = "repo:fm.plyr.track";
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::string(kNonce), kClock);
    ASSERT_FALSE(par);
    EXPECT_EQ(par.error().code, ErrorCode::kProtocol);
    EXPECT_NE(par.error().detail.find("par_rejected: status 400 invalid_scope"), std::string::npos)
        << par.error().detail;
    EXPECT_EQ(server_->par_hits(), 1);
}

TEST(AuthorizationRedirect, CarriesOnlyClientIdAndRequestUriAndKeepsAnEndpointQuery) {
    AuthServerMetadata server;
    server.authorization_endpoint = "https://as.example/oauth/authorize";
    EXPECT_EQ(AuthorizationRedirectUrl(server, "https://app.example/client.json", "urn:x:req-1"),
              "https://as.example/oauth/authorize?client_id=https%3A%2F%2Fapp.example%2Fclient.json"
              "&request_uri=urn%3Ax%3Areq-1");
    server.authorization_endpoint = "https://as.example/authorize?tenant=a";
    EXPECT_EQ(AuthorizationRedirectUrl(server, "c", "r"),
              "https://as.example/authorize?tenant=a&client_id=c&request_uri=r");
    server.authorization_endpoint = "https://as.example/authorize?";
    EXPECT_EQ(AuthorizationRedirectUrl(server, "c", "r"), "https://as.example/authorize?client_id=c&request_uri=r");
}

}  // namespace
}  // namespace plyr::atproto::oauth
