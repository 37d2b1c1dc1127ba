#include "storage/repos/play_repo.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include "track_repos_fixture.hpp"

namespace plyr::storage::repos {
namespace {

using db::testing::BackendName;
using db::testing::BackendValues;
using testing::kNow;
using testing::kSecond;

constexpr const char* kAlice = "did:plc:alice";
constexpr std::int64_t kTtl = 180 * kSecond;
constexpr const char* kListen1 = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeee1";
constexpr const char* kListen2 = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeee2";
constexpr const char* kListen3 = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeee3";

class PlayRepoTest : public testing::TrackReposTest {
  protected:
    void SetUp() override {
        TrackReposTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        AddArtist(kAlice, "alice.test");
        track_ = Reserve(MakeTrack(kAlice, 1));
    }

    Result<PlayOutcome> Play(const std::string& listener, std::int64_t now,
                             std::optional<std::string> listen_id = std::nullopt, std::int64_t track = 0) {
        PlayInput in;
        in.listener_key = listener;
        in.track_id = track ? track : track_;
        in.listen_id = std::move(listen_id);
        in.ttl_us = kTtl;
        in.now = now;
        return InWrite<PlayOutcome>([&](db::Connection& c) { return PlayRepository::RecordPlay(c, in); });
    }

    PlayOutcome MustPlay(const std::string& listener, std::int64_t now,
                         std::optional<std::string> listen_id = std::nullopt) {
        auto r = Play(listener, now, std::move(listen_id));
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : PlayOutcome{};
    }

    std::int64_t track_ = 0;
};

TEST_P(PlayRepoTest, FirstPlayCountsAndASecondPlayInsideTheWindowDoesNot) {
    auto first = MustPlay(kAlice, kNow);
    EXPECT_TRUE(first.counted);
    EXPECT_EQ(first.play_count, 1);
    auto second = MustPlay(kAlice, kNow + kTtl - 1);
    EXPECT_FALSE(second.counted);
    EXPECT_EQ(second.play_count, 1);
    EXPECT_EQ(GetTrack(track_)->play_count, 1);
}

TEST_P(PlayRepoTest, APlayAfterTheWindowExpiredCountsAgainAndRefreshesIt) {
    EXPECT_TRUE(MustPlay(kAlice, kNow).counted);
    auto later = MustPlay(kAlice, kNow + kTtl);
    EXPECT_TRUE(later.counted);
    EXPECT_EQ(later.play_count, 2);
    // The refreshed window starts at the counted play.
    EXPECT_FALSE(MustPlay(kAlice, kNow + 2 * kTtl - 1).counted);
    EXPECT_TRUE(MustPlay(kAlice, kNow + 2 * kTtl).counted);
    EXPECT_EQ(GetTrack(track_)->play_count, 3);
}

TEST_P(PlayRepoTest, ListenersAndTracksHaveSeparateWindows) {
    EXPECT_TRUE(MustPlay(kAlice, kNow).counted);
    EXPECT_TRUE(MustPlay("anon:0123456789abcdef", kNow).counted);
    auto other = Reserve(MakeTrack(kAlice, 2));
    auto r = Play(kAlice, kNow, std::nullopt, other);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_TRUE(r->counted);
    EXPECT_EQ(r->play_count, 1);
    EXPECT_EQ(GetTrack(track_)->play_count, 2);
}

TEST_P(PlayRepoTest, AListenIdCountsAtMostOnceEvenAfterTheWindow) {
    auto first = MustPlay(kAlice, kNow, std::string(kListen1));
    EXPECT_TRUE(first.counted);
    auto retry = MustPlay(kAlice, kNow + 1, std::string(kListen1));
    EXPECT_FALSE(retry.counted);
    EXPECT_EQ(retry.play_count, 1);
    auto much_later = MustPlay(kAlice, kNow + 10 * kTtl, std::string(kListen1));
    EXPECT_FALSE(much_later.counted);
    EXPECT_EQ(much_later.play_count, 1);
    EXPECT_EQ(Count("listens WHERE counted = " + std::string(is_sqlite() ? "1" : "TRUE")), 1);
}

TEST_P(PlayRepoTest, ANewListenInsideTheWindowIsRecordedButNotCounted) {
    EXPECT_TRUE(MustPlay(kAlice, kNow, std::string(kListen1)).counted);
    EXPECT_FALSE(MustPlay(kAlice, kNow + kSecond, std::string(kListen2)).counted);
    EXPECT_EQ(Count("listens"), 2);
    EXPECT_EQ(Count("listens WHERE counted = " + std::string(is_sqlite() ? "1" : "TRUE")), 1);
    // Its retry after the window stays uncounted: only a listen's first call may count.
    EXPECT_FALSE(MustPlay(kAlice, kNow + 2 * kTtl, std::string(kListen2)).counted);
    EXPECT_TRUE(MustPlay(kAlice, kNow + 2 * kTtl, std::string(kListen3)).counted);
    EXPECT_EQ(GetTrack(track_)->play_count, 2);
}

TEST_P(PlayRepoTest, ConcurrentPlaysOfOneListenerCountOnce) {
    constexpr int kThreads = 4;
    std::barrier start(kThreads);
    std::atomic<int> counted{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&] {
            start.arrive_and_wait();
            PlayInput in;
            in.listener_key = kAlice;
            in.track_id = track_;
            in.ttl_us = kTtl;
            in.now = kNow;
            auto r = db_->WriteValue<PlayOutcome>([&](db::Connection& c) { return PlayRepository::RecordPlay(c, in); });
            if (!r) {
                ++failures;
            } else if (r->counted) {
                ++counted;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(counted.load(), 1);
    EXPECT_EQ(GetTrack(track_)->play_count, 1);
}

TEST_P(PlayRepoTest, PlayOfAnUnknownTrackIsNotFoundAndWritesNothing) {
    auto r = Play(kAlice, kNow, std::string(kListen1), 424242);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(Count("listens"), 0);
    EXPECT_EQ(Count("play_dedupe"), 0);
}

TEST_P(PlayRepoTest, AMalformedListenIdIsAnInvalidArgument) {
    auto r = Play(kAlice, kNow, std::string("listen-1"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(GetTrack(track_)->play_count, 0);
}

TEST_P(PlayRepoTest, MarkScrobbledSucceedsOncePerListen) {
    MustPlay(kAlice, kNow, std::string(kListen1));
    auto mark = [&](const std::string& id) {
        auto r = InWrite<bool>([&](db::Connection& c) { return PlayRepository::MarkScrobbled(c, id); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r && *r;
    };
    EXPECT_TRUE(mark(kListen1));
    EXPECT_FALSE(mark(kListen1));
    EXPECT_FALSE(mark(kListen2));
    EXPECT_FALSE(mark("garbage"));
}

TEST_P(PlayRepoTest, PurgeExpiredDropsOldWindowsAndListensOnly) {
    MustPlay(kAlice, kNow, std::string(kListen1));
    MustPlay("anon:x", kNow + kTtl, std::string(kListen2));
    auto purge = [&](std::int64_t now) {
        auto r = InWrite<PurgeCounts>([&](db::Connection& c) { return PlayRepository::PurgeExpired(c, now); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : PurgeCounts{-1, -1};
    };
    auto first = purge(kNow + kTtl);  // only the first window has expired
    EXPECT_EQ(first.dedupe_rows, 1);
    EXPECT_EQ(first.listens, 0);
    EXPECT_EQ(Count("play_dedupe"), 1);

    auto later = purge(kNow + kListenRetentionUs + 1);
    EXPECT_EQ(later.dedupe_rows, 1);
    EXPECT_EQ(later.listens, 1);
    EXPECT_EQ(Count("listens"), 1);
    // Purged listen ids would count again; that is why retention (48 h) outlives any client retry queue.
}

INSTANTIATE_TEST_SUITE_P(Backends, PlayRepoTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::repos
