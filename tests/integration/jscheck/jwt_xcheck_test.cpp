// Cross-check of plyr's keys, signatures and JWTs (atproto/crypto) with the reference @atproto/crypto:
// ES256/ES256K JWTs signed by plyr verify there (verifySignature with the did:key over header "." payload),
// JWTs signed by @atproto/crypto keypairs verify in plyr with the did:key it reports, raw signatures verify
// both ways, and both derive the same did:key from the same private key. Every positive check has a
// negative twin (other message, other key) so that a verifier that says "yes" to everything fails.
// Skipped when the pinned node install is not in the environment (js_bridge.hpp).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "atproto/crypto/jwt.hpp"
#include "atproto/crypto/keys.hpp"
#include "core/encoding.hpp"
#include "integration/jscheck/js_bridge.hpp"

namespace plyr::jscheck {
namespace {

namespace json = boost::json;
using atproto::crypto::Curve;
using atproto::crypto::PrivateKey;
using atproto::crypto::PublicKey;

constexpr int kKeysPerCurve = 4;
const Curve kCurves[] = {Curve::kP256, Curve::kSecp256k1};

std::string CurveName(Curve curve) { return std::string(atproto::crypto::JwkCurveName(curve)); }

json::object Claims(int i) {
    return json::object{{"iss", "did:plc:" + core::RandomHex(8)},
                        {"aud", "did:web:plyr.example"},
                        {"lxm", "fm.plyr.track.get"},
                        {"jti", core::RandomUuid()},
                        {"note", "ünïcødé 🎵 #" + std::to_string(i)},
                        {"iat", 1764079200 + i},
                        {"exp", 1764079260 + i}};
}

// The token with its payload segment replaced by another valid one: the signature no longer covers it.
std::string SwapPayload(const std::string& token, const json::object& other_payload) {
    const auto first = token.find('.');
    const auto second = token.find('.', first + 1);
    return token.substr(0, first + 1) + core::Base64UrlEncode(json::serialize(other_payload)) + token.substr(second);
}

class JwtCrossCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        auto env = FindJsEnv();
        if (!env) GTEST_SKIP() << "TESTNET_NODE / TESTNET_NODE_MODULES not set (scripts/testnet.sh start)";
        env_ = *env;
    }

    JsEnv env_;
};

TEST_F(JwtCrossCheck, PlyrSignedJwtsVerifyInAtprotoCrypto) {
    struct Case {
        std::string token;
        std::string did;
        bool expect_valid;
    };
    std::vector<Case> cases;
    for (Curve curve : kCurves) {
        for (int i = 0; i < kKeysPerCurve; ++i) {
            auto key = PrivateKey::Generate(curve);
            ASSERT_TRUE(key) << key.error().message;
            auto other = PrivateKey::Generate(curve);
            ASSERT_TRUE(other) << other.error().message;
            auto token = atproto::crypto::SignJwt(json::object{{"typ", "JWT"}}, Claims(i), *key);
            ASSERT_TRUE(token) << token.error().message;
            cases.push_back({*token, key->Public().DidKey(), true});
            cases.push_back({SwapPayload(*token, Claims(i + 100)), key->Public().DidKey(), false});
            cases.push_back({*token, other->Public().DidKey(), false});
        }
    }
    json::array ops;
    for (const auto& c : cases) ops.push_back(json::object{{"op", "verify_jwt"}, {"token", c.token}, {"did", c.did}});
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    for (std::size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(cases[i].did + " " + cases[i].token);
        const auto& js = (*results)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        ASSERT_TRUE(js.at("valid").is_bool());
        EXPECT_EQ(js.at("valid").as_bool(), cases[i].expect_valid);
    }
}

TEST_F(JwtCrossCheck, AtprotoCryptoSignedJwtsVerifyInPlyrWithTheReportedDidKey) {
    json::array keygen;
    for (Curve curve : kCurves) {
        for (int i = 0; i < kKeysPerCurve; ++i)
            keygen.push_back(json::object{{"op", "keygen"}, {"curve", CurveName(curve)}});
    }
    auto keys = RunJs(env_, keygen);
    ASSERT_TRUE(keys) << keys.error().message;

    json::array sign_ops;
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const auto& k = (*keys)[i].as_object();
        ASSERT_FALSE(k.contains("error")) << Str(k, "error");
        sign_ops.push_back(json::object{{"op", "sign_jwt"},
                                        {"curve", keygen[i].as_object().at("curve")},
                                        {"private_hex", k.at("private_hex")},
                                        {"payload", Claims(static_cast<int>(i))}});
    }
    auto tokens = RunJs(env_, sign_ops);
    ASSERT_TRUE(tokens) << tokens.error().message;

    for (std::size_t i = 0; i < tokens->size(); ++i) {
        const auto& t = (*tokens)[i].as_object();
        ASSERT_FALSE(t.contains("error")) << Str(t, "error");
        const std::string token = Str(t, "token");
        const std::string did = Str((*keys)[i].as_object(), "did");
        SCOPED_TRACE(did + " " + token);
        auto key = PublicKey::FromDidKey(did);
        ASSERT_TRUE(key) << key.error().message;
        auto jwt = atproto::crypto::ParseJwt(token);
        ASSERT_TRUE(jwt) << jwt.error().message;
        EXPECT_EQ(jwt->curve, key->curve());
        EXPECT_EQ(jwt->payload, sign_ops[i].as_object().at("payload").as_object());
        auto ok = atproto::crypto::VerifyJwtSignature(*jwt, *key);
        EXPECT_TRUE(ok) << ok.error().message;

        // Negative twins: the payload swapped under the signature, and another key of the same curve.
        auto tampered = atproto::crypto::ParseJwt(SwapPayload(token, Claims(999)));
        ASSERT_TRUE(tampered) << tampered.error().message;
        auto bad = atproto::crypto::VerifyJwtSignature(*tampered, *key);
        ASSERT_FALSE(bad);
        EXPECT_EQ(bad.error().code, ErrorCode::kPermissionDenied);
        const std::string other_did = Str((*keys)[i % kKeysPerCurve == 0 ? i + 1 : i - 1].as_object(), "did");
        auto other = PublicKey::FromDidKey(other_did);
        ASSERT_TRUE(other) << other.error().message;
        auto wrong_key = atproto::crypto::VerifyJwtSignature(*jwt, *other);
        ASSERT_FALSE(wrong_key);
        EXPECT_EQ(wrong_key.error().code, ErrorCode::kPermissionDenied);
    }
}

TEST_F(JwtCrossCheck, RawSignaturesVerifyBothWays) {
    const std::vector<std::string> messages = {"", "a", std::string(1, '\0'), "header.payload",
                                               core::RandomBytes(1000)};
    json::array ops;
    struct PlyrSigned {
        std::string did;
        std::string message;
        std::string signature;
    };
    std::vector<PlyrSigned> plyr_signed;
    for (Curve curve : kCurves) {
        auto key = PrivateKey::Generate(curve);
        ASSERT_TRUE(key) << key.error().message;
        for (const auto& m : messages) {
            auto sig = key->Sign(m);
            ASSERT_TRUE(sig) << sig.error().message;
            plyr_signed.push_back({key->Public().DidKey(), m, *sig});
        }
    }
    // plyr → JS: each signature verifies over its message and not over another one.
    for (const auto& s : plyr_signed) {
        ops.push_back(json::object{{"op", "verify"},
                                   {"did", s.did},
                                   {"message_b64", core::Base64Encode(s.message)},
                                   {"sig", core::Base64UrlEncode(s.signature)}});
        ops.push_back(json::object{{"op", "verify"},
                                   {"did", s.did},
                                   {"message_b64", core::Base64Encode(s.message + "x")},
                                   {"sig", core::Base64UrlEncode(s.signature)}});
    }
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;
    for (std::size_t i = 0; i < results->size(); ++i) {
        const auto& js = (*results)[i].as_object();
        SCOPED_TRACE("op " + std::to_string(i) + " did " + plyr_signed[i / 2].did);
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        EXPECT_EQ(js.at("valid").as_bool(), i % 2 == 0);
    }

    // JS → plyr.
    json::array keygen{json::object{{"op", "keygen"}, {"curve", "P-256"}},
                       json::object{{"op", "keygen"}, {"curve", "secp256k1"}}};
    auto keys = RunJs(env_, keygen);
    ASSERT_TRUE(keys) << keys.error().message;
    json::array sign_ops;
    for (std::size_t k = 0; k < keys->size(); ++k) {
        for (const auto& m : messages) {
            sign_ops.push_back(json::object{{"op", "sign"},
                                            {"curve", keygen[k].as_object().at("curve")},
                                            {"private_hex", (*keys)[k].as_object().at("private_hex")},
                                            {"message_b64", core::Base64Encode(m)}});
        }
    }
    auto sigs = RunJs(env_, sign_ops);
    ASSERT_TRUE(sigs) << sigs.error().message;
    for (std::size_t i = 0; i < sigs->size(); ++i) {
        const std::size_t k = i / messages.size();
        const std::string& message = messages[i % messages.size()];
        const std::string did = Str((*keys)[k].as_object(), "did");
        SCOPED_TRACE(did + " message #" + std::to_string(i % messages.size()));
        const auto& js = (*sigs)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        auto sig = core::Base64UrlDecode(Str(js, "sig"));
        ASSERT_TRUE(sig.has_value());
        EXPECT_EQ(sig->size(), atproto::crypto::kSignatureBytes);
        auto key = PublicKey::FromDidKey(did);
        ASSERT_TRUE(key) << key.error().message;
        auto ok = key->Verify(message, *sig);
        EXPECT_TRUE(ok) << ok.error().message;
        auto bad = key->Verify(message + "x", *sig);
        ASSERT_FALSE(bad);
        EXPECT_EQ(bad.error().code, ErrorCode::kPermissionDenied);
    }
}

TEST_F(JwtCrossCheck, SamePrivateKeyGivesSameDidKeyInBoth) {
    // JS-generated keys imported into plyr.
    json::array keygen;
    for (Curve curve : kCurves) {
        for (int i = 0; i < kKeysPerCurve; ++i)
            keygen.push_back(json::object{{"op", "keygen"}, {"curve", CurveName(curve)}});
    }
    // plyr-generated keys imported into JS.
    std::vector<std::string> plyr_dids;
    json::array imports;
    for (Curve curve : kCurves) {
        for (int i = 0; i < kKeysPerCurve; ++i) {
            auto key = PrivateKey::Generate(curve);
            ASSERT_TRUE(key) << key.error().message;
            plyr_dids.push_back(key->Public().DidKey());
            imports.push_back(json::object{
                {"op", "import_key"}, {"curve", CurveName(curve)}, {"private_hex", core::HexEncode(key->Bytes())}});
        }
    }
    json::array ops = keygen;
    for (const auto& op : imports) ops.push_back(op);
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    for (std::size_t i = 0; i < keygen.size(); ++i) {
        const auto& js = (*results)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        const Curve curve = keygen[i].as_object().at("curve").as_string() == "P-256" ? Curve::kP256 : Curve::kSecp256k1;
        auto scalar = core::HexDecode(Str(js, "private_hex"));
        ASSERT_TRUE(scalar.has_value());
        auto key = PrivateKey::FromBytes(curve, *scalar);
        ASSERT_TRUE(key) << key.error().message;
        EXPECT_EQ(key->Public().DidKey(), Str(js, "did"));
        EXPECT_EQ(key->Public().DidKey().rfind(curve == Curve::kP256 ? "did:key:zDn" : "did:key:zQ3s", 0), 0u);
    }
    for (std::size_t i = 0; i < imports.size(); ++i) {
        const auto& js = (*results)[keygen.size() + i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        EXPECT_EQ(Str(js, "did"), plyr_dids[i]);
    }
}

}  // namespace
}  // namespace plyr::jscheck
