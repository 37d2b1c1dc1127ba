// Lexicon `datetime` (docs/atproto.md §1.7), on C++20 calendar types (g++ 12 has no chrono::parse).
#include <algorithm>

#include <fmt/format.h>

#include "atproto/syntax/ascii.hpp"
#include "atproto/syntax/invalid.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {

namespace {

using namespace std::chrono;
using detail::IsDigit;

constexpr std::size_t kMaxDatetimeLength = 64;

// Reads `count` digits at `pos`; -1 if any is not a digit.
int Digits(std::string_view text, std::size_t pos, std::size_t count) {
    if (pos + count > text.size()) return -1;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (!IsDigit(text[i])) return -1;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

bool At(std::string_view text, std::size_t pos, char c) { return pos < text.size() && text[pos] == c; }

Result<UtcMicros> Parse(std::string_view text) {
    auto invalid = [&](std::string_view why) { return detail::Invalid("datetime", why, text); };
    if (text.size() > kMaxDatetimeLength) return invalid("longer than 64 characters");
    // YYYY-MM-DDTHH:MM:SS
    int year = Digits(text, 0, 4);
    int month = Digits(text, 5, 2);
    int day = Digits(text, 8, 2);
    int hour = Digits(text, 11, 2);
    int minute = Digits(text, 14, 2);
    int second = Digits(text, 17, 2);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || !At(text, 4, '-') ||
        !At(text, 7, '-') || !At(text, 10, 'T') || !At(text, 13, ':') || !At(text, 16, ':')) {
        return invalid("must look like YYYY-MM-DDTHH:MM:SS");
    }
    std::size_t pos = 19;
    microseconds fraction{0};
    if (At(text, pos, '.')) {
        std::size_t start = ++pos;
        while (pos < text.size() && IsDigit(text[pos])) ++pos;
        std::size_t digits = pos - start;
        if (digits == 0) return invalid("fraction needs at least one digit");
        std::int64_t micros = 0;
        for (std::size_t i = 0; i < 6; ++i) micros = micros * 10 + (i < digits ? text[start + i] - '0' : 0);
        fraction = microseconds{micros};
    }
    minutes offset{0};
    if (At(text, pos, 'Z')) {
        ++pos;
    } else if (At(text, pos, '+') || At(text, pos, '-')) {
        bool negative = text[pos] == '-';
        int off_hours = Digits(text, pos + 1, 2);
        int off_minutes = Digits(text, pos + 4, 2);
        if (off_hours < 0 || off_minutes < 0 || !At(text, pos + 3, ':')) {
            return invalid("timezone offset must be +HH:MM or -HH:MM");
        }
        if (off_hours > 23 || off_minutes > 59) return invalid("timezone offset out of range");
        if (negative && off_hours == 0 && off_minutes == 0) return invalid("-00:00 is not allowed");
        offset = hours{off_hours} + minutes{off_minutes};
        if (negative) offset = -offset;
        pos += 6;
    } else {
        return invalid("timezone is required (Z or +HH:MM)");
    }
    if (pos != text.size()) return invalid("unexpected characters after the timezone");

    year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                        std::chrono::day{static_cast<unsigned>(day)}};
    if (!date.ok()) return invalid("not a calendar date");
    if (hour > 23 || minute > 59 || second > 60) return invalid("time of day out of range");
    UtcMicros instant = sys_days{date} + hours{hour} + minutes{minute} + seconds{second} + fraction - offset;
    // The UTC form must still have a four-digit year (reference: packages/syntax/src/datetime.ts).
    if (instant < sys_days{std::chrono::year{0} / January / 1}) return invalid("before year 0000");
    if (instant >= sys_days{std::chrono::year{10000} / January / 1}) return invalid("after year 9999");
    return instant;
}

}  // namespace

Result<UtcMicros> ParseDatetime(std::string_view text) { return Parse(text); }

bool IsValidDatetime(std::string_view text) { return Parse(text).has_value(); }

std::string FormatDatetime(UtcMicros instant) {
    constexpr auto kMin = sys_days{std::chrono::year{0} / January / 1};
    constexpr auto kMax = sys_days{std::chrono::year{9999} / December / 31} + hours{24} - microseconds{1};
    instant = std::clamp<UtcMicros>(instant, UtcMicros{kMin}, UtcMicros{kMax});
    auto day_point = floor<days>(instant);
    year_month_day date{day_point};
    hh_mm_ss time{floor<milliseconds>(instant - day_point)};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()), time.hours().count(),
                       time.minutes().count(), time.seconds().count(), time.subseconds().count());
}

std::string FormatDatetimeNow(const core::Clock& clock) {
    return FormatDatetime(UtcMicros{microseconds{clock.NowMicros()}});
}

}  // namespace plyr::atproto::syntax
