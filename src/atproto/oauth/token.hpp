#pragma once
// atproto/oauth token client (atproto.md §6.5, §6.7, §6.9): the authorization server's token endpoint
// (authorization_code and refresh_token grants) and revocation endpoint, and the `sub` ⇄ issuer
// verification that makes "sign in with atproto" safe (§6.5 step 6).
//
// Contract
// - Blocking (net::HttpClient::Send through the caller's SSRF-guarded client; ≤ 64 KiB, 10 s, no
//   redirects): coroutines call these through net::Offload on the blocking pool.
// - Every request is a form-encoded POST with a fresh DPoP proof signed by ctx.dpop_key (htm POST, htu =
//   the endpoint, no `ath`, nonce = the cached nonce of the endpoint's origin) and, for confidential
//   clients (ctx.client_auth set), a fresh private_key_jwt assertion with aud = the issuer. A 400/401
//   `use_dpop_nonce` answer carrying a new DPoP-Nonce is retried ONCE with a new proof (new jti/iat) and a
//   new assertion. Every DPoP-Nonce received is written to ctx.nonces (when set) under the endpoint's
//   origin, on success and on failure.
// - Token responses are validated (§6.5 step 6): token_type `DPoP` (case-insensitive), `scope` a string
//   containing the `atproto` token, `sub` a supported DID (did:plc / did:web), `access_token` and
//   `refresh_token` non-empty strings, `expires_in` a positive integer; `sub` == expected_sub when one is
//   given (RefreshTokens: always pass the session's DID).
// - Errors — tell them apart with ClassifyTokenError (or IsInvalidGrant):
//     kInvalidGrant    kPermissionDenied, detail "invalid_grant: <description>": the code or refresh token
//                      is dead (replayed, revoked, expired, wrong DPoP key). After a refresh: the session is
//                      over (the reference AS deletes it) — drop it, ask the user to sign in again.
//     kRejected        kProtocol, detail "token_rejected: status N <error>: <description>": any other 4xx
//                      (invalid_client, invalid_dpop_proof, invalid_request, a second use_dpop_nonce, …).
//     kInvalidResponse kProtocol, detail "token_response_invalid: <why>": a 2xx that fails validation, or
//                      `sub` ≠ expected_sub. The caller must not use (and should revoke) such tokens.
//     kTransport       anything else: the HTTP client's error (kUnavailable, kTimeout, "ssrf_blocked…"), or
//                      kUnavailable detail "token_endpoint_unavailable: status N" for 5xx/other statuses.
//                      → `pds_error` for the user; the tokens (if any) are still valid.
//   Local mistakes (missing key/clock/server in the context) are kInvalidArgument.
// - RevokeToken: a 2xx is success, but per §6.9 the reference AS answers 200 even when it revoked nothing,
//   so callers delete the local session regardless. kUnsupported when the AS has no revocation_endpoint.
// - VerifySubIssuer: resolve `sub` FRESH (the injected resolver must bypass caches) → its PDS URL →
//   FetchProtectedResource → the issuer must equal expected_issuer byte for byte. Mismatch →
//   kPermissionDenied detail "issuer_mismatch: …" (IsIssuerMismatch); resolution and transport failures
//   keep their own error. Returns the PDS URL from the DID document (to be stored with the session).
// - Token values never appear in errors or logs.
// - Thread-safety: stateless functions; safe concurrently (the nonce cache is thread-safe; PrivateKey is
//   immutable).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::oauth {

inline constexpr std::string_view kInvalidGrant = "invalid_grant";
inline constexpr std::string_view kTokenRejected = "token_rejected";
inline constexpr std::string_view kTokenResponseInvalid = "token_response_invalid";
inline constexpr std::string_view kTokenEndpointUnavailable = "token_endpoint_unavailable";
inline constexpr std::string_view kIssuerMismatch = "issuer_mismatch";

struct TokenSet {
    std::string access_token;        // secret
    std::string refresh_token;       // secret, single use
    std::string token_type;          // as received ("DPoP", any case)
    std::string scope;               // granted scope, space separated (parse it with ParseScope, never compare)
    std::string sub;                 // the account DID
    std::int64_t expires_at_us = 0;  // clock now + expires_in, microseconds since the epoch
};

// Everything a token-endpoint request needs besides its grant. Pointers are borrowed for the call.
struct TokenEndpointContext {
    const AuthServerMetadata* server = nullptr;  // issuer, token_endpoint, revocation_endpoint
    std::string client_id;
    std::optional<ClientAuth> client_auth;         // confidential client: key + kid (the session's, never another)
    const crypto::PrivateKey* dpop_key = nullptr;  // the session's DPoP key (the one used for PAR)
    DpopNonceCache* nonces = nullptr;              // optional; process-wide cache
    const core::Clock* clock = nullptr;
};

Result<TokenSet> ExchangeCode(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view code,
                              std::string_view redirect_uri, std::string_view code_verifier,
                              std::string_view expected_sub = {});

Result<TokenSet> RefreshTokens(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view refresh_token,
                               std::string_view expected_sub = {});

// `token` = the refresh or the access token (either revokes the whole grant on the reference AS).
Status RevokeToken(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view token);

enum class TokenErrorKind { kInvalidGrant, kRejected, kInvalidResponse, kTransport };
TokenErrorKind ClassifyTokenError(const Error& error);
bool IsInvalidGrant(const Error& error);

// Resolves a DID without any cache and returns the PDS service URL of its document.
using FreshPdsResolver = std::function<Result<std::string>(std::string_view did)>;

// Returns the PDS URL `sub`'s document names, after checking that its authorization server is
// expected_issuer.
Result<std::string> VerifySubIssuer(net::HttpClient& http, std::string_view sub, std::string_view expected_issuer,
                                    const FreshPdsResolver& resolve_pds_fresh);
bool IsIssuerMismatch(const Error& error);

}  // namespace plyr::atproto::oauth
