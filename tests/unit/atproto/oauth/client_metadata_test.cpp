#include "atproto/oauth/client_metadata.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "atproto/oauth/scope.hpp"

namespace plyr::atproto::oauth {
namespace {

ConfidentialClientOptions Options() {
    ConfidentialClientOptions o;
    o.public_url = "https://music.example";
    o.client_name = "plyr";
    o.redirect_uris = {"https://music.example/auth/callback"};
    o.scope = BaseScope("fm.plyr");
    return o;
}

TEST(ClientMetadata, ConfidentialDocumentHasTheAtprotoProfileFields) {
    auto doc = BuildConfidentialClientMetadata(Options());
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->at("client_id").as_string(), "https://music.example/oauth-client-metadata.json");
    EXPECT_EQ(doc->at("jwks_uri").as_string(), "https://music.example/.well-known/jwks.json");
    EXPECT_EQ(doc->at("client_uri").as_string(), "https://music.example");
    EXPECT_EQ(doc->at("client_name").as_string(), "plyr");
    EXPECT_EQ(doc->at("application_type").as_string(), "web");
    EXPECT_EQ(doc->at("token_endpoint_auth_method").as_string(), "private_key_jwt");
    EXPECT_EQ(doc->at("token_endpoint_auth_signing_alg").as_string(), "ES256");
    EXPECT_TRUE(doc->at("dpop_bound_access_tokens").as_bool());
    EXPECT_EQ(boost::json::serialize(doc->at("grant_types")), R"(["authorization_code","refresh_token"])");
    EXPECT_EQ(boost::json::serialize(doc->at("response_types")), R"(["code"])");
    EXPECT_EQ(boost::json::serialize(doc->at("redirect_uris")), R"(["https://music.example/auth/callback"])");
    EXPECT_EQ(doc->at("scope").as_string(), BaseScope("fm.plyr"));
    EXPECT_FALSE(doc->contains("jwks"));  // exactly one of jwks / jwks_uri
}

TEST(ClientMetadata, TrailingSlashOnPublicUrlIsDropped) {
    auto o = Options();
    o.public_url = "https://music.example/";
    EXPECT_EQ(BuildConfidentialClientMetadata(o)->at("client_id").as_string(),
              "https://music.example/oauth-client-metadata.json");
}

TEST(ClientMetadata, InvalidConfigurationIsRefused) {
    auto http = Options();
    http.public_url = "http://music.example";
    EXPECT_EQ(BuildConfidentialClientMetadata(http).error().code, ErrorCode::kConfig);
    http.allow_http = true;
    http.redirect_uris = {"http://music.example/auth/callback"};
    EXPECT_TRUE(BuildConfidentialClientMetadata(http));

    auto path = Options();
    path.public_url = "https://music.example/app";
    EXPECT_FALSE(BuildConfidentialClientMetadata(path));

    auto foreign = Options();
    foreign.redirect_uris = {"https://evil.example/auth/callback"};
    EXPECT_FALSE(BuildConfidentialClientMetadata(foreign));

    auto none = Options();
    none.redirect_uris.clear();
    EXPECT_FALSE(BuildConfidentialClientMetadata(none));

    auto no_atproto = Options();
    no_atproto.scope = "repo:fm.plyr.track";
    EXPECT_FALSE(BuildConfidentialClientMetadata(no_atproto));
}

TEST(Jwks, PublishesPublicMembersWithKidAlgUse) {
    auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    ASSERT_TRUE(key);
    auto jwks = BuildJwks({{"2026-01-key1", key->Public()}});
    ASSERT_TRUE(jwks);
    const auto& keys = jwks->at("keys").as_array();
    ASSERT_EQ(keys.size(), 1u);
    const auto& jwk = keys[0].as_object();
    EXPECT_EQ(jwk.at("kty").as_string(), "EC");
    EXPECT_EQ(jwk.at("crv").as_string(), "P-256");
    EXPECT_EQ(jwk.at("kid").as_string(), "2026-01-key1");
    EXPECT_EQ(jwk.at("alg").as_string(), "ES256");
    EXPECT_EQ(jwk.at("use").as_string(), "sig");
    EXPECT_EQ(jwk.at("x").as_string().size(), 43u);
    EXPECT_EQ(jwk.at("y").as_string().size(), 43u);
    EXPECT_FALSE(jwk.contains("d"));
    auto back = crypto::PublicKey::FromJwk(jwk);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == key->Public());
}

TEST(Jwks, DuplicateKidsAndNonP256KeysAreRefused) {
    auto p256 = crypto::PrivateKey::Generate(crypto::Curve::kP256);
    auto k256 = crypto::PrivateKey::Generate(crypto::Curve::kSecp256k1);
    ASSERT_TRUE(p256 && k256);
    EXPECT_FALSE(BuildJwks({{"a", p256->Public()}, {"a", p256->Public()}}));
    EXPECT_FALSE(BuildJwks({{"", p256->Public()}}));
    EXPECT_FALSE(BuildJwks({{"k", k256->Public()}}));
}

TEST(LoopbackClient, ClientIdCarriesEncodedRedirectAndScope) {
    auto id = BuildLoopbackClientId({"http://127.0.0.1:8080/callback"}, "atproto transition:generic");
    ASSERT_TRUE(id);
    EXPECT_EQ(*id,
              "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcallback&scope=atproto%20transition%"
              "3Ageneric");
    EXPECT_EQ(*BuildLoopbackClientId({}, ""), "http://localhost");
    EXPECT_EQ(*BuildLoopbackClientId({"http://[::1]/cb"}, ""),
              "http://localhost?redirect_uri=http%3A%2F%2F%5B%3A%3A1%5D%2Fcb");
}

TEST(LoopbackClient, LocalhostAndHttpsRedirectsAreRefused) {
    EXPECT_EQ(BuildLoopbackClientId({"http://localhost:8080/callback"}, "atproto").error().code, ErrorCode::kConfig);
    EXPECT_FALSE(BuildLoopbackClientId({"https://127.0.0.1/callback"}, "atproto"));
    EXPECT_FALSE(BuildLoopbackClientId({"http://127.0.0.1/callback"}, "repo:fm.plyr.track"));
}

}  // namespace
}  // namespace plyr::atproto::oauth
