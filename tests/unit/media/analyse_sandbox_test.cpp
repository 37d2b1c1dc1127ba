// media::Analyse through the real sandbox (the plyr binary's `media analyse` child): results, progress lines on
// stderr, hostile inputs, and sandbox failures mapped to the job error codes.
#include <filesystem>

#include <gtest/gtest.h>

#include "media/analyse.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "unit/media/audio_fixtures.hpp"

namespace plyr::media {
namespace {

using plyr::testing::AudioFixtures;
using plyr::testing::TempDir;
using namespace std::chrono_literals;

std::string Audio(const std::string& name) { return AudioFixtures::Get().Path(name); }

Sandbox& TestSandbox() {
    static Sandbox sandbox([] {
        SandboxOptions o;
        o.executable = plyr::testing::PlyrBinary();
        o.max_procs = 2;
        return o;
    }());
    return sandbox;
}

SandboxLimits TestLimits() {
    core::Config config;
    config.transcoder_timeout_seconds = 60;
    SandboxLimits l = AnalyseSandboxLimits(config, 10'000);
    l.wall_timeout = 60s;
    return l;
}

AnalyseOptions Options(const TempDir& dir, bool rendition) {
    AnalyseOptions o;
    o.out_dir = dir.str();
    if (rendition) o.rendition_format = "mp3";
    return o;
}

TEST(AnalyseSandbox, AiffGetsAnMp3RenditionAndProgressThroughTheChild) {
    TempDir dir;
    std::vector<double> progress;
    auto r = Analyse(TestSandbox(), Audio("sine.aiff"), Options(dir, true), TestLimits(),
                     [&](double f) { progress.push_back(f); });
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->probe.format, "aiff");
    EXPECT_EQ(r->probe.duration_ms, 3000);
    EXPECT_TRUE(NeedsWebRendition(r->probe));
    ASSERT_TRUE(r->rendition.has_value());
    EXPECT_EQ(r->rendition->info.format, "mp3");
    EXPECT_EQ(r->rendition->info.sample_rate, 44100);
    EXPECT_NEAR(static_cast<double>(r->rendition->info.duration_ms), 3000.0, 100.0);
    EXPECT_TRUE(std::filesystem::exists(r->rendition->path));
    EXPECT_EQ(r->decode_passes, 1);
    ASSERT_TRUE(r->loudness_lufs.has_value());
    EXPECT_GT(r->low.count(), 500u);
    EXPECT_FALSE(r->fingerprint.raw.empty());
    ASSERT_GE(progress.size(), 2u);
    EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
    EXPECT_EQ(progress.back(), 1.0);
    EXPECT_EQ(TestSandbox().running(), 0);
}

TEST(AnalyseSandbox, WavHeaderClaimingTenHoursGivesTwoSecondsAndSmallPeaks) {
    TempDir dir;
    auto r = Analyse(TestSandbox(), Audio("liar.wav"), Options(dir, false), TestLimits());
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->probe.duration_ms, 2000);
    EXPECT_LE(r->low.count(), static_cast<std::size_t>(kPeaksLowTarget));
    EXPECT_LE(r->high.count(), static_cast<std::size_t>(kPeaksHighTarget));
    EXPECT_LE(std::filesystem::file_size(dir.path() / "peaks_high.bin"), 2u * kPeaksHighTarget);
    EXPECT_FALSE(r->rendition.has_value());
}

TEST(AnalyseSandbox, TruncatedMp3AnalysesWhatDecodes) {
    TempDir dir;
    auto r = Analyse(TestSandbox(), Audio("truncated.mp3"), Options(dir, false), TestLimits());
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_GT(r->probe.duration_ms, 900);
    EXPECT_LT(r->probe.duration_ms, 1500);
}

TEST(AnalyseSandbox, HostileInputsAreRefusedWithTheirJobErrorCode) {
    struct Case {
        const char* fixture;
        const char* code;
    };
    for (const Case& c : {Case{"random.mp3", "unsupported_audio_format"}, Case{"ch64.wav", "unsupported_audio_format"},
                          Case{"rate2mhz.wav", "unsupported_audio_format"}, Case{"elf.mp3", "unsupported_audio_format"},
                          Case{"empty.mp3", "audio_unreadable"}, Case{"id3noise.mp3", "audio_unreadable"}}) {
        TempDir dir;
        auto r = Analyse(TestSandbox(), Audio(c.fixture), Options(dir, true), TestLimits());
        ASSERT_FALSE(r) << c.fixture;
        EXPECT_EQ(AnalyseErrorCode(r.error()), c.code) << c.fixture << ": " << r.error().ToString();
        EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << c.fixture;
    }
}

TEST(AnalyseSandbox, TooLongIsAudioTooLong) {
    TempDir dir;
    AnalyseOptions options = Options(dir, false);
    options.limits.max_duration_seconds = 1;
    auto r = Analyse(TestSandbox(), Audio("sine.wav"), options, TestLimits());
    ASSERT_FALSE(r);
    EXPECT_EQ(AnalyseErrorCode(r.error()), "audio_too_long");
}

TEST(AnalyseSandbox, FileSizeLimitDuringARenditionIsTranscodeFailed) {
    TempDir dir;
    SandboxLimits tight = TestLimits();
    tight.file_size_bytes = 20'000;  // the peaks fit, a 3 s 320 kbps mp3 (120 KB) does not
    auto r = Analyse(TestSandbox(), Audio("sine.aiff"), Options(dir, true), tight);
    ASSERT_FALSE(r);
    EXPECT_EQ(AnalyseErrorCode(r.error()), "transcode_failed") << r.error().ToString();
}

TEST(AnalyseSandbox, RenditionWhenNeededThroughTheChild) {
    for (const auto& [fixture, needed] : {std::pair{"alac.m4a", true}, std::pair{"aac.m4a", false}}) {
        TempDir dir;
        AnalyseOptions options = Options(dir, true);
        options.rendition_when_needed = true;
        auto r = Analyse(TestSandbox(), Audio(fixture), options, TestLimits());
        ASSERT_TRUE(r) << fixture << ": " << r.error().ToString();
        EXPECT_EQ(r->rendition.has_value(), needed) << fixture;
    }
    // A container that always needs a rendition: a limit breach is the transcode's failure.
    TempDir dir;
    AnalyseOptions options = Options(dir, true);
    options.rendition_when_needed = true;
    SandboxLimits tight = TestLimits();
    tight.file_size_bytes = 20'000;
    auto aiff = Analyse(TestSandbox(), Audio("sine.aiff"), options, tight);
    ASSERT_FALSE(aiff);
    EXPECT_EQ(AnalyseErrorCode(aiff.error()), "transcode_failed") << aiff.error().ToString();
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AnalyseSandbox, SandboxFailureWithoutARenditionIsAudioUnreadable) {
    TempDir dir;
    SandboxLimits tight = TestLimits();
    tight.file_size_bytes = 100;  // not even the peaks fit
    auto r = Analyse(TestSandbox(), Audio("sine.wav"), Options(dir, false), tight);
    ASSERT_FALSE(r);
    EXPECT_EQ(AnalyseErrorCode(r.error()), "audio_unreadable") << r.error().ToString();
}

}  // namespace
}  // namespace plyr::media
