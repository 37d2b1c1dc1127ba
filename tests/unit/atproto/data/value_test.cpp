#include "atproto/data/value.hpp"

#include <gtest/gtest.h>

namespace plyr::atproto {
namespace {

TEST(Value, DefaultIsNullAndKindsAreDistinct) {
    Value v;
    EXPECT_TRUE(v.IsNull());
    EXPECT_EQ(Value(true).kind(), Value::Kind::kBool);
    EXPECT_EQ(Value(7).kind(), Value::Kind::kInteger);
    EXPECT_EQ(Value("x").kind(), Value::Kind::kString);
    EXPECT_EQ(Value(Bytes{"x"}).kind(), Value::Kind::kBytes);
    EXPECT_NE(Value("x"), Value(Bytes{"x"}));
    EXPECT_NE(Value(0), Value(false));
    EXPECT_NE(Value(), Value(Value::Map{}));
}

TEST(Value, AccessorsReturnNullptrForOtherKinds) {
    Value v(std::int64_t{42});
    ASSERT_NE(v.AsInteger(), nullptr);
    EXPECT_EQ(*v.AsInteger(), 42);
    EXPECT_EQ(v.AsString(), nullptr);
    EXPECT_EQ(v.AsMap(), nullptr);
    EXPECT_EQ(v.Find("a"), nullptr);
}

TEST(Value, MapKeysIterateInCanonicalDagCborOrder) {
    Value::Map map;
    for (const char* key : {"$type", "aaa", "bb", "ab", "b", "a", "Z"}) map.emplace(key, Value(1));
    std::vector<std::string> keys;
    for (const auto& [key, value] : map) keys.push_back(key);
    EXPECT_EQ(keys, (std::vector<std::string>{"Z", "a", "b", "ab", "bb", "aaa", "$type"}));
}

TEST(Value, MapKeyOrderComparesBytesUnsigned) {
    MapKeyLess less;
    EXPECT_TRUE(less("a", "\xc3\xa9"));  // shorter first
    EXPECT_TRUE(less("z", "\xff"));      // 0x7a < 0xff as unsigned bytes
}

TEST(Value, FindDistinguishesAbsentFromNull) {
    Value v(Value::Map{{"present", Value()}, {"$type", Value("app.bsky.feed.post")}});
    ASSERT_NE(v.Find("present"), nullptr);
    EXPECT_TRUE(v.Find("present")->IsNull());
    EXPECT_EQ(v.Find("absent"), nullptr);
    ASSERT_NE(v.Type(), nullptr);
    EXPECT_EQ(*v.Type(), "app.bsky.feed.post");
}

TEST(Value, MoveLeavesSourceCheapAndTargetEqual) {
    Value::Array items;
    for (int i = 0; i < 100; ++i) items.emplace_back(i);
    Value original(std::move(items));
    Value copy = original;
    Value moved = std::move(original);
    EXPECT_EQ(moved, copy);
    EXPECT_EQ(moved.GetArray().size(), 100u);
}

TEST(Value, NestedValuesCompareDeeply) {
    auto make = [](int leaf) {
        return Value(Value::Map{{"list", Value(Value::Array{Value(leaf), Value(Value::Map{{"k", Value("v")}})})}});
    };
    EXPECT_EQ(make(1), make(1));
    EXPECT_NE(make(1), make(2));
}

TEST(Value, BlobRefIsItsOwnKind) {
    BlobRef blob{CidForRaw("hello world"), "audio/mpeg", 11};
    Value v(blob);
    ASSERT_TRUE(v.IsBlob());
    EXPECT_EQ(v.GetBlob().mime_type, "audio/mpeg");
    EXPECT_EQ(KindName(v.kind()), "blob");
}

}  // namespace
}  // namespace plyr::atproto
