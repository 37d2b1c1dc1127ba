#pragma once
// atproto/crypto OAuth JWTs: DPoP proofs (RFC 9449, atproto.md §6.6) and private_key_jwt client assertions
// (RFC 7523, atproto.md §6.7) — building them, and verifying a DPoP proof the way the reference server does.
// Pure JWT work on top of jwt.hpp; the OAuth flow itself (nonce cache per origin, retries, jti replay cache,
// sessions) belongs to its callers.
//
// Contract
// - BuildDpopProof: header {"typ":"dpop+jwt","alg","jwk"(public only)}; payload {"jti" (128 random bits,
//   base64url), "htm", "htu" (query and fragment stripped), "iat" (clock seconds), "nonce"? , "ath"?}.
// - VerifyDpopProof: strict ParseJwt, `typ` exactly dpop+jwt, a public `jwk` header whose key verifies the
//   signature, string `jti`, `htm` equal (case-sensitive), `htu` equal after URL normalisation (scheme/host
//   case, default port, dot segments; query and fragment ignored), `iat` within DpopExpectation::times,
//   `ath` equal to AccessTokenHash(access_token) when a token is presented and absent otherwise, `nonce`
//   equal when one is expected.
// - Errors: as jwt.hpp, plus kConflict for a missing or different `nonce` (the caller answers
//   `use_dpop_nonce` with a fresh nonce); every other failed check is kPermissionDenied or kInvalidArgument
//   (`invalid_dpop_proof`).
// - Thread-safety: pure functions (randomness from OpenSSL's thread-safe CSPRNG).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "atproto/crypto/jwt.hpp"
#include "atproto/crypto/keys.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::crypto {

struct DpopRequest {
    std::string htm;  // HTTP method, exactly as sent (uppercase)
    std::string htu;  // request URL; query and fragment are dropped from the proof
    std::optional<std::string> nonce;
    std::optional<std::string> access_token;  // set on resource-server calls: adds `ath`
};

Result<std::string> BuildDpopProof(const PrivateKey& key, const DpopRequest& request, const core::Clock& clock);

// The reference server's window (atproto.md §6.6): iat from now − 190 s to now + 180 s.
JwtTimeRules DefaultDpopTimeRules();

struct DpopExpectation {
    std::string htm;
    std::string htu;                          // the URL the request arrived on (query allowed; ignored)
    std::optional<std::string> nonce;         // required and compared when set
    std::optional<std::string> access_token;  // when set, `ath` must match; when unset, `ath` must be absent
    JwtTimeRules times = DefaultDpopTimeRules();
};

struct VerifiedDpop {
    PublicKey key;
    std::string jkt;  // RFC 7638 thumbprint of `key`, to compare with the access token's cnf.jkt
    std::string jti;  // for the caller's replay cache
    boost::json::object payload;
};

Result<VerifiedDpop> VerifyDpopProof(std::string_view proof, const DpopExpectation& expected, const core::Clock& clock);

// `htu` comparison form: scheme and host lowercased, default port removed, path normalised (empty → "/"),
// query and fragment removed. kInvalidArgument for anything but an absolute http(s) URL with a host.
Result<std::string> NormalizeHtu(std::string_view url);

// private_key_jwt client assertion: header {"alg","kid"}; payload {"iss": client_id, "sub": client_id,
// "aud": issuer, "jti" (random), "iat": now − backdate_seconds, "exp": iat + lifetime_seconds}. The reference
// AS refuses an `iat` even one second in the future, hence the small default backdate (atproto.md §6.7).
struct ClientAssertionRequest {
    std::string client_id;
    std::string issuer;  // the authorization server's issuer string, not its token endpoint
    std::string kid;
    std::int64_t backdate_seconds = 2;
    std::int64_t lifetime_seconds = 60;
};

Result<std::string> BuildClientAssertion(const PrivateKey& key, const ClientAssertionRequest& request,
                                         const core::Clock& clock);

}  // namespace plyr::atproto::crypto
