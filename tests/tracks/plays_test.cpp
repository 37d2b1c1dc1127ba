// Play counting rules (product.md §6.9) and track id parsing (§4.1) as pure functions.
#include "tracks/plays.hpp"

#include <gtest/gtest.h>

#include "tracks/track_service.hpp"

namespace plyr::tracks {
namespace {

TEST(PlaysTest, CountThresholdIsTheSmallerOfThirtySecondsAndHalfTheDuration) {
    EXPECT_EQ(CountThresholdMs(180'000), 30'000);
    EXPECT_EQ(CountThresholdMs(60'000), 30'000);
    EXPECT_EQ(CountThresholdMs(20'000), 10'000);
    EXPECT_EQ(CountThresholdMs(std::nullopt), 30'000);
    EXPECT_EQ(CountThresholdMs(0), 30'000);
}

TEST(PlaysTest, DedupeWindowIsTheDurationClampedToThirtySecondsAndOneHour) {
    EXPECT_EQ(DedupeTtlUs(180'000), 180'000'000);
    EXPECT_EQ(DedupeTtlUs(5'000), 30'000'000);
    EXPECT_EQ(DedupeTtlUs(7'200'000), 3'600'000'000);
    EXPECT_EQ(DedupeTtlUs(std::nullopt), 300'000'000);
}

TEST(PlaysTest, ListenerKeyPrefersTheDidThenAValidCookieThenTheIp) {
    EXPECT_EQ(ListenerKey(std::string("did:plc:a"), std::string(32, 'a'), "10.0.0.1"), "did:plc:a");
    EXPECT_EQ(ListenerKey(std::nullopt, std::string(32, 'a'), "10.0.0.1"), "anon:" + std::string(32, 'a'));
    EXPECT_EQ(ListenerKey(std::nullopt, std::string("forged value"), "10.0.0.1"), "10.0.0.1");
    EXPECT_EQ(ListenerKey(std::nullopt, std::nullopt, "::1"), "::1");
}

TEST(PlaysTest, PlayIdsAre32LowercaseHex) {
    auto id = NewPlayId();
    EXPECT_TRUE(IsValidPlayId(id)) << id;
    EXPECT_NE(NewPlayId(), id);
    EXPECT_FALSE(IsValidPlayId(std::string(32, 'A')));
    EXPECT_FALSE(IsValidPlayId(std::string(31, 'a')));
}

TEST(TrackIdTest, OnlyPositiveCanonical63BitIntegers) {
    EXPECT_EQ(ParseTrackId("1"), 1);
    EXPECT_EQ(ParseTrackId("9223372036854775807"), INT64_MAX);
    for (const char* bad : {"", "0", "-1", "+1", "abc", "1e9", "01", " 1", "1 ", "9223372036854775808",
                            "1234567890123456789012345", "1.0"}) {
        EXPECT_FALSE(ParseTrackId(bad).has_value()) << bad;
    }
}

TEST(AudioMimeTest, ContentTypeByFormat) {
    EXPECT_EQ(AudioMimeType("mp3"), "audio/mpeg");
    EXPECT_EQ(AudioMimeType("wav"), "audio/wav");
    EXPECT_EQ(AudioMimeType("flac"), "audio/flac");
    EXPECT_EQ(AudioMimeType("m4a"), "audio/mp4");
    EXPECT_EQ(AudioMimeType("aiff"), "audio/aiff");
    EXPECT_EQ(AudioMimeType("ogg"), "audio/ogg");
    EXPECT_EQ(AudioMimeType("webm"), "audio/webm");
    EXPECT_EQ(AudioMimeType("exe"), "application/octet-stream");
}

}  // namespace
}  // namespace plyr::tracks
