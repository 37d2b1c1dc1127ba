// SniffAudio decides the container from magic bytes alone; anything else is kUnknown.
#include "media/sniff.hpp"

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace plyr::media {
namespace {

std::string Bytes(std::initializer_list<int> values) {
    std::string s;
    for (int v : values) s.push_back(static_cast<char>(v));
    return s;
}

// A string literal with its embedded NUL bytes (without the terminating one).
template <std::size_t N>
std::string Lit(const char (&text)[N]) {
    return std::string(text, N - 1);
}

std::string Padded(std::string s, std::size_t size = 256) {
    s.resize(std::max(size, s.size()), '\0');
    return s;
}

// Two consecutive MPEG-1 layer III frames: 128 kbps, 44.1 kHz, no padding → 417 bytes each.
std::string TwoMp3Frames() {
    std::string frame = Bytes({0xFF, 0xFB, 0x90, 0x64});
    frame.resize(417, '\x11');
    return frame + frame;
}

TEST(SniffAudio, RecognisesEveryAcceptedContainer) {
    EXPECT_EQ(SniffAudio(Padded(Lit("RIFF\x24\x00\x00\x00WAVEfmt "))), AudioFormat::kWav);
    EXPECT_EQ(SniffAudio(Padded(Lit("FORM\x00\x00\x10\x00"
                                    "AIFFCOMM"))),
              AudioFormat::kAiff);
    EXPECT_EQ(SniffAudio(Padded(Lit("FORM\x00\x00\x10\x00"
                                    "AIFCFVER"))),
              AudioFormat::kAiff);
    EXPECT_EQ(SniffAudio(Padded(Lit("fLaC\x00\x00\x00\x22"))), AudioFormat::kFlac);
    EXPECT_EQ(SniffAudio(Padded(std::string("OggS\x00\x02", 6))), AudioFormat::kOgg);
    EXPECT_EQ(SniffAudio(Padded(Bytes({0, 0, 0, 0x1C}) + "ftypM4A " + Bytes({0, 0, 0, 0}) + "M4A isom")),
              AudioFormat::kM4a);
    EXPECT_EQ(SniffAudio(Padded(Bytes({0, 0, 0, 0x20}) + "ftypisom" + Bytes({0, 0, 2, 0}) + "isomiso2mp41")),
              AudioFormat::kM4a);
    EXPECT_EQ(
        SniffAudio(Padded(Bytes({0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84}) + "webm")),
        AudioFormat::kWebm);
    EXPECT_EQ(SniffAudio(Padded(Lit("ID3\x04\x00\x00\x00\x00\x00\x0A") + std::string(10, '\0') + TwoMp3Frames())),
              AudioFormat::kMp3);
    EXPECT_EQ(SniffAudio(TwoMp3Frames()), AudioFormat::kMp3);
}

TEST(SniffAudio, Id3OverUndecodableBytesIsStillMp3ForTheProbeToRefuse) {
    // product.md §9 row 6: a valid ID3 header followed by noise is accepted here and fails in the probe.
    std::string head = std::string("ID3\x03\x00\x00\x00\x00\x00\x00", 10) + std::string(300, '\x5A');
    EXPECT_EQ(SniffAudio(head), AudioFormat::kMp3);
}

TEST(SniffAudio, FlacBehindAnId3TagIsFlac) {
    std::string head =
        std::string("ID3\x03\x00\x00\x00\x00\x00\x04", 10) + std::string(4, '\0') + "fLaC" + std::string(40, '\0');
    EXPECT_EQ(SniffAudio(head), AudioFormat::kFlac);
}

TEST(SniffAudio, NonAudioFilesAreUnknown) {
    EXPECT_EQ(SniffAudio(Padded(Bytes({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A}))), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(Bytes({0x7F, 'E', 'L', 'F', 2, 1, 1, 0}))), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(Bytes({0xFF, 0xD8, 0xFF, 0xE0}))), AudioFormat::kUnknown);  // JPEG
    EXPECT_EQ(SniffAudio(Padded(Lit("%PDF-1.7\n"))), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(Lit("<!DOCTYPE html><html>"))), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(Lit("RIFF\x24\x00\x00\x00WEBPVP8 "))), AudioFormat::kUnknown);  // RIFF, not WAVE
    EXPECT_EQ(SniffAudio(Padded(Lit("FORM\x00\x00\x10\x00"
                                    "8SVX"))),
              AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(Bytes({0, 0, 0, 0x18}) + "ftypheic" + Bytes({0, 0, 0, 0}) + "mif1heic")),
              AudioFormat::kUnknown);  // HEIF image
    EXPECT_EQ(SniffAudio(Padded(Bytes({0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x88}) + "matroska")),
              AudioFormat::kUnknown);  // Matroska, not WebM
}

TEST(SniffAudio, EmptyAndTinyInputsAreUnknown) {
    EXPECT_EQ(SniffAudio(""), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio("R"), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio("RIFF"), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio("ID3"), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio("OggS"), AudioFormat::kUnknown);
}

TEST(SniffAudio, MalformedId3HeaderIsUnknown) {
    EXPECT_EQ(SniffAudio(Padded(std::string("ID3\x09\x00\x00\x00\x00\x00\x00", 10))), AudioFormat::kUnknown);
    EXPECT_EQ(SniffAudio(Padded(std::string("ID3\x03\x00\x00\x80\x00\x00\x00", 10))), AudioFormat::kUnknown);
}

TEST(SniffAudio, ALoneFrameSyncFollowedByGarbageIsUnknown) {
    std::string head = Bytes({0xFF, 0xFB, 0x90, 0x64});
    head.resize(2000, '\x11');
    EXPECT_EQ(SniffAudio(head), AudioFormat::kUnknown);
}

TEST(SniffAudio, RandomBytesAreUnknown) {
    std::mt19937 rng(1234);
    int matched = 0;
    for (int i = 0; i < 2000; ++i) {
        std::string head(4096, '\0');
        for (char& c : head) c = static_cast<char>(rng() & 0xFF);
        if (SniffAudio(head) != AudioFormat::kUnknown) ++matched;
    }
    EXPECT_EQ(matched, 0);
}

TEST(SniffAudio, OnlyTheFirst64KiBCount) {
    std::string head(kSniffBytes, '\0');
    head += Lit("RIFF\x24\x00\x00\x00WAVE");
    EXPECT_EQ(SniffAudio(head), AudioFormat::kUnknown);
}

TEST(AudioFormatName, RoundTripsEveryKnownFormat) {
    for (AudioFormat f : {AudioFormat::kMp3, AudioFormat::kWav, AudioFormat::kAiff, AudioFormat::kFlac,
                          AudioFormat::kOgg, AudioFormat::kM4a, AudioFormat::kWebm}) {
        auto back = AudioFormatFromName(AudioFormatName(f));
        ASSERT_TRUE(back.has_value()) << AudioFormatName(f);
        EXPECT_EQ(*back, f);
    }
    EXPECT_FALSE(AudioFormatFromName("unknown").has_value());
    EXPECT_FALSE(AudioFormatFromName("MP3").has_value());
    EXPECT_EQ(AudioFormatName(AudioFormat::kUnknown), "unknown");
}

}  // namespace
}  // namespace plyr::media
