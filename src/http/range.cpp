#include "http/range.hpp"

#include <limits>

namespace plyr::http {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::string_view TrimOws(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Digits only; saturates at 2^64-1 instead of overflowing.
std::optional<std::uint64_t> ParseNumber(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        auto digit = static_cast<std::uint64_t>(c - '0');
        value = value > (kMax - digit) / 10 ? kMax : value * 10 + digit;
    }
    return value;
}

bool StartsWithBytesUnit(std::string_view header) {
    constexpr std::string_view kUnit = "bytes=";
    if (header.size() < kUnit.size()) return false;
    for (std::size_t i = 0; i < kUnit.size(); ++i) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kUnit[i]) return false;
    }
    return true;
}

}  // namespace

RangeResult ParseRange(std::optional<std::string_view> header, std::uint64_t size) {
    RangeResult result;
    if (!header) return result;
    std::string_view text = TrimOws(*header);
    if (!StartsWithBytesUnit(text)) return result;
    text = TrimOws(text.substr(6));
    // Several ranges are legal HTTP but would need multipart/byteranges: serve the whole body instead.
    if (text.find(',') != std::string_view::npos) return result;
    auto dash = text.find('-');
    if (dash == std::string_view::npos) return result;
    std::string_view first_text = TrimOws(text.substr(0, dash));
    std::string_view last_text = TrimOws(text.substr(dash + 1));

    if (first_text.empty()) {
        auto suffix = ParseNumber(last_text);
        if (!suffix) return result;
        if (*suffix == 0 || size == 0) {
            result.kind = RangeKind::kUnsatisfiable;
            return result;
        }
        result.kind = RangeKind::kSatisfiable;
        result.length = *suffix < size ? *suffix : size;
        result.first = size - result.length;
        return result;
    }

    auto first = ParseNumber(first_text);
    if (!first) return result;
    std::uint64_t last = kMax;
    if (!last_text.empty()) {
        auto parsed = ParseNumber(last_text);
        if (!parsed || *parsed < *first) return result;
        last = *parsed;
    }
    if (*first >= size) {
        result.kind = RangeKind::kUnsatisfiable;
        return result;
    }
    if (last > size - 1) last = size - 1;
    result.kind = RangeKind::kSatisfiable;
    result.first = *first;
    result.length = last - *first + 1;
    return result;
}

}  // namespace plyr::http
