// atproto/oauth against the reference authorization server (@atproto/oauth-provider in the testnet PDS):
// discovery from the PDS URL, then a real PAR as the loopback development client with PKCE S256 and a DPoP
// proof — the first proof carries no nonce, so this also exercises the `use_dpop_nonce` retry on the wire
// (atproto-testnet/oauth-transcript.sample.txt).
#include <cstdlib>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/pkce.hpp"
#include "atproto/oauth/scope.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/http_client.hpp"
#include "support/testnet.hpp"

namespace plyr::atproto::oauth {
namespace {

class OauthTestnetTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto url = plyr::testing::TestnetPdsUrl();
        if (!url) GTEST_SKIP() << "TESTNET_PDS_URL not set (scripts/testnet.sh start)";
        log::Init(log::Level::kError, log::Format::kJson);
        pds_url_ = *url;
        auto client = plyr::testing::ClientAllowingOnly(pds_url_);
        ASSERT_TRUE(client.has_value()) << client.error().ToString();
        client_ = std::move(*client);
    }
    void TearDown() override { log::Init(log::Level::kInfo, log::Format::kJson); }

    std::string pds_url_;
    std::unique_ptr<net::CurlHttpClient> client_;
    core::SystemClock clock_;
};

TEST_F(OauthTestnetTest, DiscoveryFindsTheReferenceAuthorizationServer) {
    auto found = DiscoverFromPds(*client_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    const char* issuer = std::getenv("TESTNET_OAUTH_ISSUER");
    if (issuer != nullptr && *issuer != '\0') {
        EXPECT_EQ(found->server.issuer, issuer);
    }
    EXPECT_EQ(found->server.pushed_authorization_request_endpoint, found->server.issuer + "/oauth/par");
    EXPECT_EQ(found->server.token_endpoint, found->server.issuer + "/oauth/token");
    EXPECT_EQ(found->server.revocation_endpoint, found->server.issuer + "/oauth/revoke");
}

TEST_F(OauthTestnetTest, LoopbackClientParWithPkceAndDpopReturnsARequestUri) {
    auto found = DiscoverFromPds(*client_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    const std::string redirect_uri = "http://127.0.0.1:8001/auth/callback";
    const std::string scope = "atproto transition:generic";
    auto client_id = BuildLoopbackClientId({redirect_uri}, scope);
    ASSERT_TRUE(client_id) << client_id.error().ToString();
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key);
    auto pkce = GeneratePkce();
    ASSERT_TRUE(pkce);

    ParRequest request;
    request.client_id = *client_id;
    request.redirect_uri = redirect_uri;
    request.scope = scope;
    request.state = GenerateState();
    request.code_challenge = pkce->challenge;
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::nullopt, clock_);
    ASSERT_TRUE(par) << par.error().ToString();
    EXPECT_EQ(par->request_uri.rfind("urn:ietf:params:oauth:request_uri:req-", 0), 0u) << par->request_uri;
    EXPECT_GE(par->expires_in, 60);
    ASSERT_TRUE(par->dpop_nonce.has_value());  // the challenge handed one out
    EXPECT_FALSE(par->dpop_nonce->empty());

    // The nonce is reusable for the next request to the same origin: no second challenge needed.
    request.state = GenerateState();
    auto again = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, par->dpop_nonce, clock_);
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_NE(again->request_uri, par->request_uri);
}

TEST_F(OauthTestnetTest, ScopeNotDeclaredByTheLoopbackClientIsRefusedAsInvalidScope) {
    auto found = DiscoverFromPds(*client_, pds_url_);
    ASSERT_TRUE(found) << found.error().ToString();
    const std::string redirect_uri = "http://127.0.0.1:8001/auth/callback";
    auto client_id = BuildLoopbackClientId({redirect_uri}, "atproto");
    ASSERT_TRUE(client_id);
    auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(dpop_key);
    ParRequest request;
    request.client_id = *client_id;
    request.redirect_uri = redirect_uri;
    request.scope = BaseScope("fm.plyr");  // not in the client id's declared scope
    request.state = GenerateState();
    request.code_challenge = GeneratePkce()->challenge;
    auto par = PushAuthorizationRequest(*client_, found->server, request, *dpop_key, std::nullopt, clock_);
    ASSERT_FALSE(par);
    EXPECT_NE(par.error().detail.find("invalid_scope"), std::string::npos) << par.error().detail;
}

}  // namespace
}  // namespace plyr::atproto::oauth
