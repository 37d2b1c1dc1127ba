#pragma once
// atproto/oauth client identity: the confidential web client's metadata document and JWKS (atproto.md
// §6.2) and the loopback development client id (§6.12).
//
// Contract
// - BuildConfidentialClientMetadata: client_id = public_url + "/oauth-client-metadata.json", jwks_uri =
//   public_url + "/.well-known/jwks.json", private_key_jwt + ES256, dpop_bound_access_tokens, grant types
//   authorization_code + refresh_token, response type code, application_type web. public_url must be an
//   absolute https origin (http only with allow_http, for local development), no path/query/fragment/
//   userinfo (one trailing '/' is dropped); redirect_uris non-empty and each on public_url's origin; scope
//   must contain `atproto`. Violations → kConfig.
// - BuildJwks: {"keys":[{kty,crv,x,y,kid,alg:"ES256",use:"sig"}]} — public members only; P-256 keys only,
//   non-empty distinct kids (kConfig otherwise).
// - BuildLoopbackClientId: `http://localhost?redirect_uri=<enc>&scope=<enc>` (percent-encoded, `%20`);
//   redirect URIs must be http://127.0.0.1[:port]/… or http://[::1][:port]/… (the AS rejects `localhost`);
//   kConfig otherwise.
// - Thread-safety: pure functions.

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "atproto/crypto/keys.hpp"
#include "core/result.hpp"

namespace plyr::atproto::oauth {

inline constexpr std::string_view kClientMetadataPath = "/oauth-client-metadata.json";
inline constexpr std::string_view kJwksPath = "/.well-known/jwks.json";

struct ConfidentialClientOptions {
    std::string public_url;  // e.g. https://music.example
    std::string client_name;
    std::vector<std::string> redirect_uris;  // e.g. https://music.example/auth/callback
    std::string scope;                       // the universe of scopes ever requested (JoinScopes of all sets)
    bool allow_http = false;                 // development only
};

Result<boost::json::object> BuildConfidentialClientMetadata(const ConfidentialClientOptions& options);

// The client_id the metadata document must be served at (byte-exact), from a validated public_url.
Result<std::string> ConfidentialClientId(std::string_view public_url, bool allow_http = false);

struct JwksKey {
    std::string kid;
    crypto::PublicKey key;
};

Result<boost::json::object> BuildJwks(const std::vector<JwksKey>& keys);

Result<std::string> BuildLoopbackClientId(const std::vector<std::string>& redirect_uris, std::string_view scope);

// RFC 3986 percent-encoding of everything but unreserved characters (spaces become %20).
std::string PercentEncode(std::string_view text);

}  // namespace plyr::atproto::oauth
