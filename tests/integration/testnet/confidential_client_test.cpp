// The testnet's TESTNET_ALLOW_LOOPBACK_CLIENTS opt-in, end to end from C++: plyr's own confidential-client
// metadata document and JWKS (atproto/oauth BuildConfidentialClientMetadata + BuildJwks) are served from a
// plyr http::Server on 127.0.0.1:<port>, and a PAR with a private_key_jwt client assertion and DPoP goes to the
// reference authorization server, which fetches both documents from that port.
// scripts/test.sh starts the testnet with the opt-in; without TESTNET_PDS_URL every test skips, and a testnet
// started without the opt-in fails them (the confidential client would silently go untested otherwise).
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/pkce.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/json.hpp"
#include "local_server.hpp"
#include "support/testnet.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::string_view kScope = "atproto transition:generic";
constexpr std::string_view kKid = "plyr-test-key-1";

// Serves the client metadata document and the JWKS; the documents are set after the port is known and can be
// swapped while running (the opt-in fetches them on every request, uncached).
class ClientDocumentServer {
  public:
    ClientDocumentServer() : server_(MakeRouter()) {}
    bool ok() const { return server_.ok(); }
    std::string Origin() const { return server_.Origin(); }

    void Set(boost::json::object metadata, boost::json::object jwks) {
        std::lock_guard lock(mutex_);
        metadata_ = std::move(metadata);
        jwks_ = std::move(jwks);
    }
    int metadata_hits() const { return metadata_hits_.load(); }
    int jwks_hits() const { return jwks_hits_.load(); }

  private:
    http::Router MakeRouter() {
        http::Router router;
        (void)router.Add("GET", std::string(kClientMetadataPath),
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             metadata_hits_.fetch_add(1);
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(200, metadata_);
                         });
        (void)router.Add("GET", std::string(kJwksPath),
                         [this](http::Request&) -> boost::asio::awaitable<http::Response> {
                             jwks_hits_.fetch_add(1);
                             std::lock_guard lock(mutex_);
                             co_return http::JsonResponse(200, jwks_);
                         });
        return router;
    }

    std::mutex mutex_;
    boost::json::object metadata_;
    boost::json::object jwks_;
    std::atomic<int> metadata_hits_{0};
    std::atomic<int> jwks_hits_{0};
    net::testing::LocalServer server_;
};

class ConfidentialClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto url = plyr::testing::TestnetPdsUrl();
        if (!url) GTEST_SKIP() << "TESTNET_PDS_URL not set (scripts/testnet.sh start)";
        const char* allow = std::getenv("TESTNET_ALLOW_LOOPBACK_CLIENTS");
        ASSERT_TRUE(allow != nullptr && std::string(allow) == "1")
            << "the testnet runs without the opt-in: TESTNET_ALLOW_LOOPBACK_CLIENTS=1 scripts/testnet.sh start <dir>";
        auto client = plyr::testing::ClientAllowingOnly(*url);
        ASSERT_TRUE(client) << client.error().ToString();
        client_ = std::move(*client);
        auto found = DiscoverFromPds(*client_, *url);
        ASSERT_TRUE(found) << found.error().ToString();
        server_ = found->server;

        ASSERT_TRUE(documents_.ok());
        public_url_ = documents_.Origin();  // http://127.0.0.1:<port>
        redirect_uri_ = public_url_ + "/auth/callback";
        auto client_id = ConfidentialClientId(public_url_, /*allow_http=*/true);
        ASSERT_TRUE(client_id) << client_id.error().ToString();
        client_id_ = *client_id;
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        ASSERT_TRUE(key);
        client_key_ = std::make_unique<crypto::PrivateKey>(std::move(*key));
        auto metadata = Metadata();
        ASSERT_TRUE(metadata) << metadata.error().ToString();
        auto jwks = BuildJwks({{std::string(kKid), client_key_->Public()}});
        ASSERT_TRUE(jwks) << jwks.error().ToString();
        documents_.Set(*metadata, *jwks);
    }
    // Before the fixture's document server starts (it logs at info).
    static void SetUpTestSuite() { log::Init(log::Level::kError, log::Format::kJson); }
    static void TearDownTestSuite() { log::Init(log::Level::kInfo, log::Format::kJson); }

    Result<boost::json::object> Metadata() const {
        ConfidentialClientOptions options;
        options.public_url = public_url_;
        options.client_name = "plyr (confidential client test)";
        options.redirect_uris = {redirect_uri_};
        options.scope = std::string(kScope);
        options.allow_http = true;
        return BuildConfidentialClientMetadata(options);
    }

    // A PAR as the confidential client, signing the client assertion with `key` under kKid.
    Result<ParResponse> Par(const crypto::PrivateKey& key) {
        auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        if (!dpop_key) return Fail(dpop_key.error());
        auto pkce = GeneratePkce();
        if (!pkce) return Fail(pkce.error());
        ParRequest request;
        request.client_id = client_id_;
        request.redirect_uri = redirect_uri_;
        request.scope = std::string(kScope);
        request.state = GenerateState();
        request.code_challenge = pkce->challenge;
        request.client_auth = ClientAuth{&key, std::string(kKid)};
        return PushAuthorizationRequest(*client_, server_, request, *dpop_key, std::nullopt, clock_);
    }

    std::unique_ptr<net::CurlHttpClient> client_;
    AuthServerMetadata server_;
    ClientDocumentServer documents_;
    std::string public_url_;
    std::string redirect_uri_;
    std::string client_id_;
    std::unique_ptr<crypto::PrivateKey> client_key_;
    core::SystemClock clock_;
};

TEST_F(ConfidentialClientTest, ParWithClientAssertionIsAcceptedAndTheServerFetchedOurDocuments) {
    ASSERT_EQ(client_id_, public_url_ + "/oauth-client-metadata.json");
    auto par = Par(*client_key_);
    ASSERT_TRUE(par) << par.error().ToString();
    EXPECT_EQ(par->request_uri.rfind("urn:ietf:params:oauth:request_uri:req-", 0), 0u) << par->request_uri;
    EXPECT_GE(par->expires_in, 60);
    // The authorization server read plyr's metadata and JWKS from the loopback port (not some cached copy).
    EXPECT_GE(documents_.metadata_hits(), 1);
    EXPECT_GE(documents_.jwks_hits(), 1);
    // The authorize URL the browser is sent to carries only client_id and request_uri.
    const std::string redirect = AuthorizationRedirectUrl(server_, client_id_, par->request_uri);
    EXPECT_EQ(redirect.rfind(server_.authorization_endpoint + "?client_id=", 0), 0u) << redirect;
}

TEST_F(ConfidentialClientTest, AssertionSignedByAKeyNotInTheJwksIsRefusedAsInvalidClient) {
    auto stranger = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(stranger);
    auto par = Par(*stranger);
    ASSERT_FALSE(par);
    EXPECT_NE(par.error().detail.find("invalid_client"), std::string::npos) << par.error().detail;
}

TEST_F(ConfidentialClientTest, DocumentsAreFetchedUncachedSoAChangedDocumentTakesEffectAtOnce) {
    auto first = Par(*client_key_);
    ASSERT_TRUE(first) << first.error().ToString();
    const int hits = documents_.metadata_hits();

    // Same URL, document now names another client_id: refused on the very next request.
    auto metadata = Metadata();
    ASSERT_TRUE(metadata);
    (*metadata)["client_id"] = public_url_ + "/other-client.json";
    auto jwks = BuildJwks({{std::string(kKid), client_key_->Public()}});
    ASSERT_TRUE(jwks);
    documents_.Set(*metadata, *jwks);
    auto second = Par(*client_key_);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().detail.find("invalid_client_metadata"), std::string::npos) << second.error().detail;
    EXPECT_NE(second.error().detail.find("client_id does not match"), std::string::npos) << second.error().detail;
    EXPECT_GT(documents_.metadata_hits(), hits);
}

TEST_F(ConfidentialClientTest, WebClientWithALocalhostRedirectUriIsStillRefused) {
    // The opt-in admits loopback IP redirect URIs only; "localhost" stays refused (RFC 8252), as in production.
    auto metadata = Metadata();
    ASSERT_TRUE(metadata);
    (*metadata)["redirect_uris"] = boost::json::array{"http://localhost:8001/auth/callback"};
    auto jwks = BuildJwks({{std::string(kKid), client_key_->Public()}});
    ASSERT_TRUE(jwks);
    documents_.Set(*metadata, *jwks);
    auto par = Par(*client_key_);
    ASSERT_FALSE(par);
    EXPECT_NE(par.error().detail.find("par_rejected: status 400"), std::string::npos) << par.error().detail;
    EXPECT_NE(par.error().detail.find("invalid_client_metadata"), std::string::npos) << par.error().detail;
    EXPECT_NE(par.error().detail.find(R"(Use of "localhost" hostname is not allowed)"), std::string::npos)
        << par.error().detail;
}

TEST_F(ConfidentialClientTest, HttpClientIdOnANonLoopbackHostIsNotCoveredByTheOptIn) {
    // 127.0.0.2 is loopback for the kernel but not one of the three names the opt-in admits: the provider's own
    // rule answers, without fetching anything.
    const std::string port = public_url_.substr(public_url_.rfind(':') + 1);
    client_id_ = "http://127.0.0.2:" + port + "/oauth-client-metadata.json";
    auto par = Par(*client_key_);
    ASSERT_FALSE(par);
    EXPECT_NE(par.error().detail.find("Invalid client ID"), std::string::npos) << par.error().detail;
    EXPECT_EQ(documents_.metadata_hits(), 0);
}

}  // namespace
}  // namespace plyr::atproto::oauth
