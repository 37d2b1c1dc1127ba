#include "auth/oauth_backend.hpp"

#include <thread>
#include <utility>

#include "atproto/oauth/token.hpp"

namespace plyr::auth {
namespace {

namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;

oauth::AuthServerMetadata Metadata(const AuthServerEndpoints& server) {
    oauth::AuthServerMetadata md;
    md.issuer = server.issuer;
    md.token_endpoint = server.token_endpoint;
    md.revocation_endpoint = server.revocation_endpoint;
    return md;
}

// A token-endpoint context over a session's endpoints; holds the metadata the context points to.
struct TokenCall {
    TokenCall(const AuthServerEndpoints& server, const OAuthClient& client, const crypto::PrivateKey& dpop_key,
              oauth::DpopNonceCache& nonces, const core::Clock& clock)
        : metadata(Metadata(server)) {
        ctx.server = &metadata;
        ctx.client_id = client.client_id;
        if (client.key != nullptr) ctx.client_auth = oauth::ClientAuth{client.key, client.kid};
        ctx.dpop_key = &dpop_key;
        ctx.nonces = &nonces;
        ctx.clock = &clock;
    }
    TokenCall(const TokenCall&) = delete;
    TokenCall& operator=(const TokenCall&) = delete;

    oauth::AuthServerMetadata metadata;
    oauth::TokenEndpointContext ctx;
};

TokenSet FromTokens(oauth::TokenSet tokens, std::int64_t now_us) {
    TokenSet out;
    out.access_token = std::move(tokens.access_token);
    out.refresh_token = std::move(tokens.refresh_token);
    out.scope = std::move(tokens.scope);
    out.sub = std::move(tokens.sub);
    out.expires_in = tokens.expires_at_us > now_us ? (tokens.expires_at_us - now_us) / 1'000'000 : 0;
    return out;
}

}  // namespace

bool IsInvalidGrant(const Error& error) { return oauth::IsInvalidGrant(error); }

Result<oauth::Discovery> HttpOAuthBackend::Discover(std::string_view pds_url) {
    return oauth::DiscoverFromPds(http_, pds_url);
}

Result<oauth::Discovery> HttpOAuthBackend::DiscoverIssuer(std::string_view issuer_url) {
    auto origin = oauth::OriginOf(issuer_url);
    if (!origin) return Fail(origin.error());
    auto server = oauth::FetchAuthServerMetadata(http_, *origin);
    if (!server) return Fail(server.error());
    oauth::Discovery discovery;  // pds_origin stays empty: the URL named an authorization server, not a PDS
    discovery.server = std::move(*server);
    return discovery;
}

Result<oauth::ParResponse> HttpOAuthBackend::PushAuthorization(const oauth::AuthServerMetadata& server,
                                                               const oauth::ParRequest& request,
                                                               const crypto::PrivateKey& dpop_key) {
    auto origin = oauth::OriginOf(server.issuer);
    // product.md §6.1 step 5: up to 3 attempts on transport errors. A PAR has no effect until the browser
    // follows its request_uri, so repeating one is safe; refusals (kProtocol) and SSRF blocks are final.
    Result<oauth::ParResponse> response = Fail(ErrorCode::kInternal, "no attempt made");
    for (int attempt = 0; attempt < kParAttempts; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(par_retry_delay_ * attempt);
        std::optional<std::string> nonce = origin ? nonces_.Get(*origin) : std::nullopt;
        response = oauth::PushAuthorizationRequest(http_, server, request, dpop_key, nonce, clock_);
        if (response && response->dpop_nonce && origin) nonces_.Put(*origin, *response->dpop_nonce);
        if (response ||
            (response.error().code != ErrorCode::kUnavailable && response.error().code != ErrorCode::kTimeout)) {
            break;
        }
    }
    return response;
}

Result<TokenSet> HttpOAuthBackend::ExchangeCode(const AuthServerEndpoints& server, const OAuthClient& client,
                                                std::string_view code, std::string_view code_verifier,
                                                const crypto::PrivateKey& dpop_key) {
    TokenCall call(server, client, dpop_key, nonces_, clock_);
    auto tokens = oauth::ExchangeCode(http_, call.ctx, code, client.redirect_uri, code_verifier);
    if (!tokens) return Fail(tokens.error());
    return FromTokens(std::move(*tokens), clock_.NowMicros());
}

Result<TokenSet> HttpOAuthBackend::Refresh(const AuthServerEndpoints& server, const OAuthClient& client,
                                           std::string_view refresh_token, const crypto::PrivateKey& dpop_key) {
    TokenCall call(server, client, dpop_key, nonces_, clock_);
    auto tokens = oauth::RefreshTokens(http_, call.ctx, refresh_token);
    if (!tokens) return Fail(tokens.error());
    return FromTokens(std::move(*tokens), clock_.NowMicros());
}

Status HttpOAuthBackend::Revoke(const AuthServerEndpoints& server, const OAuthClient& client, std::string_view token,
                                const crypto::PrivateKey& dpop_key) {
    if (server.revocation_endpoint.empty()) return Ok();
    TokenCall call(server, client, dpop_key, nonces_, clock_);
    return oauth::RevokeToken(http_, call.ctx, token);
}

Result<std::string> HttpOAuthBackend::IssuerForPds(std::string_view pds_url) {
    return oauth::FetchProtectedResource(http_, pds_url);
}

}  // namespace plyr::auth
