#pragma once
// auth::OAuthBackend — the network half of the sign-in (discovery, PAR, token endpoint, revocation) behind one
// interface, so AuthService's flows are testable with a double and the production implementation
// (HttpOAuthBackend) stays a thin layer over atproto/oauth (discovery.hpp, token.hpp, nonce_cache.hpp).
//
// Contract
// - Every call is BLOCKING (HTTP through the SSRF-guarded client); callers run them on the blocking pool.
// - Token endpoint failures as atproto/oauth/token.hpp: kPermissionDenied with detail starting "invalid_grant"
//   when the AS answered invalid_grant (IsInvalidGrant), kProtocol for other refusals or a malformed response,
//   the HTTP client's code for transport failures. A token response is checked before it is returned:
//   token_type DPoP, `atproto` in scope, `sub` a valid did:plc/did:web (kProtocol otherwise).
// - DPoP nonces are cached per origin (authorization servers and PDSs), never in a session row.
// - Thread-safety: HttpOAuthBackend may be used concurrently.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::auth {

struct TokenSet {
    std::string access_token;
    std::string refresh_token;
    std::string scope;
    std::string sub;
    std::int64_t expires_in = 0;  // seconds
};

// Who plyr is to the authorization server.
struct OAuthClient {
    std::string client_id;
    std::string redirect_uri;
    const atproto::crypto::PrivateKey* key = nullptr;  // confidential clients only
    std::string kid;
};

// The parts of the AS metadata a session keeps for refresh and revocation.
struct AuthServerEndpoints {
    std::string issuer;
    std::string token_endpoint;
    std::string revocation_endpoint;  // empty when none
};

bool IsInvalidGrant(const Error& error);

class OAuthBackend {
  public:
    virtual ~OAuthBackend() = default;
    virtual Result<atproto::oauth::Discovery> Discover(std::string_view pds_url) = 0;
    // A server URL typed at sign-in that is not a resource server may be an authorization server itself
    // (atproto.md §6.3 step 4): its metadata, validated, with an empty pds_origin.
    virtual Result<atproto::oauth::Discovery> DiscoverIssuer(std::string_view issuer_url) = 0;
    virtual Result<atproto::oauth::ParResponse> PushAuthorization(const atproto::oauth::AuthServerMetadata& server,
                                                                  const atproto::oauth::ParRequest& request,
                                                                  const atproto::crypto::PrivateKey& dpop_key) = 0;
    virtual Result<TokenSet> ExchangeCode(const AuthServerEndpoints& server, const OAuthClient& client,
                                          std::string_view code, std::string_view code_verifier,
                                          const atproto::crypto::PrivateKey& dpop_key) = 0;
    virtual Result<TokenSet> Refresh(const AuthServerEndpoints& server, const OAuthClient& client,
                                     std::string_view refresh_token, const atproto::crypto::PrivateKey& dpop_key) = 0;
    // Best effort: the reference AS answers 200 to nearly everything (atproto.md §6.9).
    virtual Status Revoke(const AuthServerEndpoints& server, const OAuthClient& client, std::string_view token,
                          const atproto::crypto::PrivateKey& dpop_key) = 0;
    // The issuer of the authorization server that protects `pds_url` (fresh, no cache): `sub` verification.
    virtual Result<std::string> IssuerForPds(std::string_view pds_url) = 0;

    // The process-wide per-origin DPoP nonce cache (AS and PDS calls).
    virtual atproto::oauth::DpopNonceCache& nonces() = 0;
};

class HttpOAuthBackend final : public OAuthBackend {
  public:
    // `http` (SSRF-guarded) and `clock` must outlive the backend.
    HttpOAuthBackend(net::HttpClient& http, const core::Clock& clock) : http_(http), clock_(clock) {}

    // PushAuthorization makes up to kParAttempts attempts on transport errors (kUnavailable, kTimeout), waiting
    // delay × attempt between them.
    static constexpr int kParAttempts = 3;
    void set_par_retry_delay(std::chrono::milliseconds delay) { par_retry_delay_ = delay; }

    Result<atproto::oauth::Discovery> Discover(std::string_view pds_url) override;
    Result<atproto::oauth::Discovery> DiscoverIssuer(std::string_view issuer_url) override;
    Result<atproto::oauth::ParResponse> PushAuthorization(const atproto::oauth::AuthServerMetadata& server,
                                                          const atproto::oauth::ParRequest& request,
                                                          const atproto::crypto::PrivateKey& dpop_key) override;
    Result<TokenSet> ExchangeCode(const AuthServerEndpoints& server, const OAuthClient& client, std::string_view code,
                                  std::string_view code_verifier, const atproto::crypto::PrivateKey& dpop_key) override;
    Result<TokenSet> Refresh(const AuthServerEndpoints& server, const OAuthClient& client,
                             std::string_view refresh_token, const atproto::crypto::PrivateKey& dpop_key) override;
    Status Revoke(const AuthServerEndpoints& server, const OAuthClient& client, std::string_view token,
                  const atproto::crypto::PrivateKey& dpop_key) override;
    Result<std::string> IssuerForPds(std::string_view pds_url) override;
    atproto::oauth::DpopNonceCache& nonces() override { return nonces_; }

  private:
    net::HttpClient& http_;
    const core::Clock& clock_;
    atproto::oauth::DpopNonceCache nonces_;
    std::chrono::milliseconds par_retry_delay_{250};
};

}  // namespace plyr::auth
