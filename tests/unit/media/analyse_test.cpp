// AnalyseFile in-process (the child's work) over audio generated with ffmpeg/sox: loudness against ffmpeg's own
// EBU R128 filter, true peak, peak shapes, fingerprints, the mp3 rendition, every accepted format, hostile shapes;
// and the pure pieces (NeedsWebRendition, limits, error codes).
#include "media/analyse.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"
#include "unit/media/analyse_fixtures.hpp"
#include "unit/media/audio_fixtures.hpp"

namespace plyr::media {
namespace {

using plyr::testing::AnalyseFixtures;
using plyr::testing::AudioFixtures;
using plyr::testing::TempDir;

std::string Audio(const std::string& name) { return AudioFixtures::Get().Path(name); }
std::string Extra(const std::string& name) { return AnalyseFixtures::Get().Path(name); }

Result<AnalysisResult> AnalyseAt(const std::string& path, const TempDir& dir, bool rendition = false) {
    AnalyseOptions options;
    options.out_dir = dir.str();
    if (rendition) options.rendition_format = "mp3";
    return AnalyseFile(path, options);
}

int Peak(const std::string& peaks, std::size_t i) { return static_cast<std::int8_t>(peaks[i]); }

// Every pair covers samples_per_peak samples (the last may cover fewer) and the count respects the target.
void ExpectConsistentPeaks(const AnalysisResult& r) {
    for (const auto* set : {&r.low, &r.high}) {
        ASSERT_GE(set->samples_per_peak, 1);
        EXPECT_EQ(set->peaks.size() % 2, 0u);
        const auto expected = (r.decoded_samples + set->samples_per_peak - 1) / set->samples_per_peak;
        EXPECT_EQ(static_cast<std::int64_t>(set->count()), expected);
        for (std::size_t i = 0; i + 1 < set->peaks.size(); i += 2)
            EXPECT_LE(Peak(set->peaks, i), Peak(set->peaks, i + 1));
    }
    EXPECT_LE(r.low.count(), static_cast<std::size_t>(kPeaksLowTarget));
    EXPECT_LE(r.high.count(), static_cast<std::size_t>(kPeaksHighTarget));
}

TEST(AnalyseFile, LoudnessMatchesFfmpegEbur128WithinHalfAnLu) {
    TempDir dir;
    const std::string path = Extra("sine1k_m20.wav");
    auto r = AnalyseAt(path, dir);
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_TRUE(r->loudness_lufs.has_value());
    // BS.1770: a -20 dBFS sine has a mean square of -23.01 dB per channel, K-weighting adds ~+0.69 dB at 1 kHz
    // and the -0.691 offset takes it back; two channels add 3.01 dB: -20.0 LUFS.
    EXPECT_NEAR(*r->loudness_lufs, -20.0, 0.5);
    const auto [ffmpeg_lufs, ffmpeg_peak] = AnalyseFixtures::FfmpegLoudness(path);
    EXPECT_NEAR(*r->loudness_lufs, ffmpeg_lufs, 0.5);
    ASSERT_TRUE(r->true_peak_dbtp.has_value());
    EXPECT_NEAR(*r->true_peak_dbtp, 20.0 * std::log10(0.1), 0.3);
    EXPECT_NEAR(*r->true_peak_dbtp, ffmpeg_peak, 0.3);
    EXPECT_FALSE(r->rendition.has_value());
}

TEST(AnalyseFile, NearFullScaleSineHasATruePeakNearZeroDbtp) {
    TempDir dir;
    auto r = AnalyseAt(Extra("sine1k_fs.wav"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_TRUE(r->true_peak_dbtp.has_value());
    EXPECT_NEAR(*r->true_peak_dbtp, 20.0 * std::log10(0.99), 0.3);
    // The waveform reaches ±127 (0.99 × 127 rounds to 126).
    int lo = 0, hi = 0;
    for (std::size_t i = 0; i < r->high.peaks.size(); ++i) {
        lo = std::min(lo, Peak(r->high.peaks, i));
        hi = std::max(hi, Peak(r->high.peaks, i));
    }
    EXPECT_LE(lo, -125);
    EXPECT_GE(hi, 125);
}

TEST(AnalyseFile, SilenceHasNoLoudnessNoPeakAndFlatPeaks) {
    TempDir dir;
    auto r = AnalyseAt(Extra("silence.wav"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_FALSE(r->loudness_lufs.has_value());
    EXPECT_FALSE(r->true_peak_dbtp.has_value());
    ASSERT_GT(r->low.count(), 0u);
    for (char c : r->low.peaks) EXPECT_EQ(c, 0);
    for (char c : r->high.peaks) EXPECT_EQ(c, 0);
    ExpectConsistentPeaks(*r);
}

TEST(AnalyseFile, HalfSilentFileHasFlatPeaksInItsFirstHalf) {
    TempDir dir;
    auto r = AnalyseAt(Extra("half_silent.wav"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    ExpectConsistentPeaks(*r);
    for (const auto* set : {&r->low, &r->high}) {
        const std::size_t n = set->count();
        ASSERT_GT(n, 100u);
        // Pairs wholly inside the first 2 s are silent; pairs wholly in the last 2 s are loud (±0.5 × 127 at the
        // crests; a high-resolution pair covers only part of a 440 Hz period, which still reaches ±0.68 × 63).
        const auto boundary = static_cast<std::size_t>(2 * 44100 / set->samples_per_peak);
        for (std::size_t i = 0; i + 1 < boundary; ++i) {
            EXPECT_EQ(Peak(set->peaks, 2 * i), 0) << i;
            EXPECT_EQ(Peak(set->peaks, 2 * i + 1), 0) << i;
        }
        for (std::size_t i = boundary + 2; i < n; ++i) {
            EXPECT_GT(std::max(-Peak(set->peaks, 2 * i), Peak(set->peaks, 2 * i + 1)), 40) << i;
            if (set == &r->low) {
                EXPECT_LT(Peak(set->peaks, 2 * i), -60) << i;
                EXPECT_GT(Peak(set->peaks, 2 * i + 1), 60) << i;
            }
        }
    }
}

TEST(AnalyseFile, PeakResolutionsAreNearTheirTargets) {
    TempDir dir;
    auto r = AnalyseAt(Extra("music.wav"), dir);  // 8 s at 44.1 kHz
    ASSERT_TRUE(r) << r.error().ToString();
    ExpectConsistentPeaks(*r);
    EXPECT_GT(r->low.count(), static_cast<std::size_t>(kPeaksLowTarget / 2));
    EXPECT_GT(r->high.count(), static_cast<std::size_t>(kPeaksHighTarget / 2));
    EXPECT_EQ(r->decoded_samples, 8 * 44100);
}

TEST(AnalyseFile, TheSameSignalHasTheSameFingerprintAndNoiseAnotherOne) {
    TempDir a, b, c;
    auto wav = AnalyseAt(Extra("music.wav"), a);
    auto flac = AnalyseAt(Extra("music.flac"), b);
    auto noise = AnalyseAt(Extra("noise.wav"), c);
    ASSERT_TRUE(wav) << wav.error().ToString();
    ASSERT_TRUE(flac) << flac.error().ToString();
    ASSERT_TRUE(noise) << noise.error().ToString();
    EXPECT_EQ(wav->fingerprint.algorithm, 1);
    EXPECT_GT(wav->fingerprint.raw.size(), 20u);
    EXPECT_EQ(wav->fingerprint.raw, flac->fingerprint.raw);
    EXPECT_NEAR(static_cast<double>(wav->fingerprint.duration_ms), 8000.0, 1.0);
    ASSERT_FALSE(noise->fingerprint.raw.empty());
    EXPECT_NE(wav->fingerprint.raw, noise->fingerprint.raw);
    // Bitwise, most of the noise's items differ from the music's.
    std::size_t differing_bits = 0;
    const std::size_t n = std::min(wav->fingerprint.raw.size(), noise->fingerprint.raw.size());
    for (std::size_t i = 0; i < n; ++i) {
        differing_bits +=
            static_cast<std::size_t>(__builtin_popcount(wav->fingerprint.raw[i] ^ noise->fingerprint.raw[i]));
    }
    EXPECT_GT(differing_bits, n * 32 / 4);
}

TEST(AnalyseFile, WritesTheOutputFilesItReports) {
    TempDir dir;
    auto r = AnalyseAt(Audio("sine.wav"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "peaks_low.bin"), r->low.peaks.size());
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "peaks_high.bin"), r->high.peaks.size());
    EXPECT_EQ(std::filesystem::file_size(dir.path() / "fingerprint.bin"), r->fingerprint.raw.size() * 4);
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "rendition.mp3"));
    // The parent reads back exactly what the child holds.
    auto back = AnalysisFromJson(AnalysisToJson(*r, dir.str()), dir.str(), ProbeLimits{});
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(back->low.peaks, r->low.peaks);
    EXPECT_EQ(back->high.peaks, r->high.peaks);
    EXPECT_EQ(back->high.samples_per_peak, r->high.samples_per_peak);
    EXPECT_EQ(back->fingerprint.raw, r->fingerprint.raw);
    ASSERT_TRUE(back->loudness_lufs && r->loudness_lufs);
    EXPECT_NEAR(*back->loudness_lufs, *r->loudness_lufs, 1e-9);  // Boost.JSON 1.81 parses doubles to ~1 ulp
    EXPECT_EQ(back->probe.duration_ms, r->probe.duration_ms);
}

TEST(AnalyseFile, DecodesTheInputOnce) {
    // decode_passes counts the decode loops over the input; decoded_samples counts what reached the analysers.
    // One pass over 3 s at 44.1 kHz feeds 132,300 samples: two passes would feed twice as many.
    TempDir dir;
    auto r = AnalyseAt(Audio("sine.aiff"), dir, /*rendition=*/true);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->decode_passes, 1);
    EXPECT_EQ(r->decoded_samples, 3 * 44100);
}

struct RenditionCase {
    std::string fixture;
    int rate;
    int channels;
    std::string kind = "mp3";
};

class AnalyseRendition : public ::testing::TestWithParam<RenditionCase> {};

TEST_P(AnalyseRendition, IsAWebFormatOfTheSameLengthRateAndChannels) {
    const auto& c = GetParam();
    TempDir dir;
    const std::string path = c.fixture.find("surround") == 0 ? Extra(c.fixture) : Audio(c.fixture);
    AnalyseOptions options;
    options.out_dir = dir.str();
    options.rendition_format = c.kind;
    auto r = AnalyseFile(path, options);
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_TRUE(r->rendition.has_value());
    const Rendition& out = *r->rendition;
    const bool mp3 = c.kind == "mp3";
    EXPECT_EQ(out.path, (dir.path() / (mp3 ? "rendition.mp3" : "rendition.m4a")).string());
    EXPECT_EQ(out.format, mp3 ? "mp3" : "m4a");
    EXPECT_EQ(out.info.format, mp3 ? "mp3" : "m4a");
    EXPECT_EQ(out.info.codec, mp3 ? "mp3" : "aac");
    EXPECT_EQ(out.info.sample_rate, c.rate);
    EXPECT_EQ(out.info.channels, c.channels);
    EXPECT_NEAR(static_cast<double>(out.info.duration_ms), static_cast<double>(r->probe.duration_ms), 100.0);
    if (mp3) {
        EXPECT_NEAR(static_cast<double>(out.info.bit_rate), 320'000.0, 16'000.0);  // CBR
    } else {
        EXPECT_GT(out.info.bit_rate, 64'000);  // AAC at 256 kbps target spends less on a plain sine
        // The index (moov) precedes the media data, so a browser can start playing from the first bytes.
        std::ifstream in(out.path, std::ios::binary);
        std::string head(4096, '\0');
        in.read(head.data(), static_cast<std::streamsize>(head.size()));
        const auto moov = head.find("moov");
        ASSERT_NE(moov, std::string::npos);
        const auto mdat = head.find("mdat");
        EXPECT_TRUE(mdat == std::string::npos || moov < mdat);
    }
    EXPECT_EQ(out.size, static_cast<std::int64_t>(std::filesystem::file_size(out.path)));
    // The rendition decodes to the same loudness (within what the encoder changes).
    TempDir again;
    auto re = AnalyseAt(out.path, again);
    ASSERT_TRUE(re) << re.error().ToString();
    ASSERT_TRUE(r->loudness_lufs && re->loudness_lufs);
    if (c.channels == r->probe.channels) {
        EXPECT_NEAR(*re->loudness_lufs, *r->loudness_lufs, 0.5);
    }
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, AnalyseRendition,
    ::testing::Values(RenditionCase{"sine.aiff", 44100, 2}, RenditionCase{"alac.m4a", 44100, 2},
                      RenditionCase{"mono48k.flac", 48000, 1}, RenditionCase{"opus.webm", 48000, 2},
                      RenditionCase{"surround.flac", 48000, 2}, RenditionCase{"sine.aiff", 44100, 2, "aac"},
                      RenditionCase{"mono48k.flac", 48000, 1, "aac"}, RenditionCase{"surround.flac", 48000, 2, "aac"}),
    [](const ::testing::TestParamInfo<RenditionCase>& info) {
        std::string name = info.param.kind + "_";
        for (char ch : info.param.fixture) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
        return name;
    });

class AnalyseEveryFormat : public ::testing::TestWithParam<std::string> {};

TEST_P(AnalyseEveryFormat, AnalysesWithTheProbesVerdict) {
    TempDir dir;
    const std::string path = Audio(GetParam());
    auto r = AnalyseAt(path, dir);
    ASSERT_TRUE(r) << r.error().ToString();
    auto probe = ProbeFile(path, ProbeLimits{});
    ASSERT_TRUE(probe) << probe.error().ToString();
    EXPECT_EQ(ProbeInfoToJson(r->probe), ProbeInfoToJson(*probe));
    EXPECT_EQ(r->decode_passes, 1);
    ExpectConsistentPeaks(*r);
    EXPECT_GT(r->low.count(), 0u);
    const bool silent = GetParam().find("silence") != std::string::npos;
    EXPECT_EQ(r->loudness_lufs.has_value(), !silent);
    // Chromaprint needs about 3 s before it emits anything (mono48k.flac is 2 s).
    if (r->probe.duration_ms >= 2900) {
        EXPECT_FALSE(r->fingerprint.raw.empty());
    }
    EXPECT_NEAR(static_cast<double>(r->decoded_samples) * 1000.0 / r->probe.sample_rate,
                static_cast<double>(r->probe.duration_ms), 2.0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AnalyseEveryFormat,
                         ::testing::Values("sine.wav", "float.wav", "sine.aiff", "silence.aiff", "noise.flac",
                                           "mono48k.flac", "sine.mp3", "silence.mp3", "aac.m4a", "alac.m4a",
                                           "vorbis.ogg", "opus.ogg", "flac.ogg", "opus.webm", "vorbis.webm"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                             std::string name;
                             for (char ch : info.param) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                             return name;
                         });

TEST(AnalyseFile, RenditionWhenNeededFollowsTheOpenedCodec) {
    for (const auto& [fixture, needed] :
         {std::pair{"alac.m4a", true}, std::pair{"aac.m4a", false}, std::pair{"sine.wav", false},
          std::pair{"vorbis.ogg", true}, std::pair{"sine.mp3", false}, std::pair{"noise.flac", false}}) {
        TempDir dir;
        AnalyseOptions options;
        options.out_dir = dir.str();
        options.rendition_format = "mp3";
        options.rendition_when_needed = true;
        auto r = AnalyseFile(Audio(fixture), options);
        ASSERT_TRUE(r) << fixture << ": " << r.error().ToString();
        EXPECT_EQ(r->rendition.has_value(), needed) << fixture;
        EXPECT_EQ(NeedsWebRendition(r->probe), needed) << fixture;
        EXPECT_EQ(std::filesystem::exists(dir.path() / "rendition.mp3"), needed) << fixture;
    }
}

TEST(AnalyseFile, WavHeaderClaimingTenHoursAnalysesTheTwoSecondsWithSmallPeaks) {
    TempDir dir;
    auto r = AnalyseAt(Audio("liar.wav"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->probe.duration_ms, 2000);
    EXPECT_EQ(r->decoded_samples, 2 * 44100);
    ExpectConsistentPeaks(*r);
    // The peak size follows the decoded audio, not the header: the pairs still resolve the 2 s.
    EXPECT_GT(r->low.count(), static_cast<std::size_t>(kPeaksLowTarget / 2));
    EXPECT_LE(r->high.samples_per_peak, 2 * 44100 / (kPeaksHighTarget / 2));
}

TEST(AnalyseFile, RefusesLikeTheProbe) {
    TempDir dir;
    auto random = AnalyseAt(Audio("random.mp3"), dir);
    ASSERT_FALSE(random);
    EXPECT_EQ(AnalyseErrorCode(random.error()), "unsupported_audio_format");
    auto ch64 = AnalyseAt(Audio("ch64.wav"), dir);
    ASSERT_FALSE(ch64);
    EXPECT_EQ(AnalyseErrorCode(ch64.error()), "unsupported_audio_format");
    auto empty = AnalyseAt(Audio("empty.mp3"), dir);
    ASSERT_FALSE(empty);
    EXPECT_EQ(AnalyseErrorCode(empty.error()), "audio_unreadable");
    auto noise = AnalyseAt(Audio("id3noise.mp3"), dir);
    ASSERT_FALSE(noise);
    EXPECT_EQ(AnalyseErrorCode(noise.error()), "audio_unreadable");
    AnalyseOptions short_cap;
    short_cap.out_dir = dir.str();
    short_cap.limits.max_duration_seconds = 1;
    auto too_long = AnalyseFile(Audio("sine.wav"), short_cap);
    ASSERT_FALSE(too_long);
    EXPECT_EQ(AnalyseErrorCode(too_long.error()), "audio_too_long");
    // Nothing was written for a refused file.
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AnalyseFile, TruncatedMp3AnalysesWhatDecodes) {
    TempDir dir;
    auto r = AnalyseAt(Audio("truncated.mp3"), dir);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_GT(r->probe.duration_ms, 900);
    EXPECT_LT(r->probe.duration_ms, 1500);
    ExpectConsistentPeaks(*r);
}

TEST(AnalyseFile, ReportsProgressUpToOne) {
    TempDir dir;
    AnalyseOptions options;
    options.out_dir = dir.str();
    std::vector<double> seen;
    auto r = AnalyseFile(Extra("music.wav"), options, [&](double f) { seen.push_back(f); });
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_GE(seen.size(), 10u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(seen.back(), 1.0);
}

TEST(AnalyseFile, MissingOutputDirectoryOrUnknownRenditionIsAnError) {
    AnalyseOptions options;
    options.out_dir = "/nonexistent/plyr-analyse";
    auto r = AnalyseFile(Audio("sine.wav"), options);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    TempDir dir;
    options.out_dir = dir.str();
    options.rendition_format = "ogg";
    auto bad = AnalyseFile(Audio("sine.wav"), options);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(NeedsWebRendition, OnlyFormatsBrowsersCannotPlay) {
    auto needs = [](std::string format, std::string codec) {
        ProbeInfo info;
        info.format = std::move(format);
        info.codec = std::move(codec);
        return NeedsWebRendition(info);
    };
    EXPECT_TRUE(needs("aiff", "pcm_s16be"));
    EXPECT_TRUE(needs("m4a", "alac"));
    EXPECT_TRUE(needs("ogg", "vorbis"));
    EXPECT_TRUE(needs("ogg", "opus"));
    EXPECT_TRUE(needs("ogg", "flac"));
    EXPECT_TRUE(needs("webm", "opus"));
    EXPECT_TRUE(needs("wav", "mp3"));
    EXPECT_FALSE(needs("mp3", "mp3"));
    EXPECT_FALSE(needs("m4a", "aac"));
    EXPECT_FALSE(needs("wav", "pcm_s16le"));
    EXPECT_FALSE(needs("wav", "pcm_f32le"));
    EXPECT_FALSE(needs("flac", "flac"));
}

TEST(AnalyseSandboxLimits, ScaleWithTheHintOrTheLongestAcceptedAudio) {
    core::Config config;
    config.transcoder_timeout_seconds = 600;
    config.max_audio_duration_seconds = 21600;
    SandboxLimits hinted = AnalyseSandboxLimits(config, 180'000);
    EXPECT_EQ(hinted.cpu, std::chrono::seconds(4 * 180 + 60));
    EXPECT_EQ(hinted.file_size_bytes, 180u * 40'000u + (10u << 20));
    EXPECT_EQ(hinted.wall_timeout, std::chrono::seconds(600));
    EXPECT_EQ(hinted.address_space_bytes, std::uint64_t{1} << 30);
    SandboxLimits unknown = AnalyseSandboxLimits(config, std::nullopt);
    EXPECT_EQ(unknown.cpu, std::chrono::seconds(4 * 21600 + 60));
    EXPECT_EQ(unknown.file_size_bytes, 21600u * 40'000u + (10u << 20));
    EXPECT_EQ(unknown.wall_timeout, std::chrono::seconds(2160));
}

TEST(AnalyseErrorCode, AddsTranscodeFailedToTheProbeCodes) {
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kInternal, "x", "transcode_failed"}), "transcode_failed");
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kInternal, "x", "transcode_failed: encode: boom"}), "transcode_failed");
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kInternal, "x", "demuxer missing"}), "audio_unreadable");
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kUnsupported, "x", ""}), "unsupported_audio_format");
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kTooLarge, "x", ""}), "audio_too_long");
    EXPECT_EQ(AnalyseErrorCode(Error{ErrorCode::kInvalidArgument, "x", ""}), "audio_unreadable");
}

}  // namespace
}  // namespace plyr::media
