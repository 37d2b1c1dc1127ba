#pragma once
// atproto/crypto JWTs: JWS compact serialisation with ES256 (P-256) and ES256K (secp256k1), as used by
// service-auth tokens, DPoP proofs and OAuth client assertions (atproto.md §3.4, §6.6, §6.7;
// docs/atproto_crypto.md).
//
// Contract
// - ParseJwt is strict: at most kMaxJwtBytes; exactly three non-empty segments of canonical unpadded
//   base64url; header and payload are JSON objects (Boost.JSON, strict UTF-8, nesting at most
//   kMaxJwtJsonDepth); header `alg` is "ES256" or "ES256K" (`none` and every other algorithm are refused);
//   a `crit` header is refused (we implement no extensions); `typ`/`kid` must be strings and `jwk` an object
//   when present; the signature decodes to exactly 64 bytes (r||s, never DER). JSON that repeats a member name
//   in any object, or has a number outside the double range (1e400), is refused. Parsing checks no signature
//   and no claim.
// - VerifyJwtSignature checks the signature over `header "." payload` (the segments as received) with the
//   given key, and refuses when `alg` does not match the key's curve. Low-S only (keys.hpp).
// - CheckJwtTimes applies `exp`, `nbf` and `iat` against an injected clock with a leeway; time claims must
//   be integers (NumericDate seconds).
// - Errors: kTooLarge (token too long), kInvalidArgument (malformed token or claim), kUnsupported (algorithm
//   or critical extension), kPermissionDenied (signature does not verify, alg/key mismatch, token expired,
//   not yet valid, issued in the future or too old).
// - Thread-safety: pure functions over their arguments.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "atproto/crypto/keys.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::crypto {

inline constexpr std::size_t kMaxJwtBytes = 16 * 1024;
inline constexpr std::size_t kMaxJwtJsonDepth = 16;

struct Jwt {
    // The segments exactly as received; the signature covers these bytes, not a re-serialisation.
    std::string header_segment;
    std::string payload_segment;
    std::string signature_segment;
    boost::json::object header;
    boost::json::object payload;
    std::string signature;  // 64 bytes r||s
    Curve curve{};          // named by `alg`

    std::string_view alg() const { return JwsAlgName(curve); }
    std::string SigningInput() const;  // header_segment "." payload_segment
    std::string Serialize() const;     // the compact token, byte-identical to what was parsed
};

Result<Jwt> ParseJwt(std::string_view token);

Status VerifyJwtSignature(const Jwt& jwt, const PublicKey& key);

// Signs `payload` under `header` with `key`. The header gets `alg` for the key's curve (inserted first when
// absent; kInvalidArgument when present with another value). Members keep their order; JSON is compact.
Result<std::string> SignJwt(const boost::json::object& header, const boost::json::object& payload,
                            const PrivateKey& key);

struct JwtTimeRules {
    // Clock skew tolerated in every comparison, in seconds.
    std::int64_t leeway_seconds = 30;
    bool require_exp = false;
    bool require_iat = false;
    // When set, `iat` (then required) may be at most this many seconds in the past.
    std::optional<std::int64_t> max_age_seconds;
};

// With now = the clock's current second: `exp` requires now < exp + leeway; `nbf` requires
// nbf <= now + leeway; `iat` requires iat <= now + leeway and, with max_age_seconds, now - iat <= max_age +
// leeway. Absent optional claims are not checked.
Status CheckJwtTimes(const boost::json::object& payload, const core::Clock& clock, const JwtTimeRules& rules);

// RFC 7638 SHA-256 thumbprint of an EC JWK (public, or private: `d` is not part of the thumbprint). The JWK is
// validated first (PublicKey::FromJwk rules).
Result<std::string> JwkThumbprint(const boost::json::object& jwk);

// DPoP `ath`: base64url(SHA-256(access token)), no padding (RFC 9449 §4.2).
std::string AccessTokenHash(std::string_view access_token);

// `plyr atproto verify-jwt <token> <did:key>`: parses the token, verifies its signature with the did:key's
// key and its time claims (default JwtTimeRules on the system clock, or the given ones), and returns the
// payload.
Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view did_key);
Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view did_key, const core::Clock& clock,
                                      const JwtTimeRules& rules);

}  // namespace plyr::atproto::crypto
