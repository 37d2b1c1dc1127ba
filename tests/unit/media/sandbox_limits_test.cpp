// The sandbox settings derived from the configuration follow product.md §6.17.
#include <gtest/gtest.h>

#include "media/sandbox.hpp"

namespace plyr::media {
namespace {

using namespace std::chrono_literals;

TEST(SandboxLimits, ProbeUsesTheLongestAcceptedAudioAsItsBudget) {
    core::Config config;
    config.transcoder_timeout_seconds = 600;
    config.max_audio_duration_seconds = 21600;
    SandboxLimits l = ProbeSandboxLimits(config);
    EXPECT_EQ(l.wall_timeout, 2160s);  // a tenth of 6 h beats 600 s
    EXPECT_EQ(l.cpu, 2160s);
    EXPECT_EQ(l.file_size_bytes, 0u);
    EXPECT_EQ(l.address_space_bytes, std::uint64_t{1} << 30);
    config.max_audio_duration_seconds = 600;
    EXPECT_EQ(ProbeSandboxLimits(config).wall_timeout, 600s);
}

TEST(SandboxLimits, TranscodeScalesWithTheDuration) {
    core::Config config;
    config.transcoder_timeout_seconds = 600;
    SandboxLimits three_minutes = TranscodeSandboxLimits(config, 180'000);
    EXPECT_EQ(three_minutes.cpu, 780s);  // 4 × 180 + 60
    EXPECT_EQ(three_minutes.file_size_bytes, 180u * 40'000u + (10u << 20));
    EXPECT_EQ(three_minutes.wall_timeout, 600s);
    SandboxLimits six_hours = TranscodeSandboxLimits(config, 21'600'000);
    EXPECT_EQ(six_hours.wall_timeout, 2160s);
    EXPECT_EQ(TranscodeSandboxLimits(config, 1).cpu, 64s);  // a partial second counts as one
}

TEST(SandboxLimits, OptionsAndProbeLimitsComeFromTheConfig) {
    core::Config config;
    config.media_max_procs = 3;
    config.max_audio_duration_seconds = 1234;
    EXPECT_EQ(SandboxOptionsFromConfig(config).max_procs, 3);
    EXPECT_TRUE(SandboxOptionsFromConfig(config).executable.empty());
    EXPECT_TRUE(SandboxOptionsFromConfig(config).env.empty());
    config.media_max_procs = 0;
    EXPECT_EQ(SandboxOptionsFromConfig(config).max_procs, 1);
    ProbeLimits p = ProbeLimitsFromConfig(config);
    EXPECT_EQ(p.max_duration_seconds, 1234);
    EXPECT_EQ(p.max_channels, 8);
    EXPECT_EQ(p.min_sample_rate, 8000);
    EXPECT_EQ(p.max_sample_rate, 384000);
}

}  // namespace
}  // namespace plyr::media
