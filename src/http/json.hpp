#pragma once
// JSON responses and request bodies (Boost.JSON), in the shapes of product.md §4.1.
//
// ErrorResponse bodies are exactly {"error": code, "message": msg, "detail": code[, "field": f]}.
// ParseJsonBody's failure is a ready-to-send Response: 415 unsupported_media_type (Content-Type is not
// application/json), 413 payload_too_large (over max_bytes), 400 invalid_json (syntax, invalid UTF-8,
// trailing data). Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

#include <boost/json/value.hpp>
#include <tl/expected.hpp>

#include "http/message.hpp"

namespace plyr::http {

inline constexpr std::string_view kJsonContentType = "application/json";
inline constexpr std::uint64_t kDefaultJsonBodyLimit = 1 << 20;

Response JsonResponse(int status, const boost::json::value& value);
Response ErrorResponse(int status, std::string_view code, std::string_view message,
                       std::optional<std::string_view> field = std::nullopt);

// True when the Content-Type's media type is application/json (parameters such as charset allowed).
bool IsJsonContentType(std::string_view content_type);

tl::expected<boost::json::value, Response> ParseJsonBody(const Request& request,
                                                         std::uint64_t max_bytes = kDefaultJsonBodyLimit);

// The reason phrase for a status ("Not Found"); "" for unknown codes.
std::string_view StatusReason(int status);

}  // namespace plyr::http
