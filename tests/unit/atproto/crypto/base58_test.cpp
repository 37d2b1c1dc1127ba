#include "atproto/crypto/base58.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"

namespace plyr::atproto::crypto {
namespace {

TEST(Base58Btc, EncodesKnownVectors) {
    // draft-msporny-base58 §5 examples.
    EXPECT_EQ(Base58BtcEncode("Hello World!"), "2NEpo7TZRRrLZSi2U");
    EXPECT_EQ(Base58BtcEncode("The quick brown fox jumps over the lazy dog."),
              "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
    EXPECT_EQ(Base58BtcEncode(std::string("\x00\x00\x28\x7f\xb4\xcd", 6)), "11233QC4");
    EXPECT_EQ(Base58BtcEncode(""), "");
    EXPECT_EQ(Base58BtcEncode(std::string(1, '\0')), "1");
}

TEST(Base58Btc, DecodesKnownVectorsIncludingLeadingZeros) {
    EXPECT_EQ(Base58BtcDecode("2NEpo7TZRRrLZSi2U"), "Hello World!");
    EXPECT_EQ(Base58BtcDecode("11233QC4"), std::string("\x00\x00\x28\x7f\xb4\xcd", 6));
    EXPECT_EQ(Base58BtcDecode("111"), std::string(3, '\0'));
    EXPECT_EQ(Base58BtcDecode(""), "");
}

TEST(Base58Btc, RejectsCharactersOutsideTheAlphabet) {
    for (const std::string& bad :
         std::initializer_list<std::string>{"0", "O", "I", "l", "abc+", "z z", std::string("1\0", 2)}) {
        EXPECT_FALSE(Base58BtcDecode(bad)) << bad;
    }
}

TEST(Base58Btc, RejectsOverlongText) {
    EXPECT_FALSE(Base58BtcDecode(std::string(kMaxBase58TextBytes + 1, '2')));
    EXPECT_TRUE(Base58BtcDecode(std::string(kMaxBase58TextBytes, '2')));
}

TEST(Base58Btc, RoundTripsRandomBytes) {
    for (std::size_t size = 0; size < 80; ++size) {
        std::string bytes = core::RandomBytes(size);
        if (size > 2) bytes[0] = '\0';  // exercise the leading-zero path too
        auto text = Base58BtcEncode(bytes);
        auto back = Base58BtcDecode(text);
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, bytes);
        EXPECT_EQ(Base58BtcEncode(*back), text);
    }
}

}  // namespace
}  // namespace plyr::atproto::crypto
