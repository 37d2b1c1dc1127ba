#pragma once
// Request-target helpers: percent-decoding and query parsing. Pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plyr::http {

// Decodes %XX escapes; with plus_as_space, `+` becomes a space (query strings). Returns nullopt on a
// truncated or non-hex escape. A decoded NUL is returned as-is: callers that build file paths reject it.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_as_space = false);

// Splits "path?query" (an origin-form target). The path is returned still encoded.
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target);

// Parses `a=1&b=x+y&c` into decoded pairs (`c` → ""). Malformed escapes keep the raw text, so a bad
// parameter cannot hide the others; handlers validate values anyway.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

// Splits an encoded path into segments: "/a/b/" → {"a", "b", ""}; "/" → {""}.
std::vector<std::string_view> SplitPath(std::string_view path);

}  // namespace plyr::http
