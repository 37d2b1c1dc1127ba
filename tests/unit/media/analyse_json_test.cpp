// AnalysisFromJson treats the child's answer as untrusted: exact shape, bounded sizes, files only at the expected
// names directly inside out_dir, regular files of exactly the reported size.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "media/analyse.hpp"
#include "support/temp_dir.hpp"

namespace plyr::media {
namespace {

using plyr::testing::TempDir;

void Write(const std::filesystem::path& path, std::size_t size) {
    std::ofstream(path, std::ios::binary) << std::string(size, '\x01');
}

class AnalysisJson : public ::testing::Test {
  protected:
    void SetUp() override {
        result_.probe = ProbeInfo{"wav", "pcm_s16le", 3000, 44100, 2, 1'411'200};
        result_.loudness_lufs = -14.5;
        result_.true_peak_dbtp = -0.3;
        result_.low = PeakSet{133, std::string(2 * 995, '\0')};
        result_.high = PeakSet{17, std::string(2 * 7783, '\0')};
        result_.fingerprint = Fingerprint{1, 3000, std::vector<std::uint32_t>(20, 0x01010101u)};
        result_.decode_passes = 1;
        result_.decoded_samples = 132'300;
        Write(dir_.path() / "peaks_low.bin", result_.low.peaks.size());
        Write(dir_.path() / "peaks_high.bin", result_.high.peaks.size());
        Write(dir_.path() / "fingerprint.bin", 80);
    }
    std::string Json() const { return AnalysisToJson(result_, dir_.str()); }
    Result<AnalysisResult> Parse(const std::string& json) const {
        return AnalysisFromJson(json, dir_.str(), ProbeLimits{});
    }
    // The JSON with one member replaced (path of object keys, then the new value as JSON text).
    std::string With(std::initializer_list<const char*> keys, const std::string& value) const {
        auto v = boost::json::parse(Json());
        boost::json::value* at = &v;
        for (const char* k : keys) at = &at->as_object()[k];
        *at = boost::json::parse(value);
        return boost::json::serialize(v);
    }

    TempDir dir_;
    AnalysisResult result_;
};

TEST_F(AnalysisJson, RoundTripsAndReadsTheFiles) {
    auto r = Parse(Json());
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->low.count(), 995u);
    EXPECT_EQ(r->high.samples_per_peak, 17);
    EXPECT_EQ(r->fingerprint.raw, result_.fingerprint.raw);
    EXPECT_EQ(r->loudness_lufs, -14.5);
    EXPECT_FALSE(r->rendition.has_value());
    EXPECT_EQ(r->decode_passes, 1);
}

TEST_F(AnalysisJson, NullLoudnessIsKept) {
    auto r = Parse(With({"loudness_lufs"}, "null"));
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_FALSE(r->loudness_lufs.has_value());
}

TEST_F(AnalysisJson, RejectsPathsOutsideTheOutputDirectory) {
    Write("/tmp/plyr-analyse-outside.bin", 2 * 995);
    EXPECT_FALSE(Parse(With({"peaks", "low", "file"}, "\"/tmp/plyr-analyse-outside.bin\"")));
    EXPECT_FALSE(Parse(With({"peaks", "low", "file"}, "\"" + dir_.str() + "/../peaks_low.bin\"")));
    EXPECT_FALSE(Parse(With({"peaks", "low", "file"}, "\"" + dir_.str() + "/peaks_high.bin\"")));
    EXPECT_FALSE(Parse(With({"fingerprint", "file"}, "\"/etc/passwd\"")));
    std::filesystem::remove("/tmp/plyr-analyse-outside.bin");
}

TEST_F(AnalysisJson, RejectsSymlinksAndWrongSizes) {
    std::filesystem::remove(dir_.path() / "fingerprint.bin");
    ASSERT_EQ(::symlink("/etc/passwd", (dir_.path() / "fingerprint.bin").c_str()), 0);
    EXPECT_FALSE(Parse(Json()));
    std::filesystem::remove(dir_.path() / "fingerprint.bin");
    Write(dir_.path() / "fingerprint.bin", 81);
    EXPECT_FALSE(Parse(Json()));
    Write(dir_.path() / "fingerprint.bin", 80);
    EXPECT_TRUE(Parse(Json()));
    EXPECT_FALSE(Parse(With({"peaks", "high", "count"}, "7000")));  // file holds 7783 pairs
}

TEST_F(AnalysisJson, RejectsCountsAboveTheBounds) {
    EXPECT_FALSE(Parse(With({"peaks", "low", "count"}, "1001")));
    EXPECT_FALSE(Parse(With({"peaks", "high", "count"}, "8001")));
    EXPECT_FALSE(Parse(With({"peaks", "low", "samples_per_peak"}, "0")));
    EXPECT_FALSE(Parse(With({"fingerprint", "items"}, "100000000")));
    EXPECT_FALSE(Parse(With({"fingerprint", "items"}, "-1")));
    EXPECT_FALSE(Parse(With({"probe", "duration_ms"}, "999999999999")));
}

TEST_F(AnalysisJson, RejectsAnythingButTheExactShape) {
    EXPECT_FALSE(Parse(""));
    EXPECT_FALSE(Parse("[]"));
    EXPECT_FALSE(Parse(With({"loudness_lufs"}, "\"-14\"")));
    EXPECT_FALSE(Parse(With({"loudness_lufs"}, "1e300")));
    EXPECT_FALSE(Parse(With({"stats"}, "{}")));
    EXPECT_FALSE(Parse(With({"extra"}, "1")));
    EXPECT_FALSE(Parse(With({"rendition"}, "{}")));
    EXPECT_FALSE(Parse(With({"probe", "format"}, "\"exe\"")));
    std::string dup = Json();
    dup.insert(1, "\"loudness_lufs\":-1,");
    EXPECT_FALSE(Parse(dup));
    EXPECT_FALSE(Parse(Json() + std::string(70'000, ' ')));
}

TEST_F(AnalysisJson, RenditionMustBeTheRegularFileInTheDirectory) {
    Write(dir_.path() / "rendition.mp3", 1000);
    const std::string probe =
        R"({"format":"mp3","codec":"mp3","duration_ms":3000,"sample_rate":44100,"channels":2,"bit_rate":320000})";
    auto rendition = [&](const std::string& file, int size) {
        return With({"rendition"}, R"({"file":")" + file + R"(","codec":"mp3","format":"mp3","size":)" +
                                       std::to_string(size) + R"(,"probe":)" + probe + "}");
    };
    auto ok = Parse(rendition(dir_.str() + "/rendition.mp3", 1000));
    ASSERT_TRUE(ok) << ok.error().ToString();
    ASSERT_TRUE(ok->rendition.has_value());
    EXPECT_EQ(ok->rendition->info.bit_rate, 320000);
    EXPECT_FALSE(Parse(rendition(dir_.str() + "/rendition.mp3", 999)));
    EXPECT_FALSE(Parse(rendition("/tmp/rendition.mp3", 1000)));
    std::filesystem::remove(dir_.path() / "rendition.mp3");
    ASSERT_EQ(::symlink((dir_.path() / "peaks_low.bin").c_str(), (dir_.path() / "rendition.mp3").c_str()), 0);
    EXPECT_FALSE(Parse(rendition(dir_.str() + "/rendition.mp3", 2 * 995)));
}

}  // namespace
}  // namespace plyr::media
