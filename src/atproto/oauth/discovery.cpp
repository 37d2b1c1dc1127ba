#include "atproto/oauth/discovery.hpp"

#include <algorithm>
#include <chrono>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/oauth/client_metadata.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::uint64_t kMaxDocumentBytes = 64 * 1024;
constexpr std::chrono::milliseconds kFetchTimeout{5'000};

tl::unexpected<Error> AuthServerInvalid(std::string why) {
    return Fail(ErrorCode::kProtocol, "the authorization server is not usable",
                std::string(kAuthServerInvalid) + ": " + why);
}

Result<boost::json::object> FetchJson(net::HttpClient& client, const std::string& url, bool* not_found = nullptr) {
    net::HttpRequest request;
    request.url = url;
    request.headers = {{"Accept", "application/json"}};
    request.max_response_bytes = kMaxDocumentBytes;
    request.timeout = kFetchTimeout;
    auto response = client.Send(request);
    if (!response) return Fail(response.error());
    if (not_found != nullptr && response->status == 404) {
        *not_found = true;
        return boost::json::object{};
    }
    if (response->status != 200) return AuthServerInvalid(url + " answered " + std::to_string(response->status));
    boost::system::error_code ec;
    auto value = boost::json::parse(response->body, ec);
    if (ec || !value.is_object()) return AuthServerInvalid(url + " is not a JSON object");
    return std::move(value.as_object());
}

const boost::json::string* StringMember(const boost::json::object& obj, std::string_view name) {
    auto it = obj.find(name);
    return it == obj.end() ? nullptr : it->value().if_string();
}

bool ArrayContains(const boost::json::object& obj, std::string_view name, std::string_view value) {
    auto it = obj.find(name);
    if (it == obj.end() || !it->value().is_array()) return false;
    const auto& arr = it->value().get_array();
    return std::any_of(arr.begin(), arr.end(), [&](const auto& v) { return v.is_string() && v.get_string() == value; });
}

// An issuer/authorization server: scheme://host[:port] exactly (no path, query, fragment, default port).
bool IsOriginUrl(std::string_view url, bool allow_http) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) return false;
    const auto scheme = parsed->scheme();
    if (scheme != "https" && !(allow_http && scheme == "http")) return false;
    if (parsed->host().empty() || parsed->has_userinfo() || !parsed->encoded_path().empty() || parsed->has_query() ||
        parsed->has_fragment()) {
        return false;
    }
    if (parsed->has_port() && ((scheme == "https" && parsed->port() == "443") ||
                               (scheme == "http" && parsed->port() == "80") || parsed->port().empty())) {
        return false;
    }
    return true;
}

bool IsEndpointUrl(std::string_view url, bool allow_http) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) return false;
    const auto scheme = parsed->scheme();
    return (scheme == "https" || (allow_http && scheme == "http")) && !parsed->host().empty() &&
           !parsed->has_userinfo() && !parsed->has_fragment();
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
    std::string out;
    for (const auto& [key, value] : fields) {
        if (!out.empty()) out.push_back('&');
        out += PercentEncode(key) + "=" + PercentEncode(value);
    }
    return out;
}

}  // namespace

Result<std::string> OriginOf(std::string_view url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed || (parsed->scheme() != "https" && parsed->scheme() != "http") || parsed->host().empty()) {
        return Fail(ErrorCode::kInvalidArgument, "invalid url", std::string(url.substr(0, 200)));
    }
    std::string origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host());
    const bool default_port = (parsed->scheme() == "https" && parsed->port() == "443") ||
                              (parsed->scheme() == "http" && parsed->port() == "80");
    if (parsed->has_port() && !parsed->port().empty() && !default_port) origin += ":" + std::string(parsed->port());
    return origin;
}

Result<std::string> FetchProtectedResource(net::HttpClient& client, std::string_view pds_url) {
    auto origin = OriginOf(pds_url);
    if (!origin) return Fail(origin.error());
    bool not_found = false;
    auto doc = FetchJson(client, *origin + "/.well-known/oauth-protected-resource", &not_found);
    if (!doc) return Fail(doc.error());
    if (not_found) return *origin;  // the PDS is its own authorization server
    const auto* resource = StringMember(*doc, "resource");
    if (resource == nullptr || *resource != *origin) return AuthServerInvalid("resource is not the PDS origin");
    auto it = doc->find("authorization_servers");
    if (it == doc->end() || !it->value().is_array() || it->value().get_array().size() != 1 ||
        !it->value().get_array()[0].is_string()) {
        return AuthServerInvalid("protected resource must name exactly one authorization server");
    }
    std::string issuer(it->value().get_array()[0].get_string());
    if (!IsOriginUrl(issuer, client.policy().permits_http())) {
        return AuthServerInvalid("authorization server is not an https origin");
    }
    return issuer;
}

Result<AuthServerMetadata> FetchAuthServerMetadata(net::HttpClient& client, std::string_view issuer,
                                                   std::optional<std::string_view> pds_origin) {
    const bool allow_http = client.policy().permits_http();
    if (!IsOriginUrl(issuer, allow_http)) return AuthServerInvalid("issuer is not an https origin");
    auto doc = FetchJson(client, std::string(issuer) + "/.well-known/oauth-authorization-server");
    if (!doc) return Fail(doc.error());
    const auto* got_issuer = StringMember(*doc, "issuer");
    if (got_issuer == nullptr || *got_issuer != issuer) return AuthServerInvalid("issuer mismatch");
    auto flag = [&](std::string_view name) {
        auto it = doc->find(name);
        return it != doc->end() && it->value().is_bool() && it->value().get_bool();
    };
    if (!flag("require_pushed_authorization_requests")) return AuthServerInvalid("PAR is not required");
    if (!flag("authorization_response_iss_parameter_supported")) return AuthServerInvalid("no iss parameter");
    if (!flag("client_id_metadata_document_supported")) return AuthServerInvalid("no client id metadata documents");
    if (!ArrayContains(*doc, "response_types_supported", "code")) return AuthServerInvalid("no code response type");
    if (!ArrayContains(*doc, "grant_types_supported", "authorization_code") ||
        !ArrayContains(*doc, "grant_types_supported", "refresh_token")) {
        return AuthServerInvalid("grant types missing");
    }
    if (!ArrayContains(*doc, "code_challenge_methods_supported", "S256")) return AuthServerInvalid("no S256 PKCE");
    if (!ArrayContains(*doc, "token_endpoint_auth_methods_supported", "private_key_jwt") ||
        !ArrayContains(*doc, "token_endpoint_auth_methods_supported", "none")) {
        return AuthServerInvalid("token endpoint auth methods missing");
    }
    if (!ArrayContains(*doc, "token_endpoint_auth_signing_alg_values_supported", "ES256")) {
        return AuthServerInvalid("no ES256 client assertions");
    }
    if (!ArrayContains(*doc, "dpop_signing_alg_values_supported", "ES256")) return AuthServerInvalid("no ES256 DPoP");
    if (!ArrayContains(*doc, "scopes_supported", "atproto")) return AuthServerInvalid("no atproto scope");
    if (pds_origin && doc->contains("protected_resources") &&
        !ArrayContains(*doc, "protected_resources", *pds_origin)) {
        return AuthServerInvalid("protected_resources does not list the PDS");
    }
    AuthServerMetadata out;
    out.issuer = std::string(issuer);
    struct Endpoint {
        std::string_view name;
        std::string* target;
        bool required;
    };
    for (const Endpoint& e :
         {Endpoint{"authorization_endpoint", &out.authorization_endpoint, true},
          Endpoint{"token_endpoint", &out.token_endpoint, true},
          Endpoint{"pushed_authorization_request_endpoint", &out.pushed_authorization_request_endpoint, true},
          Endpoint{"revocation_endpoint", &out.revocation_endpoint, false}}) {
        const auto* value = StringMember(*doc, e.name);
        if (value == nullptr) {
            if (e.required) return AuthServerInvalid(std::string(e.name) + " missing");
            continue;
        }
        if (!IsEndpointUrl(*value, allow_http)) return AuthServerInvalid(std::string(e.name) + " is not https");
        *e.target = std::string(*value);
    }
    out.document = std::move(*doc);
    return out;
}

Result<Discovery> DiscoverFromPds(net::HttpClient& client, std::string_view pds_url) {
    auto origin = OriginOf(pds_url);
    if (!origin) return Fail(origin.error());
    auto issuer = FetchProtectedResource(client, *origin);
    if (!issuer) return Fail(issuer.error());
    auto server = FetchAuthServerMetadata(client, *issuer, *origin);
    if (!server) return Fail(server.error());
    return Discovery{std::move(*origin), std::move(*server)};
}

Result<ParResponse> PushAuthorizationRequest(net::HttpClient& client, const AuthServerMetadata& server,
                                             const ParRequest& request, const crypto::PrivateKey& dpop_key,
                                             std::optional<std::string> dpop_nonce, const core::Clock& clock) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::vector<std::pair<std::string, std::string>> fields = {
            {"client_id", request.client_id},  {"response_type", "code"}, {"redirect_uri", request.redirect_uri},
            {"scope", request.scope},          {"state", request.state},  {"code_challenge", request.code_challenge},
            {"code_challenge_method", "S256"},
        };
        if (request.login_hint) fields.emplace_back("login_hint", *request.login_hint);
        if (request.prompt) fields.emplace_back("prompt", *request.prompt);
        if (request.client_auth) {
            if (request.client_auth->key == nullptr) {
                return Fail(ErrorCode::kInvalidArgument, "client authentication key missing");
            }
            // A fresh assertion per attempt: the AS tracks its jti.
            auto assertion = crypto::BuildClientAssertion(
                *request.client_auth->key, {request.client_id, server.issuer, request.client_auth->kid}, clock);
            if (!assertion) return Fail(assertion.error());
            fields.emplace_back("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            fields.emplace_back("client_assertion", std::move(*assertion));
        }
        auto proof = crypto::BuildDpopProof(
            dpop_key, {"POST", server.pushed_authorization_request_endpoint, dpop_nonce, std::nullopt}, clock);
        if (!proof) return Fail(proof.error());

        net::HttpRequest http;
        http.method = "POST";
        http.url = server.pushed_authorization_request_endpoint;
        http.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                        {"Accept", "application/json"},
                        {"DPoP", std::move(*proof)}};
        http.body = FormEncode(fields);
        http.max_response_bytes = kMaxDocumentBytes;
        http.timeout = kFetchTimeout;
        auto response = client.Send(http);
        if (!response) return Fail(response.error());
        const auto nonce_header = response->Header("dpop-nonce");
        const bool new_nonce = nonce_header && (!dpop_nonce || *dpop_nonce != *nonce_header);
        if (nonce_header) dpop_nonce = std::string(*nonce_header);

        boost::system::error_code ec;
        auto body = boost::json::parse(response->body, ec);
        const boost::json::object* obj = (!ec && body.is_object()) ? &body.get_object() : nullptr;
        const boost::json::string* error = obj != nullptr ? StringMember(*obj, "error") : nullptr;
        if ((response->status == 400 || response->status == 401) && error != nullptr && *error == "use_dpop_nonce" &&
            new_nonce && attempt == 0) {
            continue;
        }
        if ((response->status == 200 || response->status == 201) && obj != nullptr) {
            const auto* request_uri = StringMember(*obj, "request_uri");
            if (request_uri == nullptr || request_uri->empty()) {
                return Fail(ErrorCode::kProtocol, "the authorization server answered without a request_uri",
                            "par_rejected: no request_uri");
            }
            ParResponse out;
            out.request_uri = std::string(*request_uri);
            if (auto it = obj->find("expires_in"); it != obj->end() && it->value().is_int64()) {
                out.expires_in = it->value().get_int64();
            }
            out.dpop_nonce = dpop_nonce;
            return out;
        }
        std::string detail = "par_rejected: status " + std::to_string(response->status);
        if (error != nullptr) detail += " " + std::string(*error);
        if (const auto* description = obj != nullptr ? StringMember(*obj, "error_description") : nullptr) {
            std::size_t cut = std::min<std::size_t>(description->size(), 300);
            // Cut on a UTF-8 boundary: the detail goes into JSON logs.
            while (cut > 0 && cut < description->size() &&
                   (static_cast<unsigned char>((*description)[cut]) & 0xC0) == 0x80) {
                --cut;
            }
            detail += ": " + std::string(description->subview(0, cut));
        }
        return Fail(ErrorCode::kProtocol, "the authorization server refused the sign-in request", detail);
    }
    return Fail(ErrorCode::kProtocol, "the authorization server refused the sign-in request",
                "par_rejected: repeated use_dpop_nonce");
}

std::string AuthorizationRedirectUrl(const AuthServerMetadata& server, std::string_view client_id,
                                     std::string_view request_uri) {
    // RFC 6749 §3.1: a query already on the endpoint is kept and the parameters are appended to it.
    const std::string& endpoint = server.authorization_endpoint;
    const char* separator = endpoint.find('?') == std::string::npos ? "?" : (endpoint.ends_with('?') ? "" : "&");
    return endpoint + separator + "client_id=" + PercentEncode(client_id) +
           "&request_uri=" + PercentEncode(request_uri);
}

}  // namespace plyr::atproto::oauth
