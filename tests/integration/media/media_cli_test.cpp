// `plyr media probe` on the real binary: one JSON line on success, {"error","message"} with exit 1 on refusal;
// the subcommand is hidden from --help and its test modes need PLYR_ENABLE_TEST_JOBS=1.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "support/process.hpp"
#include "unit/media/audio_fixtures.hpp"

namespace plyr::testing {
namespace {

ProcessResult Media(const std::vector<std::string>& args, const Env& extra = {}) {
    std::vector<std::string> argv{PlyrBinary(), "media"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, BaseEnv(extra));
}

TEST(MediaCli, ProbePrintsOneJsonLine) {
    auto r = Media({"probe", "--", AudioFixtures::Get().Path("alac.m4a")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_FALSE(r.out.empty());
    EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << r.out;
    auto o = boost::json::parse(r.out).as_object();
    EXPECT_EQ(o.at("format").as_string(), "m4a");
    EXPECT_EQ(o.at("codec").as_string(), "alac");
    EXPECT_EQ(o.at("channels").as_int64(), 2);
    EXPECT_EQ(o.at("sample_rate").as_int64(), 44100);
    EXPECT_NEAR(static_cast<double>(o.at("duration_ms").as_int64()), 3000.0, 60.0);
    EXPECT_GT(o.at("bit_rate").as_int64(), 0);
}

TEST(MediaCli, RefusalIsExitOneWithTheJobErrorCode) {
    struct Case {
        const char* fixture;
        const char* code;
    };
    for (const Case& c : {Case{"random.mp3", "unsupported_audio_format"}, Case{"empty.mp3", "audio_unreadable"},
                          Case{"id3noise.mp3", "audio_unreadable"}, Case{"ch64.wav", "unsupported_audio_format"}}) {
        auto r = Media({"probe", "--", AudioFixtures::Get().Path(c.fixture)});
        EXPECT_EQ(r.exit_code, 1) << c.fixture << " " << r.err;
        auto o = boost::json::parse(r.out).as_object();
        EXPECT_EQ(o.at("error").as_string(), c.code) << c.fixture;
        EXPECT_FALSE(o.at("message").as_string().empty());
    }
    auto r = Media({"probe", "--max-duration-seconds", "1", "--", AudioFixtures::Get().Path("sine.wav")});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(boost::json::parse(r.out).as_object().at("error").as_string(), "audio_too_long");
}

TEST(MediaCli, HiddenFromHelp) {
    auto r = RunProcess({PlyrBinary(), "--help"}, BaseEnv());
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("serve"), std::string::npos);
    EXPECT_EQ(r.out.find("media"), std::string::npos) << r.out;
}

TEST(MediaCli, TestModesNeedTheTestSwitch) {
    EXPECT_EQ(Media({"sleep", "1"}).exit_code, 2);
    EXPECT_EQ(Media({"crash"}).exit_code, 2);
    auto r = Media({"sleep", "1"}, {{"PLYR_ENABLE_TEST_JOBS", "1"}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Media({"probe"}).exit_code, 2);  // usage: the file is required
}

}  // namespace
}  // namespace plyr::testing
