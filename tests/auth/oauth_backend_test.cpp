// HttpOAuthBackend's own behaviour over a scripted HttpClient: the PAR transport retry of product.md §6.1
// step 5 (the protocol itself is tested in atproto/oauth against a stand-in authorization server).
#include "auth/oauth_backend.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <utility>

#include "core/clock.hpp"

namespace plyr::auth {
namespace {

namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;

// Answers each Send with the next scripted result and counts the calls.
class ScriptedHttp final : public net::HttpClient {
  public:
    Result<net::HttpResponse> Send(const net::HttpRequest&) override {
        ++calls;
        if (script.empty()) return Fail(ErrorCode::kInternal, "script exhausted");
        auto next = std::move(script.front());
        script.pop_front();
        return next;
    }
    const net::PrivateNetworkPolicy& policy() const override { return policy_; }

    std::deque<Result<net::HttpResponse>> script;
    int calls = 0;

  private:
    net::PrivateNetworkPolicy policy_;
};

net::HttpResponse ParCreated() {
    net::HttpResponse response;
    response.status = 201;
    response.headers.emplace_back("content-type", "application/json");
    response.body = R"({"request_uri":"urn:ietf:params:oauth:request_uri:req-1","expires_in":299})";
    return response;
}

class ParRetryTest : public ::testing::Test {
  protected:
    ParRetryTest() {
        server_.issuer = "https://as.example";
        server_.pushed_authorization_request_endpoint = "https://as.example/oauth/par";
        server_.authorization_endpoint = "https://as.example/oauth/authorize";
        request_.client_id = "https://app.example/oauth-client-metadata.json";
        request_.redirect_uri = "https://app.example/auth/callback";
        request_.scope = "atproto";
        request_.state = "state";
        request_.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        backend_.set_par_retry_delay(std::chrono::milliseconds(1));
    }

    Result<oauth::ParResponse> Push() {
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        EXPECT_TRUE(key);
        return backend_.PushAuthorization(server_, request_, *key);
    }

    ScriptedHttp http_;
    core::SystemClock clock_;
    HttpOAuthBackend backend_{http_, clock_};
    oauth::AuthServerMetadata server_;
    oauth::ParRequest request_;
};

TEST_F(ParRetryTest, TransportFailuresAreRetriedUntilThePushSucceeds) {
    http_.script.push_back(Fail(ErrorCode::kUnavailable, "connection reset"));
    http_.script.push_back(Fail(ErrorCode::kTimeout, "timed out"));
    http_.script.push_back(ParCreated());
    auto par = Push();
    ASSERT_TRUE(par) << par.error().ToString();
    EXPECT_EQ(par->request_uri, "urn:ietf:params:oauth:request_uri:req-1");
    EXPECT_EQ(http_.calls, 3);
}

TEST_F(ParRetryTest, ThreeTransportFailuresGiveUpWithTheTransportError) {
    for (int i = 0; i < 5; ++i) http_.script.push_back(Fail(ErrorCode::kUnavailable, "connection refused"));
    auto par = Push();
    ASSERT_FALSE(par);
    EXPECT_EQ(par.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(http_.calls, HttpOAuthBackend::kParAttempts);
}

TEST_F(ParRetryTest, RefusalsAndSsrfBlocksAreNotRetried) {
    net::HttpResponse refused;
    refused.status = 400;
    refused.headers.emplace_back("content-type", "application/json");
    refused.body = R"({"error":"invalid_scope","error_description":"nope"})";
    http_.script.push_back(refused);
    auto par = Push();
    ASSERT_FALSE(par);
    EXPECT_EQ(par.error().code, ErrorCode::kProtocol);
    EXPECT_EQ(http_.calls, 1);

    http_.script.push_back(Fail(ErrorCode::kPermissionDenied, "private address", "ssrf_blocked: 10.0.0.1"));
    par = Push();
    ASSERT_FALSE(par);
    EXPECT_EQ(par.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(http_.calls, 2);
}

}  // namespace
}  // namespace plyr::auth
