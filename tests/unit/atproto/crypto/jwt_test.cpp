#include "atproto/crypto/jwt.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <optional>

#include <boost/json/serialize.hpp>

#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "test_data.hpp"

namespace plyr::atproto::crypto {
namespace {

using testing::Hex;
using testing::LoadJson;
using testing::Str;

constexpr std::int64_t kVectorIat = 1767225600;  // 2026-01-01T00:00:00Z, the generated vectors' iat
constexpr std::int64_t kMicros = 1'000'000;

JwtTimeRules Rules(std::int64_t leeway, bool require_exp = false, bool require_iat = false,
                   std::optional<std::int64_t> max_age = std::nullopt) {
    JwtTimeRules rules;
    rules.leeway_seconds = leeway;
    rules.require_exp = require_exp;
    rules.require_iat = require_iat;
    rules.max_age_seconds = max_age;
    return rules;
}

const boost::json::object& Vectors() {
    static const boost::json::object vectors = LoadJson("atproto-generated/vectors.json").as_object();
    return vectors;
}
const boost::json::object& Dpop() { return Vectors().at("dpop").as_object(); }

PrivateKey K256Key() {
    return *PrivateKey::FromBytes(Curve::kSecp256k1,
                                  Hex("9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c"));
}

std::string Segment(std::string_view json) { return core::Base64UrlEncode(json); }

// A token with the given raw header and payload JSON and a well-formed (but not valid) 64-byte signature.
std::string RawToken(std::string_view header, std::string_view payload, std::string signature = std::string(64, 'x')) {
    return Segment(header) + "." + Segment(payload) + "." + core::Base64UrlEncode(signature);
}

TEST(DpopVector, ResourceServerProofVerifiesWithItsEmbeddedJwk) {
    auto jwt = ParseJwt(Str(Dpop().at("proof_to_resource_server")));
    ASSERT_TRUE(jwt) << jwt.error().ToString();
    EXPECT_EQ(jwt->header.at("typ"), "dpop+jwt");
    EXPECT_EQ(jwt->alg(), "ES256");
    auto key = PublicKey::FromJwk(jwt->header.at("jwk").as_object());
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_EQ(key->ToJwk(), Dpop().at("public_jwk").as_object());
    EXPECT_EQ(key->DidKey(), Str(Dpop().at("public_did_key")));
    EXPECT_EQ(key->JwkThumbprint(), Str(Dpop().at("jwk_thumbprint_jkt")));
    EXPECT_TRUE(VerifyJwtSignature(*jwt, *key));
    // ath binds the proof to the access token.
    EXPECT_EQ(AccessTokenHash(Str(Dpop().at("access_token"))), Str(Dpop().at("ath")));
    EXPECT_EQ(jwt->payload.at("ath"), Dpop().at("ath"));
    EXPECT_NE(AccessTokenHash("another-token"), Str(Dpop().at("ath")));
    EXPECT_EQ(jwt->payload.at("htm"), "GET");
    EXPECT_EQ(jwt->payload.at("nonce"), "server-nonce-2");

    JwtTimeRules rules = Rules(10, false, true, 180);
    EXPECT_TRUE(CheckJwtTimes(jwt->payload, core::ManualClock((kVectorIat + 5) * kMicros), rules));
    auto stale = CheckJwtTimes(jwt->payload, core::ManualClock((kVectorIat + 400) * kMicros), rules);
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().code, ErrorCode::kPermissionDenied);
    EXPECT_FALSE(CheckJwtTimes(jwt->payload, core::ManualClock((kVectorIat - 60) * kMicros), rules));
}

TEST(DpopVector, AnyChangedPayloadByteBreaksTheSignature) {
    std::string token = Str(Dpop().at("proof_to_resource_server"));
    auto jwt = ParseJwt(token);
    ASSERT_TRUE(jwt);
    auto key = PublicKey::FromJwk(jwt->header.at("jwk").as_object());
    ASSERT_TRUE(key);
    std::string payload = *core::Base64UrlDecode(jwt->payload_segment);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        std::string changed = payload;
        changed[i] = changed[i] == '1' ? '2' : '1';
        auto tampered = ParseJwt(jwt->header_segment + "." + Segment(changed) + "." + jwt->signature_segment);
        if (!tampered) continue;  // no longer JSON: refused before any signature check
        EXPECT_FALSE(VerifyJwtSignature(*tampered, *key)) << i;
    }
}

TEST(DpopVector, AuthorizationServerProofVerifiesAndCarriesNoAth) {
    auto jwt = ParseJwt(Str(Dpop().at("proof_to_authorization_server")));
    ASSERT_TRUE(jwt) << jwt.error().ToString();
    auto key = PublicKey::FromJwk(jwt->header.at("jwk").as_object());
    ASSERT_TRUE(key);
    EXPECT_TRUE(VerifyJwtSignature(*jwt, *key));
    EXPECT_FALSE(jwt->payload.contains("ath"));
    EXPECT_EQ(jwt->payload.at("htu"), "https://auth.example.com/oauth/par");
}

TEST(DpopVector, Rfc9449ThumbprintAndAthExamples) {
    const auto& rfc = Dpop().at("rfc9449_vectors").as_object();
    auto jkt = JwkThumbprint(rfc.at("jwk").as_object());
    ASSERT_TRUE(jkt) << jkt.error().ToString();
    EXPECT_EQ(*jkt, Str(rfc.at("jkt")));
    EXPECT_EQ(*jkt, "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
    EXPECT_EQ(AccessTokenHash(Str(rfc.at("access_token"))), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

TEST(ClientAssertionVector, VerifiesWithThePublishedJwkAndHasTheExpectedClaims) {
    const auto& assertion = Vectors().at("client_assertion").as_object();
    auto jwt = ParseJwt(Str(assertion.at("jwt")));
    ASSERT_TRUE(jwt) << jwt.error().ToString();
    auto key = PublicKey::FromJwk(assertion.at("verifying_public_jwk").as_object());  // has kid, alg, use
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_TRUE(VerifyJwtSignature(*jwt, *key));
    EXPECT_EQ(jwt->header.at("kid"), assertion.at("verifying_public_jwk").at("kid"));
    const auto& claims = jwt->payload;
    EXPECT_EQ(claims.at("iss"), claims.at("sub"));
    EXPECT_EQ(claims.at("iss"), "https://app.example.com/oauth-client-metadata.json");
    EXPECT_EQ(claims.at("aud"), "https://auth.example.com");
    EXPECT_EQ(claims.at("exp").as_int64() - claims.at("iat").as_int64(), 60);
    JwtTimeRules rules = Rules(0, false, true, 60);
    EXPECT_TRUE(CheckJwtTimes(claims, core::ManualClock((kVectorIat + 30) * kMicros), rules));
    EXPECT_FALSE(CheckJwtTimes(claims, core::ManualClock((kVectorIat + 60) * kMicros), rules));  // exp reached
    EXPECT_FALSE(CheckJwtTimes(claims, core::ManualClock((kVectorIat - 1) * kMicros), rules));   // iat in future
}

TEST(IndependentJwts, TokensSignedByPythonCryptographyVerify) {
    auto tokens = LoadJson("atproto-crypto/python_jwts.json").as_array();
    ASSERT_EQ(tokens.size(), 2u);
    for (const auto& item : tokens) {
        const auto& t = item.as_object();
        SCOPED_TRACE(Str(t.at("alg")));
        auto payload =
            VerifyJwt(Str(t.at("jwt")), Str(t.at("did_key")), core::ManualClock((kVectorIat + 1) * kMicros), {});
        ASSERT_TRUE(payload) << payload.error().ToString();
        EXPECT_EQ(*payload, t.at("payload").as_object());
        // Expired one minute later.
        EXPECT_FALSE(
            VerifyJwt(Str(t.at("jwt")), Str(t.at("did_key")), core::ManualClock((kVectorIat + 60 + 31) * kMicros), {}));
    }
    // The ES256K token checked against the P-256 key: alg and key disagree.
    auto mismatch = VerifyJwt(Str(tokens[0].at("jwt")), Str(tokens[1].at("did_key")),
                              core::ManualClock((kVectorIat + 1) * kMicros), {});
    ASSERT_FALSE(mismatch);
    EXPECT_EQ(mismatch.error().code, ErrorCode::kPermissionDenied);
}

class SignJwtOnCurve : public ::testing::TestWithParam<Curve> {};

TEST_P(SignJwtOnCurve, SignedTokensParseVerifyAndReserialiseUnchanged) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    boost::json::object header{{"typ", "JWT"}};
    boost::json::object payload{{"iss", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}, {"iat", 1700000000}, {"n", "é☎"}};
    auto token = SignJwt(header, payload, *key);
    ASSERT_TRUE(token) << token.error().ToString();
    auto jwt = ParseJwt(*token);
    ASSERT_TRUE(jwt) << jwt.error().ToString();
    EXPECT_EQ(jwt->Serialize(), *token);
    EXPECT_EQ(jwt->alg(), JwsAlgName(GetParam()));
    EXPECT_EQ(jwt->header.begin()->key(), "alg");  // inserted first
    EXPECT_EQ(jwt->header.at("typ"), "JWT");
    EXPECT_EQ(jwt->payload, payload);
    EXPECT_EQ(jwt->signature.size(), kSignatureBytes);
    EXPECT_TRUE(VerifyJwtSignature(*jwt, key->Public()));
    auto verified = VerifyJwt(*token, key->Public().DidKey(), core::ManualClock(1700000000 * kMicros), {});
    ASSERT_TRUE(verified);
    EXPECT_EQ(*verified, payload);
    auto other = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(other);
    EXPECT_FALSE(VerifyJwtSignature(*jwt, other->Public()));
}

TEST_P(SignJwtOnCurve, HeaderAlgMustMatchTheSigningKey) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    std::string_view other = GetParam() == Curve::kP256 ? "ES256K" : "ES256";
    EXPECT_FALSE(SignJwt({{"alg", other}}, {}, *key));
    EXPECT_FALSE(SignJwt({{"alg", "none"}}, {}, *key));
    EXPECT_TRUE(SignJwt({{"alg", JwsAlgName(GetParam())}}, {}, *key));
}

INSTANTIATE_TEST_SUITE_P(Curves, SignJwtOnCurve, ::testing::Values(Curve::kP256, Curve::kSecp256k1),
                         [](const auto& info) { return info.param == Curve::kP256 ? "ES256" : "ES256K"; });

TEST(ParseJwt, RefusesUnsignedAndForeignAlgorithms) {
    auto none = ParseJwt(Segment(R"({"alg":"none"})") + "." + Segment("{}") + ".");
    ASSERT_FALSE(none);
    auto none_signed = ParseJwt(RawToken(R"({"alg":"none"})", "{}"));
    ASSERT_FALSE(none_signed);
    EXPECT_EQ(none_signed.error().code, ErrorCode::kUnsupported);
    for (std::string_view alg : {"HS256", "RS256", "ES384", "EdDSA", "es256", "ES256 "}) {
        auto jwt = ParseJwt(RawToken(R"({"alg":")" + std::string(alg) + R"("})", "{}"));
        ASSERT_FALSE(jwt) << alg;
        EXPECT_EQ(jwt.error().code, ErrorCode::kUnsupported) << alg;
    }
    EXPECT_FALSE(ParseJwt(RawToken(R"({"typ":"JWT"})", "{}")));
    EXPECT_FALSE(ParseJwt(RawToken(R"({"alg":256})", "{}")));
    auto crit = ParseJwt(RawToken(R"({"alg":"ES256","crit":["b64"],"b64":false})", "{}"));
    ASSERT_FALSE(crit);
    EXPECT_EQ(crit.error().code, ErrorCode::kUnsupported);
    EXPECT_FALSE(ParseJwt(RawToken(R"({"alg":"ES256","typ":1})", "{}")));
    EXPECT_FALSE(ParseJwt(RawToken(R"({"alg":"ES256","kid":null})", "{}")));
    EXPECT_FALSE(ParseJwt(RawToken(R"({"alg":"ES256","jwk":"x"})", "{}")));
    EXPECT_TRUE(ParseJwt(RawToken(R"({"alg":"ES256","typ":"JWT","kid":"k"})", "{}")));
    EXPECT_TRUE(ParseJwt(RawToken(R"({"alg":"ES256K"})", "{}")));
}

TEST(ParseJwt, RefusesMalformedStructure) {
    const std::string ok = RawToken(R"({"alg":"ES256"})", R"({"a":1})");
    ASSERT_TRUE(ParseJwt(ok));
    auto first_dot = ok.find('.');
    for (const std::string& bad : {
             std::string(),
             std::string("."),
             std::string(".."),
             ok.substr(0, ok.rfind('.')),                                    // two segments
             ok + ".",                                                       // four segments
             ok + "." + ok.substr(ok.rfind('.') + 1),                        // four segments
             "." + ok.substr(first_dot + 1),                                 // empty header
             ok.substr(0, first_dot) + ".." + ok.substr(ok.rfind('.') + 1),  // empty payload
             ok.substr(0, ok.rfind('.') + 1),                                // empty signature
             ok + "=",                                                       // padding
             " " + ok,                                                       // whitespace
             ok + "\n",
             RawToken(R"({"alg":"ES256"})", "[]"),                // payload not an object
             RawToken(R"(["ES256"])", "{}"),                      // header not an object
             RawToken(R"({"alg":"ES256"})", R"({"a":1,})"),       // trailing comma
             RawToken(R"({"alg":"ES256"})", "{\"a\":\"\xff\"}"),  // invalid UTF-8
             RawToken(R"({"alg":"ES256"})", R"({"a":1})", std::string(63, 'x')),
             RawToken(R"({"alg":"ES256"})", R"({"a":1})", std::string(65, 'x')),
         }) {
        auto jwt = ParseJwt(bad);
        EXPECT_FALSE(jwt) << bad;
        if (!jwt) {
            EXPECT_EQ(jwt.error().code, ErrorCode::kInvalidArgument) << bad;
        }
    }
    // Segments use base64url, not standard base64.
    std::string standard = ok;
    std::string payload_b64 = core::Base64Encode(R"({"a":"???>>>"})");
    EXPECT_FALSE(ParseJwt(Segment(R"({"alg":"ES256"})") + "." + payload_b64 + "." +
                          core::Base64UrlEncode(std::string(64, 'x'))));
}

TEST(ParseJwt, RefusesDerSignatures) {
    // The interop DER-encoded P-256 signature (70 bytes) in a JWT.
    std::string der = testing::Base64Any(
        "MEQCIFxYelWJ9lNcAVt+jK0y/T+DC/X4ohFZ+m8f9SEItkY1AiACX7eXz5sgtaRrz/SdPR8kprnbHMQVde0T2R8yOTBweA");
    auto jwt = ParseJwt(RawToken(R"({"alg":"ES256"})", "{}", der));
    ASSERT_FALSE(jwt);
    EXPECT_EQ(jwt.error().code, ErrorCode::kInvalidArgument);
}

TEST(ParseJwt, RefusesHighSSignaturesAtVerification) {
    auto key = K256Key();
    auto token = SignJwt({}, {{"x", 1}}, key);
    ASSERT_TRUE(token);
    auto jwt = ParseJwt(*token);
    ASSERT_TRUE(jwt);
    // s' = n - s: mathematically valid, refused by the atproto low-S rule.
    std::string n = Hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
    std::string high = jwt->signature.substr(0, 32);
    std::string s = jwt->signature.substr(32);
    std::string flipped(32, '\0');
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        int d = int(std::uint8_t(n[i])) - int(std::uint8_t(s[i])) - borrow;
        borrow = d < 0;
        flipped[i] = char(d < 0 ? d + 256 : d);
    }
    auto high_jwt = ParseJwt(jwt->SigningInput() + "." + core::Base64UrlEncode(high + flipped));
    ASSERT_TRUE(high_jwt);
    EXPECT_FALSE(VerifyJwtSignature(*high_jwt, key.Public()));
}

TEST(ParseJwt, BoundsSizeAndNesting) {
    std::string big(kMaxJwtBytes, 'a');
    auto too_large = ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"a":")" + big + R"("})"));
    ASSERT_FALSE(too_large);
    EXPECT_EQ(too_large.error().code, ErrorCode::kTooLarge);
    std::string deep = std::string(kMaxJwtJsonDepth + 1, '[') + std::string(kMaxJwtJsonDepth + 1, ']');
    EXPECT_FALSE(ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"a":)" + deep + "}")));
    std::string shallow = std::string(kMaxJwtJsonDepth - 2, '[') + std::string(kMaxJwtJsonDepth - 2, ']');
    EXPECT_TRUE(ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"a":)" + shallow + "}")));
}

TEST(ParseJwt, RefusesNumbersOutsideTheDoubleRange) {
    // Found by the jwt fuzz target: Boost.JSON reads 0e400 as NaN and 1e400 as infinity.
    for (std::string_view number : {"1e400", "-1e400", "0e400"}) {
        auto jwt = ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"n":[)" + std::string(number) + "]}"));
        ASSERT_FALSE(jwt) << number;
        EXPECT_EQ(jwt.error().code, ErrorCode::kInvalidArgument);
    }
    EXPECT_TRUE(ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"n":1.5e300})")));
}

TEST(ParseJwt, RefusesRepeatedMemberNamesAtAnyDepth) {
    for (auto [header, payload] : std::initializer_list<std::pair<std::string_view, std::string_view>>{
             {R"({"alg":"none","alg":"ES256"})", "{}"},
             {R"({"alg":"ES256","alg":"ES256"})", "{}"},
             {R"({"alg":"ES256"})", R"({"sub":"a","sub":"b"})"},
             {R"({"alg":"ES256"})", R"({"x":{"k":1,"k":2}})"},
             {R"({"alg":"ES256"})", R"({"x":[{"k":1},{"k":1,"\u006b":2}]})"},  // escaped spelling of "k"
         }) {
        auto jwt = ParseJwt(RawToken(header, payload));
        ASSERT_FALSE(jwt) << header << " " << payload;
        EXPECT_EQ(jwt.error().code, ErrorCode::kInvalidArgument);
    }
    // The same name in sibling or nested objects is fine.
    EXPECT_TRUE(ParseJwt(RawToken(R"({"alg":"ES256"})", R"({"k":{"k":{"k":1}},"x":[{"k":1},{"k":2}]})")));
}

TEST(CheckJwtTimes, AppliesExpNbfIatWithLeeway) {
    const std::int64_t now = 1'800'000'000;
    core::ManualClock clock(now * kMicros + 999'999);  // sub-second part is ignored
    JwtTimeRules rules = Rules(5);
    auto check = [&](boost::json::object payload, const JwtTimeRules& r) { return CheckJwtTimes(payload, clock, r); };
    EXPECT_TRUE(check({}, rules));
    EXPECT_TRUE(check({{"exp", now + 1}}, rules));
    EXPECT_TRUE(check({{"exp", now - 4}}, rules));   // within leeway
    EXPECT_FALSE(check({{"exp", now - 5}}, rules));  // now >= exp + leeway
    EXPECT_TRUE(check({{"nbf", now + 5}}, rules));
    EXPECT_FALSE(check({{"nbf", now + 6}}, rules));
    EXPECT_TRUE(check({{"iat", now + 5}}, rules));
    EXPECT_FALSE(check({{"iat", now + 6}}, rules));
    JwtTimeRules strict = Rules(0);
    EXPECT_FALSE(check({{"exp", now}}, strict));
    EXPECT_TRUE(check({{"nbf", now}, {"iat", now}}, strict));
    EXPECT_FALSE(check({{"iat", now + 1}}, strict));
}

TEST(CheckJwtTimes, EnforcesRequiredClaimsAndMaxAge) {
    const std::int64_t now = 1'800'000'000;
    core::ManualClock clock(now * kMicros);
    auto missing_exp = CheckJwtTimes({{"iat", now}}, clock, Rules(0, true));
    ASSERT_FALSE(missing_exp);
    EXPECT_EQ(missing_exp.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(CheckJwtTimes({}, clock, Rules(0, false, true)));
    EXPECT_FALSE(CheckJwtTimes({}, clock, Rules(0, false, false, 60)));  // max age needs iat
    JwtTimeRules rules = Rules(2, false, false, 60);
    EXPECT_TRUE(CheckJwtTimes({{"iat", now - 62}}, clock, rules));
    EXPECT_FALSE(CheckJwtTimes({{"iat", now - 63}}, clock, rules));
}

TEST(CheckJwtTimes, RefusesNonIntegerAndSurvivesExtremeValues) {
    core::ManualClock clock(1'800'000'000 * kMicros);
    JwtTimeRules rules{};
    for (boost::json::value bad : {boost::json::value("1800000000"), boost::json::value(1.8e9),
                                   boost::json::value(nullptr), boost::json::value(true)}) {
        auto status = CheckJwtTimes({{"exp", bad}}, clock, rules);
        ASSERT_FALSE(status) << boost::json::serialize(bad);
        EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    }
    EXPECT_FALSE(CheckJwtTimes({{"exp", std::uint64_t(-1)}}, clock, rules));  // beyond int64
    EXPECT_TRUE(CheckJwtTimes({{"exp", std::numeric_limits<std::int64_t>::max()}}, clock, rules));
    EXPECT_FALSE(CheckJwtTimes({{"exp", std::numeric_limits<std::int64_t>::min()}}, clock, rules));
    EXPECT_TRUE(CheckJwtTimes({{"iat", std::numeric_limits<std::int64_t>::min()}}, clock, rules));
    JwtTimeRules aged = Rules(std::numeric_limits<std::int64_t>::max(), false, false, 60);
    EXPECT_TRUE(CheckJwtTimes({{"iat", std::numeric_limits<std::int64_t>::min()}}, clock, aged));
}

TEST(VerifyJwt, ReturnsThePayloadOnlyForTheMatchingDidKey) {
    auto key = K256Key();
    boost::json::object payload{{"iss", "did:example"}, {"exp", 1'800'000'060}};
    auto token = SignJwt({{"typ", "JWT"}}, payload, key);
    ASSERT_TRUE(token);
    core::ManualClock clock(1'800'000'000 * kMicros);
    auto ok = VerifyJwt(*token, key.Public().DidKey(), clock, {});
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(*ok, payload);
    auto other = PrivateKey::Generate(Curve::kSecp256k1);
    ASSERT_TRUE(other);
    EXPECT_FALSE(VerifyJwt(*token, other->Public().DidKey(), clock, {}));
    EXPECT_FALSE(VerifyJwt(*token, "did:key:nope", clock, {}));
    EXPECT_FALSE(VerifyJwt("not a jwt", key.Public().DidKey(), clock, {}));
    clock.Advance(120 * kMicros);
    auto expired = VerifyJwt(*token, key.Public().DidKey(), clock, {});
    ASSERT_FALSE(expired);
    EXPECT_EQ(expired.error().code, ErrorCode::kPermissionDenied);
    // The system-clock overload sees this 2027 token as still valid... until 2027-01-15.
    auto future = SignJwt({}, {{"exp", 4'000'000'000}}, key);
    ASSERT_TRUE(future);
    EXPECT_TRUE(VerifyJwt(*future, key.Public().DidKey()));
}

}  // namespace
}  // namespace plyr::atproto::crypto
