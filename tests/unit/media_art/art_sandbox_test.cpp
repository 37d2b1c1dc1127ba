// `plyr media image` and `plyr media tags` run as the sandboxed child of the real plyr binary: results come back
// through the strict JSON protocol, refusals carry image_unreadable, and hostile images are refused inside the
// memory and CPU limits of ImageSandboxLimits.
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "media/image.hpp"
#include "media/image_header.hpp"
#include "media/sandbox.hpp"
#include "media/tags.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "unit/media_art/art_fixtures.hpp"

namespace plyr::media {
namespace {

namespace fs = std::filesystem;
using plyr::testing::ReadBytes;
using plyr::testing::TempDir;
using plyr::testing::WriteBytes;

SandboxOptions ChildOptions() {
    SandboxOptions o;
    o.executable = plyr::testing::PlyrBinary();
    o.max_procs = 2;
    return o;
}

class ArtSandboxTest : public ::testing::Test {
  protected:
    Sandbox sandbox_{ChildOptions()};
    SandboxLimits limits_ = ImageSandboxLimits(core::Config{});
    TempDir in_;
    TempDir out_;
};

TEST_F(ArtSandboxTest, NormalisesAnExifRotatedJpegThroughTheChild) {
    const fs::path plain = in_.path() / "plain.jpg";
    plyr::testing::MakeImage(plain, "testsrc2", "1200x800");
    const std::string tagged = (in_.path() / "tagged.jpg").string();
    WriteBytes(tagged, plyr::testing::InsertAfterSoi(ReadBytes(plain), plyr::testing::ExifApp1(6, "gps-secret")));

    auto image = NormaliseImage(sandbox_, tagged, out_.str(), limits_);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "jpg");
    EXPECT_EQ(image->width, 800);
    EXPECT_EQ(image->height, 1200);
    for (const auto& path : {image->full, image->thumb, image->w320, image->w640}) {
        EXPECT_EQ(fs::path(path).parent_path(), out_.path()) << path;
        const std::string bytes = ReadBytes(path);
        EXPECT_EQ(bytes.find("Exif"), std::string::npos) << path;
        EXPECT_EQ(bytes.find("gps-secret"), std::string::npos) << path;
    }
    ImageHeader full = SniffImageFile(image->full);
    EXPECT_EQ(full.width, 800u);
    EXPECT_EQ(full.height, 1200u);
    ImageHeader thumb = SniffImageFile(image->thumb);
    EXPECT_EQ(thumb.format, ImageFormat::kWebp);
    EXPECT_EQ(thumb.width, 96u);
    EXPECT_EQ(thumb.height, 96u);
    EXPECT_EQ(SniffImageFile(image->w320).width, 320u);
    EXPECT_EQ(SniffImageFile(image->w640).height, 960u);
    EXPECT_EQ(sandbox_.running(), 0);

    // A retried job runs into the same directory: the outputs of the earlier attempt are replaced.
    auto again = NormaliseImage(sandbox_, tagged, out_.str(), limits_);
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_EQ(again->full, image->full);
}

TEST_F(ArtSandboxTest, AGiganticPngHeaderIsRefusedByTheChildWithinTheMemoryLimit) {
    const std::string bomb = (in_.path() / "bomb.png").string();
    WriteBytes(bomb, plyr::testing::PngHeaderOnly(60000, 60000));
    auto image = NormaliseImage(sandbox_, bomb, out_.str(), limits_);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument);
    // The child's own verdict (not a memory-limit kill): the size check ran before any decoding.
    EXPECT_NE(image.error().detail.find("image_dimensions_too_large"), std::string::npos) << image.error().detail;
    EXPECT_EQ(image.error().detail.find("resource_limit"), std::string::npos) << image.error().detail;
    EXPECT_TRUE(fs::is_empty(out_.path()));
}

TEST_F(ArtSandboxTest, ALargeButAllowedImageIsDecodedInsideTheLimits) {
    // 7000 × 5000 = 35 MP, a few hundred KB on disk: decoding it whole would need ~100 MB; shrinking streams.
    const fs::path big = in_.path() / "big.png";
    plyr::testing::MakeImage(big, "color=c=0x336699", "7000x5000");
    auto image = NormaliseImage(sandbox_, big.string(), out_.str(), limits_);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "png");
    EXPECT_EQ(image->width, 3000);
    EXPECT_EQ(image->height, 2143);
}

TEST_F(ArtSandboxTest, SvgAndHtmlAreRefusedAsImageUnreadable) {
    out_.Write("full.png", "stale output of a killed attempt");
    for (const auto& [name, text] :
         {std::pair{"a.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>"},
          std::pair{"b.png", "<!DOCTYPE html><html><body>hi</body></html>"}}) {
        auto image = NormaliseImage(sandbox_, in_.Write(name, text).string(), out_.str(), limits_);
        ASSERT_FALSE(image) << name;
        EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument) << name;
        EXPECT_EQ(image.error().message, "the image could not be read");
    }
    EXPECT_TRUE(fs::is_empty(out_.path()));
}

TEST_F(ArtSandboxTest, TheImageChildFollowsTheProtocolOnTheCommandLine) {
    const fs::path svg = in_.Write("x.svg", "<svg/>");
    auto r = plyr::testing::RunProcess(
        {plyr::testing::PlyrBinary(), "media", "image", "--out-dir", out_.str(), "--", svg.string()},
        plyr::testing::BaseEnv());
    EXPECT_EQ(r.exit_code, kChildExitFailed) << r.err;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.out, ec);
    ASSERT_FALSE(ec) << r.out;
    EXPECT_EQ(v.at("error").as_string(), "image_unreadable");
}

TEST_F(ArtSandboxTest, ASandboxFailureBecomesImageUnreadable) {
    SandboxLimits tiny = limits_;
    tiny.wall_timeout = std::chrono::milliseconds(1);  // killed before it can even start its decoder
    const fs::path png = in_.path() / "ok.png";
    plyr::testing::MakeImage(png, "testsrc2", "640x480");
    auto image = NormaliseImage(sandbox_, png.string(), out_.str(), tiny);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(image.error().message, "the image could not be read");
    EXPECT_NE(image.error().detail.find("media sandbox timeout"), std::string::npos) << image.error().detail;
}

TEST_F(ArtSandboxTest, ReadsTagsAndTheEmbeddedCoverThroughTheChild) {
    const std::string cover = (in_.path() / "cover.jpg").string();
    plyr::testing::MakeImage(cover, "testsrc2", "300x300");
    const std::string mp3 = (in_.path() / "song.mp3").string();
    plyr::testing::Ffmpeg({"-f",
                           "lavfi",
                           "-i",
                           "sine=f=440:d=1",
                           "-i",
                           cover,
                           "-map",
                           "0",
                           "-map",
                           "1",
                           "-c:a",
                           "libmp3lame",
                           "-c:v",
                           "copy",
                           "-disposition:v",
                           "attached_pic",
                           "-metadata",
                           "title=Child",
                           "-metadata",
                           "artist=Sand Box",
                           "-metadata",
                           "album=Limits",
                           mp3});
    const std::string art = (out_.path() / "art.bin").string();
    auto tags = ReadTags(sandbox_, mp3, art, TagsSandboxLimits(core::Config{}));
    ASSERT_TRUE(tags) << tags.error().ToString();
    EXPECT_EQ(tags->title, "Child");
    EXPECT_EQ(tags->artist, "Sand Box");
    EXPECT_EQ(tags->album, "Limits");
    ASSERT_TRUE(tags->art);
    EXPECT_EQ(ReadBytes(art), ReadBytes(cover));

    // The extracted cover then goes through the image child like an uploaded one.
    TempDir normalised;
    auto image = NormaliseImage(sandbox_, art, normalised.str(), limits_);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->width, 300);

    auto no_art = ReadTags(sandbox_, mp3, "", TagsSandboxLimits(core::Config{}));
    ASSERT_TRUE(no_art) << no_art.error().ToString();
    EXPECT_FALSE(no_art->art);
}

TEST_F(ArtSandboxTest, AnUnwritableArtPathIsAnError) {
    const std::string cover = (in_.path() / "cover.jpg").string();
    plyr::testing::MakeImage(cover, "testsrc2", "64x64");
    const std::string flac = (in_.path() / "song.flac").string();
    plyr::testing::Ffmpeg({"-f", "lavfi", "-i", "sine=f=440:d=1", "-i", cover, "-map", "0", "-map", "1", "-c:a", "flac",
                           "-c:v", "copy", "-disposition:v", "attached_pic", flac});
    auto tags = ReadTags(sandbox_, flac, (in_.path() / "no" / "such" / "dir" / "art.bin").string(),
                         TagsSandboxLimits(core::Config{}));
    ASSERT_FALSE(tags);
    EXPECT_EQ(tags.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace plyr::media
