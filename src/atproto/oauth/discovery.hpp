#pragma once
// atproto/oauth discovery (atproto.md §6.3): PDS → protected-resource metadata → its single authorization
// server → authorization-server metadata, validated strictly. Pushed authorization requests (§6.4) with
// PKCE, DPoP and the `use_dpop_nonce` retry.
//
// Contract
// - Blocking (net::HttpClient::Send): coroutines call these through net::Offload on the blocking pool.
// - Documents are fetched without following redirects, ≤ 64 KiB, 5 s each, through the caller's
//   SSRF-guarded client. Transport failures keep the client's error (kUnavailable, kTimeout,
//   kPermissionDenied "ssrf_blocked…"); the endpoint maps those to `pds_error`.
// - Every metadata violation is kProtocol with detail starting kAuthServerInvalid (product.md §9 row 36):
//   non-200 or non-JSON documents, `resource` ≠ the PDS origin, not exactly one authorization server,
//   issuer not an origin or ≠ the origin it was fetched from, missing/non-https endpoints (http only when
//   the client's policy permits http), PAR not required, no S256, no ES256 DPoP, no `atproto` scope, no
//   private_key_jwt/none auth methods, `protected_resources` present without the PDS origin.
//   A 404 protected-resource document means "the PDS is its own authorization server" (reference client).
// - PushAuthorizationRequest: one POST, retried once on `use_dpop_nonce` (400 or 401) with the new nonce,
//   a fresh DPoP proof and (confidential) a fresh client assertion. kProtocol with detail "par_rejected"
//   plus the server's error for other failures; the latest DPoP nonce is returned for the caller's
//   per-origin cache.
// - Thread-safety: stateless functions; safe to call concurrently.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "atproto/crypto/keys.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::oauth {

inline constexpr std::string_view kAuthServerInvalid = "auth_server_invalid";

struct AuthServerMetadata {
    std::string issuer;
    std::string authorization_endpoint;
    std::string token_endpoint;
    std::string pushed_authorization_request_endpoint;
    std::string revocation_endpoint;  // empty when the AS has none
    boost::json::object document;     // the whole validated document
};

struct Discovery {
    std::string pds_origin;
    AuthServerMetadata server;
};

// `scheme://host[:port]` of an absolute http(s) URL (kInvalidArgument otherwise).
Result<std::string> OriginOf(std::string_view url);

// The single authorization-server issuer named by the PDS's protected-resource metadata.
Result<std::string> FetchProtectedResource(net::HttpClient& client, std::string_view pds_url);

// `issuer/.well-known/oauth-authorization-server`, validated; `pds_origin` checked against
// `protected_resources` when given.
Result<AuthServerMetadata> FetchAuthServerMetadata(net::HttpClient& client, std::string_view issuer,
                                                   std::optional<std::string_view> pds_origin = std::nullopt);

Result<Discovery> DiscoverFromPds(net::HttpClient& client, std::string_view pds_url);

struct ClientAuth {  // confidential clients only
    const crypto::PrivateKey* key = nullptr;
    std::string kid;
};

struct ParRequest {
    std::string client_id;
    std::string redirect_uri;
    std::string scope;
    std::string state;
    std::string code_challenge;  // S256
    std::optional<std::string> login_hint;
    std::optional<std::string> prompt;
    std::optional<ClientAuth> client_auth;
};

struct ParResponse {
    std::string request_uri;
    std::int64_t expires_in = 0;
    std::optional<std::string> dpop_nonce;  // latest nonce seen for the AS origin
};

Result<ParResponse> PushAuthorizationRequest(net::HttpClient& client, const AuthServerMetadata& server,
                                             const ParRequest& request, const crypto::PrivateKey& dpop_key,
                                             std::optional<std::string> dpop_nonce, const core::Clock& clock);

// `<authorization_endpoint>?client_id=…&request_uri=…` (only those two parameters, §6.4).
std::string AuthorizationRedirectUrl(const AuthServerMetadata& server, std::string_view client_id,
                                     std::string_view request_uri);

}  // namespace plyr::atproto::oauth
