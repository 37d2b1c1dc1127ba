#pragma once
// auth::AuthService — the sign-in and session domain service (product.md §4.1 auth, §4.3, §6.1–6.3; issue 4).
// The HTTP layer (src/api) is a thin translation of these calls; docs/auth.md explains the decisions.
//
// Contract
// - Every method is BLOCKING (database, identity resolution, OAuth requests): coroutines call it through
//   net::Offload on the blocking pool. Background work (best-effort revocation at logout) is posted to the
//   BlockingPool given at construction.
// - Expected failures are AuthError values carrying the HTTP status and the product error code
//   (`invalid_handle`, `session_expired`, `too_many_accounts`, …) with a user-safe lowercase message.
//   Callback() never fails: every outcome is a redirect location (`/login?auth_error=…` on failure).
// - Secrets (session ids, tokens, DPoP keys, PKCE verifiers, exchange tokens) are never logged. Only their
//   hashes are stored; token bundles are SecretBox-encrypted (storage/repos).
// - Authenticate(): cookie first, then Bearer. Unknown → 401 authentication_required; expired or
//   undecryptable → row deleted, 401 session_expired (the caller clears the cookie); base scope not covered
//   → 403 scope_upgrade_required (unless the caller opts out, e.g. /auth/me and /auth/logout).
//   last_used_at is written at most once a minute.
// - Thread-safety: all methods may be called concurrently; the service holds references to the Db,
//   SecretBox, HttpClient, identity source, OAuth backend, clock and pool, which must outlive it.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <tl/expected.hpp>

#include "atproto/crypto/keys.hpp"
#include "atproto/identity/identity_resolver.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "auth/oauth_backend.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/secret_box.hpp"
#include "net/http_client.hpp"
#include "net/offload.hpp"
#include "pds/session_provider.hpp"
#include "storage/db/db.hpp"
#include "storage/repos/auth_repos.hpp"

namespace plyr::auth {

// ---- errors ----

struct AuthError {
    int status = 500;
    std::string code;     // product error code (product.md §4.7, §9)
    std::string message;  // lowercase, user-safe
    std::string detail;   // internal, for logs only (never a secret)
};

template <typename T>
using AuthResult = tl::expected<T, AuthError>;

inline tl::unexpected<AuthError> AuthFail(int status, std::string code, std::string message, std::string detail = {}) {
    return tl::unexpected<AuthError>(AuthError{status, std::move(code), std::move(message), std::move(detail)});
}

// ---- settings ----

// Confidential: OAUTH_JWK set (client_id {PUBLIC_URL}/oauth-client-metadata.json, private_key_jwt, 180-day
// sessions). Otherwise loopback public in development mode (no metadata document, 14 days), else a web public
// client (metadata document with token_endpoint_auth_method none, no JWKS, 14 days).
enum class ClientKind { kLoopbackPublic, kPublic, kConfidential };

struct AuthSettings {
    std::string public_url = "http://127.0.0.1:8001";  // no trailing '/'
    std::string client_name = "plyr";
    std::string app_namespace = "fm.plyr";
    bool use_permission_sets = false;
    std::string scope_override;  // replaces the base scope verbatim when set
    std::vector<std::string> teal_collections{"fm.teal.feed.play", "fm.teal.actor.status"};
    bool teal_enabled = true;
    // OAUTH_JWK: set → confidential client (client_id {public_url}/oauth-client-metadata.json).
    std::optional<atproto::crypto::PrivateKey> client_key;
    std::string client_kid;
    bool development_mode = false;    // PUBLIC_URL is http loopback (allows an http confidential client id)
    bool allow_test_handles = false;  // ALLOW_PRIVATE_NETWORK: `.test` handles may sign in
    std::int64_t developer_token_max_days = 365;
    std::vector<std::string> admin_dids;
    int max_accounts_per_group = 5;

    // From the validated configuration: OAUTH_JWK parsed (kConfig when it is not an ES256 private JWK).
    static Result<AuthSettings> FromConfig(const core::Config& config);
};

// ---- identity (injected so tests can double "sub resolves elsewhere") ----

class IdentitySource {
  public:
    virtual ~IdentitySource() = default;
    // A handle or DID → its identity (blocking). `fresh` bypasses every cache (sub verification).
    // Errors as atproto::identity::IdentityResolver (IdentityErrorName maps them to product codes).
    virtual Result<atproto::identity::Identity> Resolve(std::string_view at_identifier, bool fresh) = 0;
};

class ResolverIdentitySource final : public IdentitySource {
  public:
    explicit ResolverIdentitySource(atproto::identity::IdentityResolver& resolver) : resolver_(resolver) {}
    Result<atproto::identity::Identity> Resolve(std::string_view at_identifier, bool fresh) override;

  private:
    atproto::identity::IdentityResolver& resolver_;
};

// ---- flows ----

enum class Flow { kLogin, kAddAccount, kDevToken, kScopeUpgrade };
std::string_view FlowName(Flow flow);

struct StartResult {
    std::string auth_url;  // the authorization endpoint with client_id + request_uri
    // Raw value of the browser-binding cookie (kBindingCookie) the caller must set on this response.
    std::string binding;
};

struct CallbackParams {
    std::optional<std::string> code;
    std::optional<std::string> state;
    std::optional<std::string> iss;
    std::optional<std::string> error;
    std::optional<std::string> binding;  // the browser-binding cookie, when the browser sent it
};

struct ExchangeResult {
    std::string session_id;  // raw: becomes the cookie, or is returned to API clients
    std::string did;
    std::string handle;
    bool is_developer_token = false;
    std::int64_t expires_at = 0;  // µs since the epoch
};

struct AuthenticatedSession {
    std::string session_id;  // raw id presented by the client
    storage::repos::Session session;
    bool via_cookie = false;
};

struct SessionRef {  // where a logout/switch left the browser
    std::string session_id;
    std::string did;
    std::string handle;
    std::int64_t expires_at = 0;
};

struct DeveloperTokenInfo {
    std::string token_id;  // first 8 characters of the token
    std::string name;
    std::int64_t created_at = 0;
    std::int64_t expires_at = 0;
    std::int64_t last_used_at = 0;
};

// ISO-8601 UTC with second precision ("2026-11-25T17:21:36Z") of µs since the epoch (API timestamps).
std::string FormatTimestamp(std::int64_t micros);

// Validated return_to (§6.1 step 4, §9 row 46): a relative path starting with exactly one '/', no
// backslash, no control characters, no scheme. nullopt when it must be ignored.
std::optional<std::string> SanitizeReturnTo(std::string_view return_to);

inline constexpr std::string_view kSessionCookie = "session_id";
inline constexpr std::string_view kBindingCookie = "plyr_oauth_binding";
inline constexpr std::int64_t kStateLifetimeMicros = 10LL * 60 * 1'000'000;
inline constexpr std::int64_t kExchangeLifetimeMicros = 60LL * 1'000'000;

// A PDS client bound to one session, on atproto::oauth::PdsSession: a DPoP proof per request (ath/htm/htu,
// per-origin nonce cache), tokens refreshed when < 60 s remain or once after invalid_token — serialised by the
// session row's refresh lease across processes, new tokens committed before use — and `session_expired`
// (atproto::oauth::IsSessionExpired on the XrpcError) when the grant is gone (the session row is deleted).
// It is also the outbox's pds::SessionHandle (AuthSessionProvider below).
class PdsSession : public pds::SessionHandle {
  public:
    ~PdsSession() override = default;
    const std::string& did() const override = 0;
    virtual const std::string& pds_url() const = 0;
    const atproto::oauth::PdsSession& session() const override = 0;
};

// Runs `call(const XrpcClient&)` on the session (see atproto::oauth::PdsSession::Run).
template <typename F>
auto CallWithSession(const PdsSession& session, F&& call) {
    return session.session().Run(std::forward<F>(call));
}

class AuthService {
  public:
    AuthService(AuthSettings settings, storage::db::Db& db, const core::SecretBox& box, net::HttpClient& http,
                IdentitySource& identity, OAuthBackend& oauth, const core::Clock& clock, net::BlockingPool& pool);
    ~AuthService();
    AuthService(const AuthService&) = delete;
    AuthService& operator=(const AuthService&) = delete;

    const AuthSettings& settings() const { return settings_; }
    ClientKind client_kind() const;
    const std::string& client_id() const { return client_id_; }
    const std::string& redirect_uri() const { return redirect_uri_; }
    // The base scope requested at every sign-in, and the union advertised in client metadata.
    const std::string& base_scope() const { return base_scope_; }
    const std::string& scope_universe() const { return scope_universe_; }
    // nullopt (404) in loopback mode / for a public client (JWKS).
    std::optional<boost::json::object> ClientMetadata() const;
    std::optional<boost::json::object> Jwks() const;

    // GET /auth/start: `input` is a handle, DID or https PDS URL. 400 invalid_handle / handle_mismatch /
    // identity_unreachable / invalid_did_document / auth_server_invalid, 502 pds_error.
    AuthResult<StartResult> StartLogin(std::string_view input, std::optional<std::string_view> return_to);
    // POST /auth/add-account/start: prompt=login, no hint. 409 too_many_accounts.
    AuthResult<StartResult> StartAddAccount(const AuthenticatedSession& current,
                                            std::optional<std::string_view> handle);
    // POST /auth/developer-token/start: login_hint = the caller's handle. 400 invalid_name / invalid_expiry.
    AuthResult<StartResult> StartDeveloperToken(const AuthenticatedSession& current, std::string_view name,
                                                std::int64_t expires_in_days);
    // POST /auth/scope-upgrade/start: include ⊆ {teal, bsky_post}, non-empty. 400 invalid_scope_request.
    AuthResult<StartResult> StartScopeUpgrade(const AuthenticatedSession& current,
                                              const std::vector<std::string>& include,
                                              std::optional<std::string_view> return_to);

    // GET /auth/callback: the 303 location.
    std::string Callback(const CallbackParams& params);

    // POST /auth/exchange: single use, 60 s. 400 invalid_exchange_token.
    // `browser_binding`: for a browser exchange (the cookie is to be set), the value of its kBindingCookie ("" when
    // absent). A sign-in token is then redeemed only by the browser that started the flow: a link carrying
    // someone else's token cannot sign this browser in to their account (login CSRF). The token is spent
    // either way. nullopt (API clients, which get the id in the body) skips the check; developer tokens are
    // never checked.
    AuthResult<ExchangeResult> Exchange(std::string_view exchange_token,
                                        std::optional<std::string_view> browser_binding = std::nullopt);

    AuthResult<AuthenticatedSession> Authenticate(std::optional<std::string_view> cookie,
                                                  std::optional<std::string_view> bearer,
                                                  bool require_base_scope = true);

    // GET /auth/me
    AuthResult<boost::json::object> Me(const AuthenticatedSession& current);
    // POST /auth/logout[?switch_to]: 404 account_not_linked when switch_to names no live group member
    // (nothing is changed then). Returns the session switched to.
    AuthResult<std::optional<SessionRef>> Logout(const AuthenticatedSession& current,
                                                 std::optional<std::string_view> switch_to);
    // POST /auth/logout-all: every session of the group (or just this one without a group); developer
    // tokens untouched. Returns how many were logged out.
    AuthResult<std::int64_t> LogoutAll(const AuthenticatedSession& current);
    // POST /auth/switch-account: 404 account_not_linked; 401 session_expired (dead target removed).
    AuthResult<SessionRef> SwitchAccount(const AuthenticatedSession& current, std::string_view did);
    AuthResult<std::vector<DeveloperTokenInfo>> ListDeveloperTokens(const AuthenticatedSession& current);
    // 404 not_found; 400 ambiguous_token_id (prefix shared by several tokens of this DID).
    AuthResult<void> RevokeDeveloperToken(const AuthenticatedSession& current, std::string_view token_id);

    // The session-bound PDS client (401 session_expired when the grant is gone).
    AuthResult<std::unique_ptr<PdsSession>> OpenPdsSession(const AuthenticatedSession& current);
    // The session-bound PDS client of a DID, without a request (the outbox, background jobs; product.md §6.5):
    // the DID's most recently used live session, browser sessions before developer tokens, sessions marked
    // `deleting` never. kPermissionDenied "no_session" (pds::IsNoSession) when there is none.
    Result<std::unique_ptr<PdsSession>> OpenPdsSessionForDid(std::string_view did);
    // Forces a token refresh now (test route). 401 session_expired on invalid_grant.
    AuthResult<void> ForceRefresh(const AuthenticatedSession& current);

    // Deletes expired states, pending rows, exchange tokens and sessions (cleanup job).
    Result<std::int64_t> CleanupExpired();

    struct Impl;

  private:
    AuthSettings settings_;
    std::string client_id_;
    std::string redirect_uri_;
    std::string base_scope_;
    std::string scope_universe_;
    std::unique_ptr<Impl> impl_;
};

// The outbox's SessionProvider over AuthService::OpenPdsSessionForDid. The service must outlive it.
class AuthSessionProvider final : public pds::SessionProvider {
  public:
    explicit AuthSessionProvider(AuthService& service) : service_(service) {}
    Result<std::unique_ptr<pds::SessionHandle>> OpenForDid(std::string_view did) override {
        auto session = service_.OpenPdsSessionForDid(did);
        if (!session) return Fail(std::move(session.error()));
        return std::unique_ptr<pds::SessionHandle>(std::move(*session));
    }

  private:
    AuthService& service_;
};

}  // namespace plyr::auth
