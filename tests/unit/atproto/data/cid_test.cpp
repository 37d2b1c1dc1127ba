#include "atproto/data/cid.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"

namespace plyr::atproto {
namespace {

TEST(Cid, RawCidOfHelloWorldMatchesGeneratedVector) {
    Cid cid = CidForRaw("hello world");
    EXPECT_EQ(cid.ToString(), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e");
    EXPECT_TRUE(cid.IsBlessed());
    EXPECT_EQ(cid.Bytes().size(), 36u);
    EXPECT_EQ(core::HexEncode(cid.Bytes().substr(0, 4)), "01551220");
}

TEST(Cid, DagCborCidHasBafyreiPrefix) {
    Cid cid = CidForDagCbor("\xa0");
    EXPECT_EQ(cid.ToString().substr(0, 7), "bafyrei");
    EXPECT_EQ(core::HexEncode(cid.Bytes().substr(0, 4)), "01711220");
}

TEST(Cid, StringRoundTrips) {
    const std::string text = "bafyreieawtmh7hwfrqpamqkodza5r62bbfhsepe2iyustgxhgbhi6b2lfi";
    auto cid = ParseCid(text);
    ASSERT_TRUE(cid) << cid.error().ToString();
    EXPECT_EQ(cid->codec, kCodecDagCbor);
    EXPECT_EQ(cid->ToString(), text);
    auto from_bytes = CidFromBytes(cid->Bytes());
    ASSERT_TRUE(from_bytes);
    EXPECT_EQ(*from_bytes, *cid);
}

TEST(Cid, ParseRejectsMalformedStrings) {
    const std::string good = "bafyreieawtmh7hwfrqpamqkodza5r62bbfhsepe2iyustgxhgbhi6b2lfi";
    EXPECT_FALSE(ParseCid(""));
    EXPECT_FALSE(ParseCid("b"));
    EXPECT_FALSE(ParseCid("."));
    EXPECT_FALSE(ParseCid("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"));  // CIDv0
    EXPECT_FALSE(ParseCid("B" + good.substr(1)));                              // uppercase multibase
    EXPECT_FALSE(ParseCid("bAFYREI" + good.substr(7)));                        // uppercase body
    EXPECT_FALSE(ParseCid(good + "="));                                        // padding
    EXPECT_FALSE(ParseCid(good + " "));
    EXPECT_FALSE(ParseCid(" " + good));
    EXPECT_FALSE(ParseCid(good.substr(0, good.size() - 1)));  // truncated digest
    EXPECT_FALSE(ParseCid(good + "a"));                       // trailing data
    EXPECT_FALSE(ParseCid("z" + good.substr(1)));             // other multibase
}

TEST(Cid, BinaryParseRejectsCidV0AndOtherVersions) {
    std::string v0 = std::string("\x12\x20", 2) + std::string(32, 'x');
    EXPECT_FALSE(CidFromBytes(v0));
    Cid cid = CidForRaw("x");
    cid.version = 2;
    EXPECT_FALSE(CidFromBytes(cid.Bytes()));
}

TEST(Cid, VerifyCidMatchesDetectsTampering) {
    Cid cid = CidForDagCbor("\xa0");
    EXPECT_TRUE(VerifyCidMatches(cid, "\xa0"));
    EXPECT_FALSE(VerifyCidMatches(cid, "\xa1"));
    cid.hash_code = 0x13;
    auto status = VerifyCidMatches(cid, "\xa0");
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kUnsupported);
}

TEST(Varint, RoundTripsBoundaryValues) {
    for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 300ull, 16383ull, 16384ull, (1ull << 63) - 1}) {
        std::string bytes;
        AppendVarint(bytes, v);
        std::size_t consumed = 0;
        auto back = ReadVarint(bytes, consumed);
        ASSERT_TRUE(back) << v;
        EXPECT_EQ(*back, v);
        EXPECT_EQ(consumed, bytes.size());
    }
}

TEST(Varint, RejectsNonMinimalTruncatedAndOverlong) {
    std::size_t consumed = 0;
    EXPECT_FALSE(ReadVarint(std::string("\x80\x00", 2), consumed));  // 0 padded
    EXPECT_FALSE(ReadVarint("\x81\x80", consumed));                  // truncated
    EXPECT_FALSE(ReadVarint("", consumed));
    EXPECT_FALSE(ReadVarint(std::string(9, '\xff') + "\x01", consumed));  // > 63 bits
    auto one = ReadVarint("\x01\xff", consumed);
    ASSERT_TRUE(one);
    EXPECT_EQ(consumed, 1u);
}

TEST(Base32, RejectsNonCanonicalTrailingBitsAndBadLengths) {
    EXPECT_EQ(Base32LowerEncode("f"), "my");
    EXPECT_TRUE(Base32LowerDecode("my"));
    EXPECT_FALSE(Base32LowerDecode("mz"));  // non-zero trailing bits
    EXPECT_FALSE(Base32LowerDecode("m"));   // 5 bits cannot be a byte
    EXPECT_FALSE(Base32LowerDecode("MY"));
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        auto back = Base32LowerDecode(Base32LowerEncode(s));
        ASSERT_TRUE(back);
        EXPECT_EQ(*back, s);
    }
}

}  // namespace
}  // namespace plyr::atproto
