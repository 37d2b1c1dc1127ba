#pragma once
// atproto/crypto service auth: checking an inbound inter-service JWT (`Authorization: Bearer …` from another
// app or a user's PDS proxying for them; atproto.md §3.4) once the caller has the issuer's signing key.
// The caller parses the token (ParseJwt), resolves ServiceAuthIssuer's DID to its `#atproto` key, calls
// VerifyServiceAuth, keeps `jti` in a replay cache until `exp`, and re-resolves the DID once on a signature
// failure (key rotation). None of that I/O happens here.
//
// Contract (VerifyServiceAuth)
// - header `typ`, when present, must be "JWT" (a DPoP proof or an OAuth access token is not service auth);
//   `alg` must match the key's curve; the signature must verify (64-byte low-S, jwt.hpp).
// - `iss` is a DID, optionally with a `#fragment` (service identity); `aud` is exactly the expected service
//   DID or `<service DID>#<service id>` — the bare DID is legacy but still sent by proxying PDSes;
// - `exp` required and in the future per ServiceAuthExpectation::times (also `iat`/`nbf` when present);
// - `lxm`, when an NSID is expected, must be present and equal (as the reference xrpc-server does).
// - Errors: jwt.hpp's, and kPermissionDenied for a failed claim check, kInvalidArgument for a malformed one.
// - Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "atproto/crypto/jwt.hpp"
#include "atproto/crypto/keys.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::crypto {

// Service-auth tokens live about 60 s; 10 s covers clock skew between hosts without stretching that much.
JwtTimeRules DefaultServiceAuthTimeRules();

struct ServiceAuthExpectation {
    std::string service_did;         // ours, e.g. did:web:plyr.example
    std::string service_id;          // our service entry id without '#', e.g. plyr_appview; empty: bare DID only
    std::optional<std::string> lxm;  // the method being called; unset only for calls not bound to one method
    JwtTimeRules times = DefaultServiceAuthTimeRules();
};

struct ServiceAuthClaims {
    std::string iss;         // as sent, possibly with a fragment
    std::string issuer_did;  // iss without its fragment: the DID whose key signed
    std::string aud;
    std::optional<std::string> lxm;
    std::optional<std::string> jti;  // for the caller's replay cache
    std::int64_t exp = 0;
    boost::json::object payload;
};

// The DID to resolve for the signing key (`iss` up to any '#'), read before verification.
Result<std::string> ServiceAuthIssuer(const Jwt& jwt);

Result<ServiceAuthClaims> VerifyServiceAuth(const Jwt& jwt, const PublicKey& issuer_key,
                                            const ServiceAuthExpectation& expected, const core::Clock& clock);

}  // namespace plyr::atproto::crypto
