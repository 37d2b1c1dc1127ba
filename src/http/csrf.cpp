#include "http/csrf.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include "http/json.hpp"

namespace plyr::http {
namespace {

std::string Lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::optional<std::string> NormalizedOrigin(std::string_view url_text) {
    auto url = boost::urls::parse_uri(url_text);
    if (!url) return std::nullopt;
    std::string scheme = Lower(url->scheme());
    if (scheme != "http" && scheme != "https") return std::nullopt;
    if (url->has_userinfo()) return std::nullopt;
    std::string host = Lower(url->encoded_host());
    if (host.empty()) return std::nullopt;
    std::string origin = scheme + "://" + host;
    if (url->has_port()) {
        std::string_view port = url->port();
        if (port.empty()) return std::nullopt;
        bool default_port =
            (scheme == "http" && url->port_number() == 80) || (scheme == "https" && url->port_number() == 443);
        if (!default_port) origin += fmt::format(":{}", url->port_number());
    }
    return origin;
}

bool IsStateChangingMethod(std::string_view method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

CsrfPolicy::CsrfPolicy(const std::vector<std::string>& credentialed_origins) {
    for (const std::string& origin : credentialed_origins) {
        if (auto normalized = NormalizedOrigin(origin)) origins_.push_back(std::move(*normalized));
    }
}

CsrfPolicy CsrfPolicy::FromConfig(const core::Config& config) {
    std::vector<std::string> origins{config.PublicOrigin()};
    origins.insert(origins.end(), config.cors_allowed_origins.begin(), config.cors_allowed_origins.end());
    return CsrfPolicy(origins);
}

bool CsrfPolicy::IsCredentialedOrigin(std::string_view origin) const {
    auto normalized = NormalizedOrigin(origin);
    return normalized && std::find(origins_.begin(), origins_.end(), *normalized) != origins_.end();
}

Status CsrfPolicy::Check(const Request& request) const {
    if (!IsStateChangingMethod(request.method)) return Ok();
    if (auto site = request.Header("Sec-Fetch-Site"); site && Lower(*site) == "cross-site") {
        return Fail(ErrorCode::kPermissionDenied, "cross-site request (Sec-Fetch-Site)");
    }
    if (auto origin = request.Header("Origin")) {
        // An Origin header is scheme://host[:port] only; a path means it is not a browser's.
        auto scheme_end = origin->find("://");
        bool bare = scheme_end != std::string_view::npos && origin->find('/', scheme_end + 3) == std::string_view::npos;
        if (bare && IsCredentialedOrigin(*origin)) return Ok();
        // Origin values are short and public; anything long or odd is not worth quoting.
        std::string_view shown = origin->size() <= 100 ? *origin : std::string_view("<long>");
        return Fail(ErrorCode::kPermissionDenied, fmt::format("origin {} is not credentialed", shown));
    }
    if (auto referer = request.Header("Referer")) {
        // Only the origin part is compared (and reported): paths may carry tokens.
        auto origin = NormalizedOrigin(*referer);
        if (origin && IsCredentialedOrigin(*origin)) return Ok();
        return Fail(ErrorCode::kPermissionDenied,
                    origin ? fmt::format("referer origin {} is not credentialed", *origin) : "referer is not a URL");
    }
    return Fail(ErrorCode::kPermissionDenied, "neither Origin nor Referer present");
}

std::optional<Response> CsrfPolicy::Reject(const Request& request) const {
    if (Check(request)) return std::nullopt;
    return ErrorResponse(403, "csrf_rejected", "cross-site request refused");
}

}  // namespace plyr::http
