// ReadTagsFile (the code the `plyr media tags` child runs), in-process: text tags and the embedded cover of every
// taggable format, made with ffmpeg in the test; the strict JSON of the child protocol; tag text cleaning.
#include "media/tags.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"
#include "support/temp_dir.hpp"
#include "unit/media_art/art_fixtures.hpp"

namespace plyr::media {
namespace {

namespace fs = std::filesystem;
using plyr::testing::Ffmpeg;
using plyr::testing::ReadBytes;
using plyr::testing::TempDir;

class ReadTagsFileTest : public ::testing::Test {
  protected:
    void SetUp() override {
        cover_ = (dir_.path() / "cover.jpg").string();
        plyr::testing::MakeImage(cover_, "testsrc2", "300x300");
        art_out_ = (dir_.path() / "art.bin").string();
    }
    // One second of tone in `name` (the extension picks the muxer) with `extra` ffmpeg output options.
    std::string Audio(const std::string& name, std::vector<std::string> extra, bool with_cover) {
        std::vector<std::string> args{"-f", "lavfi", "-i", "sine=f=440:d=1"};
        if (with_cover) {
            args.insert(args.end(), {"-i", cover_, "-map", "0", "-map", "1", "-c:v", "copy", "-metadata:s:v",
                                     "comment=Cover (front)", "-disposition:v", "attached_pic"});
        }
        args.insert(args.end(), extra.begin(), extra.end());
        const std::string path = (dir_.path() / name).string();
        args.push_back(path);
        Ffmpeg(args);
        return path;
    }
    static std::vector<std::string> Text(const std::string& codec) {
        return {"-c:a",      codec,          "-metadata", "title=Night Drive", "-metadata", "artist=Zoë & The Tones",
                "-metadata", "album=Signals"};
    }
    void ExpectTextAndCover(const std::string& path) {
        auto tags = ReadTagsFile(path, art_out_);
        ASSERT_TRUE(tags) << tags.error().ToString();
        EXPECT_EQ(tags->title, "Night Drive") << path;
        EXPECT_EQ(tags->artist, "Zoë & The Tones") << path;
        EXPECT_EQ(tags->album, "Signals") << path;
        ASSERT_TRUE(tags->art) << path;
        EXPECT_EQ(tags->art->path, art_out_);
        const std::string art = ReadBytes(art_out_);
        EXPECT_EQ(tags->art->size, art.size());
        EXPECT_EQ(art, ReadBytes(cover_)) << path << ": the cover is extracted byte for byte";
        fs::remove(art_out_);
    }

    TempDir dir_;
    std::string cover_;
    std::string art_out_;
};

TEST_F(ReadTagsFileTest, Mp3Id3v2TextAndApicCover) { ExpectTextAndCover(Audio("a.mp3", Text("libmp3lame"), true)); }

TEST_F(ReadTagsFileTest, FlacVorbisCommentAndPictureBlock) { ExpectTextAndCover(Audio("a.flac", Text("flac"), true)); }

TEST_F(ReadTagsFileTest, M4aItemsAndCovr) { ExpectTextAndCover(Audio("a.m4a", Text("aac"), true)); }

TEST_F(ReadTagsFileTest, OggVorbisAndOpusMetadataBlockPicture) {
    const std::string block = plyr::testing::FlacPictureBlock(3, "image/jpeg", ReadBytes(cover_));
    for (const auto& [name, codec] : {std::pair{"v.ogg", "libvorbis"}, std::pair{"o.ogg", "libopus"}}) {
        auto args = Text(codec);
        args.insert(args.end(), {"-metadata", "METADATA_BLOCK_PICTURE=" + core::Base64Encode(block)});
        ExpectTextAndCover(Audio(name, args, false));
    }
}

TEST_F(ReadTagsFileTest, FrontCoverWinsOverOtherPictures) {
    const std::string back = (dir_.path() / "back.png").string();
    plyr::testing::MakeImage(back, "color=blue", "64x64");
    const std::string path = (dir_.path() / "two.mp3").string();
    // The back cover comes first in the file; the front cover must still be the one picked.
    Ffmpeg({"-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1",
            "-i",
            back,
            "-i",
            cover_,
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-c:a",
            "libmp3lame",
            "-c:v",
            "copy",
            "-metadata:s:v:0",
            "comment=Cover (back)",
            "-metadata:s:v:1",
            "comment=Cover (front)",
            "-disposition:v",
            "attached_pic",
            "-metadata",
            "title=Night Drive",
            "-metadata",
            "artist=Zoë & The Tones",
            "-metadata",
            "album=Signals",
            path});
    ExpectTextAndCover(path);
}

// An ID3v2.3 tag with one APIC frame of `picture`, written by hand (ffmpeg would have to parse the picture).
std::string Id3WithPicture(const std::string& picture) {
    std::string frame_body = std::string("\0image/jpeg\0\x03\0", 14) + picture;
    std::string frame = "APIC";
    plyr::testing::PutBe32(frame, static_cast<std::uint32_t>(frame_body.size()));
    frame += std::string(2, '\0');
    frame += frame_body;
    std::string tag = "ID3";
    tag += std::string("\x03\x00\x00", 3);
    const auto size = static_cast<std::uint32_t>(frame.size());  // syncsafe: 7 bits per byte
    for (int shift : {21, 14, 7, 0}) tag.push_back(static_cast<char>((size >> shift) & 0x7F));
    return tag + frame;
}

TEST_F(ReadTagsFileTest, ACoverAbove20MiBIsIgnored) {
    const std::string plain = ReadBytes(Audio("plain.mp3", {"-id3v2_version", "0"}, false));
    const std::string big = (dir_.path() / "big.mp3").string();
    plyr::testing::WriteBytes(big, Id3WithPicture(std::string(kMaxArtBytes + 1, '\x42')) + plain);
    auto tags = ReadTagsFile(big, art_out_);
    ASSERT_TRUE(tags) << tags.error().ToString();
    EXPECT_FALSE(tags->art);
    EXPECT_FALSE(fs::exists(art_out_));

    const std::string small = (dir_.path() / "small.mp3").string();
    plyr::testing::WriteBytes(small, Id3WithPicture(std::string(1000, '\x42')) + plain);
    tags = ReadTagsFile(small, art_out_);
    ASSERT_TRUE(tags) << tags.error().ToString();
    ASSERT_TRUE(tags->art);
    EXPECT_EQ(tags->art->size, 1000u);
}

TEST_F(ReadTagsFileTest, HostileTagsNeverCrashOrInventACover) {
    const std::string plain = ReadBytes(Audio("plain.mp3", {"-id3v2_version", "0"}, false));
    std::string lying = Id3WithPicture("tiny");
    lying[6] = lying[7] = lying[8] = lying[9] = 0x7F;  // tag size ~256 MiB, far past the end of the file
    const std::string path = (dir_.path() / "lying.mp3").string();
    plyr::testing::WriteBytes(path, lying + plain);
    auto tags = ReadTagsFile(path, art_out_);
    ASSERT_TRUE(tags) << tags.error().ToString();
    const std::string flac = ReadBytes(Audio("a.flac", Text("flac"), true));
    const std::string cut = (dir_.path() / "cut.flac").string();
    plyr::testing::WriteBytes(cut, flac.substr(0, 200));  // inside the PICTURE block
    auto truncated = ReadTagsFile(cut, art_out_);
    ASSERT_TRUE(truncated) << truncated.error().ToString();
    EXPECT_FALSE(truncated->art);
}

TEST_F(ReadTagsFileTest, AiffId3ChunkText) {
    auto args = Text("pcm_s16be");
    args.insert(args.end(), {"-write_id3v2", "1"});
    auto tags = ReadTagsFile(Audio("a.aiff", args, false), art_out_);
    ASSERT_TRUE(tags) << tags.error().ToString();
    EXPECT_EQ(tags->title, "Night Drive");
    EXPECT_EQ(tags->album, "Signals");
    EXPECT_FALSE(tags->art);
    EXPECT_FALSE(fs::exists(art_out_));
}

TEST_F(ReadTagsFileTest, UntaggedAndUntaggableFilesGiveNoFields) {
    // webm: TagLib 1.13 has no Matroska support, so even its tags are not read.
    const std::vector<std::pair<std::string, std::vector<std::string>>> files{
        {"plain.wav", {}}, {"plain.mp3", {}}, {"tagged.webm", Text("libopus")}};
    for (const auto& [name, args] : files) {
        auto tags = ReadTagsFile(Audio(name, args, false), art_out_);
        ASSERT_TRUE(tags) << name << ": " << tags.error().ToString();
        EXPECT_FALSE(tags->title) << name;
        EXPECT_FALSE(tags->album) << name;
        EXPECT_FALSE(tags->art) << name;
    }
    const fs::path noise = dir_.Write("noise.mp3", std::string(4096, '\x5A'));
    auto tags = ReadTagsFile(noise.string(), art_out_);
    ASSERT_TRUE(tags);
    EXPECT_FALSE(tags->title);
    EXPECT_FALSE(tags->art);
    EXPECT_FALSE(ReadTagsFile((dir_.path() / "missing.mp3").string(), art_out_));
}

TEST_F(ReadTagsFileTest, WithoutArtOutNoPictureIsWritten) {
    auto tags = ReadTagsFile(Audio("a.mp3", Text("libmp3lame"), true), "");
    ASSERT_TRUE(tags) << tags.error().ToString();
    EXPECT_EQ(tags->title, "Night Drive");
    EXPECT_FALSE(tags->art);
}

TEST_F(ReadTagsFileTest, ControlCharactersInTagsAreRemoved) {
    auto tags = ReadTagsFile(
        Audio("ctl.mp3",
              {"-c:a", "libmp3lame", "-metadata", "title=  Bad\x01Ti\ttle\x7F  ", "-metadata", "artist=\x1B[31mred"},
              false),
        art_out_);
    ASSERT_TRUE(tags) << tags.error().ToString();
    EXPECT_EQ(tags->title, "BadTitle");
    EXPECT_EQ(tags->artist, "[31mred");
    EXPECT_FALSE(tags->album);
}

TEST(CleanTagText, RemovesControlsAndInvalidUtf8AndCutsOnACharacterBoundary) {
    EXPECT_EQ(CleanTagText("  plain  "), "plain");
    EXPECT_EQ(CleanTagText("a\nb\rc\td\x7F"), "abcd");
    EXPECT_EQ(CleanTagText("x\xC2\x85y\xC2\x9Fz"), "xyz");                        // C1 controls U+0085, U+009F
    EXPECT_EQ(CleanTagText("caf\xC3\xA9 \xC2\xA0ok"), "caf\xC3\xA9 \xC2\xA0ok");  // U+00A0 is text
    EXPECT_EQ(CleanTagText("a\xFF\xFE"
                           "b\xC0\xAF"
                           "c\xED\xA0\x80"
                           "d\xF4\x90\x80\x80"
                           "e\xE2\x82"),
              "abcde");
    EXPECT_EQ(CleanTagText("\xF0\x9F\x8E\xB5 song"), "\xF0\x9F\x8E\xB5 song");
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";  // 400 bytes of "é"
    const std::string cut = CleanTagText(long_text);
    EXPECT_EQ(cut.size(), 256u);
    std::string three = "x";
    for (int i = 0; i < 100; ++i) three += "\xE2\x82\xAC";  // 1 + 300 bytes: the cut may not split a "€"
    EXPECT_EQ(CleanTagText(three).size(), 256u);
    EXPECT_EQ(CleanTagText("xx" + three).size(), 255u);  // 3 + 84 × 3: the 85th would pass 256
    EXPECT_EQ(CleanTagText("\x01\x02 \x03"), "");
}

TEST(EmbeddedTagsJson, RoundTripsAndRefusesAnythingElse) {
    EmbeddedTags tags;
    tags.title = "T";
    tags.album = "Al";
    tags.art = EmbeddedArt{"/s/art.bin", 1234};
    auto back = EmbeddedTagsFromJson(EmbeddedTagsToJson(tags), "/s/art.bin");
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(back->title, "T");
    EXPECT_FALSE(back->artist);
    EXPECT_EQ(back->album, "Al");
    ASSERT_TRUE(back->art);
    EXPECT_EQ(back->art->size, 1234u);

    auto refused = [](const std::string& json, const std::string& art_out = "/s/art.bin") {
        auto r = EmbeddedTagsFromJson(json, art_out);
        return !r && r.error().code == ErrorCode::kProtocol;
    };
    EXPECT_FALSE(refused(R"({"title":null,"artist":null,"album":null,"art":null})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":null,"x":1})"));
    EXPECT_TRUE(refused(R"({"title":1,"artist":null,"album":null,"art":null})"));
    EXPECT_TRUE(refused(R"({"title":"","artist":null,"album":null,"art":null})"));
    EXPECT_TRUE(refused(R"({"title":")" + std::string(257, 'a') + R"(","artist":null,"album":null,"art":null})"));
    EXPECT_TRUE(refused(R"({"title":null,"title":null,"album":null,"art":null})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":{"path":"/etc/passwd","size":1}})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":{"path":"/s/art.bin","size":0}})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":{"path":"/s/art.bin","size":-1}})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":{"path":"/s/art.bin","size":20971521}})"));
    EXPECT_TRUE(refused(R"({"title":null,"artist":null,"album":null,"art":{"path":"/s/art.bin","size":1}})", ""));
    EXPECT_TRUE(refused("[]"));
}

TEST(TagsSandboxLimits, AllowTheLargestCoverAndNoMore) {
    SandboxLimits l = TagsSandboxLimits(core::Config{});
    EXPECT_GE(l.file_size_bytes, kMaxArtBytes);
    EXPECT_LE(l.file_size_bytes, kMaxArtBytes + (std::uint64_t{4} << 20));
    EXPECT_EQ(l.address_space_bytes, std::uint64_t{1} << 30);
}

}  // namespace
}  // namespace plyr::media
