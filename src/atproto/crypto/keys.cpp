#include "atproto/crypto/keys.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "atproto/crypto/base58.hpp"
#include "core/encoding.hpp"

namespace plyr::atproto::crypto {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using BnPtr = Owned<BIGNUM, BN_free>;
using BnCtxPtr = Owned<BN_CTX, BN_CTX_free>;
using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using SigPtr = Owned<ECDSA_SIG, ECDSA_SIG_free>;
using GroupPtr = Owned<EC_GROUP, EC_GROUP_free>;
using PointPtr = Owned<EC_POINT, EC_POINT_free>;
using ParamBldPtr = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = Owned<OSSL_PARAM, OSSL_PARAM_free>;

// The multicodec varints of the public-key codes: p256-pub 0x1200 and secp256k1-pub 0xe7.
constexpr std::string_view kP256Multicodec{"\x80\x24", 2};
constexpr std::string_view kSecp256k1Multicodec{"\xe7\x01", 2};
// Longest did:key / multikey text we parse: real ones are 49 (multikey) / 57 (did:key) characters.
constexpr std::size_t kMaxMultikeyBytes = 128;

// Drains OpenSSL's per-thread error queue into a detail string, so stale errors never leak into the next
// OpenSSL user on this thread (curl, TLS) and the log still says what failed.
std::string TakeOpensslErrors() {
    std::string out;
    while (unsigned long code = ERR_get_error()) {
        char buffer[256];
        ERR_error_string_n(code, buffer, sizeof buffer);
        if (!out.empty()) out += "; ";
        out += buffer;
    }
    return out;
}

tl::unexpected<Error> OpensslFailure(std::string_view what) {
    return Fail(ErrorCode::kInternal, "cryptography failure", std::string(what) + ": " + TakeOpensslErrors());
}

const std::uint8_t* U8(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

struct CurveInfo {
    const char* group_name;
    int nid;
    BnPtr order;
    BnPtr half_order;
};

// Curve orders (atproto.md §2.4), parsed once; read-only afterwards, so shared across threads.
const CurveInfo& Info(Curve curve) {
    static const auto make = [](const char* group, int nid, const char* order_hex) {
        BIGNUM* order = nullptr;
        BN_hex2bn(&order, order_hex);
        BnPtr half(BN_dup(order));
        BN_rshift1(half.get(), half.get());
        return CurveInfo{group, nid, BnPtr(order), std::move(half)};
    };
    static const CurveInfo kP256 =
        make("prime256v1", NID_X9_62_prime256v1, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    static const CurveInfo kK256 =
        make("secp256k1", NID_secp256k1, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141");
    return curve == Curve::kP256 ? kP256 : kK256;
}

std::string BnToBytes32(const BIGNUM* bn) {
    std::string out(32, '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), 32);
    return out;
}

std::string Compress(std::string_view x, std::string_view y) {
    std::string out(1, (static_cast<std::uint8_t>(y.back()) & 1) ? '\x03' : '\x02');
    out.append(x);
    return out;
}

// Reads the affine coordinates back out of an EVP_PKEY (whatever point format it was built from).
Result<std::pair<std::string, std::string>> Coordinates(const EVP_PKEY* pkey) {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
        BN_free(x);
        BN_free(y);
        return OpensslFailure("reading public key coordinates");
    }
    BnPtr x_owned(x), y_owned(y);
    return std::make_pair(BnToBytes32(x), BnToBytes32(y));
}

std::string Base64UrlOf(std::string_view bytes) { return core::Base64UrlEncode(bytes); }

// Builds an EVP_PKEY from a SEC1 point and (optionally) a private scalar. The EC key manager decodes the
// point with EC_POINT_oct2point, which refuses points that are not on the curve.
Result<PkeyPtr> BuildPkey(Curve curve, std::string_view point, const BIGNUM* private_scalar) {
    const auto& info = Info(curve);
    ParamBldPtr bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, info.group_name, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1 ||
        (private_scalar && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, private_scalar) != 1)) {
        return OpensslFailure("building key parameters");
    }
    ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return OpensslFailure("key import setup");
    EVP_PKEY* raw = nullptr;
    if (EVP_PKEY_fromdata(ctx.get(), &raw, private_scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) !=
        1) {
        return Fail(ErrorCode::kInvalidArgument, "public key is not a point on the curve", TakeOpensslErrors());
    }
    PkeyPtr pkey(raw);
    PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) {
        return Fail(ErrorCode::kInvalidArgument, "public key is not a valid point on the curve", TakeOpensslErrors());
    }
    return pkey;
}

Result<std::string> DecodeCoordinate(const boost::json::object& jwk, std::string_view name) {
    auto it = jwk.find(name);
    if (it == jwk.end() || !it->value().is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "jwk lacks a string member '" + std::string(name) + "'");
    }
    const auto& text = it->value().get_string();
    auto bytes = core::Base64UrlDecode(std::string_view(text.data(), text.size()));
    if (!bytes || bytes->size() != 32) {
        return Fail(ErrorCode::kInvalidArgument,
                    "jwk member '" + std::string(name) + "' is not 32 bytes of unpadded base64url");
    }
    return *bytes;
}

struct ParsedJwk {
    Curve curve;
    std::string x;
    std::string y;
    std::optional<std::string> d;
};

Result<ParsedJwk> ParseJwk(const boost::json::object& jwk) {
    auto kty = jwk.find("kty");
    if (kty == jwk.end() || !kty->value().is_string() || kty->value().get_string() != "EC") {
        return Fail(ErrorCode::kUnsupported, "jwk is not an EC key (kty must be \"EC\")");
    }
    auto crv = jwk.find("crv");
    if (crv == jwk.end() || !crv->value().is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "jwk lacks a string member 'crv'");
    }
    ParsedJwk out{};
    if (crv->value().get_string() == "P-256") {
        out.curve = Curve::kP256;
    } else if (crv->value().get_string() == "secp256k1") {
        out.curve = Curve::kSecp256k1;
    } else {
        return Fail(ErrorCode::kUnsupported, "jwk curve is not P-256 or secp256k1");
    }
    if (auto alg = jwk.find("alg"); alg != jwk.end()) {
        if (!alg->value().is_string() || alg->value().get_string() != JwsAlgName(out.curve)) {
            return Fail(ErrorCode::kInvalidArgument, "jwk 'alg' does not match its curve");
        }
    }
    auto x = DecodeCoordinate(jwk, "x");
    if (!x) return Fail(std::move(x.error()));
    auto y = DecodeCoordinate(jwk, "y");
    if (!y) return Fail(std::move(y.error()));
    out.x = std::move(*x);
    out.y = std::move(*y);
    if (jwk.contains("d")) {
        auto d = DecodeCoordinate(jwk, "d");
        if (!d) return Fail(std::move(d.error()));
        out.d = std::move(*d);
    }
    return out;
}

}  // namespace

struct PublicKey::Impl {
    Curve curve;
    PkeyPtr pkey;
    std::string x;  // 32 bytes
    std::string y;  // 32 bytes
};

struct PrivateKey::Impl {
    PkeyPtr pkey;  // key pair
    std::string scalar;
    PublicKey public_key;

    Impl(PkeyPtr p, std::string s, PublicKey k) : pkey(std::move(p)), scalar(std::move(s)), public_key(std::move(k)) {}
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;
    ~Impl() { OPENSSL_cleanse(scalar.data(), scalar.size()); }
};

std::string_view JwkCurveName(Curve curve) { return curve == Curve::kP256 ? "P-256" : "secp256k1"; }
std::string_view JwsAlgName(Curve curve) { return curve == Curve::kP256 ? "ES256" : "ES256K"; }
std::string_view LegacyKeyType(Curve curve) {
    return curve == Curve::kP256 ? "EcdsaSecp256r1VerificationKey2019" : "EcdsaSecp256k1VerificationKey2019";
}

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromSec1(Curve curve, std::string_view point) {
    const bool compressed = point.size() == kCompressedPointBytes && (point[0] == '\x02' || point[0] == '\x03');
    const bool uncompressed = point.size() == kUncompressedPointBytes && point[0] == '\x04';
    if (!compressed && !uncompressed) {
        return Fail(ErrorCode::kInvalidArgument,
                    "public key is not a 33-byte compressed or 65-byte uncompressed point");
    }
    auto pkey = BuildPkey(curve, point, nullptr);
    if (!pkey) return Fail(std::move(pkey.error()));
    auto xy = Coordinates(pkey->get());
    if (!xy) return Fail(std::move(xy.error()));
    return PublicKey(std::make_shared<const Impl>(Impl{curve, std::move(*pkey), xy->first, xy->second}));
}

Result<PublicKey> PublicKey::FromMultikey(std::string_view multikey) {
    if (multikey.size() > kMaxMultikeyBytes || multikey.empty() || multikey[0] != 'z') {
        return Fail(ErrorCode::kInvalidArgument, "multikey must be base58btc multibase ('z' prefix)");
    }
    auto bytes = Base58BtcDecode(multikey.substr(1));
    if (!bytes) return Fail(ErrorCode::kInvalidArgument, "multikey is not valid base58btc");
    std::string_view view(*bytes);
    Curve curve;
    if (view.substr(0, 2) == kP256Multicodec) {
        curve = Curve::kP256;
    } else if (view.substr(0, 2) == kSecp256k1Multicodec) {
        curve = Curve::kSecp256k1;
    } else {
        return Fail(ErrorCode::kUnsupported, "multikey codec is not p256-pub or secp256k1-pub");
    }
    view.remove_prefix(2);
    if (view.size() != kCompressedPointBytes) {
        return Fail(ErrorCode::kInvalidArgument, "multikey must hold a 33-byte compressed point");
    }
    return FromSec1(curve, view);
}

Result<PublicKey> PublicKey::FromDidKey(std::string_view did_key) {
    if (did_key.substr(0, kDidKeyPrefix.size()) != kDidKeyPrefix) {
        return Fail(ErrorCode::kInvalidArgument, "not a did:key");
    }
    return FromMultikey(did_key.substr(kDidKeyPrefix.size()));
}

Result<PublicKey> PublicKey::FromLegacyMultibase(Curve curve, std::string_view multibase) {
    if (multibase.size() > kMaxMultikeyBytes || multibase.empty() || multibase[0] != 'z') {
        return Fail(ErrorCode::kInvalidArgument, "publicKeyMultibase must be base58btc multibase ('z' prefix)");
    }
    auto bytes = Base58BtcDecode(multibase.substr(1));
    if (!bytes) return Fail(ErrorCode::kInvalidArgument, "publicKeyMultibase is not valid base58btc");
    return FromSec1(curve, *bytes);
}

Result<PublicKey> PublicKey::FromJwk(const boost::json::object& jwk) {
    auto parsed = ParseJwk(jwk);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (parsed->d) return Fail(ErrorCode::kInvalidArgument, "jwk carries a private key where a public key belongs");
    return FromSec1(parsed->curve, "\x04" + parsed->x + parsed->y);
}

Curve PublicKey::curve() const { return impl_->curve; }
std::string PublicKey::Compressed() const { return Compress(impl_->x, impl_->y); }
std::string PublicKey::Uncompressed() const { return "\x04" + impl_->x + impl_->y; }

std::string PublicKey::Multikey() const {
    std::string bytes(impl_->curve == Curve::kP256 ? kP256Multicodec : kSecp256k1Multicodec);
    bytes += Compressed();
    return "z" + Base58BtcEncode(bytes);
}

std::string PublicKey::DidKey() const { return std::string(kDidKeyPrefix) + Multikey(); }
std::string PublicKey::LegacyMultibase() const { return "z" + Base58BtcEncode(Uncompressed()); }

boost::json::object PublicKey::ToJwk() const {
    boost::json::object jwk;
    jwk["kty"] = "EC";
    jwk["crv"] = JwkCurveName(impl_->curve);
    jwk["x"] = Base64UrlOf(impl_->x);
    jwk["y"] = Base64UrlOf(impl_->y);
    return jwk;
}

std::string PublicKey::JwkThumbprint() const {
    // RFC 7638 §3.2: the required members only, lexicographic order, no whitespace. Every value is ASCII
    // without characters JSON would escape, so plain concatenation is the canonical form.
    std::string canonical = R"({"crv":")";
    canonical += JwkCurveName(impl_->curve);
    canonical += R"(","kty":"EC","x":")";
    canonical += Base64UrlOf(impl_->x);
    canonical += R"(","y":")";
    canonical += Base64UrlOf(impl_->y);
    canonical += R"("})";
    return core::Base64UrlEncode(core::DigestToString(core::Sha256(canonical)));
}

Status PublicKey::Verify(std::string_view message, std::string_view signature) const {
    if (signature.size() != kSignatureBytes) {
        return Fail(ErrorCode::kInvalidArgument, "signature must be 64 bytes r||s");
    }
    const auto& info = Info(impl_->curve);
    BnPtr r(BN_bin2bn(U8(signature), 32, nullptr));
    BnPtr s(BN_bin2bn(U8(signature) + 32, 32, nullptr));
    if (!r || !s) return OpensslFailure("reading signature");
    if (BN_is_zero(r.get()) || BN_is_zero(s.get()) || BN_cmp(r.get(), info.order.get()) >= 0 ||
        BN_cmp(s.get(), info.order.get()) >= 0) {
        return Fail(ErrorCode::kPermissionDenied, "signature is invalid");
    }
    // atproto requires low-S so a signature cannot be re-encoded into a second valid form (malleability).
    if (BN_cmp(s.get(), info.half_order.get()) > 0) {
        return Fail(ErrorCode::kPermissionDenied, "signature is invalid (high-S form is not allowed)");
    }
    SigPtr sig(ECDSA_SIG_new());
    if (!sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return OpensslFailure("building signature");
    r.release();  // owned by sig now
    s.release();
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(sig.get(), &der);
    if (der_len <= 0) return OpensslFailure("encoding signature");
    std::unique_ptr<unsigned char, void (*)(unsigned char*)> der_owned(der, [](unsigned char* p) { OPENSSL_free(p); });
    MdCtxPtr md(EVP_MD_CTX_new());
    if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, impl_->pkey.get()) != 1) {
        return OpensslFailure("verify setup");
    }
    int rc = EVP_DigestVerify(md.get(), der, std::size_t(der_len), U8(message), message.size());
    if (rc == 1) return Ok();
    TakeOpensslErrors();
    return Fail(ErrorCode::kPermissionDenied, "signature is invalid");
}

bool operator==(const PublicKey& a, const PublicKey& b) {
    return a.impl_->curve == b.impl_->curve && a.impl_->x == b.impl_->x && a.impl_->y == b.impl_->y;
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::FromBytes(Curve curve, std::string_view scalar) {
    if (scalar.size() != kPrivateKeyBytes) return Fail(ErrorCode::kInvalidArgument, "private key must be 32 bytes");
    const auto& info = Info(curve);
    BnPtr priv(BN_secure_new());
    if (!priv || !BN_bin2bn(U8(scalar), int(scalar.size()), priv.get())) return OpensslFailure("reading key");
    if (BN_is_zero(priv.get()) || BN_cmp(priv.get(), info.order.get()) >= 0) {
        return Fail(ErrorCode::kInvalidArgument, "private key is out of range for the curve");
    }
    // OpenSSL 3.0 does not derive the public point on import, so compute priv·G here.
    GroupPtr group(EC_GROUP_new_by_curve_name(info.nid));
    BnCtxPtr bn_ctx(BN_CTX_new());
    if (!group || !bn_ctx) return OpensslFailure("curve setup");
    PointPtr point(EC_POINT_new(group.get()));
    std::string encoded(kUncompressedPointBytes, '\0');
    if (!point || EC_POINT_mul(group.get(), point.get(), priv.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
        EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED,
                           reinterpret_cast<unsigned char*>(encoded.data()), encoded.size(),
                           bn_ctx.get()) != kUncompressedPointBytes) {
        return OpensslFailure("deriving public key");
    }
    auto pkey = BuildPkey(curve, encoded, priv.get());
    if (!pkey) return Fail(std::move(pkey.error()));
    auto public_key = PublicKey::FromSec1(curve, encoded);
    if (!public_key) return Fail(std::move(public_key.error()));
    return PrivateKey(std::make_shared<const Impl>(std::move(*pkey), std::string(scalar), *public_key));
}

Result<PrivateKey> PrivateKey::Generate(Curve curve) {
    PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", Info(curve).group_name));
    if (!pkey) return OpensslFailure("generating key");
    BIGNUM* priv = nullptr;
    if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &priv) != 1) {
        return OpensslFailure("reading generated key");
    }
    BnPtr priv_owned(priv);
    std::string scalar = BnToBytes32(priv);
    BN_clear(priv);
    auto key = FromBytes(curve, scalar);
    OPENSSL_cleanse(scalar.data(), scalar.size());
    return key;
}

Result<PrivateKey> PrivateKey::FromJwk(const boost::json::object& jwk) {
    auto parsed = ParseJwk(jwk);
    if (!parsed) return Fail(std::move(parsed.error()));
    if (!parsed->d) return Fail(ErrorCode::kInvalidArgument, "jwk has no private member 'd'");
    auto key = FromBytes(parsed->curve, *parsed->d);
    OPENSSL_cleanse(parsed->d->data(), parsed->d->size());
    if (!key) return key;
    if (key->Public().Uncompressed() != "\x04" + parsed->x + parsed->y) {
        return Fail(ErrorCode::kInvalidArgument, "jwk 'x'/'y' do not belong to its private key 'd'");
    }
    return key;
}

Curve PrivateKey::curve() const { return impl_->public_key.curve(); }
const PublicKey& PrivateKey::Public() const { return impl_->public_key; }
std::string PrivateKey::Bytes() const { return impl_->scalar; }

boost::json::object PrivateKey::ToJwk() const {
    auto jwk = impl_->public_key.ToJwk();
    jwk["d"] = Base64UrlOf(impl_->scalar);
    return jwk;
}

Result<std::string> PrivateKey::Sign(std::string_view message) const {
    MdCtxPtr md(EVP_MD_CTX_new());
    if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, impl_->pkey.get()) != 1) {
        return OpensslFailure("sign setup");
    }
    std::size_t der_len = 0;
    if (EVP_DigestSign(md.get(), nullptr, &der_len, U8(message), message.size()) != 1) {
        return OpensslFailure("sign size");
    }
    std::string der(der_len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(der.data()), &der_len, U8(message), message.size()) !=
        1) {
        return OpensslFailure("signing");
    }
    const unsigned char* cursor = reinterpret_cast<const unsigned char*>(der.data());
    SigPtr sig(d2i_ECDSA_SIG(nullptr, &cursor, long(der_len)));
    if (!sig) return OpensslFailure("decoding signature");
    const BIGNUM* r = ECDSA_SIG_get0_r(sig.get());
    const BIGNUM* s = ECDSA_SIG_get0_s(sig.get());
    const auto& info = Info(curve());
    std::string out = BnToBytes32(r);
    // OpenSSL emits high-S about half the time; atproto verifiers reject it, so use the equivalent n - s.
    if (BN_cmp(s, info.half_order.get()) > 0) {
        BnPtr low(BN_new());
        if (!low || BN_sub(low.get(), info.order.get(), s) != 1) return OpensslFailure("normalising signature");
        out += BnToBytes32(low.get());
    } else {
        out += BnToBytes32(s);
    }
    return out;
}

}  // namespace plyr::atproto::crypto
