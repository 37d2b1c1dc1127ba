#include "atproto/crypto/oauth_jwt.hpp"

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "test_data.hpp"

namespace plyr::atproto::crypto {
namespace {

using testing::LoadJson;
using testing::Str;

constexpr std::int64_t kVectorIat = 1767225600;
constexpr std::int64_t kMicros = 1'000'000;

const boost::json::object& Dpop() {
    static const boost::json::object dpop =
        LoadJson("atproto-generated/vectors.json").as_object().at("dpop").as_object();
    return dpop;
}

DpopExpectation ResourceServerExpectation() {
    DpopExpectation e;
    e.htm = "GET";
    e.htu = "https://pds.example.com/xrpc/com.atproto.repo.getRecord?repo=x";
    e.nonce = "server-nonce-2";
    e.access_token = "example-access-token-abc123";
    return e;
}

DpopExpectation AuthorizationServerExpectation() {
    DpopExpectation e;
    e.htm = "POST";
    e.htu = "https://auth.example.com/oauth/par";
    e.nonce = "server-nonce-1";
    return e;
}

core::ManualClock ClockAt(std::int64_t seconds) { return core::ManualClock(seconds * kMicros); }

TEST(VerifyDpopProof, ResourceServerVectorVerifiesIgnoringTheQuery) {
    auto verified = VerifyDpopProof(Str(Dpop().at("proof_to_resource_server")), ResourceServerExpectation(),
                                    ClockAt(kVectorIat + 5));
    ASSERT_TRUE(verified) << verified.error().ToString();
    EXPECT_EQ(verified->jkt, Str(Dpop().at("jwk_thumbprint_jkt")));
    EXPECT_EQ(verified->key.DidKey(), Str(Dpop().at("public_did_key")));
    EXPECT_EQ(verified->jti, "x7Qw2pLm9Z");
    EXPECT_EQ(verified->payload.at("ath"), Dpop().at("ath"));
}

TEST(VerifyDpopProof, ResourceServerVectorFailsEveryMismatch) {
    const std::string proof = Str(Dpop().at("proof_to_resource_server"));
    const auto clock = ClockAt(kVectorIat + 5);
    auto expect_failure = [&](const DpopExpectation& e, ErrorCode code, const core::Clock& c) {
        auto result = VerifyDpopProof(proof, e, c);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().code, code) << result.error().message;
    };
    auto e = ResourceServerExpectation();
    e.htm = "POST";
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.htm = "get";  // method comparison is case-sensitive
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.htu = "https://pds.example.com/xrpc/com.atproto.repo.listRecords";
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.htu = "https://pds.example.com/xrpc/com.atproto.repo.getRecord/";  // trailing slash is not forgiven
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.access_token = "another-access-token";
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.access_token.reset();  // a token-less request must not carry ath
    expect_failure(e, ErrorCode::kPermissionDenied, clock);
    e = ResourceServerExpectation();
    e.nonce = "server-nonce-3";
    expect_failure(e, ErrorCode::kConflict, clock);  // → use_dpop_nonce
    expect_failure(ResourceServerExpectation(), ErrorCode::kPermissionDenied, ClockAt(kVectorIat + 400));
    expect_failure(ResourceServerExpectation(), ErrorCode::kPermissionDenied, ClockAt(kVectorIat - 200));
    // The reference window: −190 s … +180 s around now.
    EXPECT_TRUE(VerifyDpopProof(proof, ResourceServerExpectation(), ClockAt(kVectorIat + 190)));
    EXPECT_FALSE(VerifyDpopProof(proof, ResourceServerExpectation(), ClockAt(kVectorIat + 191)));
    EXPECT_TRUE(VerifyDpopProof(proof, ResourceServerExpectation(), ClockAt(kVectorIat - 180)));
    EXPECT_FALSE(VerifyDpopProof(proof, ResourceServerExpectation(), ClockAt(kVectorIat - 181)));
}

TEST(VerifyDpopProof, AuthorizationServerVectorVerifiesAndRefusesAPresentedToken) {
    const std::string proof = Str(Dpop().at("proof_to_authorization_server"));
    auto verified = VerifyDpopProof(proof, AuthorizationServerExpectation(), ClockAt(kVectorIat + 5));
    ASSERT_TRUE(verified) << verified.error().ToString();
    EXPECT_EQ(verified->jkt, Str(Dpop().at("jwk_thumbprint_jkt")));
    auto with_token = AuthorizationServerExpectation();
    with_token.access_token = "example-access-token-abc123";
    EXPECT_FALSE(VerifyDpopProof(proof, with_token, ClockAt(kVectorIat + 5)));
    // No nonce expected yet: the proof's nonce is not checked.
    auto no_nonce = AuthorizationServerExpectation();
    no_nonce.nonce.reset();
    EXPECT_TRUE(VerifyDpopProof(proof, no_nonce, ClockAt(kVectorIat + 5)));
}

TEST(VerifyDpopProof, RefusesWrongTypAndPrivateOrMissingJwk) {
    auto key = PrivateKey::Generate(Curve::kP256);
    ASSERT_TRUE(key);
    boost::json::object payload{{"jti", "j"}, {"htm", "POST"}, {"htu", "https://a.example/x"}, {"iat", kVectorIat}};
    auto expect = [] {
        DpopExpectation e;
        e.htm = "POST";
        e.htu = "https://a.example/x";
        return e;
    }();
    auto clock = ClockAt(kVectorIat);
    auto sign = [&](boost::json::object header) { return *SignJwt(header, payload, *key); };
    EXPECT_TRUE(VerifyDpopProof(sign({{"typ", "dpop+jwt"}, {"jwk", key->Public().ToJwk()}}), expect, clock));
    EXPECT_FALSE(VerifyDpopProof(sign({{"typ", "JWT"}, {"jwk", key->Public().ToJwk()}}), expect, clock));
    EXPECT_FALSE(VerifyDpopProof(sign({{"jwk", key->Public().ToJwk()}}), expect, clock));
    EXPECT_FALSE(VerifyDpopProof(sign({{"typ", "dpop+jwt"}}), expect, clock));
    EXPECT_FALSE(VerifyDpopProof(sign({{"typ", "dpop+jwt"}, {"jwk", key->ToJwk()}}), expect, clock));  // has d
    auto other = PrivateKey::Generate(Curve::kP256);
    ASSERT_TRUE(other);
    EXPECT_FALSE(VerifyDpopProof(sign({{"typ", "dpop+jwt"}, {"jwk", other->Public().ToJwk()}}), expect, clock));
    payload.erase("jti");
    EXPECT_FALSE(VerifyDpopProof(sign({{"typ", "dpop+jwt"}, {"jwk", key->Public().ToJwk()}}), expect, clock));
}

class BuildDpopOnCurve : public ::testing::TestWithParam<Curve> {};

TEST_P(BuildDpopOnCurve, OwnProofHasTheExactShapeAndVerifies) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    auto clock = ClockAt(1'800'000'000);
    DpopRequest request{"POST", "https://pds.example.com/xrpc/com.atproto.repo.createRecord?x=1#f", "n-1",
                        "access-token"};
    auto proof = BuildDpopProof(*key, request, clock);
    ASSERT_TRUE(proof) << proof.error().ToString();
    auto jwt = ParseJwt(*proof);
    ASSERT_TRUE(jwt);
    std::vector<std::string> header_keys;
    for (const auto& member : jwt->header) header_keys.emplace_back(member.key());
    EXPECT_EQ(header_keys, (std::vector<std::string>{"typ", "alg", "jwk"}));
    EXPECT_EQ(jwt->header.at("typ"), "dpop+jwt");
    EXPECT_EQ(jwt->alg(), JwsAlgName(GetParam()));
    EXPECT_EQ(jwt->header.at("jwk").as_object(), key->Public().ToJwk());
    EXPECT_EQ(jwt->signature.size(), kSignatureBytes);
    EXPECT_EQ(jwt->payload.at("htu"), "https://pds.example.com/xrpc/com.atproto.repo.createRecord");
    EXPECT_EQ(jwt->payload.at("iat"), 1'800'000'000);
    EXPECT_EQ(jwt->payload.at("ath").as_string(), AccessTokenHash("access-token"));
    EXPECT_GE(core::Base64UrlDecode(jwt->payload.at("jti").as_string()).value_or("").size(), 12u);  // ≥ 96 bits

    DpopExpectation expected;
    expected.htm = "POST";
    expected.htu = "https://pds.example.com/xrpc/com.atproto.repo.createRecord";
    expected.nonce = "n-1";
    expected.access_token = "access-token";
    auto verified = VerifyDpopProof(*proof, expected, clock);
    ASSERT_TRUE(verified) << verified.error().ToString();
    EXPECT_EQ(verified->jkt, key->Public().JwkThumbprint());
    auto again = BuildDpopProof(*key, request, clock);
    ASSERT_TRUE(again);
    EXPECT_NE(ParseJwt(*again)->payload.at("jti"), jwt->payload.at("jti"));  // fresh jti every proof
}

TEST_P(BuildDpopOnCurve, ProofWithoutTokenOrNonceOmitsThoseClaims) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    auto proof =
        BuildDpopProof(*key, DpopRequest{"POST", "https://auth.example.com/oauth/par", {}, {}}, ClockAt(1'800'000'000));
    ASSERT_TRUE(proof);
    auto jwt = ParseJwt(*proof);
    ASSERT_TRUE(jwt);
    EXPECT_FALSE(jwt->payload.contains("ath"));
    EXPECT_FALSE(jwt->payload.contains("nonce"));
    EXPECT_FALSE(BuildDpopProof(*key, DpopRequest{"", "https://a.example/", {}, {}}, ClockAt(0)));
    EXPECT_FALSE(BuildDpopProof(*key, DpopRequest{"GET", "/relative", {}, {}}, ClockAt(0)));
}

INSTANTIATE_TEST_SUITE_P(Curves, BuildDpopOnCurve, ::testing::Values(Curve::kP256, Curve::kSecp256k1),
                         [](const auto& info) { return info.param == Curve::kP256 ? "ES256" : "ES256K"; });

TEST(NormalizeHtu, ForgivesWhatTheReferenceForgivesAndNothingElse) {
    EXPECT_EQ(NormalizeHtu("HTTPS://PDS.Example.COM:443/xrpc/a.b?x=1#frag").value_or(""),
              "https://pds.example.com/xrpc/a.b");
    EXPECT_EQ(NormalizeHtu("http://localhost:80/x").value_or(""), "http://localhost/x");
    EXPECT_EQ(NormalizeHtu("http://127.0.0.1:2583/x/../y").value_or(""), "http://127.0.0.1:2583/y");
    EXPECT_EQ(NormalizeHtu("https://a.example").value_or(""), "https://a.example/");
    EXPECT_NE(NormalizeHtu("https://a.example/X").value_or(""), NormalizeHtu("https://a.example/x").value_or(""));
    EXPECT_NE(NormalizeHtu("https://a.example/x/").value_or(""), NormalizeHtu("https://a.example/x").value_or(""));
    EXPECT_FALSE(NormalizeHtu("/xrpc/a"));
    EXPECT_FALSE(NormalizeHtu("ftp://a.example/x"));
    EXPECT_FALSE(NormalizeHtu("https://user@a.example/x"));
    EXPECT_FALSE(NormalizeHtu("https:///x"));
    EXPECT_FALSE(NormalizeHtu("not a url"));
}

TEST(BuildClientAssertion, HasTheReferenceClaimsAndVerifies) {
    auto key = PrivateKey::Generate(Curve::kP256);
    ASSERT_TRUE(key);
    auto clock = ClockAt(1'800'000'000);
    ClientAssertionRequest request;
    request.client_id = "https://app.example.com/oauth-client-metadata.json";
    request.issuer = "https://auth.example.com";
    request.kid = "client-key-1";
    auto token = BuildClientAssertion(*key, request, clock);
    ASSERT_TRUE(token) << token.error().ToString();
    auto jwt = ParseJwt(*token);
    ASSERT_TRUE(jwt);
    EXPECT_EQ(jwt->header.at("kid"), "client-key-1");
    EXPECT_EQ(jwt->alg(), "ES256");
    EXPECT_TRUE(VerifyJwtSignature(*jwt, key->Public()));
    EXPECT_EQ(jwt->payload.at("iss").as_string(), request.client_id);
    EXPECT_EQ(jwt->payload.at("sub").as_string(), request.client_id);
    EXPECT_EQ(jwt->payload.at("aud"), "https://auth.example.com");
    EXPECT_EQ(jwt->payload.at("iat"), 1'800'000'000 - 2);  // never in the AS's future
    EXPECT_EQ(jwt->payload.at("exp").as_int64() - jwt->payload.at("iat").as_int64(), 60);
    EXPECT_TRUE(jwt->payload.at("jti").is_string());
    request.kid.clear();
    EXPECT_FALSE(BuildClientAssertion(*key, request, clock));
}

}  // namespace
}  // namespace plyr::atproto::crypto
