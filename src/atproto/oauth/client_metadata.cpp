#include "atproto/oauth/client_metadata.hpp"

#include <set>

#include <boost/json/array.hpp>
#include <boost/url/parse.hpp>

#include "atproto/oauth/scope.hpp"

namespace plyr::atproto::oauth {
namespace {

tl::unexpected<Error> ConfigError(std::string message) { return Fail(ErrorCode::kConfig, std::move(message)); }

// "scheme://host[:port]" of an absolute URL, lowercase scheme/host as boost parses them; empty when not http(s).
std::string UrlOrigin(const boost::urls::url_view& url) {
    std::string origin = std::string(url.scheme()) + "://" + std::string(url.encoded_host_and_port());
    return origin;
}

}  // namespace

std::string PercentEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0x0f]);
        }
    }
    return out;
}

Result<std::string> ConfidentialClientId(std::string_view public_url, bool allow_http) {
    std::string_view base = public_url;
    if (!base.empty() && base.back() == '/') base.remove_suffix(1);
    auto parsed = boost::urls::parse_absolute_uri(base);
    if (!parsed) return ConfigError("PUBLIC_URL is not an absolute URL");
    const auto scheme = parsed->scheme();
    if (scheme != "https" && !(allow_http && scheme == "http")) return ConfigError("PUBLIC_URL must be https");
    if (parsed->host().empty() || parsed->has_userinfo() || !parsed->encoded_path().empty() || parsed->has_query() ||
        parsed->has_fragment()) {
        return ConfigError("PUBLIC_URL must be an origin (no path, query, fragment or credentials)");
    }
    return std::string(base) + std::string(kClientMetadataPath);
}

Result<boost::json::object> BuildConfidentialClientMetadata(const ConfidentialClientOptions& options) {
    auto client_id = ConfidentialClientId(options.public_url, options.allow_http);
    if (!client_id) return Fail(client_id.error());
    const std::string base = client_id->substr(0, client_id->size() - kClientMetadataPath.size());
    auto base_url = boost::urls::parse_absolute_uri(base);
    if (!base_url) return ConfigError("PUBLIC_URL is not an absolute URL");
    const std::string origin = UrlOrigin(*base_url);
    if (options.redirect_uris.empty()) return ConfigError("at least one redirect URI is required");
    boost::json::array redirects;
    for (const auto& uri : options.redirect_uris) {
        auto parsed = boost::urls::parse_absolute_uri(uri);
        if (!parsed || UrlOrigin(*parsed) != origin || parsed->has_fragment()) {
            return ConfigError("redirect URI must be on PUBLIC_URL's origin: " + uri);
        }
        redirects.emplace_back(uri);
    }
    if (!Covers(ParseScope(options.scope), "atproto")) return ConfigError("client scope must include atproto");
    boost::json::object doc;
    doc["client_id"] = *client_id;
    if (!options.client_name.empty()) doc["client_name"] = options.client_name;
    doc["client_uri"] = base;
    doc["application_type"] = "web";
    doc["grant_types"] = boost::json::array{"authorization_code", "refresh_token"};
    doc["response_types"] = boost::json::array{"code"};
    doc["redirect_uris"] = std::move(redirects);
    doc["scope"] = options.scope;
    doc["dpop_bound_access_tokens"] = true;
    doc["token_endpoint_auth_method"] = "private_key_jwt";
    doc["token_endpoint_auth_signing_alg"] = "ES256";
    doc["jwks_uri"] = base + std::string(kJwksPath);
    return doc;
}

Result<boost::json::object> BuildJwks(const std::vector<JwksKey>& keys) {
    boost::json::array out;
    std::set<std::string, std::less<>> kids;
    for (const auto& entry : keys) {
        if (entry.kid.empty() || !kids.insert(entry.kid).second) return ConfigError("JWKS kids must be unique");
        if (entry.key.curve() != crypto::Curve::kP256) return ConfigError("client keys must be P-256 (ES256)");
        boost::json::object jwk = entry.key.ToJwk();
        jwk["kid"] = entry.kid;
        jwk["alg"] = "ES256";
        jwk["use"] = "sig";
        out.emplace_back(std::move(jwk));
    }
    return boost::json::object{{"keys", std::move(out)}};
}

Result<std::string> BuildLoopbackClientId(const std::vector<std::string>& redirect_uris, std::string_view scope) {
    std::string id = "http://localhost";
    char sep = '?';
    for (const auto& uri : redirect_uris) {
        auto parsed = boost::urls::parse_absolute_uri(uri);
        if (!parsed || parsed->scheme() != "http" ||
            (parsed->encoded_host() != "127.0.0.1" && parsed->encoded_host() != "[::1]") || parsed->has_fragment()) {
            return ConfigError("loopback redirect URIs must be http://127.0.0.1 or http://[::1]: " + uri);
        }
        id += sep;
        id += "redirect_uri=" + PercentEncode(uri);
        sep = '&';
    }
    if (!scope.empty()) {
        if (!Covers(ParseScope(scope), "atproto")) return ConfigError("client scope must include atproto");
        id += sep;
        id += "scope=" + PercentEncode(scope);
    }
    return id;
}

}  // namespace plyr::atproto::oauth
