#include "atproto/oauth/token.hpp"

#include <chrono>
#include <limits>
#include <utility>
#include <vector>

#include <boost/json/parse.hpp>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::uint64_t kMaxResponseBytes = 64 * 1024;
constexpr std::chrono::milliseconds kRequestTimeout{10'000};
constexpr std::size_t kMaxDescription = 300;

using Fields = std::vector<std::pair<std::string, std::string>>;

std::string FormEncode(const Fields& fields) {
    std::string out;
    for (const auto& [key, value] : fields) {
        if (!out.empty()) out.push_back('&');
        out += PercentEncode(key) + "=" + PercentEncode(value);
    }
    return out;
}

const boost::json::string* StringMember(const boost::json::object& obj, std::string_view name) {
    auto it = obj.find(name);
    return it == obj.end() ? nullptr : it->value().if_string();
}

// Server text for details (they reach JSON logs): bounded, cut on a UTF-8 boundary, control bytes dropped.
std::string Printable(std::string_view text) {
    std::size_t cut = std::min(text.size(), kMaxDescription);
    while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    std::string out;
    for (char c : text.substr(0, cut)) {
        if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7F) out.push_back(c);
    }
    return out;
}

bool HasPrefix(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

Status CheckContext(const TokenEndpointContext& ctx) {
    if (ctx.server == nullptr || ctx.dpop_key == nullptr || ctx.clock == nullptr || ctx.client_id.empty()) {
        return Fail(ErrorCode::kInvalidArgument, "token endpoint context incomplete");
    }
    if (ctx.client_auth && ctx.client_auth->key == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, "client authentication key missing");
    }
    return Ok();
}

struct Answer {
    int status = 0;
    boost::json::object body;  // empty when the body was not a JSON object
    bool json = false;
};

// One form POST with DPoP (+ client assertion), retried once on a use_dpop_nonce challenge.
Result<Answer> PostForm(net::HttpClient& http, const TokenEndpointContext& ctx, const std::string& url,
                        const Fields& grant) {
    if (auto ok = CheckContext(ctx); !ok) return Fail(ok.error());
    auto origin = OriginOf(url);
    if (!origin) return Fail(origin.error());
    std::optional<std::string> nonce = ctx.nonces != nullptr ? ctx.nonces->Get(*origin) : std::nullopt;
    for (int attempt = 0;; ++attempt) {
        Fields fields = grant;
        fields.emplace_back("client_id", ctx.client_id);
        if (ctx.client_auth) {
            // Fresh per attempt: the AS tracks the assertion's jti.
            auto assertion = crypto::BuildClientAssertion(
                *ctx.client_auth->key, {ctx.client_id, ctx.server->issuer, ctx.client_auth->kid}, *ctx.clock);
            if (!assertion) return Fail(assertion.error());
            fields.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            fields.emplace_back("client_assertion", std::move(*assertion));
        }
        auto proof = crypto::BuildDpopProof(*ctx.dpop_key, {"POST", url, nonce, std::nullopt}, *ctx.clock);
        if (!proof) return Fail(proof.error());

        net::HttpRequest request;
        request.method = "POST";
        request.url = url;
        request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                           {"Accept", "application/json"},
                           {"DPoP", std::move(*proof)}};
        request.body = FormEncode(fields);
        request.max_response_bytes = kMaxResponseBytes;
        request.timeout = kRequestTimeout;
        auto response = http.Send(request);
        if (!response) return Fail(response.error());

        bool new_nonce = false;
        if (auto header = response->Header("dpop-nonce"); header && !header->empty()) {
            new_nonce = !nonce || *nonce != *header;
            nonce = std::string(*header);
            if (ctx.nonces != nullptr) ctx.nonces->Put(*origin, *header);
        }
        Answer answer;
        answer.status = response->status;
        boost::system::error_code ec;
        auto body = boost::json::parse(response->body, ec);
        if (!ec && body.is_object()) {
            answer.body = std::move(body.as_object());
            answer.json = true;
        }
        const auto* error = answer.json ? StringMember(answer.body, "error") : nullptr;
        if (attempt == 0 && new_nonce && (answer.status == 400 || answer.status == 401) && error != nullptr &&
            *error == "use_dpop_nonce") {
            continue;
        }
        return answer;
    }
}

// A non-2xx answer as the error kinds of the header.
Error AnswerError(const Answer& answer, std::string_view what) {
    const auto* error = answer.json ? StringMember(answer.body, "error") : nullptr;
    const auto* description = answer.json ? StringMember(answer.body, "error_description") : nullptr;
    if (answer.status >= 400 && answer.status < 500) {
        if (error != nullptr && *error == kInvalidGrant) {
            return Error{ErrorCode::kPermissionDenied, "the authorization grant is no longer valid",
                         std::string(kInvalidGrant) + ": " + (description ? Printable(*description) : "")};
        }
        std::string detail = std::string(kTokenRejected) + ": status " + std::to_string(answer.status);
        if (error != nullptr) detail += " " + Printable(*error);
        if (description != nullptr) detail += ": " + Printable(*description);
        return Error{ErrorCode::kProtocol, std::string("the authorization server refused the ") + std::string(what),
                     std::move(detail)};
    }
    return Error{ErrorCode::kUnavailable, "the authorization server is unavailable",
                 std::string(kTokenEndpointUnavailable) + ": status " + std::to_string(answer.status)};
}

tl::unexpected<Error> InvalidResponse(std::string why) {
    return Fail(ErrorCode::kProtocol, "the authorization server sent an invalid token response",
                std::string(kTokenResponseInvalid) + ": " + why);
}

Result<TokenSet> ParseTokenSet(const Answer& answer, const core::Clock& clock, std::string_view expected_sub) {
    if (!answer.json) return InvalidResponse("not a JSON object");
    const auto& body = answer.body;
    TokenSet out;
    const auto* token_type = StringMember(body, "token_type");
    if (token_type == nullptr || !EqualsIgnoreCase(*token_type, "DPoP"))
        return InvalidResponse("token_type is not DPoP");
    out.token_type = std::string(*token_type);
    const auto* scope = StringMember(body, "scope");
    if (scope == nullptr) return InvalidResponse("scope missing");
    bool has_atproto = false;
    std::string_view rest = *scope;
    while (!rest.empty()) {
        const auto space = rest.find(' ');
        if (rest.substr(0, space) == "atproto") has_atproto = true;
        rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
    }
    if (!has_atproto) return InvalidResponse("scope lacks atproto");
    out.scope = std::string(*scope);
    const auto* sub = StringMember(body, "sub");
    if (sub == nullptr || !syntax::CheckSupportedDid(*sub)) return InvalidResponse("sub is not a plc/web DID");
    out.sub = std::string(*sub);
    if (!expected_sub.empty() && out.sub != expected_sub) return InvalidResponse("sub is not the expected DID");
    const auto* access = StringMember(body, "access_token");
    if (access == nullptr || access->empty()) return InvalidResponse("access_token missing");
    out.access_token = std::string(*access);
    const auto* refresh = StringMember(body, "refresh_token");
    if (refresh == nullptr || refresh->empty()) return InvalidResponse("refresh_token missing");
    out.refresh_token = std::string(*refresh);
    std::int64_t expires_in = 0;
    if (auto it = body.find("expires_in"); it != body.end()) {
        if (it->value().is_int64()) {
            expires_in = it->value().get_int64();
        } else if (it->value().is_uint64()) {
            expires_in = std::numeric_limits<std::int64_t>::max();
        }
    }
    const std::int64_t now = clock.NowMicros();
    if (expires_in <= 0) return InvalidResponse("expires_in is not a positive integer");
    if (expires_in > (std::numeric_limits<std::int64_t>::max() - now) / 1'000'000) {
        return InvalidResponse("expires_in out of range");
    }
    out.expires_at_us = now + expires_in * 1'000'000;
    return out;
}

Result<TokenSet> TokenRequest(net::HttpClient& http, const TokenEndpointContext& ctx, const Fields& grant,
                              std::string_view expected_sub) {
    if (auto ok = CheckContext(ctx); !ok) return Fail(ok.error());
    auto answer = PostForm(http, ctx, ctx.server->token_endpoint, grant);
    if (!answer) return Fail(answer.error());
    if (answer->status < 200 || answer->status > 299) return Fail(AnswerError(*answer, "token request"));
    return ParseTokenSet(*answer, *ctx.clock, expected_sub);
}

}  // namespace

Result<TokenSet> ExchangeCode(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view code,
                              std::string_view redirect_uri, std::string_view code_verifier,
                              std::string_view expected_sub) {
    return TokenRequest(http, ctx,
                        {{"grant_type", "authorization_code"},
                         {"code", std::string(code)},
                         {"redirect_uri", std::string(redirect_uri)},
                         {"code_verifier", std::string(code_verifier)}},
                        expected_sub);
}

Result<TokenSet> RefreshTokens(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view refresh_token,
                               std::string_view expected_sub) {
    return TokenRequest(http, ctx, {{"grant_type", "refresh_token"}, {"refresh_token", std::string(refresh_token)}},
                        expected_sub);
}

Status RevokeToken(net::HttpClient& http, const TokenEndpointContext& ctx, std::string_view token) {
    if (auto ok = CheckContext(ctx); !ok) return ok;
    if (ctx.server->revocation_endpoint.empty()) {
        return Fail(ErrorCode::kUnsupported, "the authorization server has no revocation endpoint");
    }
    auto answer = PostForm(http, ctx, ctx.server->revocation_endpoint, {{"token", std::string(token)}});
    if (!answer) return Fail(answer.error());
    if (answer->status < 200 || answer->status > 299) return Fail(AnswerError(*answer, "revocation"));
    return Ok();
}

TokenErrorKind ClassifyTokenError(const Error& error) {
    if (error.code == ErrorCode::kPermissionDenied && HasPrefix(error.detail, kInvalidGrant)) {
        return TokenErrorKind::kInvalidGrant;
    }
    if (error.code == ErrorCode::kProtocol && HasPrefix(error.detail, kTokenRejected)) return TokenErrorKind::kRejected;
    if (error.code == ErrorCode::kProtocol && HasPrefix(error.detail, kTokenResponseInvalid)) {
        return TokenErrorKind::kInvalidResponse;
    }
    return TokenErrorKind::kTransport;
}

bool IsInvalidGrant(const Error& error) { return ClassifyTokenError(error) == TokenErrorKind::kInvalidGrant; }

Result<std::string> VerifySubIssuer(net::HttpClient& http, std::string_view sub, std::string_view expected_issuer,
                                    const FreshPdsResolver& resolve_pds_fresh) {
    if (auto ok = syntax::CheckSupportedDid(sub); !ok) {
        return Fail(ErrorCode::kInvalidArgument, "sub is not a supported DID");
    }
    if (!resolve_pds_fresh) return Fail(ErrorCode::kInvalidArgument, "no DID resolver");
    auto pds = resolve_pds_fresh(sub);
    if (!pds) return Fail(pds.error());
    auto issuer = FetchProtectedResource(http, *pds);
    if (!issuer) return Fail(issuer.error());
    if (*issuer != expected_issuer) {
        return Fail(ErrorCode::kPermissionDenied, "the account is not served by this authorization server",
                    std::string(kIssuerMismatch) + ": " + Printable(*pds) + " names " + Printable(*issuer) +
                        ", tokens came from " + Printable(expected_issuer));
    }
    return std::move(*pds);
}

bool IsIssuerMismatch(const Error& error) {
    return error.code == ErrorCode::kPermissionDenied && HasPrefix(error.detail, kIssuerMismatch);
}

}  // namespace plyr::atproto::oauth
