#include "atproto/data/cbor.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"

namespace plyr::atproto {
namespace {

Result<Value> DecodeHex(std::string_view hex, const CborLimits& limits = {}) {
    auto bytes = core::HexDecode(hex);
    EXPECT_TRUE(bytes) << hex;
    return DecodeDagCbor(bytes ? *bytes : std::string(), limits);
}

std::string LinkHex(std::string_view prefix_byte) {
    Cid cid = CidForDagCbor("x");
    return "a16161d82a5825" + std::string(prefix_byte) + core::HexEncode(cid.Bytes());
}

TEST(DagCbor, HelloWorldEncodesToTheSignedMessage) {
    Value value(Value::Map{{"hello", Value("world")}});
    EXPECT_EQ(core::HexEncode(EncodeDagCbor(value)), "a16568656c6c6f65776f726c64");
}

TEST(DagCbor, IntegersUseShortestHeads) {
    struct Case {
        std::int64_t value;
        const char* hex;
    };
    for (auto [value, hex] :
         {Case{0, "00"}, Case{23, "17"}, Case{24, "1818"}, Case{255, "18ff"}, Case{256, "190100"},
          Case{65535, "19ffff"}, Case{65536, "1a00010000"}, Case{4294967295, "1affffffff"},
          Case{4294967296, "1b0000000100000000"}, Case{-1, "20"}, Case{-24, "37"}, Case{-25, "3818"},
          Case{INT64_MAX, "1b7fffffffffffffff"}, Case{INT64_MIN, "3b7fffffffffffffff"}}) {
        EXPECT_EQ(core::HexEncode(EncodeDagCbor(Value(value))), hex) << value;
        auto back = DecodeHex(hex);
        ASSERT_TRUE(back) << hex;
        EXPECT_EQ(back->GetInteger(), value);
    }
}

TEST(DagCbor, AcceptsEmptyMap) { EXPECT_TRUE(DecodeHex("a0")); }

TEST(DagCbor, LinkEncodesAsTag42WithZeroPrefix) {
    Value value(Value::Map{{"a", Value(CidForDagCbor("x"))}});
    EXPECT_EQ(core::HexEncode(EncodeDagCbor(value)), LinkHex("00"));
    auto back = DecodeHex(LinkHex("00"));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, value);
}

// atproto.md §10 item 15, one case each.
TEST(DagCbor, RejectsNonMinimalInteger) { EXPECT_FALSE(DecodeHex("a161611801")); }
TEST(DagCbor, RejectsIndefiniteMap) { EXPECT_FALSE(DecodeHex("bf616101ff")); }
TEST(DagCbor, RejectsFloat) { EXPECT_FALSE(DecodeHex("a16161fb3ff0000000000000")); }
TEST(DagCbor, RejectsHalfAndSingleFloats) {
    EXPECT_FALSE(DecodeHex("f93c00"));
    EXPECT_FALSE(DecodeHex("fa3f800000"));
}
TEST(DagCbor, RejectsUnsortedKeys) { EXPECT_FALSE(DecodeHex("a2616201616102")); }
TEST(DagCbor, RejectsLongerKeyBeforeShorter) { EXPECT_FALSE(DecodeHex("a262616101616202")); }
TEST(DagCbor, RejectsDuplicateKey) { EXPECT_FALSE(DecodeHex("a2616101616102")); }
TEST(DagCbor, RejectsTagOtherThan42) { EXPECT_FALSE(DecodeHex("a16161c101")); }
TEST(DagCbor, RejectsIntegerMapKey) { EXPECT_FALSE(DecodeHex("a10102")); }
TEST(DagCbor, RejectsTag42WithoutZeroPrefix) { EXPECT_FALSE(DecodeHex(LinkHex("01"))); }
TEST(DagCbor, RejectsTag42OverNonBytes) { EXPECT_FALSE(DecodeHex("a16161d82a6161")); }
TEST(DagCbor, RejectsUndefined) { EXPECT_FALSE(DecodeHex("a16161f7")); }
TEST(DagCbor, RejectsSimpleValues) {
    EXPECT_FALSE(DecodeHex("f0"));
    EXPECT_FALSE(DecodeHex("f820"));
    EXPECT_FALSE(DecodeHex("ff"));
}
TEST(DagCbor, RejectsInvalidUtf8) {
    EXPECT_FALSE(DecodeHex("a1616161ff"));
    EXPECT_FALSE(DecodeHex("62c080"));      // overlong
    EXPECT_FALSE(DecodeHex("63eda080"));    // surrogate
    EXPECT_FALSE(DecodeHex("64f4908080"));  // above U+10FFFF
    EXPECT_TRUE(DecodeHex("64f09f9880"));   // 😀
}
TEST(DagCbor, RejectsTrailingByte) { EXPECT_FALSE(DecodeHex("a000")); }
TEST(DagCbor, RejectsIndefiniteStringsAndArrays) {
    EXPECT_FALSE(DecodeHex("7f6161ff"));
    EXPECT_FALSE(DecodeHex("5f4161ff"));
    EXPECT_FALSE(DecodeHex("9f01ff"));
}
TEST(DagCbor, RejectsIntegersBeyondInt64) {
    EXPECT_FALSE(DecodeHex("1b8000000000000000"));
    EXPECT_FALSE(DecodeHex("3b8000000000000000"));
}
TEST(DagCbor, RejectsNonMinimalLengths) {
    EXPECT_FALSE(DecodeHex("780161"));    // 1-char string with 1-byte length
    EXPECT_FALSE(DecodeHex("9800"));      // empty array, long form
    EXPECT_FALSE(DecodeHex("d9002a41"));  // tag 42 in a 2-byte head
}
TEST(DagCbor, RejectsReservedAdditionalInfo) { EXPECT_FALSE(DecodeHex("1c")); }
TEST(DagCbor, RejectsTruncatedInput) {
    EXPECT_FALSE(DecodeHex(""));
    EXPECT_FALSE(DecodeHex("a1"));
    EXPECT_FALSE(DecodeHex("6461"));
    EXPECT_FALSE(DecodeHex("1a0001"));
    EXPECT_FALSE(DecodeHex("9bffffffffffffffff"));  // absurd array length: no huge allocation
}
TEST(DagCbor, RejectsBareReservedKeysAndBadType) {
    EXPECT_FALSE(DecodeHex("a165246c696e6b6161"));        // {"$link": "a"}
    EXPECT_FALSE(DecodeHex("a1662462797465734100"));      // {"$bytes": h''}
    EXPECT_FALSE(DecodeHex("a165247479706560"));          // {"$type": ""}
    EXPECT_FALSE(DecodeHex("a1652474797065f6"));          // {"$type": null}
    EXPECT_FALSE(DecodeHex("a165247479706564626c6f62"));  // {"$type": "blob"} without fields
}

TEST(DagCbor, BlobMapDecodesToBlobRefAndReencodesIdentically) {
    Value value(BlobRef{CidForRaw("audio"), "audio/mpeg", 12345});
    std::string bytes = EncodeDagCbor(value);
    auto back = DecodeDagCbor(bytes);
    ASSERT_TRUE(back) << back.error().ToString();
    ASSERT_TRUE(back->IsBlob());
    EXPECT_EQ(*back, value);
    EXPECT_EQ(EncodeDagCbor(*back), bytes);
}

TEST(DagCbor, DepthLimitIsEnforced) {
    std::string deep(65, '\x81');
    deep.push_back('\x00');
    auto rejected = DecodeDagCbor(deep);
    ASSERT_FALSE(rejected);
    EXPECT_EQ(rejected.error().code, ErrorCode::kTooLarge);
    EXPECT_TRUE(DecodeDagCbor(deep, CborLimits{.max_depth = 65}));
    EXPECT_TRUE(DecodeDagCbor(deep.substr(1)));
}

TEST(DagCbor, SizeLimitIsEnforced) {
    std::string big = EncodeDagCbor(Value(Bytes{std::string(1000, 'x')}));
    auto rejected = DecodeDagCbor(big, CborLimits{.max_input_bytes = 999});
    ASSERT_FALSE(rejected);
    EXPECT_EQ(rejected.error().code, ErrorCode::kTooLarge);
    std::size_t consumed = 0;
    auto prefix = DecodeDagCborPrefix(big, consumed, CborLimits{.max_input_bytes = 999});
    ASSERT_FALSE(prefix);
    EXPECT_EQ(prefix.error().code, ErrorCode::kTooLarge);
    EXPECT_TRUE(DecodeDagCbor(big, CborLimits{.max_input_bytes = 1003}));
}

TEST(DagCbor, ItemLimitIsEnforced) {
    std::string many = EncodeDagCbor(Value(Value::Array(100, Value(1))));
    EXPECT_FALSE(DecodeDagCbor(many, CborLimits{.max_items = 50}));
    EXPECT_TRUE(DecodeDagCbor(many, CborLimits{.max_items = 101}));
}

TEST(DagCbor, PrefixDecodeReadsTwoItemsBackToBack) {
    std::string frame = EncodeDagCbor(Value(Value::Map{{"op", Value(1)}})) + EncodeDagCbor(Value("body"));
    std::size_t consumed = 0;
    auto header = DecodeDagCborPrefix(frame, consumed);
    ASSERT_TRUE(header);
    EXPECT_EQ(header->Find("op")->GetInteger(), 1);
    auto body = DecodeDagCbor(std::string_view(frame).substr(consumed));
    ASSERT_TRUE(body);
    EXPECT_EQ(body->GetString(), "body");
}

TEST(DagCbor, EncodeSortsKeysLengthFirst) {
    Value value(Value::Map{{"bb", Value(1)}, {"a", Value(2)}, {"aaa", Value(3)}, {"b", Value(4)}});
    EXPECT_EQ(core::HexEncode(EncodeDagCbor(value)), "a4616102616204626262016361616103");
}

}  // namespace
}  // namespace plyr::atproto
