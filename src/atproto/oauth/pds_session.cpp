#include "atproto/oauth/pds_session.hpp"

#include <utility>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/discovery.hpp"
#include "atproto/oauth/token.hpp"

namespace plyr::atproto::oauth {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

xrpc::XrpcError SessionExpired(const xrpc::XrpcError* last, std::string_view why) {
    xrpc::XrpcError out;
    out.code = ErrorCode::kPermissionDenied;
    out.message = "the session has expired; sign in again";
    out.detail = std::string(kSessionExpired) + ": " + std::string(why);
    if (last != nullptr) {
        out.status = last->status;
        out.error = last->error;
        out.www_authenticate = last->www_authenticate;
    }
    return out;
}

}  // namespace

xrpc::AuthHook MakeDpopAuthHook(std::shared_ptr<const Credentials> credentials, DpopNonceCache& nonces,
                                const core::Clock& clock) {
    return [credentials = std::move(credentials), &nonces,
            &clock](const xrpc::AuthContext& ctx) -> Result<net::HeaderList> {
        if (!credentials) return Fail(ErrorCode::kInvalidArgument, "no session credentials");
        std::optional<std::string> nonce;
        if (!ctx.dpop_nonce.empty()) {
            nonce = std::string(ctx.dpop_nonce);
        } else if (auto origin = OriginOf(ctx.htu)) {
            nonce = nonces.Get(*origin);
        }
        auto proof = crypto::BuildDpopProof(
            credentials->dpop_key,
            {std::string(ctx.method), std::string(ctx.htu), std::move(nonce), credentials->access_token}, clock);
        if (!proof) return Fail(proof.error());
        return net::HeaderList{{"Authorization", "DPoP " + credentials->access_token}, {"DPoP", std::move(*proof)}};
    };
}

std::function<void(std::string_view)> MakeNonceRecorder(DpopNonceCache& nonces, std::string origin) {
    return [&nonces, origin = std::move(origin)](std::string_view nonce) { nonces.Put(origin, nonce); };
}

Result<xrpc::XrpcOptions> DpopXrpcOptions(std::string_view pds_url, std::shared_ptr<const Credentials> credentials,
                                          DpopNonceCache& nonces, const core::Clock& clock, xrpc::XrpcOptions base) {
    auto origin = OriginOf(pds_url);
    if (!origin) return Fail(origin.error());
    base.auth = MakeDpopAuthHook(std::move(credentials), nonces, clock);
    auto record = MakeNonceRecorder(nonces, std::move(*origin));
    if (base.on_dpop_nonce) {
        base.on_dpop_nonce = [record = std::move(record), next = std::move(base.on_dpop_nonce)](std::string_view n) {
            record(n);
            next(n);
        };
    } else {
        base.on_dpop_nonce = std::move(record);
    }
    return base;
}

std::string WwwAuthenticateError(std::string_view header) {
    // auth-param = token BWS "=" BWS ( token / quoted-string ), separated by commas (RFC 9110 §11.2);
    // the scheme name comes first. Walk the params by name so `error_description` or an `algs` list
    // cannot be mistaken for `error`.
    std::size_t i = 0;
    const std::size_t n = header.size();
    while (i < n) {
        while (i < n && (IsSpace(header[i]) || header[i] == ',')) ++i;
        const std::size_t name_start = i;
        while (i < n && !IsSpace(header[i]) && header[i] != '=' && header[i] != ',') ++i;
        const std::string_view name = header.substr(name_start, i - name_start);
        std::size_t j = i;
        while (j < n && IsSpace(header[j])) ++j;
        if (j >= n || header[j] != '=') {
            i = j;  // the scheme name (or a token68): no value
            continue;
        }
        i = j + 1;
        while (i < n && IsSpace(header[i])) ++i;
        std::string value;
        if (i < n && header[i] == '"') {
            ++i;
            while (i < n && header[i] != '"') {
                if (header[i] == '\\' && i + 1 < n) ++i;
                value.push_back(header[i++]);
            }
            ++i;
        } else {
            while (i < n && header[i] != ',' && !IsSpace(header[i])) value.push_back(header[i++]);
        }
        if (name.size() == 5 && (name == "error" || name == "ERROR" || name == "Error")) return value;
    }
    return {};
}

bool IsInvalidTokenError(const xrpc::XrpcError& error) {
    if (error.status != 401) return false;
    // The proof was signed with a key other than the token's cnf.jkt: a refresh with that key would kill the
    // grant (atproto.md §6.6), so this is not an expiry.
    if (error.message.find("DPoP key binding") != std::string::npos ||
        error.www_authenticate.find("DPoP key binding") != std::string::npos) {
        return false;
    }
    return WwwAuthenticateError(error.www_authenticate) == "invalid_token" || error.Is("invalid_token") ||
           error.Is("InvalidToken") || error.Is("ExpiredToken");
}

bool IsSessionExpired(const xrpc::XrpcError& error) {
    return error.code == ErrorCode::kPermissionDenied && error.detail.rfind(kSessionExpired, 0) == 0;
}

bool IsSessionExpired(const Error& error) {
    // XrpcError::ToError keeps the detail inside its ToString form.
    return error.code == ErrorCode::kPermissionDenied &&
           error.detail.find(std::string(kSessionExpired) + ":") != std::string::npos;
}

PdsSession::PdsSession(net::HttpClient& http, std::string pds_url, CredentialSource& source, DpopNonceCache& nonces,
                       const core::Clock& clock, xrpc::XrpcOptions base)
    : http_(http),
      pds_url_(std::move(pds_url)),
      source_(source),
      nonces_(nonces),
      clock_(clock),
      base_(std::move(base)) {}

std::optional<xrpc::XrpcError> PdsSession::RunAttempts(
    const std::function<const xrpc::XrpcError*(const xrpc::XrpcClient&)>& attempt) const {
    auto credentials = source_.Current();
    if (!credentials) return xrpc::FromError(credentials.error());
    bool refreshed = false;

    if (credentials->expires_at_us != 0 && clock_.NowMicros() + kRefreshAheadUs >= credentials->expires_at_us) {
        auto fresh = source_.Refresh(*credentials);
        if (fresh) {
            credentials = std::move(fresh);
            refreshed = true;
        } else if (IsInvalidGrant(fresh.error())) {
            return SessionExpired(nullptr, "refresh refused (invalid_grant)");
        } else if (clock_.NowMicros() >= credentials->expires_at_us) {
            return xrpc::FromError(fresh.error());
        }
        // Otherwise the AS is unreachable but the token still has a few seconds: try it.
    }

    for (;;) {
        auto options =
            DpopXrpcOptions(pds_url_, std::make_shared<const Credentials>(*credentials), nonces_, clock_, base_);
        if (!options) return xrpc::FromError(options.error());
        const xrpc::XrpcClient client(pds_url_, http_, std::move(*options));
        const xrpc::XrpcError* error = attempt(client);
        if (error == nullptr || !IsInvalidTokenError(*error)) return std::nullopt;
        if (refreshed) return SessionExpired(error, "the PDS refused the refreshed token");
        refreshed = true;
        auto fresh = source_.Refresh(*credentials);
        if (!fresh) {
            if (IsInvalidGrant(fresh.error())) return SessionExpired(error, "refresh refused (invalid_grant)");
            return xrpc::FromError(fresh.error());
        }
        credentials = std::move(fresh);
    }
}

}  // namespace plyr::atproto::oauth
