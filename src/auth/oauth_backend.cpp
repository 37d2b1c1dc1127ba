#include "auth/oauth_backend.hpp"

#include <utility>
#include <vector>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/scope.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::auth {
namespace {

namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;
using Form = std::vector<std::pair<std::string, std::string>>;

std::string EncodeForm(const Form& form) {
    std::string out;
    for (const auto& [k, v] : form) {
        if (!out.empty()) out += '&';
        out += oauth::PercentEncode(k);
        out += '=';
        out += oauth::PercentEncode(v);
    }
    return out;
}

std::string ErrorField(const boost::json::value& doc, std::string_view name) {
    if (const auto* obj = doc.if_object()) {
        if (const auto* v = obj->if_contains(name); v && v->is_string()) return std::string(v->as_string());
    }
    return {};
}

// Cuts untrusted text for an error detail (never a token: AS error bodies carry none).
std::string Snippet(std::string_view text) {
    std::string out;
    for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
}

Result<TokenSet> ParseTokenResponse(std::string_view body) {
    boost::system::error_code ec;
    auto doc = boost::json::parse(body, ec);
    if (ec || !doc.is_object())
        return Fail(ErrorCode::kProtocol, "the authorization server sent an invalid token response");
    const auto& obj = doc.as_object();
    auto str = [&](std::string_view key) -> std::string {
        const auto* v = obj.if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    TokenSet set;
    set.access_token = str("access_token");
    set.refresh_token = str("refresh_token");
    set.scope = str("scope");
    set.sub = str("sub");
    if (const auto* v = obj.if_contains("expires_in"); v && v->is_int64()) set.expires_in = v->as_int64();
    if (const auto* v = obj.if_contains("expires_in"); v && v->is_uint64()) {
        set.expires_in = static_cast<std::int64_t>(v->as_uint64());
    }
    if (str("token_type") != "DPoP") return Fail(ErrorCode::kProtocol, "token type is not DPoP", "token_type");
    if (set.access_token.empty()) return Fail(ErrorCode::kProtocol, "no access token", "access_token");
    auto scope = oauth::ParseScope(set.scope);
    bool has_atproto = false;
    for (const auto& p : scope.permissions) has_atproto |= p.kind == oauth::PermissionKind::kAtproto;
    if (!has_atproto) return Fail(ErrorCode::kProtocol, "granted scope lacks atproto", "scope");
    if (!atproto::syntax::IsValidPlcDid(set.sub) && !atproto::syntax::IsValidWebDid(set.sub)) {
        return Fail(ErrorCode::kProtocol, "token sub is not a supported did", "sub");
    }
    return set;
}

}  // namespace

bool IsInvalidGrant(const Error& error) { return error.detail.starts_with("invalid_grant"); }

struct HttpOAuthBackend::FormResponse {
    int status = 0;
    std::string body;
};

Result<atproto::oauth::Discovery> HttpOAuthBackend::Discover(std::string_view pds_url) {
    return oauth::DiscoverFromPds(http_, pds_url);
}

Result<atproto::oauth::ParResponse> HttpOAuthBackend::PushAuthorization(const oauth::AuthServerMetadata& server,
                                                                        const oauth::ParRequest& request,
                                                                        const crypto::PrivateKey& dpop_key) {
    auto origin = oauth::OriginOf(server.issuer);
    std::optional<std::string> nonce = origin ? Nonce(*origin) : std::nullopt;
    auto response = oauth::PushAuthorizationRequest(http_, server, request, dpop_key, nonce, clock_);
    if (response && response->dpop_nonce && origin) StoreNonce(*origin, *response->dpop_nonce);
    return response;
}

Result<HttpOAuthBackend::FormResponse> HttpOAuthBackend::PostForm(const AuthServerEndpoints& server,
                                                                  const OAuthClient& client, std::string_view url,
                                                                  std::string body,
                                                                  const crypto::PrivateKey& dpop_key) {
    auto origin = oauth::OriginOf(url);
    if (!origin) return Fail(origin.error());
    std::optional<std::string> nonce = Nonce(*origin);
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::string full = body;
        if (client.key != nullptr) {
            crypto::ClientAssertionRequest assertion_request;
            assertion_request.client_id = client.client_id;
            assertion_request.issuer = server.issuer;
            assertion_request.kid = client.kid;
            auto assertion = crypto::BuildClientAssertion(*client.key, assertion_request, clock_);
            if (!assertion) return Fail(assertion.error());
            full +=
                "&" + EncodeForm({{"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
                                  {"client_assertion", *assertion}});
        }
        crypto::DpopRequest dpop;
        dpop.htm = "POST";
        dpop.htu = std::string(url);
        dpop.nonce = nonce;
        auto proof = crypto::BuildDpopProof(dpop_key, dpop, clock_);
        if (!proof) return Fail(proof.error());
        net::HttpRequest request;
        request.method = "POST";
        request.url = std::string(url);
        request.headers = {
            {"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}, {"DPoP", *proof}};
        request.body = std::move(full);
        request.max_response_bytes = 64 * 1024;
        request.timeout = std::chrono::milliseconds(10'000);
        auto response = http_.Send(request);
        if (!response) return Fail(response.error());
        if (auto new_nonce = response->Header("dpop-nonce"); new_nonce && !new_nonce->empty()) {
            StoreNonce(*origin, *new_nonce);
            if ((response->status == 400 || response->status == 401) && attempt == 0) {
                boost::system::error_code ec;
                auto doc = boost::json::parse(response->body, ec);
                bool nonce_error =
                    (!ec && ErrorField(doc, "error") == "use_dpop_nonce") ||
                    response->Header("www-authenticate").value_or("").find("use_dpop_nonce") != std::string_view::npos;
                if (nonce_error && nonce != std::string(*new_nonce)) {
                    nonce = std::string(*new_nonce);
                    continue;
                }
            }
        }
        return FormResponse{response->status, std::move(response->body)};
    }
    return Fail(ErrorCode::kProtocol, "the authorization server kept asking for a new dpop nonce", "use_dpop_nonce");
}

namespace {

Result<TokenSet> TokenResult(int status, std::string_view body) {
    if (status == 200) return ParseTokenResponse(body);
    boost::system::error_code ec;
    auto doc = boost::json::parse(body, ec);
    std::string error = ec ? std::string() : ErrorField(doc, "error");
    std::string description = ec ? Snippet(body) : Snippet(ErrorField(doc, "error_description"));
    if (error == "invalid_grant") {
        return Fail(ErrorCode::kPermissionDenied, "the grant is no longer valid", "invalid_grant: " + description);
    }
    return Fail(ErrorCode::kProtocol, "the authorization server refused the token request",
                fmt::format("token_rejected: status {} {}: {}", status, Snippet(error), description));
}

}  // namespace

Result<TokenSet> HttpOAuthBackend::ExchangeCode(const AuthServerEndpoints& server, const OAuthClient& client,
                                                std::string_view code, std::string_view code_verifier,
                                                const crypto::PrivateKey& dpop_key) {
    std::string body = EncodeForm({{"grant_type", "authorization_code"},
                                   {"code", std::string(code)},
                                   {"redirect_uri", client.redirect_uri},
                                   {"code_verifier", std::string(code_verifier)},
                                   {"client_id", client.client_id}});
    auto response = PostForm(server, client, server.token_endpoint, std::move(body), dpop_key);
    if (!response) return Fail(response.error());
    return TokenResult(response->status, response->body);
}

Result<TokenSet> HttpOAuthBackend::Refresh(const AuthServerEndpoints& server, const OAuthClient& client,
                                           std::string_view refresh_token, const crypto::PrivateKey& dpop_key) {
    std::string body = EncodeForm({{"grant_type", "refresh_token"},
                                   {"refresh_token", std::string(refresh_token)},
                                   {"client_id", client.client_id}});
    auto response = PostForm(server, client, server.token_endpoint, std::move(body), dpop_key);
    if (!response) return Fail(response.error());
    return TokenResult(response->status, response->body);
}

Status HttpOAuthBackend::Revoke(const AuthServerEndpoints& server, const OAuthClient& client, std::string_view token,
                                const crypto::PrivateKey& dpop_key) {
    if (server.revocation_endpoint.empty()) return Ok();
    std::string body = EncodeForm({{"token", std::string(token)}, {"client_id", client.client_id}});
    auto response = PostForm(server, client, server.revocation_endpoint, std::move(body), dpop_key);
    if (!response) return Fail(response.error());
    if (response->status != 200) {
        return Fail(ErrorCode::kProtocol, "revocation failed", fmt::format("revoke: status {}", response->status));
    }
    return Ok();
}

Result<std::string> HttpOAuthBackend::IssuerForPds(std::string_view pds_url) {
    auto discovery = oauth::DiscoverFromPds(http_, pds_url);
    if (!discovery) return Fail(discovery.error());
    return discovery->server.issuer;
}

std::optional<std::string> HttpOAuthBackend::Nonce(std::string_view origin) {
    std::lock_guard lock(mu_);
    auto it = nonces_.find(origin);
    if (it == nonces_.end()) return std::nullopt;
    return it->second;
}

void HttpOAuthBackend::StoreNonce(std::string_view origin, std::string_view nonce) {
    std::lock_guard lock(mu_);
    // Bounded: origins are AS/PDS hosts plyr talked to; a flood of distinct origins just restarts the map.
    if (nonces_.size() > 10'000) nonces_.clear();
    nonces_.insert_or_assign(std::string(origin), std::string(nonce));
}

}  // namespace plyr::auth
