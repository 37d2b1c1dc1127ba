// TID encode/decode (atproto-generated vectors, docs/atproto.md §10.2 items 9–10) and the generator.
#include "atproto/syntax/tid.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.hpp"

namespace plyr::atproto::syntax {
namespace {

struct TidVector {
    const char* text;
    std::int64_t micros;
    std::uint32_t clock_id;
};

// From shared/testdata/atproto-generated/vectors.json → "tid" (project data).
constexpr TidVector kVectors[] = {
    {"3jzfcijpj2z2a", 1688137381887007, 6},   {"2222222222222", 0, 0},
    {"7777777777777", 5811096293381285, 165}, {"3zzzzzzzzzzzz", 2251799813685247, 1023},
    {"3mmoojp7etg2g", 1779719008856876, 12},  {"3ke6kg3wk2222", 1700000000000000, 0},
    {"3ke6kg3wk222z", 1700000000000000, 31},  {"3ke6kg3wk2322", 1700000000000001, 0},
    {"3lenax2ss22k3", 1735689600000000, 513},
};

TEST(Tid, DecodesGeneratedVectors) {
    for (const auto& v : kVectors) {
        auto tid = ParseTid(v.text);
        ASSERT_TRUE(tid) << v.text;
        EXPECT_EQ(tid->TimestampMicros(), v.micros) << v.text;
        EXPECT_EQ(tid->ClockId(), v.clock_id) << v.text;
    }
}

TEST(Tid, EncodesGeneratedVectors) {
    for (const auto& v : kVectors) {
        auto tid = Tid::FromParts(v.micros, v.clock_id);
        ASSERT_TRUE(tid) << v.text;
        EXPECT_EQ(tid->ToString(), v.text);
    }
}

TEST(Tid, FromPartsRejectsOutOfRangeParts) {
    EXPECT_FALSE(Tid::FromParts(-1, 0));
    EXPECT_FALSE(Tid::FromParts(kMaxTidMicros + 1, 0));
    EXPECT_FALSE(Tid::FromParts(0, 1024));
    EXPECT_TRUE(Tid::FromParts(kMaxTidMicros, 1023));
}

TEST(Tid, ParseRejectsLegacyDashedUppercaseAndOverflowingFirstChar) {
    for (std::string_view bad : {"3jzf-cij-pj2z-2a", "3JZFCIJPJ2Z2A", "kjzfcijpj2z2a", "zzzzzzzzzzzzz", "3jzfcijpj2z2",
                                 "3jzfcijpj2z2aa", "", "3jzfcijpj2z2 "}) {
        auto tid = ParseTid(bad);
        ASSERT_FALSE(tid) << bad;
        EXPECT_EQ(tid.error().code, ErrorCode::kInvalidArgument);
    }
    // 'j' is the largest first char: its value sets bit 63, which the syntax allows.
    auto top = ParseTid("jzzzzzzzzzzzz");
    ASSERT_TRUE(top);
    EXPECT_EQ(top->value, ~std::uint64_t{0});
    EXPECT_EQ(top->ToString(), "jzzzzzzzzzzzz");
}

TEST(TidGenerator, UsesClockMicrosAndClockId) {
    core::ManualClock clock(1700000000000000);
    TidGenerator gen(clock, 31);
    EXPECT_EQ(gen.NextString(), "3ke6kg3wk222z");
    EXPECT_EQ(gen.clock_id(), 31u);
}

TEST(TidGenerator, MasksClockIdToTenBits) {
    core::ManualClock clock(0);
    TidGenerator gen(clock, 1024 + 5);
    EXPECT_EQ(gen.clock_id(), 5u);
    EXPECT_EQ(gen.Next().ClockId(), 5u);
}

TEST(TidGenerator, StrictlyIncreasingWhenTheClockStandsStill) {
    core::ManualClock clock(1700000000000000);
    TidGenerator gen(clock, 7);
    Tid previous = gen.Next();
    for (int i = 0; i < 1000; ++i) {
        Tid next = gen.Next();
        ASSERT_GT(next, previous);
        ASSERT_GT(next.ToString(), previous.ToString());
        EXPECT_EQ(next.ClockId(), 7u);
        previous = next;
    }
    EXPECT_EQ(previous.TimestampMicros(), 1700000000001000);
}

TEST(TidGenerator, StrictlyIncreasingWhenTheClockGoesBackwards) {
    core::ManualClock clock(1700000000000000);
    TidGenerator gen(clock, 0);
    Tid first = gen.Next();
    clock.Set(1600000000000000);  // NTP step back by ~3 years
    Tid second = gen.Next();
    EXPECT_GT(second, first);
    EXPECT_EQ(second.TimestampMicros(), first.TimestampMicros() + 1);
    clock.Set(1800000000000000);  // forward again: follows the clock
    EXPECT_EQ(gen.Next().TimestampMicros(), 1800000000000000);
    clock.Set(-5);  // before the epoch
    EXPECT_EQ(gen.Next().TimestampMicros(), 1800000000000001);
}

TEST(TidGenerator, AMillionConsecutiveCallsAreIncreasingAndWellFormed) {
    core::ManualClock clock(1700000000000000);
    TidGenerator gen(clock, 513);
    std::string previous = gen.NextString();
    for (int i = 0; i < 1'000'000; ++i) {
        if (i % 3 == 0) clock.Advance(i % 7 == 0 ? -2 : 1);  // a clock that jitters both ways
        std::string next = gen.NextString();
        ASSERT_LT(previous, next);
        ASSERT_TRUE(IsValidTid(next)) << next;
        previous = std::move(next);
    }
    EXPECT_EQ(ParseTid(previous)->ClockId(), 513u);
}

TEST(TidGenerator, DistinctAcrossThreads) {
    core::ManualClock clock(1700000000000000);  // standing still: every TID comes from the bump path
    TidGenerator gen(clock, 3);
    constexpr int kThreads = 4;
    constexpr int kPerThread = 5000;
    std::vector<std::vector<Tid>> results(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            results[t].reserve(kPerThread);
            for (int i = 0; i < kPerThread; ++i) results[t].push_back(gen.Next());
        });
    }
    for (auto& thread : threads) thread.join();
    std::set<Tid> all;
    for (const auto& per_thread : results) {
        // Each thread sees its own TIDs in increasing order, too.
        EXPECT_TRUE(std::is_sorted(per_thread.begin(), per_thread.end()));
        all.insert(per_thread.begin(), per_thread.end());
    }
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(TidGenerator, WorksWithTheSystemClock) {
    core::SystemClock clock;
    TidGenerator gen(clock, RandomTidClockId());
    auto before = clock.NowMicros();
    Tid tid = gen.Next();
    EXPECT_GE(tid.TimestampMicros(), before);
    EXPECT_EQ(tid.ToString().front(), '3');  // true from 2005 until 2041-05-10
}

TEST(Tid, RandomClockIdIsInRange) {
    for (int i = 0; i < 100; ++i) EXPECT_LE(RandomTidClockId(), kMaxTidClockId);
}

}  // namespace
}  // namespace plyr::atproto::syntax
