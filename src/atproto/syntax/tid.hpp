#pragma once
// TID (timestamp identifier, docs/atproto.md §1.5): a 64-bit value — bit 63 zero, bits 62..10 microseconds
// since the Unix epoch, bits 9..0 a clock id — written as 13 chars of the sortable base32 alphabet
// `234567abcdefghijklmnopqrstuvwxyz` (string order == numeric order).
// Errors: ParseTid / Tid::FromParts return kInvalidArgument. Thread-safety: Tid is a value;
// TidGenerator::Next is safe to call from any number of threads.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::syntax {

inline constexpr std::uint32_t kMaxTidClockId = 1023;
inline constexpr std::int64_t kMaxTidMicros = (std::int64_t{1} << 53) - 1;

struct Tid {
    // The raw 64-bit value. A parsed TID may have bit 63 set (the syntax allows first chars up to 'j');
    // a generated one never does.
    std::uint64_t value = 0;

    // 0 ≤ micros ≤ 2^53−1, clock_id ≤ 1023.
    static Result<Tid> FromParts(std::int64_t micros, std::uint32_t clock_id);

    std::int64_t TimestampMicros() const { return static_cast<std::int64_t>(value >> 10); }
    std::uint32_t ClockId() const { return static_cast<std::uint32_t>(value & kMaxTidClockId); }
    std::string ToString() const;  // 13 chars
    auto operator<=>(const Tid&) const = default;
};

// Exactly 13 chars: first of `234567abcdefghij`, the rest of the sortable alphabet. Uppercase and the legacy
// dashed form are refused.
Result<Tid> ParseTid(std::string_view text);
bool IsValidTid(std::string_view text);

// A uniformly random clock id in [0, 1023], for one generator per process/worker.
std::uint32_t RandomTidClockId();

// Strictly increasing TIDs for one clock id: the timestamp is the clock's time in microseconds, bumped to
// last + 1 whenever the clock stands still or steps back, so every call returns a TID greater than all
// earlier ones from this generator (also across threads). A clock before the epoch counts as 0.
class TidGenerator {
  public:
    // clock must outlive the generator. clock_id is masked to 10 bits.
    TidGenerator(const core::Clock& clock, std::uint32_t clock_id);

    Tid Next();
    std::string NextString() { return Next().ToString(); }
    std::uint32_t clock_id() const { return clock_id_; }

  private:
    const core::Clock& clock_;
    const std::uint32_t clock_id_;
    std::mutex mutex_;
    std::int64_t last_micros_ = -1;  // guarded by mutex_
};

}  // namespace plyr::atproto::syntax
