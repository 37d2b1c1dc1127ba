// TID parsing, formatting and generation (docs/atproto.md §1.5).
#include "atproto/syntax/tid.hpp"

#include <algorithm>
#include <array>

#include "atproto/syntax/invalid.hpp"
#include "core/encoding.hpp"

namespace plyr::atproto::syntax {

namespace {

constexpr std::string_view kAlphabet = "234567abcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kTidLength = 13;

constexpr std::array<int, 256> MakeDecodeTable() {
    std::array<int, 256> table{};
    for (auto& v : table) v = -1;
    for (std::size_t i = 0; i < kAlphabet.size(); ++i)
        table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    return table;
}
constexpr std::array<int, 256> kDecode = MakeDecodeTable();

}  // namespace

Result<Tid> Tid::FromParts(std::int64_t micros, std::uint32_t clock_id) {
    if (micros < 0 || micros > kMaxTidMicros) {
        return Fail(ErrorCode::kInvalidArgument, "invalid tid: timestamp out of range");
    }
    if (clock_id > kMaxTidClockId) return Fail(ErrorCode::kInvalidArgument, "invalid tid: clock id above 1023");
    return Tid{(static_cast<std::uint64_t>(micros) << 10) | clock_id};
}

std::string Tid::ToString() const {
    std::string out(kTidLength, '2');
    std::uint64_t v = value;
    for (std::size_t i = kTidLength; i-- > 0;) {
        out[i] = kAlphabet[v & 31];
        v >>= 5;
    }
    return out;
}

Result<Tid> ParseTid(std::string_view text) {
    if (text.size() != kTidLength) return detail::Invalid("tid", "must be exactly 13 characters", text);
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < kTidLength; ++i) {
        int digit = kDecode[static_cast<unsigned char>(text[i])];
        if (digit < 0) return detail::Invalid("tid", "has a character outside 234567a-z", text);
        // 13 × 5 = 65 bits: the first char's top bit must be zero so the value fits in 64 bits.
        if (i == 0 && digit > 15) return detail::Invalid("tid", "first character must be one of 234567a-j", text);
        value = (value << 5) | static_cast<std::uint64_t>(digit);
    }
    return Tid{value};
}

bool IsValidTid(std::string_view text) {
    if (text.size() != kTidLength) return false;
    for (std::size_t i = 0; i < kTidLength; ++i) {
        int digit = kDecode[static_cast<unsigned char>(text[i])];
        if (digit < 0 || (i == 0 && digit > 15)) return false;
    }
    return true;
}

std::uint32_t RandomTidClockId() {
    std::string bytes = core::RandomBytes(2);
    auto hi = static_cast<unsigned char>(bytes[0]);
    auto lo = static_cast<unsigned char>(bytes[1]);
    return ((static_cast<std::uint32_t>(hi) << 8) | lo) & kMaxTidClockId;
}

TidGenerator::TidGenerator(const core::Clock& clock, std::uint32_t clock_id)
    : clock_(clock), clock_id_(clock_id & kMaxTidClockId) {}

Tid TidGenerator::Next() {
    std::int64_t now = std::clamp<std::int64_t>(clock_.NowMicros(), 0, kMaxTidMicros);
    std::lock_guard lock(mutex_);
    // Monotonic under clock steps and bursts; after 2^53 µs (year 2255) it would wrap, so it saturates.
    std::int64_t micros = std::max(now, std::min(last_micros_ + 1, kMaxTidMicros));
    last_micros_ = micros;
    return Tid{(static_cast<std::uint64_t>(micros) << 10) | clock_id_};
}

}  // namespace plyr::atproto::syntax
