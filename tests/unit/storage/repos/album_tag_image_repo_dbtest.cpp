#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "storage/repos/album_repo.hpp"
#include "storage/repos/image_repo.hpp"
#include "storage/repos/tag_repo.hpp"
#include "track_repos_fixture.hpp"

namespace plyr::storage::repos {
namespace {

using db::testing::BackendName;
using db::testing::BackendValues;
using testing::kNow;
using testing::kSecond;

constexpr const char* kAlice = "did:plc:alice";
constexpr const char* kBob = "did:plc:bob";

// ---- slugs (pure) ----

TEST(AlbumSlugTest, KeepsLowercaseAsciiAlphanumericsAndJoinsOtherRunsWithOneDash) {
    EXPECT_EQ(AlbumSlug("The Album!"), "the-album");
    EXPECT_EQ(AlbumSlug("  Hello,   World -- 2024 "), "hello-world-2024");
    EXPECT_EQ(AlbumSlug("Ça va? Déjà vu"), "a-va-d-j-vu");
    EXPECT_EQ(AlbumSlug("UPPER_case"), "upper-case");
}

TEST(AlbumSlugTest, FallsBackToAlbumWhenNothingIsLeft) {
    EXPECT_EQ(AlbumSlug(""), "album");
    EXPECT_EQ(AlbumSlug("!!! ???"), "album");
    EXPECT_EQ(AlbumSlug("日本語"), "album");
}

TEST(AlbumSlugTest, IsCutToSixtyFourCharactersWithoutATrailingDash) {
    std::string title(63, 'a');
    title += " bcd";
    auto slug = AlbumSlug(title);
    EXPECT_EQ(slug, std::string(63, 'a'));
    EXPECT_EQ(AlbumSlug(std::string(100, 'x')).size(), 64u);
}

class AlbumRepoTest : public testing::TrackReposTest {
  protected:
    void SetUp() override {
        TrackReposTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        AddArtist(kAlice, "alice.test");
        AddArtist(kBob, "bob.test");
    }
    AlbumUpsert Upsert(const std::string& did, const std::string& title, std::int64_t now = kNow) {
        auto a = InWrite<AlbumUpsert>([&](db::Connection& c) {
            return AlbumRepository::GetOrCreateForArtist(c, did, title, "3kalbumrkey22", now);
        });
        EXPECT_TRUE(a) << a.error().ToString();
        return a ? std::move(*a) : AlbumUpsert{};
    }
};

TEST_P(AlbumRepoTest, CreatesAnAlbumOnceAndReturnsItForTheSameTitle) {
    auto first = Upsert(kAlice, "Night Drive");
    EXPECT_TRUE(first.created);
    EXPECT_EQ(first.album.slug, "night-drive");
    EXPECT_EQ(first.album.title, "Night Drive");
    EXPECT_EQ(first.album.artist_did, kAlice);
    EXPECT_EQ(first.album.atproto_rkey, "3kalbumrkey22");
    EXPECT_EQ(first.album.id.size(), 36u);
    EXPECT_EQ(first.album.created_at, kNow);

    auto again = Upsert(kAlice, "Night Drive", kNow + kSecond);
    EXPECT_FALSE(again.created);
    EXPECT_EQ(again.album.id, first.album.id);
    EXPECT_EQ(again.album.created_at, kNow);
    EXPECT_EQ(Count("albums"), 1);
}

TEST_P(AlbumRepoTest, ADifferentTitleWithTheSameSlugGetsANumberedSlug) {
    auto a = Upsert(kAlice, "Night Drive");
    auto b = Upsert(kAlice, "night drive!");
    auto c = Upsert(kAlice, "NIGHT-DRIVE");
    EXPECT_TRUE(b.created);
    EXPECT_TRUE(c.created);
    EXPECT_EQ(a.album.slug, "night-drive");
    EXPECT_EQ(b.album.slug, "night-drive-2");
    EXPECT_EQ(c.album.slug, "night-drive-3");
    EXPECT_EQ(Upsert(kAlice, "night drive!").album.id, b.album.id);
    // Slugs are unique per artist only.
    auto bob = Upsert(kBob, "Night Drive");
    EXPECT_TRUE(bob.created);
    EXPECT_EQ(bob.album.slug, "night-drive");
}

TEST_P(AlbumRepoTest, NumberedSlugsStayWithinSixtyFourCharacters) {
    const std::string long_title(80, 'z');
    auto a = Upsert(kAlice, long_title);
    auto b = Upsert(kAlice, long_title + "!");
    EXPECT_EQ(a.album.slug, std::string(64, 'z'));
    EXPECT_EQ(b.album.slug, std::string(62, 'z') + "-2");
}

TEST_P(AlbumRepoTest, GetAndGetOwnedFindTheAlbumOnlyForItsArtist) {
    auto a = Upsert(kAlice, "Mine");
    auto get = [&](const std::string& id) {
        auto r = InRead<std::optional<Album>>([&](db::Connection& c) { return AlbumRepository::Get(c, id); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::nullopt;
    };
    auto owned = [&](const std::string& id, const std::string& did) {
        auto r = InRead<std::optional<Album>>([&](db::Connection& c) { return AlbumRepository::GetOwned(c, id, did); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::nullopt;
    };
    ASSERT_TRUE(get(a.album.id));
    EXPECT_EQ(get(a.album.id)->title, "Mine");
    EXPECT_FALSE(get("not-a-uuid"));
    EXPECT_FALSE(get("11111111-2222-4333-8444-555555555555"));
    EXPECT_TRUE(owned(a.album.id, kAlice));
    EXPECT_FALSE(owned(a.album.id, kBob));
    EXPECT_FALSE(owned("'; DROP TABLE albums; --", kAlice));
}

TEST_P(AlbumRepoTest, NextPositionIsZeroForAnEmptyAlbumThenLastPlusOne) {
    auto a = Upsert(kAlice, "Positions");
    auto next = [&] {
        auto r = InWrite<std::int64_t>([&](db::Connection& c) { return AlbumRepository::NextPosition(c, a.album.id); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : -1;
    };
    EXPECT_EQ(next(), 0);
    NewTrack t = MakeTrack(kAlice, 1);
    t.album_id = a.album.id;
    t.album_position = 0;
    Reserve(t);
    EXPECT_EQ(next(), 1);
    NewTrack u = MakeTrack(kAlice, 2);
    u.album_id = a.album.id;
    u.album_position = 5;
    Reserve(u);
    EXPECT_EQ(next(), 6);
    auto bad = InWrite<std::int64_t>([&](db::Connection& c) { return AlbumRepository::NextPosition(c, "x"); });
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Backends, AlbumRepoTest, BackendValues(), BackendName);

// ---- tags ----

class TagRepoTest : public AlbumRepoTest {
  protected:
    Status Set(std::int64_t id, std::vector<std::string> names, const std::string& creator = kAlice,
               std::int64_t now = kNow) {
        return Write([&](db::Connection& c) { return TagRepository::SetTrackTags(c, id, names, creator, now); });
    }
    std::unordered_map<std::int64_t, std::vector<std::string>> TagsOf(std::vector<std::int64_t> ids) {
        auto r = InRead<std::unordered_map<std::int64_t, std::vector<std::string>>>(
            [&](db::Connection& c) { return TagRepository::TagsForTracks(c, ids); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? std::move(*r) : std::unordered_map<std::int64_t, std::vector<std::string>>{};
    }
};

TEST_P(TagRepoTest, SetTrackTagsReplacesTheSetAndReusesTagsByName) {
    auto t1 = Reserve(MakeTrack(kAlice, 1));
    auto t2 = Reserve(MakeTrack(kBob, 2));
    ASSERT_TRUE(Set(t1, {"rock", "indie", "rock"}));
    ASSERT_TRUE(Set(t2, {"indie"}, kBob, kNow + kSecond));
    auto tags = TagsOf({t1, t2});
    EXPECT_EQ(tags[t1], (std::vector<std::string>{"indie", "rock"}));
    EXPECT_EQ(tags[t2], (std::vector<std::string>{"indie"}));
    EXPECT_EQ(Count("tags"), 2);
    // The first creator stays.
    EXPECT_EQ(Count("tags WHERE name = 'indie' AND created_by_did = 'did:plc:alice'"), 1);

    ASSERT_TRUE(Set(t1, {"indie", "shoegaze"}));
    tags = TagsOf({t1, t2});
    EXPECT_EQ(tags[t1], (std::vector<std::string>{"indie", "shoegaze"}));
    EXPECT_EQ(tags[t2], (std::vector<std::string>{"indie"}));
    EXPECT_EQ(Count("tags"), 3);  // "rock" is kept without tracks

    ASSERT_TRUE(Set(t1, {}));
    tags = TagsOf({t1, t2});
    EXPECT_EQ(tags.count(t1), 0u);
    EXPECT_EQ(tags[t2], (std::vector<std::string>{"indie"}));
}

TEST_P(TagRepoTest, TagsOfAMissingTrackAreAConflictAndNothingIsLinked) {
    auto st = Set(987654, {"ghost"});
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kConflict);
    EXPECT_EQ(Count("track_tags"), 0);
}

TEST_P(TagRepoTest, TagsForNoTracksIsEmpty) { EXPECT_TRUE(TagsOf({}).empty()); }

INSTANTIATE_TEST_SUITE_P(Backends, TagRepoTest, BackendValues(), BackendName);

// ---- images ----

class ImageRepoTest : public testing::TrackReposTest {};

TEST_P(ImageRepoTest, InsertIsIdempotentOnImageIdAndGetReadsItBack) {
    ImageRow row{HexId(0xabc), "jpg", 3000, 2000, 123456, kAlice, kNow};
    auto inserted = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Insert(c, row); });
    ASSERT_TRUE(inserted) << inserted.error().ToString();
    EXPECT_TRUE(*inserted);

    ImageRow other = row;
    other.owner_did = kBob;
    other.created_at = kNow + kSecond;
    auto again = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Insert(c, other); });
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_FALSE(*again);

    auto got =
        InRead<std::optional<ImageRow>>([&](db::Connection& c) { return ImageRepository::Get(c, row.image_id); });
    ASSERT_TRUE(got) << got.error().ToString();
    ASSERT_TRUE(*got);
    EXPECT_EQ(**got, row);

    auto missing =
        InRead<std::optional<ImageRow>>([&](db::Connection& c) { return ImageRepository::Get(c, HexId(1)); });
    ASSERT_TRUE(missing);
    EXPECT_FALSE(*missing);
}

TEST_P(ImageRepoTest, InsertRefusesRowsTheTableForbidsAndDeleteRemoves) {
    ImageRow bad{"short", "jpg", 1, 1, 1, kAlice, kNow};
    auto r = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Insert(c, bad); });
    EXPECT_FALSE(r);
    ImageRow gif{HexId(2), "gif", 1, 1, 1, kAlice, kNow};
    r = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Insert(c, gif); });
    EXPECT_FALSE(r);
    EXPECT_EQ(Count("images"), 0);

    ImageRow ok{HexId(3), "webp", 1, 1, 1, kAlice, kNow};
    ASSERT_TRUE(InWrite<bool>([&](db::Connection& c) { return ImageRepository::Insert(c, ok); }));
    auto deleted = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Delete(c, ok.image_id); });
    ASSERT_TRUE(deleted);
    EXPECT_TRUE(*deleted);
    deleted = InWrite<bool>([&](db::Connection& c) { return ImageRepository::Delete(c, ok.image_id); });
    ASSERT_TRUE(deleted);
    EXPECT_FALSE(*deleted);
}

INSTANTIATE_TEST_SUITE_P(Backends, ImageRepoTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::repos
