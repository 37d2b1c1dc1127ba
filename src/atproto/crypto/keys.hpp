#pragma once
// atproto/crypto keys: the two curves atproto signs with (P-256 and secp256k1), their public encodings and
// ECDSA-SHA256 signatures in the atproto form (atproto.md §2.4; docs/atproto_crypto.md).
//
// Contract
// - Encodings: compressed and uncompressed SEC1 points, multikey (`z` + base58btc(multicodec varint + 33-byte
//   compressed point); p256-pub 0x1200, secp256k1-pub 0xe7), did:key (`did:key:` + multikey), the legacy
//   DID-document multibase (`z` + base58btc(point), no multicodec, curve named by the document's `type`) and EC
//   JWKs (`kty` EC, `crv` P-256 / secp256k1, base64url `x`/`y`[/`d`] of exactly 32 bytes). Every parser checks
//   that the point is on the curve.
// - Signatures are ECDSA over SHA-256 of the message (the message is hashed here, exactly once), encoded as 64
//   bytes r||s. Sign always emits low-S (s <= n/2). Verify accepts only 64-byte low-S signatures: DER input
//   and high-S signatures are refused even though OpenSSL itself would accept them (atproto rule).
// - Errors: kInvalidArgument for malformed input (bad encoding, wrong length, point off the curve, a JWK that
//   is not an EC key of our curves), kUnsupported for a curve or multicodec we do not handle,
//   kPermissionDenied for a signature that does not verify (including high-S), kInternal when OpenSSL fails
//   unexpectedly. Messages never contain key material.
// - Thread-safety: keys are immutable after construction; any number of threads may use one key (or copies
//   of it, which share the underlying OpenSSL key) at once.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/object.hpp>

#include "core/result.hpp"

namespace plyr::atproto::crypto {

enum class Curve {
    kP256,       // NIST P-256 / prime256v1, JWS alg ES256
    kSecp256k1,  // K-256, JWS alg ES256K
};

std::string_view JwkCurveName(Curve curve);  // "P-256" / "secp256k1"
std::string_view JwsAlgName(Curve curve);    // "ES256" / "ES256K"
// The DID-document verification method `type` of the legacy encoding (EcdsaSecp256r1VerificationKey2019 /
// EcdsaSecp256k1VerificationKey2019).
std::string_view LegacyKeyType(Curve curve);

inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kCompressedPointBytes = 33;
inline constexpr std::size_t kUncompressedPointBytes = 65;
inline constexpr std::size_t kPrivateKeyBytes = 32;
inline constexpr std::string_view kDidKeyPrefix = "did:key:";

class PublicKey {
  public:
    // SEC1 point: 33 bytes compressed (02|03 X) or 65 bytes uncompressed (04 X Y).
    static Result<PublicKey> FromSec1(Curve curve, std::string_view point);
    // `z…` multikey with multicodec prefix; only the compressed point is allowed inside (as the spec says).
    static Result<PublicKey> FromMultikey(std::string_view multikey);
    static Result<PublicKey> FromDidKey(std::string_view did_key);
    // `z` + base58btc(SEC1 point) without multicodec: the legacy DID-document form (uncompressed) and the
    // interop fixtures' publicKeyMultibase (compressed); the curve comes from context (LegacyKeyType).
    static Result<PublicKey> FromLegacyMultibase(Curve curve, std::string_view multibase);
    // Refuses a JWK that carries the private member `d` (use PrivateKey::FromJwk) and one whose optional `alg`
    // names the other curve's algorithm. `kid`, `use` and other members are ignored.
    static Result<PublicKey> FromJwk(const boost::json::object& jwk);

    Curve curve() const;
    std::string Compressed() const;       // 33 bytes
    std::string Uncompressed() const;     // 65 bytes
    std::string Multikey() const;         // z… (zDn… for P-256, zQ3s… for secp256k1)
    std::string DidKey() const;           // did:key:z…
    std::string LegacyMultibase() const;  // z + base58btc(uncompressed point)
    boost::json::object ToJwk() const;    // {"kty","crv","x","y"}
    // RFC 7638 thumbprint: base64url(SHA-256(`{"crv":…,"kty":"EC","x":…,"y":…}`)), no padding.
    std::string JwkThumbprint() const;

    // OK when `signature` is a 64-byte low-S r||s ECDSA signature over SHA-256(message) by this key.
    Status Verify(std::string_view message, std::string_view signature) const;

    // Same curve and same point.
    friend bool operator==(const PublicKey& a, const PublicKey& b);

  private:
    struct Impl;
    explicit PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

class PrivateKey {
  public:
    // A fresh key from OpenSSL's CSPRNG. kInternal if OpenSSL fails.
    static Result<PrivateKey> Generate(Curve curve);
    // The 32-byte big-endian scalar; must be in [1, n-1].
    static Result<PrivateKey> FromBytes(Curve curve, std::string_view scalar);
    // EC JWK with `d`; `x`/`y` must match the public key derived from `d`.
    static Result<PrivateKey> FromJwk(const boost::json::object& jwk);

    Curve curve() const;
    const PublicKey& Public() const;
    std::string Bytes() const;          // the 32-byte scalar: secret, never log it
    boost::json::object ToJwk() const;  // public members plus `d`: secret

    // 64-byte low-S r||s signature over SHA-256(message). kInternal if OpenSSL fails.
    Result<std::string> Sign(std::string_view message) const;

  private:
    struct Impl;
    explicit PrivateKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

}  // namespace plyr::atproto::crypto
