// storage::repos::ArtistRepository and the session probes, on SQLite and (with PLYR_TEST_PG) PostgreSQL.
#include "storage/repos/artist_repo.hpp"

#include <gtest/gtest.h>

#include "storage/repos/auth_repos.hpp"
#include "test_db.hpp"

namespace plyr::storage::repos {
namespace {

using db::testing::BackendName;
using db::testing::BackendValues;
using db::testing::MigratedDbTest;

constexpr std::int64_t kNow = 1'700'000'000'000'000;

class ArtistRepoTest : public MigratedDbTest {};

TEST_P(ArtistRepoTest, FirstSignInCreatesTheRowLaterOnesUpdateIt) {
    ArtistRepository artists(*db_);
    auto first = artists.UpsertOnSignIn("did:plc:a", "alice.test", "https://pds.one", kNow);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_TRUE(first->created);
    EXPECT_EQ(first->artist.handle.value_or(""), "alice.test");
    EXPECT_EQ(first->artist.display_name, "alice.test");
    EXPECT_FALSE(first->artist.profile_completed);

    ASSERT_TRUE(artists.SetProfileFromBsky("did:plc:a", "Alice", std::string("https://img/a"), kNow + 1));
    auto second = artists.UpsertOnSignIn("did:plc:a", "alice2.test", "https://pds.two", kNow + 2);
    ASSERT_TRUE(second);
    EXPECT_FALSE(second->created);
    EXPECT_EQ(second->artist.handle.value_or(""), "alice2.test");
    EXPECT_EQ(second->artist.pds_url, "https://pds.two");
    EXPECT_EQ(second->artist.display_name, "Alice");  // a later sign-in keeps the profile
    EXPECT_EQ(second->artist.avatar_url.value_or(""), "https://img/a");
    EXPECT_TRUE(second->artist.display_name_from_bsky);
}

TEST_P(ArtistRepoTest, AHandleThatMovedIsClearedOnTheOldRow) {
    ArtistRepository artists(*db_);
    ASSERT_TRUE(artists.UpsertOnSignIn("did:plc:a", "shared.test", "https://pds", kNow));
    ASSERT_TRUE(artists.UpsertOnSignIn("did:plc:b", "shared.test", "https://pds", kNow + 1));
    auto a = artists.Get("did:plc:a");
    ASSERT_TRUE(a && *a);
    EXPECT_FALSE((*a)->handle.has_value());
    auto b = artists.Get("did:plc:b");
    ASSERT_TRUE(b && *b);
    EXPECT_EQ((*b)->handle.value_or(""), "shared.test");
}

TEST_P(ArtistRepoTest, UnverifiedHandlesAreStoredAsNullAndTakeNothing) {
    ArtistRepository artists(*db_);
    ASSERT_TRUE(artists.UpsertOnSignIn("did:plc:a", "handle.invalid", "https://pds", kNow));
    ASSERT_TRUE(artists.UpsertOnSignIn("did:plc:b", "handle.invalid", "https://pds", kNow));
    auto a = artists.Get("did:plc:a");
    ASSERT_TRUE(a && *a);
    EXPECT_FALSE((*a)->handle.has_value());
    EXPECT_EQ((*a)->display_name, "did:plc:a");
    auto none = artists.Get("did:plc:nobody");
    ASSERT_TRUE(none);
    EXPECT_FALSE(none->has_value());
}

TEST_P(ArtistRepoTest, ProbesSeeExpiredSessionsWithoutDecrypting) {
    auto box = *core::SecretBox::FromKeys(std::string(32, 'k'));
    SessionRepository sessions(*db_, box);
    NewSession ns;
    ns.session_id = "sid-1";
    ns.did = "did:plc:a";
    ns.group_id = "00000000-0000-4000-8000-000000000001";
    ns.oauth = "{}";
    ns.refresh_expires_at = kNow + 10;
    ns.expires_at = kNow + 10;
    ns.now = kNow;
    ASSERT_TRUE(sessions.Create(ns));
    auto probe = ProbeSession(*db_, HashToken("sid-1"));
    ASSERT_TRUE(probe && *probe);
    EXPECT_FALSE((*probe)->ExpiredAt(kNow));
    EXPECT_TRUE((*probe)->ExpiredAt(kNow + 10));
    auto missing = ProbeSession(*db_, HashToken("nope"));
    ASSERT_TRUE(missing);
    EXPECT_FALSE(missing->has_value());
    auto group = ProbeGroup(*db_, "00000000-0000-4000-8000-000000000001");
    ASSERT_TRUE(group);
    ASSERT_EQ(group->size(), 1u);
    EXPECT_EQ((*group)[0].did, "did:plc:a");
}

INSTANTIATE_TEST_SUITE_P(Backends, ArtistRepoTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::repos
