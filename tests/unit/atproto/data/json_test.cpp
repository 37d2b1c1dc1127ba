#include "atproto/data/json.hpp"

#include <gtest/gtest.h>

namespace plyr::atproto {
namespace {

const char* kCid = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";

TEST(JsonValue, LinkBytesAndBlobBecomeTheirKinds) {
    auto value = ValueFromJsonText(std::string(R"({"l":{"$link":")") + kCid + R"("},"b":{"$bytes":"aGVsbG8"},)" +
                                   R"("blob":{"$type":"blob","ref":{"$link":")" + kCid +
                                   R"("},"mimeType":"audio/mpeg","size":5}})");
    ASSERT_TRUE(value) << value.error().ToString();
    ASSERT_TRUE(value->Find("l")->IsLink());
    EXPECT_EQ(value->Find("l")->GetLink().ToString(), kCid);
    ASSERT_TRUE(value->Find("b")->IsBytes());
    EXPECT_EQ(value->Find("b")->GetBytes().data, "hello");
    ASSERT_TRUE(value->Find("blob")->IsBlob());
    EXPECT_EQ(value->Find("blob")->GetBlob().size, 5);
    EXPECT_EQ(value->Find("blob")->GetBlob().mime_type, "audio/mpeg");
}

TEST(JsonValue, BytesAcceptPaddedAndEmitUnpadded) {
    auto padded = ValueFromJsonText(R"({"$bytes":"aGVsbG8="})");
    ASSERT_TRUE(padded);
    EXPECT_EQ(padded->GetBytes().data, "hello");
    EXPECT_EQ(ValueToJsonText(*padded), R"({"$bytes":"aGVsbG8"})");
    auto empty = ValueFromJsonText(R"({"$bytes":""})");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->GetBytes().data.empty());
}

TEST(JsonValue, RejectsMalformedBytes) {
    // Non-zero spare bits in the last character are ignored (as the references do); output is canonical.
    auto spare = ValueFromJsonText(R"({"$bytes":"aGVsbG9"})");
    ASSERT_TRUE(spare);
    EXPECT_EQ(ValueToJsonText(*spare), R"({"$bytes":"aGVsbG8"})");
    auto interop = ValueFromJsonText(R"({"$bytes":"123"})");
    ASSERT_TRUE(interop);
    EXPECT_EQ(ValueToJsonText(*interop), R"({"$bytes":"120"})");
    EXPECT_FALSE(ValueFromJsonText(R"({"$bytes":"aGVsbG8=="})"));  // wrong padding
    EXPECT_FALSE(ValueFromJsonText(R"({"$bytes":"a"})"));          // impossible length
    EXPECT_FALSE(ValueFromJsonText(R"({"$bytes":"aGV sbG8"})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$bytes":"aGVsbG8_"})"));  // url alphabet
    EXPECT_FALSE(ValueFromJsonText(R"({"$bytes":null})"));
}

TEST(JsonValue, RejectsFloatsAndOutOfRangeIntegers) {
    EXPECT_FALSE(ValueFromJsonText(R"({"a":1.5})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"a":1e300})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"a":9223372036854775808})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"a":-9223372036854775809})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"a":18446744073709551616})"));
    auto max = ValueFromJsonText(R"({"a":9223372036854775807,"b":-9223372036854775808})");
    ASSERT_TRUE(max);
    EXPECT_EQ(max->Find("a")->GetInteger(), INT64_MAX);
    EXPECT_EQ(max->Find("b")->GetInteger(), INT64_MIN);
}

TEST(JsonValue, RejectsBadTypeAndBlobShapes) {
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":""})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":null})"));
    std::string link = std::string(R"({"$link":")") + kCid + R"("})";
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":"blob","ref":)" + link + R"(,"mimeType":"a/b","size":-1})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":"blob","ref":)" + link + R"(,"mimeType":"","size":1})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":"blob","ref":"x","mimeType":"a/b","size":1})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$type":"blob","ref":)" + link + R"(,"mimeType":"a/b","size":1,"x":1})"));
    EXPECT_TRUE(ValueFromJsonText(R"({"$type":"blob","ref":)" + link + R"(,"mimeType":"a/b","size":0})"));
}

TEST(JsonValue, LegacyBlobStaysAPlainMap) {
    auto value = ValueFromJsonText(std::string(R"({"cid":")") + kCid + R"(","mimeType":"image/png"})");
    ASSERT_TRUE(value);
    EXPECT_TRUE(value->IsMap());
}

TEST(JsonValue, RejectsLinksWithExtraKeysOrBadCids) {
    EXPECT_FALSE(ValueFromJsonText(R"({"$link":"."})"));
    EXPECT_FALSE(ValueFromJsonText(R"({"$link":"QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"})"));
    EXPECT_FALSE(ValueFromJsonText(std::string(R"({"$link":")") + kCid + R"(","x":1})"));
}

TEST(JsonValue, RejectsInvalidJsonText) {
    EXPECT_FALSE(ValueFromJsonText(R"({"a":1,})"));
    EXPECT_FALSE(ValueFromJsonText("{\"a\":\"\xff\"}"));
    EXPECT_FALSE(ValueFromJsonText(R"({"a":1} x)"));
    EXPECT_FALSE(ValueFromJsonText(""));
}

TEST(JsonValue, RejectsLoneSurrogateEscapes) {
    EXPECT_FALSE(ValueFromJsonText(R"({"a":"\ud800"})"));
    auto pair = ValueFromJsonText(R"({"a":"\ud83d\ude00"})");
    ASSERT_TRUE(pair);
    EXPECT_EQ(pair->Find("a")->GetString(), "\xf0\x9f\x98\x80");
}

// Same as JSON.parse in the TS reference: Boost.JSON keeps the last duplicate; documented in docs/atproto-data.md.
TEST(JsonValue, DuplicateKeysKeepTheLastValue) {
    auto value = ValueFromJsonText(R"({"a":1,"a":2})");
    ASSERT_TRUE(value);
    EXPECT_EQ(value->GetMap().size(), 1u);
    EXPECT_EQ(value->Find("a")->GetInteger(), 2);
}

TEST(JsonValue, DepthLimitApplies) {
    std::string deep;
    for (int i = 0; i < 70; ++i) deep += "[";
    for (int i = 0; i < 70; ++i) deep += "]";
    auto rejected = ValueFromJsonText(deep);
    ASSERT_FALSE(rejected);
    EXPECT_TRUE(ValueFromJsonText(deep, JsonLimits{.max_depth = 100}));
    std::string ok;
    for (int i = 0; i < 64; ++i) ok += "[";
    for (int i = 0; i < 64; ++i) ok += "]";
    EXPECT_TRUE(ValueFromJsonText(ok));
}

TEST(JsonValue, ToJsonRoundTripsEveryKind) {
    Value value(Value::Map{
        {"n", Value()},
        {"t", Value(true)},
        {"i", Value(-42)},
        {"s", Value("é")},
        {"b", Value(Bytes{std::string("\x00\xff", 2)})},
        {"l", Value(CidForDagCbor("x"))},
        {"a", Value(Value::Array{Value(1), Value("two")})},
        {"blob", Value(BlobRef{CidForRaw("x"), "audio/flac", 1})},
    });
    auto back = ValueFromJsonText(ValueToJsonText(value));
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, value);
}

TEST(JsonValue, RecordShapeNeedsMapWithType) {
    EXPECT_TRUE(ValidateRecordShape(Value(Value::Map{{"$type", Value("fm.plyr.track")}})));
    EXPECT_FALSE(ValidateRecordShape(Value(Value::Map{{"a", Value(1)}})));
    EXPECT_FALSE(ValidateRecordShape(Value("x")));
}

}  // namespace
}  // namespace plyr::atproto
