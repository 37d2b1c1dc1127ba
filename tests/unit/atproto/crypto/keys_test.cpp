#include "atproto/crypto/keys.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "atproto/crypto/base58.hpp"
#include "core/encoding.hpp"
#include "test_data.hpp"

namespace plyr::atproto::crypto {
namespace {

using testing::Base64Any;
using testing::Hex;
using testing::LoadJson;
using testing::Str;

// Curve orders, big-endian (atproto.md §2.4), for checking low-S independently of the code under test.
const std::string kK256Order = Hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
const std::string kP256Order = Hex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

const std::string& Order(Curve curve) { return curve == Curve::kP256 ? kP256Order : kK256Order; }

// n - s on 32-byte big-endian numbers (s < n).
std::string SubtractFrom(const std::string& n, std::string_view s) {
    std::string out(32, '\0');
    int borrow = 0;
    for (int i = 31; i >= 0; --i) {
        int d = int(std::uint8_t(n[i])) - int(std::uint8_t(s[i])) - borrow;
        borrow = d < 0;
        out[i] = char(d < 0 ? d + 256 : d);
    }
    return out;
}

// s <= n/2  <=>  2s <= n; compare s with n - s.
bool IsLowS(Curve curve, std::string_view signature) {
    std::string s(signature.substr(32));
    return s <= SubtractFrom(Order(curve), s);
}

std::string FlipS(Curve curve, std::string_view signature) {
    return std::string(signature.substr(0, 32)) + SubtractFrom(Order(curve), signature.substr(32));
}

TEST(SignatureFixtures, EveryInteropCaseVerifiesExactlyWhenMarkedValid) {
    auto fixtures = LoadJson("atproto-interop/crypto/signature-fixtures.json").as_array();
    ASSERT_EQ(fixtures.size(), 6u);
    int valid = 0, high_s = 0, der = 0;
    for (const auto& item : fixtures) {
        const auto& f = item.as_object();
        SCOPED_TRACE(Str(f.at("comment")));
        auto key = PublicKey::FromDidKey(Str(f.at("publicKeyDid")));
        ASSERT_TRUE(key) << key.error().ToString();
        EXPECT_EQ(JwsAlgName(key->curve()), Str(f.at("algorithm")));
        EXPECT_EQ(LegacyKeyType(key->curve()), Str(f.at("didDocSuite")));
        EXPECT_EQ(key->DidKey(), Str(f.at("publicKeyDid")));
        // The fixture's publicKeyMultibase is the compressed point without multicodec.
        auto same = PublicKey::FromLegacyMultibase(key->curve(), Str(f.at("publicKeyMultibase")));
        ASSERT_TRUE(same) << same.error().ToString();
        EXPECT_EQ(*same, *key);
        EXPECT_EQ("z" + Base58BtcEncode(key->Compressed()), Str(f.at("publicKeyMultibase")));

        std::string message = Base64Any(Str(f.at("messageBase64")));
        std::string signature = Base64Any(Str(f.at("signatureBase64")));
        auto status = key->Verify(message, signature);
        EXPECT_EQ(status.has_value(), f.at("validSignature").as_bool());
        const auto& tags = f.at("tags").as_array();
        if (f.at("validSignature").as_bool()) ++valid;
        if (!tags.empty() && tags[0].as_string() == "high-s") {
            ++high_s;
            ASSERT_EQ(signature.size(), kSignatureBytes);
            EXPECT_FALSE(IsLowS(key->curve(), signature));
            // The same signature in low-S form verifies: the rejection is the atproto rule, not a bad signature.
            EXPECT_TRUE(key->Verify(message, FlipS(key->curve(), signature)));
        }
        if (!tags.empty() && tags[0].as_string() == "der-encoded") {
            ++der;
            EXPECT_NE(signature.size(), kSignatureBytes);
            EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
        }
    }
    EXPECT_EQ(valid, 2);
    EXPECT_EQ(high_s, 2);
    EXPECT_EQ(der, 2);
}

TEST(DidKeyVectors, K256PrivateKeysDeriveTheListedDidKeys) {
    auto vectors = LoadJson("atproto-interop/crypto/w3c_didkey_K256.json").as_array();
    ASSERT_EQ(vectors.size(), 5u);
    for (const auto& item : vectors) {
        const auto& v = item.as_object();
        auto key = PrivateKey::FromBytes(Curve::kSecp256k1, Hex(Str(v.at("privateKeyBytesHex"))));
        ASSERT_TRUE(key) << key.error().ToString();
        EXPECT_EQ(key->Public().DidKey(), Str(v.at("publicDidKey")));
        EXPECT_EQ(key->Public().Multikey().substr(0, 4), "zQ3s");
        auto parsed = PublicKey::FromDidKey(Str(v.at("publicDidKey")));
        ASSERT_TRUE(parsed) << parsed.error().ToString();
        EXPECT_EQ(parsed->curve(), Curve::kSecp256k1);
        EXPECT_EQ(*parsed, key->Public());
    }
}

TEST(DidKeyVectors, P256PrivateKeyDerivesTheListedDidKey) {
    auto vectors = LoadJson("atproto-interop/crypto/w3c_didkey_P256.json").as_array();
    ASSERT_EQ(vectors.size(), 1u);
    const auto& v = vectors[0].as_object();
    auto scalar = Base58BtcDecode(Str(v.at("privateKeyBytesBase58")));
    ASSERT_TRUE(scalar);
    auto key = PrivateKey::FromBytes(Curve::kP256, *scalar);
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_EQ(key->Public().DidKey(), Str(v.at("publicDidKey")));
    EXPECT_EQ(key->Public().Multikey().substr(0, 3), "zDn");
    auto parsed = PublicKey::FromDidKey(Str(v.at("publicDidKey")));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->curve(), Curve::kP256);
    EXPECT_EQ(*parsed, key->Public());
}

TEST(DidKey, ParsesP256DidKeyToItsCompressedPoint) {
    // atproto.md §10.2 item 18.
    auto key = PublicKey::FromDidKey("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo");
    ASSERT_TRUE(key);
    EXPECT_EQ(core::HexEncode(key->Compressed()), "033a8273eece6b0d82e95c3506617db5000e14ff0023325d0bb0274918bc6a6cdc");
}

TEST(LegacyMultibase, UncompressedDidDocumentKeyEqualsItsMultikey) {
    // The same k256 key as published in indigo identity/testdata did_plc_doc_legacy.json (legacy form) and
    // did_plc_doc.json (multikey), atproto.md §2.4.
    auto legacy = PublicKey::FromLegacyMultibase(
        Curve::kSecp256k1, "zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR");
    ASSERT_TRUE(legacy) << legacy.error().ToString();
    auto multikey = PublicKey::FromMultikey("zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
    ASSERT_TRUE(multikey);
    EXPECT_EQ(*legacy, *multikey);
    EXPECT_EQ(core::HexEncode(legacy->Compressed()),
              "029951fea6921a35a4c9386dae5c27ecdb052edf760556938e7961caefae53b1d8");
    EXPECT_EQ(legacy->LegacyMultibase(),
              "zQYEBzXeuTM9UR3rfvNag6L3RNAs5pQZyYPsomTsgQhsxLdEgCrPTLgFna8yqCnxPpNT7DBk6Ym3dgPKNu86vt9GR");
    EXPECT_EQ(multikey->Multikey(), "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

TEST(DidKey, RejectsMalformedAndUnsupportedForms) {
    const std::string good = "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme";
    EXPECT_TRUE(PublicKey::FromDidKey(good));
    EXPECT_FALSE(PublicKey::FromDidKey("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
    EXPECT_FALSE(PublicKey::FromDidKey("did:key:"));
    EXPECT_FALSE(PublicKey::FromDidKey(good + "#frag"));
    EXPECT_FALSE(PublicKey::FromDidKey(" " + good));
    EXPECT_FALSE(PublicKey::FromDidKey("DID:KEY:" + good.substr(8)));
    // 'f' (base16) multibase is not what atproto uses.
    EXPECT_FALSE(PublicKey::FromMultikey("f" + good.substr(9)));
    // Ed25519 (multicodec 0xed) is a valid did:key but not an atproto signing key.
    auto ed = PublicKey::FromMultikey("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK");
    ASSERT_FALSE(ed);
    EXPECT_EQ(ed.error().code, ErrorCode::kUnsupported);
    // A multikey holding an uncompressed point, or a truncated one.
    auto key = PublicKey::FromDidKey(good);
    ASSERT_TRUE(key);
    EXPECT_FALSE(PublicKey::FromMultikey("z" + Base58BtcEncode(std::string("\xe7\x01", 2) + key->Uncompressed())));
    EXPECT_FALSE(
        PublicKey::FromMultikey("z" + Base58BtcEncode(std::string("\xe7\x01", 2) + key->Compressed().substr(0, 32))));
    // The right codec for the other curve: the point is not on P-256 (or is a different key); never equal.
    auto swapped = PublicKey::FromMultikey("z" + Base58BtcEncode(std::string("\x80\x24", 2) + key->Compressed()));
    if (swapped) {
        EXPECT_FALSE(*swapped == *key);
    }
    EXPECT_FALSE(PublicKey::FromMultikey(std::string(200, 'z')));
}

TEST(PublicKeyFromSec1, RejectsPointsOffTheCurveAndBadLengths) {
    auto key = PublicKey::FromDidKey("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo");
    ASSERT_TRUE(key);
    std::string point = key->Uncompressed();
    EXPECT_TRUE(PublicKey::FromSec1(Curve::kP256, point));
    point[64] = char(point[64] ^ 1);  // y no longer matches x
    auto off = PublicKey::FromSec1(Curve::kP256, point);
    ASSERT_FALSE(off);
    EXPECT_EQ(off.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(PublicKey::FromSec1(Curve::kP256, std::string(1, '\0')));
    EXPECT_FALSE(PublicKey::FromSec1(Curve::kP256, key->Compressed().substr(0, 32)));
    std::string bad_prefix = key->Compressed();
    bad_prefix[0] = '\x05';
    EXPECT_FALSE(PublicKey::FromSec1(Curve::kP256, bad_prefix));
    // The uncompressed and compressed encodings name the same key.
    auto compressed = PublicKey::FromSec1(Curve::kP256, key->Compressed());
    ASSERT_TRUE(compressed);
    EXPECT_EQ(*compressed, *key);
}

class BothCurves : public ::testing::TestWithParam<Curve> {};

TEST_P(BothCurves, SignEmitsLowSCompactSignaturesThatVerify) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key) << key.error().ToString();
    // OpenSSL returns high-S about half the time, so 64 signatures exercise the normalisation path.
    for (int i = 0; i < 64; ++i) {
        std::string message = "message " + std::to_string(i);
        auto signature = key->Sign(message);
        ASSERT_TRUE(signature) << signature.error().ToString();
        ASSERT_EQ(signature->size(), kSignatureBytes);
        EXPECT_TRUE(IsLowS(GetParam(), *signature));
        EXPECT_TRUE(key->Public().Verify(message, *signature));
        EXPECT_FALSE(key->Public().Verify(message + "!", *signature));
        auto high = key->Public().Verify(message, FlipS(GetParam(), *signature));
        ASSERT_FALSE(high);
        EXPECT_EQ(high.error().code, ErrorCode::kPermissionDenied);
    }
}

TEST_P(BothCurves, VerifyRejectsTamperedAndDegenerateSignatures) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    auto signature = key->Sign("payload");
    ASSERT_TRUE(signature);
    for (std::size_t i : {0u, 31u, 32u, 63u}) {
        std::string bad = *signature;
        bad[i] = char(bad[i] ^ 0x01);
        EXPECT_FALSE(key->Public().Verify("payload", bad)) << i;
    }
    EXPECT_FALSE(key->Public().Verify("payload", std::string(64, '\0')));
    EXPECT_FALSE(key->Public().Verify("payload", Order(GetParam()) + signature->substr(32)));  // r = n
    EXPECT_FALSE(key->Public().Verify("payload", signature->substr(0, 63)));
    EXPECT_FALSE(key->Public().Verify("payload", *signature + std::string(1, '\0')));
    auto other = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->Public().Verify("payload", *signature));
}

TEST_P(BothCurves, GeneratedKeysAreDistinctAndRoundTripThroughEveryEncoding) {
    auto a = PrivateKey::Generate(GetParam());
    auto b = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->Bytes(), b->Bytes());
    EXPECT_FALSE(a->Public() == b->Public());
    const PublicKey& pub = a->Public();
    EXPECT_EQ(pub.Compressed().size(), kCompressedPointBytes);
    EXPECT_EQ(pub.Uncompressed().size(), kUncompressedPointBytes);
    EXPECT_EQ(*PublicKey::FromDidKey(pub.DidKey()), pub);
    EXPECT_EQ(*PublicKey::FromMultikey(pub.Multikey()), pub);
    EXPECT_EQ(*PublicKey::FromLegacyMultibase(GetParam(), pub.LegacyMultibase()), pub);
    EXPECT_EQ(*PublicKey::FromSec1(GetParam(), pub.Compressed()), pub);
    EXPECT_EQ(*PublicKey::FromJwk(pub.ToJwk()), pub);
    auto again = PrivateKey::FromBytes(GetParam(), a->Bytes());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->Public(), pub);
    auto from_jwk = PrivateKey::FromJwk(a->ToJwk());
    ASSERT_TRUE(from_jwk) << from_jwk.error().ToString();
    EXPECT_EQ(from_jwk->Bytes(), a->Bytes());
}

TEST_P(BothCurves, PrivateKeyBytesOutsideOneToNMinusOneAreRejected) {
    EXPECT_FALSE(PrivateKey::FromBytes(GetParam(), std::string(32, '\0')));
    EXPECT_FALSE(PrivateKey::FromBytes(GetParam(), Order(GetParam())));
    EXPECT_FALSE(PrivateKey::FromBytes(GetParam(), std::string(31, '\x01')));
    EXPECT_FALSE(PrivateKey::FromBytes(GetParam(), std::string(33, '\x01')));
    EXPECT_TRUE(PrivateKey::FromBytes(GetParam(), std::string(31, '\0') + "\x01"));
}

TEST_P(BothCurves, OneKeySignsAndVerifiesFromManyThreadsAtOnce) {
    auto key = PrivateKey::Generate(GetParam());
    ASSERT_TRUE(key);
    const PrivateKey shared = *key;  // copies share the OpenSSL key
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 25; ++i) {
                std::string message = std::to_string(t) + ":" + std::to_string(i);
                auto signature = shared.Sign(message);
                if (!signature || !shared.Public().Verify(message, *signature)) ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Curves, BothCurves, ::testing::Values(Curve::kP256, Curve::kSecp256k1),
                         [](const auto& info) { return info.param == Curve::kP256 ? "P256" : "K256"; });

TEST(Jwk, ExportsTheRfcShapeAndRejectsMalformedKeys) {
    auto key = PrivateKey::FromBytes(Curve::kSecp256k1,
                                     Hex("9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c"));
    ASSERT_TRUE(key);
    auto jwk = key->Public().ToJwk();
    EXPECT_EQ(jwk.size(), 4u);
    EXPECT_EQ(jwk.at("kty"), "EC");
    EXPECT_EQ(jwk.at("crv"), "secp256k1");
    EXPECT_EQ(jwk.at("x").as_string().size(), 43u);

    auto with = [&](std::string_view member, boost::json::value v) {
        auto copy = jwk;
        copy[member] = std::move(v);
        return copy;
    };
    auto without = [&](std::string_view member) {
        auto copy = jwk;
        copy.erase(member);
        return copy;
    };
    EXPECT_TRUE(PublicKey::FromJwk(with("kid", "k1")));
    EXPECT_TRUE(PublicKey::FromJwk(with("alg", "ES256K")));
    EXPECT_FALSE(PublicKey::FromJwk(with("alg", "ES256")));
    EXPECT_FALSE(PublicKey::FromJwk(with("kty", "RSA")));
    EXPECT_FALSE(PublicKey::FromJwk(with("crv", "P-384")));
    EXPECT_FALSE(PublicKey::FromJwk(with("crv", "P-256")));  // the point is not on P-256 (or another key)
    EXPECT_FALSE(PublicKey::FromJwk(without("y")));
    EXPECT_FALSE(PublicKey::FromJwk(without("crv")));
    EXPECT_FALSE(PublicKey::FromJwk(with("x", 5)));
    const std::string x(jwk.at("x").as_string());
    EXPECT_FALSE(PublicKey::FromJwk(with("x", boost::json::string_view(x + "="))));  // padded
    EXPECT_FALSE(PublicKey::FromJwk(with("x", boost::json::string_view(x.substr(0, 42)))));
    // A private JWK is never accepted where a public key is expected.
    auto private_jwk = key->ToJwk();
    auto refused = PublicKey::FromJwk(private_jwk);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
    // A private JWK whose x/y belong to another key.
    auto other = PrivateKey::Generate(Curve::kSecp256k1);
    ASSERT_TRUE(other);
    private_jwk["x"] = other->Public().ToJwk().at("x");
    EXPECT_FALSE(PrivateKey::FromJwk(private_jwk));
    EXPECT_FALSE(PrivateKey::FromJwk(jwk));  // no d
}

TEST(Jwk, ThumbprintMatchesTheRfc9449Example) {
    // RFC 9449 §6.1 example JWK and its published jkt (also atproto.md §10.2 item 22; re-checked with
    // python3 hashlib over the canonical JSON when this test was written).
    boost::json::object jwk{{"kty", "EC"},
                            {"x", "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"},
                            {"y", "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"},
                            {"crv", "P-256"}};
    auto key = PublicKey::FromJwk(jwk);
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_EQ(key->JwkThumbprint(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
}

TEST(Jwk, Secp256k1ThumbprintIsSha256OfTheCanonicalMembers) {
    auto key = PrivateKey::FromBytes(Curve::kSecp256k1,
                                     Hex("9085d2bef69286a6cbb51623c8fa258629945cd55ca705cc4e66700396894e0c"));
    ASSERT_TRUE(key);
    auto jwk = key->Public().ToJwk();
    // RFC 7638 §3.2 built by hand from the exported members.
    std::string canonical = R"({"crv":"secp256k1","kty":"EC","x":")" + std::string(jwk.at("x").as_string()) +
                            R"(","y":")" + std::string(jwk.at("y").as_string()) + R"("})";
    EXPECT_EQ(key->Public().JwkThumbprint(), core::Base64UrlEncode(core::DigestToString(core::Sha256(canonical))));
}

TEST(LabelSigning, GeneratedVectorVerifiesAndAnyChangeBreaksIt) {
    auto vectors = LoadJson("atproto-generated/vectors.json").as_object();
    const auto& label = vectors.at("label_signing").as_object();
    std::string cbor = Hex(Str(label.at("unsigned_label_cbor_hex")));
    EXPECT_EQ(core::Sha256Hex(cbor), Str(label.at("sha256_hex")));
    auto key = PublicKey::FromDidKey(Str(label.at("signing_key_did_key")));
    ASSERT_TRUE(key);
    std::string signature = Base64Any(Str(label.at("signature_base64")));
    EXPECT_EQ(Base64Any(Str(label.at("signature_json_bytes").at("$bytes"))), signature);
    EXPECT_TRUE(key->Verify(cbor, signature));
    // Hash exactly once: the digest itself is not the signed message.
    EXPECT_FALSE(key->Verify(core::DigestToString(core::Sha256(cbor)), signature));
    // The negation label differs in `neg` and `cts`: the signature must not carry over.
    EXPECT_FALSE(key->Verify(Hex(Str(label.at("negation_label_cbor_hex"))), signature));
    for (std::size_t i = 0; i < cbor.size(); i += 17) {
        std::string changed = cbor;
        changed[i] = char(changed[i] ^ 0x20);
        EXPECT_FALSE(key->Verify(changed, signature)) << i;
    }
    // Our signer with the vector's private key produces a low-S signature that verifies.
    auto signer = PrivateKey::FromBytes(Curve::kSecp256k1, Hex(Str(label.at("signing_key_private_hex"))));
    ASSERT_TRUE(signer);
    EXPECT_EQ(signer->Public(), *key);
    auto own = signer->Sign(cbor);
    ASSERT_TRUE(own);
    EXPECT_TRUE(IsLowS(Curve::kSecp256k1, *own));
    EXPECT_TRUE(key->Verify(cbor, *own));
}

}  // namespace
}  // namespace plyr::atproto::crypto
