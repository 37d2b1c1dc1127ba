#pragma once
// http::cookies — reading the Cookie header and writing Set-Cookie (RFC 6265; product.md §4.1, §6.1 step 11).
//
// Parsing is lenient as RFC 6265 §5.4 user agents are strict: pairs split on `;`, optional whitespace
// trimmed, a value in double quotes is unquoted, pairs without `=` or with an empty name are skipped. Every
// Cookie header line of a request is read, in order; for a duplicate name the FIRST value wins (browsers
// send the most specific path first).
// Writing is strict: names must be RFC 7230 tokens; values may contain only cookie-octets (no `;`, `,`,
// space, `"`, `\`, CTLs or non-ASCII) → kInvalidArgument. Attributes: Path, Max-Age (0 clears), HttpOnly,
// Secure, SameSite=Lax|Strict|None (None requires Secure → kInvalidArgument).
// Thread-safety: pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

// The session cookie (product.md §4.1).
inline constexpr std::string_view kSessionCookieName = "session_id";

// name → value pairs in header order, duplicates kept (use FindCookie for first-wins lookup).
std::vector<std::pair<std::string, std::string>> ParseCookieHeader(std::string_view header);

// First value of cookie `name` across every Cookie header line of the request.
std::optional<std::string> FindCookie(const Request& request, std::string_view name);

bool IsValidCookieName(std::string_view name);
bool IsValidCookieValue(std::string_view value);

enum class SameSite { kLax, kStrict, kNone };

struct CookieOptions {
    std::string path = "/";
    bool http_only = true;
    bool secure = true;
    SameSite same_site = SameSite::kLax;
    std::optional<std::int64_t> max_age_seconds;  // nullopt = session cookie; 0 = delete now
};

// "name=value; Path=/; Max-Age=N; HttpOnly; Secure; SameSite=Lax" (attributes in that order).
Result<std::string> BuildSetCookie(std::string_view name, std::string_view value, const CookieOptions& options);
// A Set-Cookie that deletes `name`: empty value, Max-Age=0, the other attributes from `options`.
std::string BuildClearCookie(std::string_view name, const CookieOptions& options);

// Secure cookies unless PUBLIC_URL is plain http (browsers drop Secure cookies over http, §6.1 step 11).
bool SecureCookiesFor(std::string_view public_url);

}  // namespace plyr::http
