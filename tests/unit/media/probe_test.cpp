// ProbeFile in-process over fixtures generated with ffmpeg/sox: every accepted format, hostile shapes
// (product.md §9 rows 1-3, 5-9), and the JSON that crosses the sandbox boundary.
#include "media/probe.hpp"

#include <gtest/gtest.h>

#include "unit/media/audio_fixtures.hpp"

namespace plyr::media {
namespace {

using plyr::testing::AudioFixtures;

std::string Fixture(const std::string& name) { return AudioFixtures::Get().Path(name); }

struct FormatCase {
    std::string fixture;
    std::string format;
    std::string codec;
    int sample_rate;
    int channels;
    std::int64_t duration_ms;
};

class ProbeEveryFormat : public ::testing::TestWithParam<FormatCase> {};

TEST_P(ProbeEveryFormat, ReportsContainerCodecShapeAndDecodedDuration) {
    const FormatCase& c = GetParam();
    auto info = ProbeFile(Fixture(c.fixture), ProbeLimits{});
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->format, c.format);
    EXPECT_EQ(info->codec, c.codec);
    EXPECT_EQ(info->sample_rate, c.sample_rate);
    EXPECT_EQ(info->channels, c.channels);
    // Encoders add priming/padding of up to a few frames; the decoded length stays within 60 ms.
    EXPECT_NEAR(static_cast<double>(info->duration_ms), static_cast<double>(c.duration_ms), 60.0);
    EXPECT_GT(info->bit_rate, 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ProbeEveryFormat,
                         ::testing::Values(FormatCase{"sine.wav", "wav", "pcm_s16le", 44100, 2, 3000},
                                           FormatCase{"float.wav", "wav", "pcm_f32le", 44100, 2, 3000},
                                           FormatCase{"sine.aiff", "aiff", "pcm_s16be", 44100, 2, 3000},
                                           FormatCase{"silence.aiff", "aiff", "pcm_s16be", 44100, 2, 3000},
                                           FormatCase{"noise.flac", "flac", "flac", 44100, 2, 3000},
                                           FormatCase{"mono48k.flac", "flac", "flac", 48000, 1, 2000},
                                           FormatCase{"sine.mp3", "mp3", "mp3", 44100, 2, 3000},
                                           FormatCase{"silence.mp3", "mp3", "mp3", 44100, 2, 3000},
                                           FormatCase{"aac.m4a", "m4a", "aac", 44100, 2, 3000},
                                           FormatCase{"alac.m4a", "m4a", "alac", 44100, 2, 3000},
                                           FormatCase{"vorbis.ogg", "ogg", "vorbis", 44100, 2, 3000},
                                           FormatCase{"opus.ogg", "ogg", "opus", 48000, 2, 3000},
                                           FormatCase{"flac.ogg", "ogg", "flac", 44100, 2, 3000},
                                           FormatCase{"opus.webm", "webm", "opus", 48000, 2, 3000},
                                           FormatCase{"vorbis.webm", "webm", "vorbis", 44100, 2, 3000}),
                         [](const ::testing::TestParamInfo<FormatCase>& info) {
                             std::string name;
                             for (char ch : info.param.fixture)
                                 name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                             return name;
                         });

TEST(ProbeFile, TruncatedMp3ReportsTheDecodableLength) {
    auto full = ProbeFile(Fixture("sine.mp3"), ProbeLimits{});
    auto cut = ProbeFile(Fixture("truncated.mp3"), ProbeLimits{});
    ASSERT_TRUE(full) << full.error().ToString();
    ASSERT_TRUE(cut) << cut.error().ToString();
    // 2/5 of the bytes: about 1.2 s of the 3 s.
    EXPECT_GT(cut->duration_ms, 900);
    EXPECT_LT(cut->duration_ms, 1500);
    EXPECT_LT(cut->duration_ms, full->duration_ms);
}

TEST(ProbeFile, WavHeaderClaimingTenHoursReportsTheTwoSecondsOfData) {
    auto info = ProbeFile(Fixture("liar.wav"), ProbeLimits{});
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->format, "wav");
    EXPECT_EQ(info->duration_ms, 2000);
    EXPECT_EQ(info->channels, 1);
}

TEST(ProbeFile, LongerThanTheCapIsAudioTooLong) {
    ProbeLimits limits;
    limits.max_duration_seconds = 2;
    auto info = ProbeFile(Fixture("noise.flac"), limits);
    ASSERT_FALSE(info);
    EXPECT_EQ(info.error().code, ErrorCode::kTooLarge);
    EXPECT_EQ(ProbeErrorCode(info.error()), "audio_too_long");
    // The header of the lying WAV (10 h) is not enough to be too long: only decoded audio counts.
    limits.max_duration_seconds = 60;
    EXPECT_TRUE(ProbeFile(Fixture("liar.wav"), limits));
}

TEST(ProbeFile, SixtyFourChannelsIsUnsupported) {
    auto info = ProbeFile(Fixture("ch64.wav"), ProbeLimits{});
    ASSERT_FALSE(info);
    EXPECT_EQ(ProbeErrorCode(info.error()), "unsupported_audio_format");
}

TEST(ProbeFile, NineChannelsIsAboveTheCapOfEight) {
    auto info = ProbeFile(Fixture("ch9.wav"), ProbeLimits{});
    ASSERT_FALSE(info);
    EXPECT_EQ(ProbeErrorCode(info.error()), "unsupported_audio_format");
}

TEST(ProbeFile, TwoMegahertzSampleRateIsUnsupported) {
    auto info = ProbeFile(Fixture("rate2mhz.wav"), ProbeLimits{});
    ASSERT_FALSE(info);
    EXPECT_EQ(ProbeErrorCode(info.error()), "unsupported_audio_format");
}

TEST(ProbeFile, CodecNotAllowedInItsContainerIsUnsupported) {
    auto info = ProbeFile(Fixture("mp3.wav"), ProbeLimits{});  // MP3 frames inside a RIFF/WAVE file
    ASSERT_FALSE(info);
    EXPECT_EQ(ProbeErrorCode(info.error()), "unsupported_audio_format");
}

TEST(ProbeFile, Id3HeaderOverNoiseIsUnreadable) {
    auto info = ProbeFile(Fixture("id3noise.mp3"), ProbeLimits{});
    ASSERT_FALSE(info);
    EXPECT_EQ(ProbeErrorCode(info.error()), "audio_unreadable");
}

TEST(ProbeFile, NonAudioBytesNamedMp3AreUnsupported) {
    for (const char* name : {"random.mp3", "png.mp3", "elf.mp3"}) {
        auto info = ProbeFile(Fixture(name), ProbeLimits{});
        ASSERT_FALSE(info) << name;
        EXPECT_EQ(ProbeErrorCode(info.error()), "unsupported_audio_format") << name;
    }
}

TEST(ProbeFile, EmptyAndMissingFilesAreUnreadable) {
    auto empty = ProbeFile(Fixture("empty.mp3"), ProbeLimits{});
    ASSERT_FALSE(empty);
    EXPECT_EQ(ProbeErrorCode(empty.error()), "audio_unreadable");
    auto missing = ProbeFile("/nonexistent/plyr/no-such-file.mp3", ProbeLimits{});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kIo);
    EXPECT_EQ(ProbeErrorCode(missing.error()), "audio_unreadable");
}

TEST(ProbeInfoJson, RoundTrips) {
    ProbeInfo info{"m4a", "alac", 183'456, 96000, 2, 2'304'000};
    auto back = ProbeInfoFromJson(ProbeInfoToJson(info));
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(back->format, "m4a");
    EXPECT_EQ(back->codec, "alac");
    EXPECT_EQ(back->duration_ms, 183'456);
    EXPECT_EQ(back->sample_rate, 96000);
    EXPECT_EQ(back->channels, 2);
    EXPECT_EQ(back->bit_rate, 2'304'000);
    EXPECT_EQ(ProbeInfoToJson(info).find('\n'), std::string::npos);
}

TEST(ProbeInfoJson, RejectsAnythingButTheExactShape) {
    const std::string good =
        R"({"format":"mp3","codec":"mp3","duration_ms":1,"sample_rate":44100,"channels":2,"bit_rate":128000})";
    ASSERT_TRUE(ProbeInfoFromJson(good));
    for (
        const std::string& bad : {
            std::string("not json"),
            std::string("[]"),
            std::string(R"({"format":"mp3","codec":"mp3","duration_ms":1,"sample_rate":44100,"channels":2})"),
            std::string(
                R"({"format":"exe","codec":"mp3","duration_ms":1,"sample_rate":44100,"channels":2,"bit_rate":1})"),
            std::string(
                R"({"format":"mp3","codec":"mp3","duration_ms":"1","sample_rate":44100,"channels":2,"bit_rate":1})"),
            std::string(
                R"({"format":"mp3","codec":"mp3","duration_ms":-1,"sample_rate":44100,"channels":2,"bit_rate":1})"),
            std::string(
                R"({"format":"mp3","codec":"mp3","duration_ms":1,"sample_rate":44100,"channels":2,"bit_rate":1,"x":1})"),
            std::string(
                R"({"format":"mp3","format":"mp3","codec":"mp3","duration_ms":1,"sample_rate":44100,"channels":2})"),
        }) {
        auto r = ProbeInfoFromJson(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::kProtocol) << bad;
    }
}

TEST(ProbeErrorCode, MapsErrorCodesToJobErrorCodes) {
    EXPECT_EQ(ProbeErrorCode(Error{ErrorCode::kUnsupported, "", ""}), "unsupported_audio_format");
    EXPECT_EQ(ProbeErrorCode(Error{ErrorCode::kTooLarge, "", ""}), "audio_too_long");
    EXPECT_EQ(ProbeErrorCode(Error{ErrorCode::kInvalidArgument, "", ""}), "audio_unreadable");
    EXPECT_EQ(ProbeErrorCode(Error{ErrorCode::kTimeout, "", ""}), "audio_unreadable");
}

}  // namespace
}  // namespace plyr::media
