// Key rules shared by every backend (blob_store.hpp ValidateKey), content types.

#include <string>

#include <gtest/gtest.h>

#include "storage/blobs/blob_store.hpp"

namespace plyr::storage::blobs {
namespace {

using namespace std::string_literals;

TEST(ValidateKey, AcceptsTheKeysOfTheStorageLayout) {
    for (std::string key :
         {"audio/0123456789abcdef.mp3", "images/0123456789abcdef_thumb.webp",
          "exports/9f0c2a1e-1111-4222-8333-444455556666.zip", "staging/upload-1", "a",
          "audio/Motörhead – Ace of Spades.mp3", "with space/and+plus&amp=x?y#z.png", "日本語/曲.flac", "emoji/🎵.ogg",
          ".hidden", "x/.plyr-tmp", ".plyr-tmpfoo/x", "a/...", "a/..b", "~user/x"}) {
        EXPECT_TRUE(ValidateKey(key)) << key;
    }
}

TEST(ValidateKey, AcceptsExactlyTheMaximumLength) {
    std::string key;
    while (key.size() + 101 <= kMaxKeyBytes) key += std::string(100, 'k') + "/";
    key += std::string(kMaxKeyBytes - key.size(), 'z');
    ASSERT_EQ(key.size(), kMaxKeyBytes);
    EXPECT_TRUE(ValidateKey(key));
    EXPECT_FALSE(ValidateKey(key + "z"));
}

TEST(ValidateKey, RejectsEveryBrokenRuleWithInvalidArgument) {
    const std::string long_segment(kMaxKeySegmentBytes + 1, 's');
    for (std::string key : {""s,
                            "/audio/x.mp3"s,
                            "audio/../x"s,
                            "../x"s,
                            ".."s,
                            "."s,
                            "./x"s,
                            "a/."s,
                            "a/.."s,
                            "a//b"s,
                            "a/"s,
                            "a\\b"s,
                            "a\\..\\b"s,
                            "a\0b"s,
                            "a\nb"s,
                            "a\rb"s,
                            "a\tb"s,
                            "\x7f"s,
                            "a\x01"s,
                            "\xc2\x85next-line"s,
                            "\xff"s,
                            "\xc0\xaf"s,
                            "\xe0\x80\xaf"s,
                            "\xed\xa0\x80"s,
                            "\xf4\x90\x80\x80"s,
                            "\xe2\x82"s,
                            "ab\x80"s,
                            ".plyr-tmp"s,
                            ".plyr-tmp/x"s,
                            "x/" + long_segment,
                            std::string(kMaxKeyBytes + 1, 'a')}) {
        auto status = ValidateKey(key);
        ASSERT_FALSE(status) << "accepted: " << key;
        EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    }
}

TEST(ValidateKey, ErrorMessagesNameTheRuleNotTheKeyBytes) {
    auto status = ValidateKey("secret-looking/../value");
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().message.find("secret-looking"), std::string::npos);
    EXPECT_NE(status.error().message.find("'..'"), std::string::npos);
}

TEST(ValidateKey, AcceptsASegmentOfExactlyTheSegmentLimit) {
    EXPECT_TRUE(ValidateKey("x/" + std::string(kMaxKeySegmentBytes, 's')));
}

TEST(ValidateContentType, AcceptsPrintableAsciiAndEmpty) {
    EXPECT_TRUE(ValidateContentType(""));
    EXPECT_TRUE(ValidateContentType("audio/mpeg"));
    EXPECT_TRUE(ValidateContentType("text/plain; charset=utf-8"));
    EXPECT_TRUE(ValidateContentType(std::string(255, 'a')));
}

TEST(ValidateContentType, RejectsControlCharactersNonAsciiAndOverlongValues) {
    for (std::string type : {"audio/mpeg\r\nx-evil: 1"s, "a\tb"s, "audio/m\xc3\xa9"s, std::string(256, 'a')}) {
        auto status = ValidateContentType(type);
        ASSERT_FALSE(status) << type;
        EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
    }
}

TEST(ContentTypeForKey, MapsKnownExtensionsCaseInsensitively) {
    EXPECT_EQ(ContentTypeForKey("audio/x.mp3"), "audio/mpeg");
    EXPECT_EQ(ContentTypeForKey("audio/x.FLAC"), "audio/flac");
    EXPECT_EQ(ContentTypeForKey("audio/x.m4a"), "audio/mp4");
    EXPECT_EQ(ContentTypeForKey("audio/x.aif"), "audio/aiff");
    EXPECT_EQ(ContentTypeForKey("images/x_thumb.webp"), "image/webp");
    EXPECT_EQ(ContentTypeForKey("images/x.JPG"), "image/jpeg");
    EXPECT_EQ(ContentTypeForKey("exports/x.zip"), "application/zip");
}

TEST(ContentTypeForKey, FallsBackToOctetStream) {
    EXPECT_EQ(ContentTypeForKey("staging/upload-1"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForKey("x.unknown"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForKey("dir.mp3/file"), "application/octet-stream");
    EXPECT_EQ(ContentTypeForKey("trailing."), "application/octet-stream");
}

}  // namespace
}  // namespace plyr::storage::blobs
