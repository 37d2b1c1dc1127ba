#include "http/uri.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

TEST(Uri, PercentDecodeHandlesEscapesAndRejectsBadOnes) {
    EXPECT_EQ(PercentDecode("a%20b%2F%2e"), "a b/.");
    EXPECT_EQ(PercentDecode("a+b"), "a+b");
    EXPECT_EQ(PercentDecode("a+b", true), "a b");
    EXPECT_EQ(PercentDecode("%00"), std::string(1, '\0'));
    EXPECT_FALSE(PercentDecode("%"));
    EXPECT_FALSE(PercentDecode("%4"));
    EXPECT_FALSE(PercentDecode("%zz"));
    EXPECT_FALSE(PercentDecode("abc%"));
}

TEST(Uri, SplitTargetSeparatesQuery) {
    EXPECT_EQ(SplitTarget("/a/b?x=1&y"), (std::pair<std::string_view, std::string_view>{"/a/b", "x=1&y"}));
    EXPECT_EQ(SplitTarget("/a"), (std::pair<std::string_view, std::string_view>{"/a", ""}));
}

TEST(Uri, ParseQueryDecodesPairsAndKeepsMalformedOnesRaw) {
    auto q = ParseQuery("q=hello+world&limit=10&flag&&x=%zz&e=%C3%A9");
    ASSERT_EQ(q.size(), 5u);
    EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"q", "hello world"}));
    EXPECT_EQ(q[1], (std::pair<std::string, std::string>{"limit", "10"}));
    EXPECT_EQ(q[2], (std::pair<std::string, std::string>{"flag", ""}));
    EXPECT_EQ(q[3], (std::pair<std::string, std::string>{"x", "%zz"}));
    EXPECT_EQ(q[4].second, "\xC3\xA9");
}

TEST(Uri, SplitPathKeepsEmptySegments) {
    EXPECT_EQ(SplitPath("/"), (std::vector<std::string_view>{""}));
    EXPECT_EQ(SplitPath("/a/b/"), (std::vector<std::string_view>{"a", "b", ""}));
    EXPECT_EQ(SplitPath("/a//b"), (std::vector<std::string_view>{"a", "", "b"}));
}

}  // namespace
}  // namespace plyr::http
