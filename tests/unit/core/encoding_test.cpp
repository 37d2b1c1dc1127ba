#include "core/encoding.hpp"

#include <gtest/gtest.h>

namespace plyr::core {
namespace {

TEST(Encoding, HexRoundTrips) {
    EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
    EXPECT_EQ(*HexDecode("00FF10"), std::string("\x00\xff\x10", 3));
    EXPECT_FALSE(HexDecode("0"));
    EXPECT_FALSE(HexDecode("zz"));
}

TEST(Encoding, Base64UrlMatchesRfc4648Vectors) {
    EXPECT_EQ(Base64UrlEncode("f"), "Zg");
    EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
    EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
    EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
    EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
    EXPECT_EQ(*Base64UrlDecode("-_8"), "\xfb\xff");
    EXPECT_EQ(*Base64Decode("Zm9vYg=="), "foob");
}

TEST(Encoding, Base64RejectsNonCanonicalAndForeignCharacters) {
    EXPECT_FALSE(Base64UrlDecode("Zh"));    // leftover bits set
    EXPECT_FALSE(Base64UrlDecode("Z"));     // impossible length
    EXPECT_FALSE(Base64UrlDecode("Zm+v"));  // '+' is not in the url alphabet
    EXPECT_FALSE(Base64Decode("Zm9vYg="));  // wrong padding
}

TEST(Encoding, Sha256KnownAnswer) {
    EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Sha256Stream stream;
    stream.Update("a");
    stream.Update("bc");
    EXPECT_EQ(HexEncode(DigestToString(stream.Finish())), Sha256Hex("abc"));
}

TEST(Encoding, HmacSha256Rfc4231Case2) {
    auto mac = HmacSha256("Jefe", "what do ya want for nothing?");
    EXPECT_EQ(HexEncode(DigestToString(mac)), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Encoding, RandomUuidIsVersion4) {
    std::string a = RandomUuid();
    std::string b = RandomUuid();
    ASSERT_EQ(a.size(), 36u);
    EXPECT_EQ(a[14], '4');
    EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
    EXPECT_NE(a, b);
}

}  // namespace
}  // namespace plyr::core
