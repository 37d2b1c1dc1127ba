// SniffImage reads format and size from the header alone, never past the bytes it is given (product.md §6.4
// step 4, §9 rows 22-23); CheckImageLimits turns that into the product's 415/422 codes.
#include "media/image_header.hpp"

#include <random>

#include <gtest/gtest.h>

#include "support/temp_dir.hpp"
#include "unit/media_art/art_fixtures.hpp"

namespace plyr::media {
namespace {

using plyr::testing::PngHeaderOnly;
using plyr::testing::PutBe16;
using plyr::testing::PutLe16;
using plyr::testing::PutLe32;

std::string JpegWithFrame(std::uint32_t width, std::uint32_t height, std::uint8_t sof = 0xC0) {
    std::string s("\xFF\xD8", 2);
    s += std::string("\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", 18);  // APP0
    s += std::string("\xFF\xC4\x00\x04\x00\x00", 6);                                       // a DHT (C4: no frame)
    s += "\xFF";
    s.push_back(static_cast<char>(sof));
    PutBe16(s, 17);
    s.push_back(8);
    PutBe16(s, height);
    PutBe16(s, width);
    s += std::string("\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01", 10);
    s += std::string("\xFF\xDA\x00\x08", 4);
    return s;
}

std::string Webp(std::string_view fourcc, const std::string& payload) {
    std::string s = "RIFF";
    PutLe32(s, static_cast<std::uint32_t>(4 + 8 + payload.size()));
    s += "WEBP";
    s += fourcc;
    PutLe32(s, static_cast<std::uint32_t>(payload.size()));
    s += payload;
    return s;
}

TEST(SniffImage, ReadsJpegSizeFromTheFirstFrameHeaderAfterOtherSegments) {
    ImageHeader h = SniffImage(JpegWithFrame(1200, 800));
    EXPECT_EQ(h.format, ImageFormat::kJpeg);
    EXPECT_EQ(h.width, 1200u);
    EXPECT_EQ(h.height, 800u);
    ImageHeader progressive = SniffImage(JpegWithFrame(640, 480, 0xC2));
    EXPECT_EQ(progressive.width, 640u);
    EXPECT_EQ(progressive.height, 480u);
}

TEST(SniffImage, SkipsFillBytesAndStandaloneMarkersInJpeg) {
    std::string s("\xFF\xD8\xFF\xFF\xFF\xD0", 6);  // fill bytes, then RST0 (no length)
    s += JpegWithFrame(10, 20).substr(2);
    ImageHeader h = SniffImage(s);
    EXPECT_EQ(h.width, 10u);
    EXPECT_EQ(h.height, 20u);
}

TEST(SniffImage, JpegWithoutAFrameHeaderHasNoSize) {
    EXPECT_FALSE(SniffImage(std::string("\xFF\xD8\xFF\xDA\x00\x08", 6)).has_dimensions());  // scan first
    EXPECT_FALSE(SniffImage(std::string("\xFF\xD8\xFF\xD9", 4)).has_dimensions());          // EOI
    EXPECT_FALSE(SniffImage(JpegWithFrame(100, 0)).has_dimensions());                       // DNL height
    EXPECT_FALSE(SniffImage(std::string("\xFF\xD8\xFF\xE1\x00\x01", 6)).has_dimensions());  // length < 2
    std::string app_past_end("\xFF\xD8\xFF\xE1\xFF\xFF", 6);  // a segment longer than what we have
    app_past_end += std::string(100, 'x');
    ImageHeader h = SniffImage(app_past_end);
    EXPECT_EQ(h.format, ImageFormat::kJpeg);
    EXPECT_FALSE(h.has_dimensions());
}

TEST(SniffImage, EveryTruncationOfAJpegIsSafeAndNeverInventsASize) {
    const std::string full = JpegWithFrame(300, 200);
    for (std::size_t n = 0; n < full.size(); ++n) {
        ImageHeader h = SniffImage(std::string_view(full).substr(0, n));
        if (h.has_dimensions()) {
            EXPECT_EQ(h.width, 300u) << n;
            EXPECT_EQ(h.height, 200u) << n;
        }
    }
}

TEST(SniffImage, ReadsPngIhdr) {
    ImageHeader h = SniffImage(PngHeaderOnly(1920, 1080));
    EXPECT_EQ(h.format, ImageFormat::kPng);
    EXPECT_EQ(h.width, 1920u);
    EXPECT_EQ(h.height, 1080u);
    EXPECT_FALSE(SniffImage(PngHeaderOnly(0, 10)).has_dimensions());
    EXPECT_FALSE(SniffImage(PngHeaderOnly(0x80000000u, 10)).has_dimensions());
    std::string not_ihdr = PngHeaderOnly(10, 10);
    not_ihdr.replace(12, 4, "IDAT");
    EXPECT_FALSE(SniffImage(not_ihdr).has_dimensions());
    EXPECT_FALSE(SniffImage(PngHeaderOnly(10, 10).substr(0, 23)).has_dimensions());
}

TEST(SniffImage, ReadsGifLogicalScreen) {
    std::string gif = "GIF89a";
    PutLe16(gif, 500);
    PutLe16(gif, 300);
    gif += std::string("\xF7\x00\x00", 3);
    ImageHeader h = SniffImage(gif);
    EXPECT_EQ(h.format, ImageFormat::kGif);
    EXPECT_EQ(h.width, 500u);
    EXPECT_EQ(h.height, 300u);
    gif.replace(0, 6, "GIF87a");
    EXPECT_EQ(SniffImage(gif).width, 500u);
    EXPECT_FALSE(SniffImage(gif.substr(0, 9)).has_dimensions());
    EXPECT_EQ(SniffImage("GIF88a\x01\x00\x01\x00").format, ImageFormat::kUnknown);
}

TEST(SniffImage, ReadsAllThreeWebpChunkKinds) {
    std::string vp8("\x10\x02\x00\x9D\x01\x2A", 6);  // key frame tag, start code
    PutLe16(vp8, 0xC000 | 400);                      // the top 2 bits are the scale, not the size
    PutLe16(vp8, 300);
    ImageHeader lossy = SniffImage(Webp("VP8 ", vp8));
    EXPECT_EQ(lossy.format, ImageFormat::kWebp);
    EXPECT_EQ(lossy.width, 400u);
    EXPECT_EQ(lossy.height, 300u);

    std::string vp8l("\x2F", 1);
    PutLe32(vp8l, (1023u) | (767u << 14));
    ImageHeader lossless = SniffImage(Webp("VP8L", vp8l));
    EXPECT_EQ(lossless.width, 1024u);
    EXPECT_EQ(lossless.height, 768u);

    std::string vp8x(4, '\0');
    vp8x += std::string("\x3F\x9C\x00", 3);  // 40000 − 1
    vp8x += std::string("\x0F\x27\x00", 3);  // 10000 − 1
    ImageHeader extended = SniffImage(Webp("VP8X", vp8x));
    EXPECT_EQ(extended.width, 40000u);
    EXPECT_EQ(extended.height, 10000u);

    EXPECT_FALSE(SniffImage(Webp("VP8L", std::string("\x2E\0\0\0\0", 5))).has_dimensions());  // bad signature
    std::string inter = vp8;
    inter[0] = '\x11';  // an inter frame carries no size
    EXPECT_FALSE(SniffImage(Webp("VP8 ", inter)).has_dimensions());
    EXPECT_EQ(SniffImage(Webp("ALPH", "xxxxxxxxxx")).format, ImageFormat::kUnknown);
    EXPECT_FALSE(SniffImage(Webp("VP8X", vp8x).substr(0, 29)).has_dimensions());
}

TEST(SniffImage, SvgHtmlAndOtherFormatsAreUnknown) {
    for (std::string_view text :
         {std::string_view("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"/>"),
          std::string_view("<svg width=\"60000\" height=\"60000\"></svg>"),
          std::string_view("<!DOCTYPE html><html><body><img src=x></body></html>"), std::string_view("BM6\x00\x00"),
          std::string_view("II*\x00\x08\x00\x00\x00"),
          std::string_view("\x00\x00\x00\x18"
                           "ftypheic",
                           12),
          std::string_view(""), std::string_view("\xFF\xD8"), std::string_view("RIFF\x00\x00\x00\x00WAVEfmt ", 16)}) {
        EXPECT_EQ(SniffImage(text).format, ImageFormat::kUnknown) << text;
    }
}

TEST(SniffImage, RandomBytesAreUnknownAndNeverCrash) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> byte(0, 255);
    for (int i = 0; i < 2000; ++i) {
        std::string block(512, '\0');
        for (auto& c : block) c = static_cast<char>(byte(rng));
        EXPECT_EQ(SniffImage(block).format, ImageFormat::kUnknown);
        // The same noise behind each magic: a format, and whatever size falls out, but no read past the end.
        for (std::string_view magic : {std::string_view("\xFF\xD8\xFF", 3), std::string_view("\x89PNG\r\n\x1A\n", 8),
                                       std::string_view("GIF89a"), std::string_view("RIFF\0\0\0\0WEBPVP8X", 16)}) {
            std::string hostile = std::string(magic) + block.substr(0, static_cast<std::size_t>(byte(rng)));
            EXPECT_NE(SniffImage(hostile).format, ImageFormat::kUnknown);
        }
    }
}

TEST(SniffImage, ReadsRealFilesMadeByFfmpeg) {
    plyr::testing::TempDir dir;
    for (std::string name : {"a.jpg", "a.png", "a.gif", "a.webp"}) {
        const auto path = dir.path() / name;
        plyr::testing::MakeImage(path, "testsrc2", "320x120");
        ImageHeader h = SniffImageFile(path.string());
        EXPECT_NE(h.format, ImageFormat::kUnknown) << name;
        EXPECT_EQ(h.width, 320u) << name;
        EXPECT_EQ(h.height, 120u) << name;
    }
    EXPECT_EQ(SniffImageFile((dir.path() / "missing.png").string()).format, ImageFormat::kUnknown);
    EXPECT_EQ(ImageFormatName(SniffImageFile((dir.path() / "a.webp").string()).format), "webp");
}

TEST(CheckImageLimits, AGiganticPngHeaderOfAFewKilobytesIsTooLarge) {
    const std::string png = PngHeaderOnly(60000, 60000);
    ASSERT_LT(png.size(), 4096u);
    ImageCheck check = CheckImageLimits(SniffImage(png));
    EXPECT_EQ(check.status, 422);
    EXPECT_EQ(check.error_code, "image_dimensions_too_large");
}

TEST(CheckImageLimits, SidesAndPixelCountAreCappedSeparately) {
    EXPECT_TRUE(CheckImageLimits({ImageFormat::kPng, 8000, 5000}).ok());  // 40 MP exactly
    EXPECT_EQ(CheckImageLimits({ImageFormat::kPng, 8000, 5001}).status, 422);
    EXPECT_EQ(CheckImageLimits({ImageFormat::kPng, 8001, 10}).status, 422);
    EXPECT_EQ(CheckImageLimits({ImageFormat::kPng, 10, 8001}).status, 422);
    EXPECT_EQ(CheckImageLimits({ImageFormat::kGif, 7000, 7000}).status, 422);  // 49 MP within both sides
    EXPECT_TRUE(CheckImageLimits({ImageFormat::kJpeg, 3000, 3000}).ok());
    EXPECT_EQ(CheckImageLimits({ImageFormat::kJpeg, 3000, 3000}, 8000, 8000, 1000).status, 422);
}

TEST(CheckImageLimits, UnknownFormatOrMissingSizeIsUnsupported) {
    ImageCheck unknown = CheckImageLimits(SniffImage("<svg/>"));
    EXPECT_EQ(unknown.status, 415);
    EXPECT_EQ(unknown.error_code, "unsupported_image_format");
    ImageCheck sizeless = CheckImageLimits({ImageFormat::kJpeg, 0, 0});
    EXPECT_EQ(sizeless.status, 415);
    EXPECT_EQ(sizeless.error_code, "unsupported_image_format");
}

}  // namespace
}  // namespace plyr::media
