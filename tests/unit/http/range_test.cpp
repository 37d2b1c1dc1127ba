#include "http/range.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

struct RangeCase {
    const char* header;  // nullptr = absent
    std::uint64_t size;
    RangeKind kind;
    std::uint64_t first = 0;
    std::uint64_t length = 0;
};

class ParseRangeTable : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ParseRangeTable, ClassifiesHeader) {
    const RangeCase& c = GetParam();
    std::optional<std::string_view> header;
    if (c.header != nullptr) header = c.header;
    RangeResult result = ParseRange(header, c.size);
    EXPECT_EQ(result.kind, c.kind) << (c.header ? c.header : "(absent)");
    if (c.kind == RangeKind::kSatisfiable) {
        EXPECT_EQ(result.first, c.first) << c.header;
        EXPECT_EQ(result.length, c.length) << c.header;
    }
}

constexpr std::uint64_t k5MB = 5242880;

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseRangeTable,
    ::testing::Values(
        // absent
        RangeCase{nullptr, 100, RangeKind::kIgnore},
        // bytes=a-b, clamped end
        RangeCase{"bytes=10-19", 100, RangeKind::kSatisfiable, 10, 10},
        RangeCase{"bytes=0-0", 100, RangeKind::kSatisfiable, 0, 1},
        RangeCase{"bytes=90-1000", 100, RangeKind::kSatisfiable, 90, 10},
        RangeCase{"bytes=99-99", 100, RangeKind::kSatisfiable, 99, 1},
        RangeCase{"Bytes=1-2", 100, RangeKind::kSatisfiable, 1, 2},
        RangeCase{"bytes=0-99999999999999999999999", 100, RangeKind::kSatisfiable, 0, 100},
        // bytes=a-
        RangeCase{"bytes=10-", 100, RangeKind::kSatisfiable, 10, 90},
        RangeCase{"bytes=0-", 100, RangeKind::kSatisfiable, 0, 100},
        // bytes=-n
        RangeCase{"bytes=-10", 100, RangeKind::kSatisfiable, 90, 10},
        RangeCase{"bytes=-100", 100, RangeKind::kSatisfiable, 0, 100},
        RangeCase{"bytes=-5000", 100, RangeKind::kSatisfiable, 0, 100},
        RangeCase{"bytes=-99999999999999999999999", 100, RangeKind::kSatisfiable, 0, 100},
        // unsatisfiable (product §9 row 28)
        RangeCase{"bytes=999999999-", k5MB, RangeKind::kUnsatisfiable},
        RangeCase{"bytes=-0", k5MB, RangeKind::kUnsatisfiable}, RangeCase{"bytes=100-", 100, RangeKind::kUnsatisfiable},
        RangeCase{"bytes=100-200", 100, RangeKind::kUnsatisfiable},
        RangeCase{"bytes=99999999999999999999999-", 100, RangeKind::kUnsatisfiable},
        RangeCase{"bytes=0-", 0, RangeKind::kUnsatisfiable}, RangeCase{"bytes=-1", 0, RangeKind::kUnsatisfiable},
        // malformed or multi-range: ignored (product §9 row 29)
        RangeCase{"bytes=abc", 100, RangeKind::kIgnore}, RangeCase{"items=0-5", 100, RangeKind::kIgnore},
        RangeCase{"bytes=9-3", 100, RangeKind::kIgnore}, RangeCase{"bytes=0-1,5-6", 100, RangeKind::kIgnore},
        RangeCase{"bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15", 100, RangeKind::kIgnore},
        RangeCase{"bytes=", 100, RangeKind::kIgnore}, RangeCase{"bytes=-", 100, RangeKind::kIgnore},
        RangeCase{"bytes=1", 100, RangeKind::kIgnore}, RangeCase{"bytes=--1", 100, RangeKind::kIgnore},
        RangeCase{"bytes=1-2-3", 100, RangeKind::kIgnore}, RangeCase{"bytes=+1-2", 100, RangeKind::kIgnore},
        RangeCase{"bytes=0x10-20", 100, RangeKind::kIgnore}, RangeCase{"bytes 0-5", 100, RangeKind::kIgnore},
        RangeCase{"", 100, RangeKind::kIgnore}));

TEST(ParseRange, FiveHundredCommaSeparatedRangesAreIgnored) {
    std::string header = "bytes=";
    for (int i = 0; i < 500; ++i) header += (i ? "," : "") + std::to_string(i) + "-" + std::to_string(i);
    EXPECT_EQ(ParseRange(header, 1000).kind, RangeKind::kIgnore);
}

TEST(ParseRange, LastIsInclusiveEnd) {
    RangeResult r = ParseRange("bytes=10-19", 100);
    EXPECT_EQ(r.last(), 19u);
}

}  // namespace
}  // namespace plyr::http
