#pragma once
// ParseRange — the single-range subset of RFC 9110 §14 that plyr serves (product.md §9 rows 28-30).
//
//   bytes=a-b  → [a, min(b, size-1)]        bytes=a-  → [a, size-1]        bytes=-n → the last n bytes
//   start ≥ size, `bytes=-0`, or any range of an empty file            → kUnsatisfiable (416)
//   absent, other units, syntax errors, a > b, several ranges          → kIgnore (200 full body)
// Numbers too large for 64 bits saturate (a huge start is unsatisfiable, a huge end or suffix is
// clamped). Pure function; thread-safe; fuzzed.

#include <cstdint>
#include <optional>
#include <string_view>

namespace plyr::http {

enum class RangeKind { kIgnore, kSatisfiable, kUnsatisfiable };

struct RangeResult {
    RangeKind kind = RangeKind::kIgnore;
    std::uint64_t first = 0;   // kSatisfiable: first byte offset
    std::uint64_t length = 0;  // kSatisfiable: number of bytes (≥ 1)

    std::uint64_t last() const { return first + length - 1; }
};

RangeResult ParseRange(std::optional<std::string_view> header, std::uint64_t size);

}  // namespace plyr::http
