// Datetime parsing to an instant and formatting (docs/atproto.md §1.7, §10.2 item 7).
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "atproto/syntax/syntax.hpp"
#include "core/clock.hpp"

namespace plyr::atproto::syntax {
namespace {

using namespace std::chrono;

std::int64_t Micros(std::string_view text) {
    auto parsed = ParseDatetime(text);
    EXPECT_TRUE(parsed) << text;
    return parsed ? parsed->time_since_epoch().count() : 0;
}

TEST(Datetime, ParsesToTheUtcInstant) {
    EXPECT_EQ(Micros("1970-01-01T00:00:00Z"), 0);
    EXPECT_EQ(Micros("2023-06-30T15:03:01.887007Z"), 1688137381887007);
    EXPECT_EQ(Micros("2023-11-14T22:13:20.000Z"), 1700000000000000);
}

TEST(Datetime, AppliesTheOffset) {
    EXPECT_EQ(Micros("2023-11-14T23:13:20+01:00"), 1700000000000000);
    EXPECT_EQ(Micros("2023-11-14T15:13:20-07:00"), 1700000000000000);
    EXPECT_EQ(Micros("2023-11-14T22:13:20+00:00"), 1700000000000000);
}

TEST(Datetime, TruncatesFractionsBeyondMicroseconds) {
    EXPECT_EQ(Micros("1970-01-01T00:00:00.1Z"), 100000);
    EXPECT_EQ(Micros("1970-01-01T00:00:00.12345678901234567890Z"), 123456);
    EXPECT_EQ(Micros("1970-01-01T00:00:00.123456789012345678901234567890Z"), 123456);  // any digit count
}

TEST(Datetime, ChecksTheCalendar) {
    EXPECT_TRUE(IsValidDatetime("2024-02-29T00:00:00Z"));
    EXPECT_FALSE(IsValidDatetime("2023-02-29T00:00:00Z"));
    EXPECT_FALSE(IsValidDatetime("1900-02-29T00:00:00Z"));
    EXPECT_TRUE(IsValidDatetime("2000-02-29T00:00:00Z"));
    EXPECT_FALSE(IsValidDatetime("2023-04-31T00:00:00Z"));
    EXPECT_TRUE(IsValidDatetime("2016-12-31T23:59:60Z"));  // leap second
    EXPECT_FALSE(IsValidDatetime("2016-12-31T23:59:61Z"));
    EXPECT_FALSE(IsValidDatetime("2016-12-31T24:00:00Z"));
    EXPECT_FALSE(IsValidDatetime("2016-12-31T23:00:00+24:00"));
    EXPECT_FALSE(IsValidDatetime("2016-12-31T23:00:00+01:60"));
}

TEST(Datetime, RejectsNegativeYearsAfterTheOffset) {
    EXPECT_TRUE(IsValidDatetime("0000-01-01T00:00:00Z"));
    EXPECT_TRUE(IsValidDatetime("0000-01-01T00:00:00-01:00"));
    auto negative = ParseDatetime("0000-01-01T00:00:00+01:00");
    ASSERT_FALSE(negative);
    EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);
}

TEST(Datetime, RejectsYearsAfter9999AfterTheOffset) {
    EXPECT_TRUE(IsValidDatetime("9999-12-31T23:59:59.999Z"));
    EXPECT_TRUE(IsValidDatetime("9999-12-31T23:00:00+01:00"));
    EXPECT_FALSE(IsValidDatetime("9999-12-31T23:00:00-01:00"));
}

TEST(Datetime, RejectsInputLongerThan64Bytes) {
    std::string text = "1985-04-12T23:20:50." + std::string(38, '1') + "Z";
    ASSERT_EQ(text.size(), 59u);
    EXPECT_TRUE(IsValidDatetime(text));
    std::string longest = "1985-04-12T23:20:50." + std::string(38, '1') + "+00:00";
    ASSERT_EQ(longest.size(), 64u);
    EXPECT_TRUE(IsValidDatetime(longest));
    EXPECT_FALSE(IsValidDatetime("1985-04-12T23:20:50." + std::string(39, '1') + "+00:00"));
}

TEST(Datetime, FormatsUtcWithMillisecondPrecision) {
    EXPECT_EQ(FormatDatetime(UtcMicros{microseconds{0}}), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(FormatDatetime(UtcMicros{microseconds{1688137381887007}}), "2023-06-30T15:03:01.887Z");
    EXPECT_EQ(FormatDatetime(UtcMicros{sys_days{year{2026} / January / 1} + hours{12}}), "2026-01-01T12:00:00.000Z");
    // Before the epoch rounds towards the past, like any floor.
    EXPECT_EQ(FormatDatetime(UtcMicros{microseconds{-1}}), "1969-12-31T23:59:59.999Z");
}

TEST(Datetime, FormatClampsToFourDigitYears) {
    EXPECT_EQ(FormatDatetime(UtcMicros{sys_days{year{-5} / January / 1}}), "0000-01-01T00:00:00.000Z");
    EXPECT_EQ(FormatDatetime(UtcMicros{sys_days{year{12000} / January / 1}}), "9999-12-31T23:59:59.999Z");
}

TEST(Datetime, FormatNowUsesTheInjectedClockAndRoundTrips) {
    core::ManualClock clock(1700000000123456);
    std::string now = FormatDatetimeNow(clock);
    EXPECT_EQ(now, "2023-11-14T22:13:20.123Z");
    EXPECT_EQ(Micros(now), 1700000000123000);
}

}  // namespace
}  // namespace plyr::atproto::syntax
