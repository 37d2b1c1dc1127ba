#pragma once
// atproto/oauth session-bound PDS calls (atproto.md §6.10, product.md §6.2): XRPC with
// `Authorization: DPoP <access token>` and a DPoP proof per attempt, one refresh on `invalid_token`, then
// `session_expired`.
//
// Contract
// - MakeDpopAuthHook: an xrpc::AuthHook that, for EVERY attempt, signs a new proof with the session's DPoP
//   key: htm = AuthContext::method, htu = AuthContext::htu (no query), ath = SHA-256 of the access token,
//   nonce = AuthContext::dpop_nonce when the XrpcClient just got a challenge, otherwise the cache's nonce
//   for the htu's origin (omitted when none is known). The PDS's `use_dpop_nonce` retry itself is
//   XrpcClient's (xrpc_client.hpp). MakeNonceRecorder stores every DPoP-Nonce a response carries under the
//   PDS origin. DpopXrpcOptions wires both into XrpcOptions.
// - PdsSession::Run(fn): Current() credentials → fn(client). When the answer is 401 invalid_token
//   (IsInvalidTokenError) — or before the call when the access token expires within kRefreshAhead — it
//   calls CredentialSource::Refresh ONCE and repeats fn with the new credentials. A second invalid_token,
//   or a Refresh failing with invalid_grant (IsInvalidGrant), ends in a `session_expired` error
//   (IsSessionExpired: kPermissionDenied, detail "session_expired: …"); the caller deletes the session and
//   answers 401 session_expired. A Refresh failing otherwise (AS down) returns that error as an XrpcError
//   (→ pds_error). Current() failures are returned as they are. `Invalid DPoP key binding` is never
//   refreshed (a refresh with the wrong key would kill the grant, §6.6): it is returned as is.
//   fn may run twice, so it must be safe to repeat: an invalid_token answer means the PDS did nothing.
// - CredentialSource is the storage side (H4: session row + SessionRepository::TryLockRefresh lease):
//   Refresh(stale) must serialise refreshes of the session across processes, and when the stored access
//   token already differs from stale.access_token (another worker refreshed meanwhile) return the stored
//   credentials WITHOUT refreshing again (refresh tokens are single use). It persists the new token pair
//   atomically before returning it. RefreshTokens (token.hpp) is the protocol half it calls.
// - Thread-safety: a PdsSession holds references only; Run may be called from several threads when the
//   CredentialSource, HttpClient and nonce cache allow it (the provided ones do). All objects passed in
//   must outlive the session and any hook/options made from them.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <tl/expected.hpp>

#include "atproto/crypto/keys.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::oauth {

inline constexpr std::string_view kSessionExpired = "session_expired";

struct Credentials {
    std::string access_token;        // secret
    crypto::PrivateKey dpop_key;     // the session's key, for the whole grant
    std::int64_t expires_at_us = 0;  // access-token expiry; 0 = unknown (no proactive refresh)
};

xrpc::AuthHook MakeDpopAuthHook(std::shared_ptr<const Credentials> credentials, DpopNonceCache& nonces,
                                const core::Clock& clock);
std::function<void(std::string_view)> MakeNonceRecorder(DpopNonceCache& nonces, std::string origin);
// `base` with auth = MakeDpopAuthHook and on_dpop_nonce = MakeNonceRecorder(OriginOf(pds_url)) (chained
// after base.on_dpop_nonce when that is set).
Result<xrpc::XrpcOptions> DpopXrpcOptions(std::string_view pds_url, std::shared_ptr<const Credentials> credentials,
                                          DpopNonceCache& nonces, const core::Clock& clock,
                                          xrpc::XrpcOptions base = {});

// The `error` parameter of a WWW-Authenticate value (`DPoP algs="…", error="invalid_token", …`), found by
// name, unquoted; empty when absent.
std::string WwwAuthenticateError(std::string_view www_authenticate);
// 401 whose WWW-Authenticate error is invalid_token, or whose XRPC error is invalid_token / InvalidToken /
// ExpiredToken — except "Invalid DPoP key binding".
bool IsInvalidTokenError(const xrpc::XrpcError& error);
bool IsSessionExpired(const xrpc::XrpcError& error);
bool IsSessionExpired(const Error& error);

class CredentialSource {
  public:
    virtual ~CredentialSource() = default;
    virtual Result<Credentials> Current() = 0;
    virtual Result<Credentials> Refresh(const Credentials& stale) = 0;
};

class PdsSession {
  public:
    static constexpr std::int64_t kRefreshAheadUs = 30'000'000;  // refresh before a call when < 30 s left

    // `base` is the XrpcOptions template (retries, timeouts); its auth hook is replaced.
    PdsSession(net::HttpClient& http, std::string pds_url, CredentialSource& source, DpopNonceCache& nonces,
               const core::Clock& clock, xrpc::XrpcOptions base = {});

    // fn: (const xrpc::XrpcClient&) → xrpc::XrpcResult<T>. Returns fn's result or the errors above.
    template <typename Fn>
    std::invoke_result_t<Fn&, const xrpc::XrpcClient&> Run(Fn&& fn) const {
        using R = std::invoke_result_t<Fn&, const xrpc::XrpcClient&>;
        std::optional<R> out;
        auto failure = RunAttempts([&](const xrpc::XrpcClient& client) -> const xrpc::XrpcError* {
            out.emplace(fn(client));
            return out->has_value() ? nullptr : &out->error();
        });
        if (failure) return tl::unexpected<xrpc::XrpcError>(std::move(*failure));
        return std::move(*out);
    }

    const std::string& pds_url() const { return pds_url_; }

  private:
    // attempt returns nullptr on success or the attempt's error (owned by the caller's storage). The result
    // replaces the last attempt's outcome when set.
    std::optional<xrpc::XrpcError> RunAttempts(
        const std::function<const xrpc::XrpcError*(const xrpc::XrpcClient&)>& attempt) const;

    net::HttpClient& http_;
    std::string pds_url_;
    CredentialSource& source_;
    DpopNonceCache& nonces_;
    const core::Clock& clock_;
    xrpc::XrpcOptions base_;
};

}  // namespace plyr::atproto::oauth
