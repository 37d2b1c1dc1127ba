// NormaliseImageFile (the code the `plyr media image` child runs), called in-process here so failures are easy to
// debug; art_sandbox_test.cpp runs the same through the sandboxed child. Every image is made in the test.
#include "media/image.hpp"

#include <vips/vips.h>

#include <gtest/gtest.h>

#include "media/image_header.hpp"
#include "support/temp_dir.hpp"
#include "unit/media_art/art_fixtures.hpp"

namespace plyr::media {
namespace {

namespace fs = std::filesystem;
using plyr::testing::ReadBytes;
using plyr::testing::TempDir;
using plyr::testing::WriteBytes;

struct Meta {
    int width = 0;
    int height = 0;
    bool exif = false;
    bool xmp = false;
    bool orientation = false;
    bool icc = false;
};

// What libvips sees in an output file (the loader reads its metadata chunks: EXIF, XMP, orientation).
Meta ReadMeta(const std::string& path) {
    Meta m;
    VipsImage* image = vips_image_new_from_file(path.c_str(), nullptr);
    if (image == nullptr) {
        ADD_FAILURE() << "libvips cannot read " << path << ": " << vips_error_buffer();
        vips_error_clear();
        return m;
    }
    m.width = vips_image_get_width(image);
    m.height = vips_image_get_height(image);
    m.exif = vips_image_get_typeof(image, VIPS_META_EXIF_NAME) != 0;
    m.xmp = vips_image_get_typeof(image, VIPS_META_XMP_NAME) != 0;
    m.orientation = vips_image_get_typeof(image, VIPS_META_ORIENTATION) != 0;
    m.icc = vips_image_get_typeof(image, VIPS_META_ICC_NAME) != 0;
    g_object_unref(image);
    return m;
}

class NormaliseImageFileTest : public ::testing::Test {
  protected:
    // libvips must be set up by plyr's initialisation, not by the first metadata read of a test.
    static void SetUpTestSuite() { ASSERT_TRUE(InitImageDecoder()); }

    std::string Make(const std::string& name, const std::string& source, const std::string& size) {
        const fs::path path = in_.path() / name;
        plyr::testing::MakeImage(path, source, size);
        return path.string();
    }
    Result<NormalisedImage> Run(const std::string& input, const ImageOptions& options = {}) {
        return NormaliseImageFile(input, out_.str(), options);
    }
    void ExpectThumbnails(const NormalisedImage& image, int w320_height, int w640_height) {
        Meta thumb = ReadMeta(image.thumb);
        EXPECT_EQ(thumb.width, 96);
        EXPECT_EQ(thumb.height, 96);
        Meta w320 = ReadMeta(image.w320);
        EXPECT_EQ(w320.width, std::min(320, image.width));
        EXPECT_EQ(w320.height, w320_height);
        Meta w640 = ReadMeta(image.w640);
        EXPECT_EQ(w640.width, std::min(640, image.width));
        EXPECT_EQ(w640.height, w640_height);
        for (const auto& p : {image.thumb, image.w320, image.w640}) {
            EXPECT_EQ(SniffImageFile(p).format, ImageFormat::kWebp) << p;
        }
    }

    TempDir in_;
    TempDir out_;
};

TEST_F(NormaliseImageFileTest, JpegWithExifOrientation6IsRotatedAndLosesAllMetadata) {
    const std::string plain = Make("plain.jpg", "testsrc2", "1200x800");
    const std::string secret = "secret-location-42";
    const std::string tagged = (in_.path() / "tagged.jpg").string();
    WriteBytes(tagged, plyr::testing::InsertAfterSoi(ReadBytes(plain), plyr::testing::ExifApp1(6, secret)));
    // The fixture really carries the orientation and the GPS IFD (libvips reads them from the input).
    VipsImage* in = vips_image_new_from_file(tagged.c_str(), nullptr);
    ASSERT_NE(in, nullptr) << vips_error_buffer();
    EXPECT_EQ(vips_image_get_orientation(in), 6);
    const char* gps = nullptr;
    EXPECT_EQ(vips_image_get_string(in, "exif-ifd3-GPSLatitudeRef", &gps), 0);
    g_object_unref(in);

    auto image = Run(tagged);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "jpg");
    EXPECT_EQ(image->width, 800);  // 1200 × 800 turned a quarter: width and height swapped
    EXPECT_EQ(image->height, 1200);
    EXPECT_EQ(image->full, (out_.path() / "full.jpg").string());
    for (const auto& path : {image->full, image->thumb, image->w320, image->w640}) {
        const std::string bytes = ReadBytes(path);
        EXPECT_EQ(bytes.find("Exif"), std::string::npos) << path;
        EXPECT_EQ(bytes.find("EXIF"), std::string::npos) << path;
        EXPECT_EQ(bytes.find(secret), std::string::npos) << path;
        Meta meta = ReadMeta(path);
        EXPECT_FALSE(meta.exif) << path;
        EXPECT_FALSE(meta.xmp) << path;
        EXPECT_FALSE(meta.orientation) << path;
    }
    Meta full = ReadMeta(image->full);
    EXPECT_EQ(full.width, 800);
    EXPECT_EQ(full.height, 1200);
    EXPECT_EQ(SniffImageFile(image->full).format, ImageFormat::kJpeg);
    ExpectThumbnails(*image, 480, 960);
}

TEST_F(NormaliseImageFileTest, LongSideIsCappedAt3000AndNeverUpscaled) {
    auto big = Run(Make("wide.png", "testsrc2", "4000x1000"));
    ASSERT_TRUE(big) << big.error().ToString();
    EXPECT_EQ(big->ext, "png");
    EXPECT_EQ(big->width, 3000);
    EXPECT_EQ(big->height, 750);
    EXPECT_EQ(ReadMeta(big->full).width, 3000);
    ExpectThumbnails(*big, 80, 160);

    TempDir out2;
    auto small = NormaliseImageFile(Make("small.png", "testsrc2", "200x100"), out2.str(), {});
    ASSERT_TRUE(small) << small.error().ToString();
    EXPECT_EQ(small->width, 200);
    EXPECT_EQ(small->height, 100);
    ExpectThumbnails(*small, 100, 100);  // 320 and 640 stay 200 wide: never upscaled
}

TEST_F(NormaliseImageFileTest, GifBecomesAPngOfTheFirstFrame) {
    const std::string gif = (in_.path() / "anim.gif").string();
    plyr::testing::Ffmpeg({"-f", "lavfi", "-i", "testsrc2=s=400x200:r=5", "-frames:v", "5", gif});
    auto image = Run(gif);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "png");
    EXPECT_EQ(image->full, (out_.path() / "full.png").string());
    EXPECT_EQ(SniffImageFile(image->full).format, ImageFormat::kPng);
    Meta full = ReadMeta(image->full);
    EXPECT_EQ(full.width, 400);
    EXPECT_EQ(full.height, 200);  // one frame, not five stacked pages
    ExpectThumbnails(*image, 160, 200);
}

TEST_F(NormaliseImageFileTest, AnAnimatedWebpKeepsItsFirstFrameOnly) {
    const std::string anim = (in_.path() / "anim.webp").string();
    plyr::testing::Ffmpeg(
        {"-f", "lavfi", "-i", "testsrc2=s=200x100:r=5", "-frames:v", "4", "-c:v", "libwebp_anim", "-loop", "0", anim});
    auto image = Run(anim);
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "webp");
    EXPECT_EQ(image->height, 100);
    const std::string bytes = ReadBytes(image->full);
    EXPECT_EQ(bytes.find("ANIM"), std::string::npos);
    EXPECT_EQ(bytes.find("ANMF"), std::string::npos);
    EXPECT_EQ(ReadMeta(image->full).height, 100);
}

TEST_F(NormaliseImageFileTest, AnEmbeddedColourProfileIsConvertedAndDropped) {
    const std::string plain = Make("plain.png", "testsrc2", "300x200");
    const std::string with_icc = (in_.path() / "icc.jpg").string();
    VipsImage* in = vips_image_new_from_file(plain.c_str(), nullptr);
    ASSERT_NE(in, nullptr) << vips_error_buffer();
    ASSERT_EQ(vips_jpegsave(in, with_icc.c_str(), "profile", "srgb", nullptr), 0) << vips_error_buffer();
    g_object_unref(in);
    ASSERT_TRUE(ReadMeta(with_icc).icc) << "the fixture must carry an ICC profile";
    auto image = Run(with_icc);
    ASSERT_TRUE(image) << image.error().ToString();
    for (const auto& path : {image->full, image->thumb, image->w320, image->w640}) {
        EXPECT_FALSE(ReadMeta(path).icc) << path;
        EXPECT_EQ(ReadBytes(path).find("ICC_PROFILE"), std::string::npos) << path;
    }
}

TEST_F(NormaliseImageFileTest, WebpStaysWebp) {
    auto image = Run(Make("cover.webp", "testsrc2", "1000x1000"));
    ASSERT_TRUE(image) << image.error().ToString();
    EXPECT_EQ(image->ext, "webp");
    EXPECT_EQ(SniffImageFile(image->full).format, ImageFormat::kWebp);
    EXPECT_EQ(ReadMeta(image->full).width, 1000);
    ExpectThumbnails(*image, 320, 640);
}

TEST_F(NormaliseImageFileTest, AGiganticHeaderIsRefusedBeforeDecoding) {
    const std::string bomb = (in_.path() / "bomb.png").string();
    WriteBytes(bomb, plyr::testing::PngHeaderOnly(60000, 60000));
    auto image = Run(bomb);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code, ErrorCode::kTooLarge);
    // Within both side caps but above the pixel cap.
    WriteBytes(bomb, plyr::testing::PngHeaderOnly(7000, 7000));
    image = Run(bomb);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code, ErrorCode::kTooLarge);
    EXPECT_TRUE(fs::is_empty(out_.path()));
}

TEST_F(NormaliseImageFileTest, NonImagesAndLiesAboutTheFormatAreRefused) {
    const fs::path svg = in_.Write("a.png", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"/>");
    auto refused = Run(svg.string());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kUnsupported);
    const fs::path html = in_.Write("b.jpg", "<!DOCTYPE html><html></html>");
    EXPECT_FALSE(Run(html.string()));
    EXPECT_FALSE(Run((in_.path() / "missing.png").string()));
}

TEST_F(NormaliseImageFileTest, TruncatedOrCorruptDataIsUnreadable) {
    const std::string jpeg = ReadBytes(Make("whole.jpg", "testsrc2", "800x600"));
    const std::string cut = (in_.path() / "cut.jpg").string();
    WriteBytes(cut, jpeg.substr(0, jpeg.size() / 2));
    auto image = Run(cut);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument);

    const std::string png = (in_.path() / "header_only.png").string();
    WriteBytes(png, plyr::testing::PngHeaderOnly(100, 100));  // a valid size, but no decodable pixels
    EXPECT_FALSE(Run(png));
}

TEST_F(NormaliseImageFileTest, NoLibvipsModuleIsLoadedAndOnlyFourLoadersWork) {
    ASSERT_TRUE(Run(Make("ok.png", "testsrc2", "64x64")));
    const std::string maps = ReadBytes("/proc/self/maps");
    EXPECT_EQ(maps.find("vips-modules"), std::string::npos) << "ImageMagick/poppler/HEIF modules must not be mapped";
    EXPECT_EQ(maps.find("vips-magick"), std::string::npos);
    // Formats libvips has built-in loaders for are blocked even when asked for directly.
    for (const std::string name : {"x.tiff", "x.ppm"}) {
        const std::string path = Make(name, "testsrc2", "64x64");
        VipsImage* image = vips_image_new_from_file(path.c_str(), nullptr);
        EXPECT_EQ(image, nullptr) << name << " must not be loadable";
        if (image != nullptr) g_object_unref(image);
        vips_error_clear();
        auto refused = Run(path);
        ASSERT_FALSE(refused) << name;
        EXPECT_EQ(refused.error().code, ErrorCode::kUnsupported) << name;
    }
    for (const std::string name : {"y.jpg", "y.png", "y.webp", "y.gif"}) {
        VipsImage* image = vips_image_new_from_file(Make(name, "testsrc2", "64x64").c_str(), nullptr);
        EXPECT_NE(image, nullptr) << name << ": " << vips_error_buffer();
        if (image != nullptr) g_object_unref(image);
    }
}

TEST(NormalisedImageJson, RoundTripsAndRefusesAnythingElse) {
    NormalisedImage image{"png", 300, 200, "/o/full.png", "/o/thumb.webp", "/o/w320.webp", "/o/w640.webp"};
    auto back = NormalisedImageFromJson(NormalisedImageToJson(image), "/o");
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(back->ext, "png");
    EXPECT_EQ(back->width, 300);
    EXPECT_EQ(back->height, 200);
    EXPECT_EQ(back->full, "/o/full.png");
    EXPECT_EQ(back->w640, "/o/w640.webp");
    EXPECT_TRUE(NormalisedImageFromJson(NormalisedImageToJson(image), "/o/"));

    auto refused = [](const std::string& json) {
        auto r = NormalisedImageFromJson(json, "/o");
        return !r && r.error().code == ErrorCode::kProtocol;
    };
    const std::string files =
        R"("files":{"full":"/o/full.png","thumb":"/o/t.webp","w320":"/o/a.webp","w640":"/o/b.webp"})";
    EXPECT_FALSE(refused(R"({"ext":"png","width":1,"height":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"png","width":1,"height":1,"x":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"png","ext":"png","width":1,"height":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"svg","width":1,"height":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"png","width":0,"height":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"png","width":8001,"height":1,)" + files + "}"));
    EXPECT_TRUE(refused(R"({"ext":"png","width":"1","height":1,)" + files + "}"));
    EXPECT_TRUE(refused("not json"));
    for (std::string bad : {"/o/../etc/passwd", "/other/full.png", "/o/sub/full.png", "full.png", "/o/", "/o"}) {
        std::string json = R"({"ext":"png","width":1,"height":1,"files":{"full":")" + bad +
                           R"(","thumb":"/o/t.webp","w320":"/o/a.webp","w640":"/o/b.webp"}})";
        EXPECT_TRUE(refused(json)) << bad;
    }
}

TEST(ImageSandboxLimits, FollowTheBrief) {
    SandboxLimits l = ImageSandboxLimits(core::Config{});
    EXPECT_EQ(l.address_space_bytes, std::uint64_t{1} << 30);
    EXPECT_EQ(l.cpu, std::chrono::seconds(30));
    EXPECT_EQ(l.file_size_bytes, std::uint64_t{64} << 20);
    EXPECT_EQ(l.wall_timeout, std::chrono::seconds(60));
}

}  // namespace
}  // namespace plyr::media
