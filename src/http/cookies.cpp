#include "http/cookies.hpp"

#include <fmt/format.h>
#include <boost/url/parse.hpp>

namespace plyr::http {
namespace {

std::string_view TrimOws(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool IsTokenChar(char c) {
    if (c >= 'a' && c <= 'z') return true;
    if (c >= 'A' && c <= 'Z') return true;
    if (c >= '0' && c <= '9') return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

std::string_view ToString(SameSite same_site) {
    switch (same_site) {
        case SameSite::kLax:
            return "Lax";
        case SameSite::kStrict:
            return "Strict";
        case SameSite::kNone:
            return "None";
    }
    return "Lax";
}

std::string Attributes(const CookieOptions& options, std::optional<std::int64_t> max_age) {
    std::string out;
    if (!options.path.empty()) out += fmt::format("; Path={}", options.path);
    if (max_age) out += fmt::format("; Max-Age={}", std::max<std::int64_t>(0, *max_age));
    if (options.http_only) out += "; HttpOnly";
    if (options.secure) out += "; Secure";
    out += fmt::format("; SameSite={}", ToString(options.same_site));
    return out;
}

bool IsValidPath(std::string_view path) {
    // av-octet: any CHAR except CTLs or ";" (RFC 6265 §4.1.1).
    for (char c : path) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || u >= 0x80 || c == ';') return false;
    }
    return true;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> ParseCookieHeader(std::string_view header) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!header.empty()) {
        auto semi = header.find(';');
        std::string_view pair = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
        auto eq = pair.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view name = TrimOws(pair.substr(0, eq));
        std::string_view value = TrimOws(pair.substr(eq + 1));
        if (name.empty()) continue;
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        out.emplace_back(std::string(name), std::string(value));
    }
    return out;
}

std::optional<std::string> FindCookie(const Request& request, std::string_view name) {
    for (const auto& [header, value] : request.headers.entries()) {
        if (!EqualsIgnoreCase(header, "Cookie")) continue;
        for (auto& [cookie_name, cookie_value] : ParseCookieHeader(value)) {
            if (cookie_name == name) return std::move(cookie_value);
        }
    }
    return std::nullopt;
}

bool IsValidCookieName(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        if (!IsTokenChar(c)) return false;
    }
    return true;
}

bool IsValidCookieValue(std::string_view value) {
    // cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
    for (char c : value) {
        auto u = static_cast<unsigned char>(c);
        bool ok = u == 0x21 || (u >= 0x23 && u <= 0x2b) || (u >= 0x2d && u <= 0x3a) || (u >= 0x3c && u <= 0x5b) ||
                  (u >= 0x5d && u <= 0x7e);
        if (!ok) return false;
    }
    return true;
}

Result<std::string> BuildSetCookie(std::string_view name, std::string_view value, const CookieOptions& options) {
    if (!IsValidCookieName(name)) return Fail(ErrorCode::kInvalidArgument, "cookie name is not a token");
    // The value is usually a secret: never echo it.
    if (!IsValidCookieValue(value)) return Fail(ErrorCode::kInvalidArgument, "cookie value has forbidden characters");
    if (!IsValidPath(options.path)) return Fail(ErrorCode::kInvalidArgument, "cookie path has forbidden characters");
    if (options.same_site == SameSite::kNone && !options.secure) {
        return Fail(ErrorCode::kInvalidArgument, "SameSite=None requires Secure");
    }
    return fmt::format("{}={}{}", name, value, Attributes(options, options.max_age_seconds));
}

std::string BuildClearCookie(std::string_view name, const CookieOptions& options) {
    return fmt::format("{}={}", name, Attributes(options, std::int64_t{0}));
}

bool SecureCookiesFor(std::string_view public_url) {
    auto url = boost::urls::parse_absolute_uri(public_url);
    return !url || url->scheme_id() != boost::urls::scheme::http;
}

}  // namespace plyr::http
