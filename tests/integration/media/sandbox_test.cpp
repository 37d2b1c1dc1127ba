// media::Sandbox running the real plyr binary: probe results come back through the child, and every way a
// child can go wrong (timeout, signal, memory limit, missing binary) is a typed error, never a hang.
#include "media/sandbox.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "support/process.hpp"
#include "unit/media/audio_fixtures.hpp"

namespace plyr::media {
namespace {

using plyr::testing::AudioFixtures;
using namespace std::chrono_literals;

SandboxOptions TestOptions(int max_procs = 1) {
    SandboxOptions o;
    o.executable = plyr::testing::PlyrBinary();
    o.max_procs = max_procs;
    o.env = {{"PLYR_ENABLE_TEST_JOBS", "1"}};
    return o;
}

SandboxLimits ShortLimits() {
    SandboxLimits l;
    l.wall_timeout = 30s;
    l.cpu = 30s;
    return l;
}

TEST(Sandbox, ProbesThroughTheChild) {
    Sandbox sandbox(TestOptions());
    auto info = sandbox.Probe(AudioFixtures::Get().Path("liar.wav"), ProbeLimits{}, ShortLimits());
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->format, "wav");
    EXPECT_EQ(info->duration_ms, 2000);
    auto mp3 = sandbox.Probe(AudioFixtures::Get().Path("truncated.mp3"), ProbeLimits{}, ShortLimits());
    ASSERT_TRUE(mp3) << mp3.error().ToString();
    EXPECT_GT(mp3->duration_ms, 900);
    EXPECT_LT(mp3->duration_ms, 1500);
    auto aiff = sandbox.Probe(AudioFixtures::Get().Path("sine.aiff"), ProbeLimits{}, ShortLimits());
    ASSERT_TRUE(aiff) << aiff.error().ToString();
    EXPECT_EQ(aiff->codec, "pcm_s16be");
    EXPECT_EQ(sandbox.running(), 0);
}

TEST(Sandbox, ChildVerdictsKeepTheirJobErrorCode) {
    Sandbox sandbox(TestOptions());
    auto random = sandbox.Probe(AudioFixtures::Get().Path("random.mp3"), ProbeLimits{}, ShortLimits());
    ASSERT_FALSE(random);
    EXPECT_EQ(ProbeErrorCode(random.error()), "unsupported_audio_format");
    ProbeLimits short_cap;
    short_cap.max_duration_seconds = 1;
    auto long_audio = sandbox.Probe(AudioFixtures::Get().Path("sine.wav"), short_cap, ShortLimits());
    ASSERT_FALSE(long_audio);
    EXPECT_EQ(ProbeErrorCode(long_audio.error()), "audio_too_long");
    auto noise = sandbox.Probe(AudioFixtures::Get().Path("id3noise.mp3"), ProbeLimits{}, ShortLimits());
    ASSERT_FALSE(noise);
    EXPECT_EQ(ProbeErrorCode(noise.error()), "audio_unreadable");
    auto raw = sandbox.Run({"probe", "--", AudioFixtures::Get().Path("rate2mhz.wav")}, ShortLimits());
    ASSERT_FALSE(raw);
    EXPECT_EQ(raw.error().failure, SandboxFailure::kRefused);
    EXPECT_EQ(raw.error().exit_code, kChildExitFailed);
    EXPECT_EQ(raw.error().error.code, ErrorCode::kUnsupported);
}

TEST(Sandbox, WallClockTimeoutKillsTheChild) {
    Sandbox sandbox(TestOptions());
    SandboxLimits limits = ShortLimits();
    limits.wall_timeout = 300ms;
    const auto start = std::chrono::steady_clock::now();
    auto r = sandbox.Run({"sleep", "20000"}, limits);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kTimeout);
    EXPECT_EQ(r.error().signal, SIGKILL);
    EXPECT_LT(elapsed, 10s);
    EXPECT_EQ(sandbox.running(), 0);
    EXPECT_EQ(ProbeErrorCode(ProbeErrorFromSandbox(r.error())), "audio_unreadable");
}

TEST(Sandbox, ChildKilledBySignalIsCrashed) {
    Sandbox sandbox(TestOptions());
    auto r = sandbox.Run({"crash"}, ShortLimits());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kCrashed);
    EXPECT_EQ(r.error().signal, SIGSEGV);
    Error probe_error = ProbeErrorFromSandbox(r.error());
    EXPECT_EQ(ProbeErrorCode(probe_error), "audio_unreadable");
    EXPECT_NE(probe_error.detail.find("crashed"), std::string::npos) << probe_error.detail;
}

TEST(Sandbox, MemoryLimitBreachIsAResourceLimit) {
    Sandbox sandbox(TestOptions());
    SandboxLimits limits = ShortLimits();
    limits.address_space_bytes = std::uint64_t{512} << 20;
    auto r = sandbox.Run({"alloc", "2048"}, limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kResourceLimit) << r.error().error.detail << r.error().stderr_tail;
    EXPECT_EQ(ProbeErrorCode(ProbeErrorFromSandbox(r.error())), "audio_unreadable");
    // Within the limit the same child succeeds.
    auto ok = sandbox.Run({"alloc", "16"}, limits);
    ASSERT_TRUE(ok) << ok.error().error.detail << ok.error().stderr_tail;
    EXPECT_EQ(*ok, R"({"allocated_mib":16})");
}

TEST(Sandbox, CpuTimeLimitStopsABusyChild) {
    Sandbox sandbox(TestOptions());
    SandboxLimits limits = ShortLimits();
    limits.cpu = 1s;
    auto r = sandbox.Run({"spin"}, limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kResourceLimit) << r.error().error.detail;
    EXPECT_EQ(r.error().signal, SIGXCPU);
}

TEST(Sandbox, OutputAboveTheCapIsRefusedAndTheChildKilled) {
    Sandbox sandbox(TestOptions());
    SandboxLimits limits = ShortLimits();
    limits.max_stdout_bytes = 64 * 1024;
    const auto start = std::chrono::steady_clock::now();
    auto r = sandbox.Run({"flood"}, limits);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kBadOutput);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    EXPECT_EQ(sandbox.running(), 0);
}

TEST(Sandbox, ChildGetsACleanEnvironmentAndNoInheritedDescriptors) {
    ASSERT_EQ(::setenv("OAUTH_ENCRYPTION_KEY", "secret-for-the-test", 1), 0);
    // No O_CLOEXEC on purpose, and high enough that the child cannot reuse the number by chance.
    const int opened = ::open("/dev/null", O_RDONLY);
    ASSERT_GE(opened, 0);
    const int leaked = ::fcntl(opened, F_DUPFD, 200);
    ::close(opened);
    ASSERT_GE(leaked, 200);
    Sandbox sandbox(TestOptions());
    auto r = sandbox.Run({"env"}, ShortLimits());
    ::close(leaked);
    ::unsetenv("OAUTH_ENCRYPTION_KEY");
    ASSERT_TRUE(r) << r.error().error.detail << r.error().stderr_tail;
    auto o = boost::json::parse(*r).as_object();
    std::vector<std::string> names;
    for (const auto& n : o.at("env").as_array()) names.emplace_back(n.as_string());
    EXPECT_EQ(std::count(names.begin(), names.end(), "OAUTH_ENCRYPTION_KEY"), 0);
    EXPECT_EQ(std::count(names.begin(), names.end(), "HOME"), 0);
    EXPECT_EQ(std::count(names.begin(), names.end(), "PATH"), 1);
    EXPECT_EQ(std::count(names.begin(), names.end(), "PLYR_ENABLE_TEST_JOBS"), 1);
    for (const auto& name : names) {
        EXPECT_TRUE(name == "PATH" || name == "PLYR_ENABLE_TEST_JOBS" || name.ends_with("SAN_OPTIONS")) << name;
    }
    // 0-2 plus the one the child's directory listing itself holds open.
    int above_stdio = 0;
    for (const auto& fd : o.at("fds").as_array()) {
        EXPECT_NE(fd.as_int64(), leaked);
        if (fd.as_int64() > 2) ++above_stdio;
    }
    EXPECT_LE(above_stdio, 1);
}

TEST(Sandbox, AtMostMaxProcsChildrenRunAtOnce) {
    Sandbox sandbox(TestOptions(2));
    std::atomic<int> peak{0};
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done) {
            peak = std::max(peak.load(), sandbox.running());
            std::this_thread::sleep_for(1ms);
        }
    });
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> callers;
    std::atomic<int> ok{0};
    for (int i = 0; i < 4; ++i) {
        callers.emplace_back([&] {
            if (sandbox.Run({"sleep", "400"}, ShortLimits())) ++ok;
        });
    }
    for (auto& t : callers) t.join();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    done = true;
    watcher.join();
    EXPECT_EQ(ok, 4);
    EXPECT_LE(peak, 2);
    EXPECT_GE(peak, 1);
    // Four 400 ms children through two slots cannot finish in less than two rounds.
    EXPECT_GE(elapsed, 800ms);
    EXPECT_EQ(sandbox.running(), 0);
}

TEST(Sandbox, MissingExecutableIsASpawnFailure) {
    SandboxOptions o = TestOptions();
    o.executable = "/nonexistent/plyr";
    Sandbox sandbox(o);
    auto r = sandbox.Run({"sleep", "1"}, ShortLimits());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().failure, SandboxFailure::kSpawnFailed);
    EXPECT_EQ(sandbox.running(), 0);
}

TEST(Sandbox, DefaultExecutableIsThisProcess) {
    Sandbox sandbox(SandboxOptions{});
    char buffer[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof buffer - 1);
    ASSERT_GT(n, 0);
    EXPECT_EQ(sandbox.executable(), std::string(buffer, static_cast<std::size_t>(n)));
}

}  // namespace
}  // namespace plyr::media
