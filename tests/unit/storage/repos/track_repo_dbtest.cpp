#include "storage/repos/track_repo.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <atomic>
#include <barrier>
#include <set>
#include <string>
#include <thread>
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
constexpr const char* kJob = "0b6f3f0e-6c1a-4b8e-9d2e-1f2a3b4c5d6e";

class TrackRepoTest : public testing::TrackReposTest {
  protected:
    void SetUp() override {
        TrackReposTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        AddArtist(kAlice, "alice.test");
        AddArtist(kBob, "bob.test");
    }

    FeedPage Feed(const FeedQuery& q) {
        auto r = InRead<FeedPage>([&](db::Connection& c) { return TrackRepository::ListFeed(c, q); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? std::move(*r) : FeedPage{};
    }

    static std::vector<std::int64_t> Ids(const std::vector<TrackRow>& rows) {
        std::vector<std::int64_t> ids;
        for (const auto& r : rows) ids.push_back(r.id);
        return ids;
    }

    void SetTags(std::int64_t id, std::vector<std::string> names) {
        auto st = Write([&](db::Connection& c) { return TagRepository::SetTrackTags(c, id, names, kAlice, kNow); });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    std::string MakeAlbum(const std::string& did, const std::string& title) {
        auto a = InWrite<AlbumUpsert>([&](db::Connection& c) {
            return AlbumRepository::GetOrCreateForArtist(c, did, title, "3kalbumrkey22", kNow);
        });
        EXPECT_TRUE(a) << a.error().ToString();
        return a ? a->album.id : std::string();
    }
};

// ---- reserve and reads ----

TEST_P(TrackRepoTest, ReserveStoresEveryColumnAsPendingAndGetReadsItBack) {
    auto album = MakeAlbum(kAlice, "First Album");
    NewTrack t = MakeTrack(kAlice, 1);
    t.description = "liner notes";
    t.original_file_id = testing::TrackReposTest::HexId(0xabc);
    t.original_file_type = "aiff";
    t.loudness_lufs = -14.25;
    t.true_peak_dbtp = -1.5;
    t.album_id = album;
    t.album_position = 0;
    t.features = boost::json::parse(R"([{"did":"did:plc:bob"},{"did":"did:plc:carol"}])").as_array();
    t.image_id = testing::TrackReposTest::HexId(0xfeed);
    t.visibility = Visibility::kSupporters;
    t.support_gate = boost::json::parse(R"({"type":"any"})");
    t.record_extra = boost::json::parse(R"({"zeta":1,"audioBlob":{"ref":"x","size":3}})").as_object();
    t.upload_job_id = kJob;
    auto id = Reserve(t);
    ASSERT_GT(id, 0);

    auto row = GetTrack(id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->id, id);
    EXPECT_EQ(row->artist_did, kAlice);
    EXPECT_EQ(row->title, "Track 1");
    EXPECT_EQ(row->description, std::optional<std::string>("liner notes"));
    EXPECT_EQ(row->file_id, t.file_id);
    EXPECT_EQ(row->file_type, "mp3");
    EXPECT_EQ(row->original_file_id, t.original_file_id);
    EXPECT_EQ(row->original_file_type, std::optional<std::string>("aiff"));
    EXPECT_EQ(row->file_size, 1001);
    EXPECT_EQ(row->codec, "mp3");
    EXPECT_EQ(row->sample_rate, 44100);
    EXPECT_EQ(row->channels, 2);
    EXPECT_EQ(row->duration_ms, std::optional<std::int64_t>(180000));
    EXPECT_EQ(row->loudness_lufs, std::optional<double>(-14.25));
    EXPECT_EQ(row->true_peak_dbtp, std::optional<double>(-1.5));
    EXPECT_EQ(row->album_id, std::optional<std::string>(album));
    EXPECT_EQ(row->album_position, std::optional<std::int64_t>(0));
    EXPECT_EQ(row->features, t.features);
    EXPECT_EQ(row->image_id, t.image_id);
    EXPECT_EQ(row->visibility, Visibility::kSupporters);
    EXPECT_EQ(row->support_gate, t.support_gate);
    EXPECT_EQ(row->atproto_rkey, t.atproto_rkey);
    EXPECT_FALSE(row->atproto_record_uri);
    EXPECT_FALSE(row->atproto_record_cid);
    EXPECT_EQ(row->record_extra, t.record_extra);
    EXPECT_EQ(row->publish_state, PublishState::kPending);
    EXPECT_EQ(row->upload_job_id, std::optional<std::string>(kJob));
    EXPECT_EQ(row->play_count, 0);
    EXPECT_EQ(row->like_count, 0);
    EXPECT_EQ(row->comment_count, 0);
    EXPECT_FALSE(row->copyright_flagged);
    EXPECT_TRUE(row->operator_labels.empty());
    EXPECT_EQ(row->created_at, kNow);
    EXPECT_EQ(row->updated_at, kNow);
}

TEST_P(TrackRepoTest, ReserveDefaultsLeaveOptionalColumnsEmpty) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    auto row = GetTrack(id);
    ASSERT_TRUE(row);
    EXPECT_FALSE(row->description);
    EXPECT_FALSE(row->original_file_id);
    EXPECT_FALSE(row->loudness_lufs);
    EXPECT_FALSE(row->album_id);
    EXPECT_FALSE(row->image_id);
    EXPECT_FALSE(row->support_gate);
    EXPECT_FALSE(row->upload_job_id);
    EXPECT_TRUE(row->features.empty());
    EXPECT_TRUE(row->record_extra.empty());
    EXPECT_EQ(row->visibility, Visibility::kPublic);
}

TEST_P(TrackRepoTest, ReserveOfAnUploadJobThatHasARowReturnsThatRowUnchanged) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.upload_job_id = kJob;
    auto first = InWrite<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, t); });
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_TRUE(first->created);

    NewTrack rerun = t;
    rerun.title = "changed on the re-run";
    auto second = InWrite<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, rerun); });
    ASSERT_TRUE(second) << second.error().ToString();
    EXPECT_FALSE(second->created);
    EXPECT_EQ(second->id, first->id);
    EXPECT_EQ(GetTrack(first->id)->title, "Track 1");
    EXPECT_EQ(Count("tracks"), 1);
}

TEST_P(TrackRepoTest, ConcurrentReservesOfOneUploadJobCreateExactlyOneRow) {
    constexpr int kThreads = 4;
    NewTrack t = MakeTrack(kAlice, 1);
    t.upload_job_id = kJob;
    std::barrier start(kThreads);
    std::vector<std::int64_t> ids(kThreads, 0);
    std::atomic<int> created{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            auto r =
                db_->WriteValue<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, t); });
            if (!r) {
                ++failures;
                return;
            }
            ids[i] = r->id;
            if (r->created) ++created;
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(created.load(), 1);
    for (auto id : ids) EXPECT_EQ(id, ids[0]);
    EXPECT_EQ(Count("tracks"), 1);
}

TEST_P(TrackRepoTest, ReserveRejectsAMalformedUploadJobIdOnBothEngines) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.upload_job_id = "not-a-uuid";
    auto r = InWrite<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, t); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(Count("tracks"), 0);
}

TEST_P(TrackRepoTest, ASecondTrackWithTheSameArtistRkeyIsAConflict) {
    Reserve(MakeTrack(kAlice, 1));
    NewTrack again = MakeTrack(kAlice, 2);
    again.atproto_rkey = MakeTrack(kAlice, 1).atproto_rkey;
    auto r = InWrite<ReservedTrack>([&](db::Connection& c) { return TrackRepository::ReserveTrack(c, again); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kConflict);
}

TEST_P(TrackRepoTest, GetOfAnUnknownIdIsEmpty) { EXPECT_FALSE(GetTrack(424242)); }

TEST_P(TrackRepoTest, GetForUpdateReadsTheRowInsideAWriteTransaction) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    auto row =
        InWrite<std::optional<TrackRow>>([&](db::Connection& c) { return TrackRepository::GetForUpdate(c, id); });
    ASSERT_TRUE(row) << row.error().ToString();
    ASSERT_TRUE(*row);
    EXPECT_EQ((*row)->id, id);
}

TEST_P(TrackRepoTest, GetByUploadJobFindsTheJobsRowAndToleratesMalformedIds) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.upload_job_id = kJob;
    auto id = Reserve(t);
    auto found = InRead<std::optional<TrackRow>>(
        [&](db::Connection& c) { return TrackRepository::GetByUploadJob(c, "0B6F3F0E-6C1A-4B8E-9D2E-1F2A3B4C5D6E"); });
    ASSERT_TRUE(found) << found.error().ToString();
    ASSERT_TRUE(*found);
    EXPECT_EQ((*found)->id, id);
    auto bad =
        InRead<std::optional<TrackRow>>([&](db::Connection& c) { return TrackRepository::GetByUploadJob(c, "nope"); });
    ASSERT_TRUE(bad) << bad.error().ToString();
    EXPECT_FALSE(*bad);
}

TEST_P(TrackRepoTest, MarkPublishedStoresUriCidAndExtraAndGetByRecordUriFindsIt) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    const std::string uri = "at://did:plc:alice/fm.plyr.track/3k00000000001";
    auto extra = boost::json::parse(R"({"audioBlob":{"size":9}})").as_object();
    auto st = Write([&](db::Connection& c) { return TrackRepository::MarkPublished(c, id, uri, "bafyone", extra); });
    ASSERT_TRUE(st) << st.error().ToString();
    auto row = GetTrack(id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->publish_state, PublishState::kPublished);
    EXPECT_EQ(row->atproto_record_uri, std::optional<std::string>(uri));
    EXPECT_EQ(row->atproto_record_cid, std::optional<std::string>("bafyone"));
    EXPECT_EQ(row->record_extra, extra);

    // Without an extra the stored one is kept.
    st = Write([&](db::Connection& c) { return TrackRepository::MarkPublished(c, id, uri, "bafytwo"); });
    ASSERT_TRUE(st) << st.error().ToString();
    row = GetTrack(id);
    EXPECT_EQ(row->atproto_record_cid, std::optional<std::string>("bafytwo"));
    EXPECT_EQ(row->record_extra, extra);

    auto by_uri =
        InRead<std::optional<TrackRow>>([&](db::Connection& c) { return TrackRepository::GetByRecordUri(c, uri); });
    ASSERT_TRUE(by_uri) << by_uri.error().ToString();
    ASSERT_TRUE(*by_uri);
    EXPECT_EQ((*by_uri)->id, id);
}

TEST_P(TrackRepoTest, StateChangesOfAnUnknownTrackAreNotFound) {
    auto published = Write([](db::Connection& c) { return TrackRepository::MarkPublished(c, 999, "at://x", "c"); });
    ASSERT_FALSE(published);
    EXPECT_EQ(published.error().code, ErrorCode::kNotFound);
    auto state =
        Write([](db::Connection& c) { return TrackRepository::SetPublishState(c, 999, PublishState::kFailed); });
    ASSERT_FALSE(state);
    EXPECT_EQ(state.error().code, ErrorCode::kNotFound);
    auto patch = Write([](db::Connection& c) { return TrackRepository::UpdateMetadata(c, 999, TrackPatch{}, kNow); });
    ASSERT_FALSE(patch);
    EXPECT_EQ(patch.error().code, ErrorCode::kNotFound);
}

TEST_P(TrackRepoTest, SetPublishStateChangesOnlyTheState) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    auto st = Write([&](db::Connection& c) { return TrackRepository::SetPublishState(c, id, PublishState::kFailed); });
    ASSERT_TRUE(st) << st.error().ToString();
    auto row = GetTrack(id);
    EXPECT_EQ(row->publish_state, PublishState::kFailed);
    EXPECT_EQ(row->title, "Track 1");
}

TEST_P(TrackRepoTest, UpdateMetadataWritesOnlyThePatchedFieldsAndBumpsUpdatedAt) {
    auto album = MakeAlbum(kAlice, "An Album");
    NewTrack t = MakeTrack(kAlice, 1);
    t.description = "old notes";
    t.image_id = testing::TrackReposTest::HexId(0xbeef);
    auto id = Reserve(t);

    TrackPatch patch;
    patch.title = "New Title";
    patch.description = std::optional<std::string>();  // cleared
    patch.features = boost::json::parse(R"([{"did":"did:plc:bob"}])").as_array();
    patch.album_id = std::optional<std::string>(album);
    patch.album_position = std::optional<std::int64_t>(3);
    patch.support_gate = std::optional<boost::json::value>(boost::json::parse(R"({"type":"any"})"));
    patch.visibility = Visibility::kSupporters;
    auto st = Write([&](db::Connection& c) { return TrackRepository::UpdateMetadata(c, id, patch, kNow + kSecond); });
    ASSERT_TRUE(st) << st.error().ToString();

    auto row = GetTrack(id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->title, "New Title");
    EXPECT_FALSE(row->description);
    EXPECT_EQ(row->features, *patch.features);
    EXPECT_EQ(row->album_id, std::optional<std::string>(album));
    EXPECT_EQ(row->album_position, std::optional<std::int64_t>(3));
    EXPECT_EQ(row->image_id, t.image_id);  // untouched
    EXPECT_EQ(row->support_gate, **patch.support_gate);
    EXPECT_EQ(row->visibility, Visibility::kSupporters);
    EXPECT_EQ(row->updated_at, kNow + kSecond);
    EXPECT_EQ(row->created_at, kNow);

    TrackPatch clear;
    clear.album_id = std::optional<std::string>();
    clear.album_position = std::optional<std::int64_t>();
    clear.image_id = std::optional<std::string>();
    clear.support_gate = std::optional<boost::json::value>();
    st = Write([&](db::Connection& c) { return TrackRepository::UpdateMetadata(c, id, clear, kNow + 2 * kSecond); });
    ASSERT_TRUE(st) << st.error().ToString();
    row = GetTrack(id);
    EXPECT_FALSE(row->album_id);
    EXPECT_FALSE(row->album_position);
    EXPECT_FALSE(row->image_id);
    EXPECT_FALSE(row->support_gate);
    EXPECT_EQ(row->title, "New Title");
    EXPECT_EQ(row->updated_at, kNow + 2 * kSecond);
}

TEST_P(TrackRepoTest, DeleteRemovesTheRowAndWhatHangsOffIt) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    SetTags(id, {"ambient"});
    ASSERT_TRUE(Write([&](db::Connection& c) {
        return TrackRepository::PutPeaks(c, id, PeakResolution::kLow, 512, std::string("\x01\xff", 2));
    }));
    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::PutFingerprint(c, id, 1, 180000, "fp", "[]", kNow); }));
    auto deleted = InWrite<bool>([&](db::Connection& c) { return TrackRepository::Delete(c, id); });
    ASSERT_TRUE(deleted) << deleted.error().ToString();
    EXPECT_TRUE(*deleted);
    EXPECT_FALSE(GetTrack(id));
    EXPECT_EQ(Count("track_peaks"), 0);
    EXPECT_EQ(Count("track_fingerprints"), 0);
    EXPECT_EQ(Count("track_tags"), 0);
    auto again = InWrite<bool>([&](db::Connection& c) { return TrackRepository::Delete(c, id); });
    ASSERT_TRUE(again);
    EXPECT_FALSE(*again);
}

// ---- duplicates and references ----

TEST_P(TrackRepoTest, FindArtistDuplicateMatchesPlayableOrOriginalFileOfTheSameArtistOnly) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.original_file_id = testing::TrackReposTest::HexId(0x5151);
    t.original_file_type = "aiff";
    auto id = Reserve(t);
    auto find = [&](const std::string& did, std::vector<std::string> ids, std::optional<std::string> exclude = {}) {
        auto r = InWrite<std::optional<std::int64_t>>(
            [&](db::Connection& c) { return TrackRepository::FindArtistDuplicate(c, did, ids, exclude); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::nullopt;
    };
    EXPECT_EQ(find(kAlice, {t.file_id}), std::optional<std::int64_t>(id));
    EXPECT_EQ(find(kAlice, {"ffffffffffffffff", *t.original_file_id}), std::optional<std::int64_t>(id));
    EXPECT_FALSE(find(kAlice, {"ffffffffffffffff"}));
    EXPECT_FALSE(find(kAlice, {}));
    EXPECT_FALSE(find(kBob, {t.file_id}));  // another artist may upload the same bytes
}

TEST_P(TrackRepoTest, FindArtistDuplicateIgnoresTheRunningJobsOwnRow) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.upload_job_id = kJob;
    auto id = Reserve(t);
    auto find = [&](std::optional<std::string> exclude) {
        auto r = InWrite<std::optional<std::int64_t>>(
            [&](db::Connection& c) { return TrackRepository::FindArtistDuplicate(c, kAlice, {t.file_id}, exclude); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : std::nullopt;
    };
    EXPECT_FALSE(find(std::string(kJob)));
    EXPECT_EQ(find(std::string("11111111-2222-4333-8444-555555555555")), std::optional<std::int64_t>(id));
    EXPECT_EQ(find(std::nullopt), std::optional<std::int64_t>(id));
    // A second track without a job (e.g. older data) is still a duplicate.
    NewTrack other = MakeTrack(kAlice, 2);
    other.file_id = t.file_id;
    auto other_id = Reserve(other);
    EXPECT_EQ(find(std::string(kJob)), std::optional<std::int64_t>(other_id));
}

TEST_P(TrackRepoTest, FindByFileListsEveryTrackReferencingTheFile) {
    NewTrack a = MakeTrack(kAlice, 1);
    NewTrack b = MakeTrack(kBob, 2);
    b.original_file_id = a.file_id;
    b.original_file_type = "mp3";
    auto ida = Reserve(a);
    auto idb = Reserve(b);
    Reserve(MakeTrack(kAlice, 3));
    auto rows =
        InRead<std::vector<TrackRow>>([&](db::Connection& c) { return TrackRepository::FindByFile(c, a.file_id); });
    ASSERT_TRUE(rows) << rows.error().ToString();
    EXPECT_EQ(Ids(*rows), (std::vector<std::int64_t>{ida, idb}));
}

TEST_P(TrackRepoTest, FileIsReferencedAsPlayableOrOriginalUntilTheLastTrackGoes) {
    NewTrack a = MakeTrack(kAlice, 1);
    a.original_file_id = testing::TrackReposTest::HexId(0x7777);
    a.original_file_type = "aiff";
    auto id = Reserve(a);
    auto referenced = [&](const std::string& file) {
        auto r = InWrite<bool>([&](db::Connection& c) { return TrackRepository::IsFileReferenced(c, file); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r && *r;
    };
    EXPECT_TRUE(referenced(a.file_id));
    EXPECT_TRUE(referenced(*a.original_file_id));
    EXPECT_FALSE(referenced("0000000000000000"));
    ASSERT_TRUE(InWrite<bool>([&](db::Connection& c) { return TrackRepository::Delete(c, id); }));
    EXPECT_FALSE(referenced(a.file_id));
    EXPECT_FALSE(referenced(*a.original_file_id));
}

TEST_P(TrackRepoTest, ImageIsReferencedByTracksAndAlbums) {
    const std::string track_image = testing::TrackReposTest::HexId(0xa1);
    const std::string album_image = testing::TrackReposTest::HexId(0xa2);
    NewTrack t = MakeTrack(kAlice, 1);
    t.image_id = track_image;
    Reserve(t);
    auto album = MakeAlbum(kAlice, "Covered");
    ASSERT_TRUE(Sql(std::string("UPDATE albums SET image_id = $1 WHERE artist_did = $2"), {album_image, kAlice}));
    auto referenced = [&](const std::string& image) {
        auto r = InWrite<bool>([&](db::Connection& c) { return TrackRepository::IsImageReferenced(c, image); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r && *r;
    };
    EXPECT_TRUE(referenced(track_image));
    EXPECT_TRUE(referenced(album_image));
    EXPECT_FALSE(referenced(testing::TrackReposTest::HexId(0xa3)));
}

// ---- cursors ----

TEST(FeedCursorTest, RoundTripsAndIsCompactBase64Url) {
    const FeedCursor c{kNow + 123, 987654321};
    auto text = EncodeFeedCursor(c);
    EXPECT_EQ(text.size(), 22u);
    EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    auto back = DecodeFeedCursor(text);
    ASSERT_TRUE(back) << back.error().ToString();
    EXPECT_EQ(*back, c);
    EXPECT_EQ(EncodeFeedCursor(c.created_at, c.id), text);
}

TEST(FeedCursorTest, TamperedOrForeignCursorsAreInvalidArguments) {
    const std::string good = EncodeFeedCursor(kNow, 42);
    std::vector<std::string> bad = {
        "",
        "abc",
        good + "A",
        good.substr(1),
        good.substr(0, 21) + "!",
        "eyJpZCI6NDJ9",              // base64url of a JSON object
        EncodeFeedCursor(-1, 42),    // negative time
        EncodeFeedCursor(kNow, 0),   // id 0
        EncodeFeedCursor(kNow, -5),  // negative id
    };
    // The last character carries two unused bits: a non-canonical spelling is refused.
    std::string noncanonical = good;
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto pos = alphabet.find(noncanonical.back());
    ASSERT_NE(pos, std::string::npos);
    noncanonical.back() = alphabet[pos ^ 1];
    bad.push_back(noncanonical);
    for (const auto& text : bad) {
        auto r = DecodeFeedCursor(text);
        EXPECT_FALSE(r) << "accepted: '" << text << "'";
        if (!r) {
            EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
        }
    }
}

// ---- feed ----

TEST_P(TrackRepoTest, FeedShowsOnlyPublishedTracksOfActiveArtistsWithoutCopyrightViolation) {
    AddArtist("did:plc:gone", "gone.test", /*deactivated=*/true);
    auto visible = Published(MakeTrack(kAlice, 1, kNow + 1));
    NewTrack gated = MakeTrack(kBob, 2, kNow + 2);
    gated.visibility = Visibility::kSupporters;
    auto supporters = Published(gated);
    Reserve(MakeTrack(kAlice, 3, kNow + 3));  // pending
    auto failed = Reserve(MakeTrack(kAlice, 4, kNow + 4));
    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::SetPublishState(c, failed, PublishState::kFailed); }));
    auto labelled = Published(MakeTrack(kAlice, 5, kNow + 5));
    ASSERT_TRUE(Sql(
        std::string("UPDATE tracks SET operator_labels = ") +
            (is_sqlite() ? "'[\"nudity\",\"copyright-violation\"]'" : "'[\"nudity\",\"copyright-violation\"]'::jsonb") +
            " WHERE id = $1",
        {labelled}));
    auto other_label = Published(MakeTrack(kAlice, 6, kNow + 6));
    ASSERT_TRUE(Sql(std::string("UPDATE tracks SET operator_labels = ") +
                        (is_sqlite() ? "'[\"nudity\"]'" : "'[\"nudity\"]'::jsonb") + " WHERE id = $1",
                    {other_label}));
    Published(MakeTrack("did:plc:gone", 7, kNow + 7));

    auto page = Feed(FeedQuery{});
    EXPECT_EQ(Ids(page.rows), (std::vector<std::int64_t>{other_label, supporters, visible}));
    EXPECT_FALSE(page.has_more);
    EXPECT_FALSE(page.next_cursor);
    auto labelled_row = GetTrack(labelled);
    EXPECT_TRUE(labelled_row->HasLabel("copyright-violation"));
    EXPECT_EQ(labelled_row->operator_labels, (std::vector<std::string>{"nudity", "copyright-violation"}));
}

TEST_P(TrackRepoTest, FeedTagsFilterRequiresEveryTagAndHiddenTagsExcludeAny) {
    auto both = Published(MakeTrack(kAlice, 1, kNow + 1));
    auto only_jazz = Published(MakeTrack(kAlice, 2, kNow + 2));
    auto ai = Published(MakeTrack(kAlice, 3, kNow + 3));
    auto untagged = Published(MakeTrack(kAlice, 4, kNow + 4));
    SetTags(both, {"jazz", "live"});
    SetTags(only_jazz, {"jazz"});
    SetTags(ai, {"jazz", "ai"});

    FeedQuery q;
    q.tags = {"jazz", "live"};
    EXPECT_EQ(Ids(Feed(q).rows), (std::vector<std::int64_t>{both}));
    q.tags = {"jazz", "jazz"};
    EXPECT_EQ(Ids(Feed(q).rows), (std::vector<std::int64_t>{ai, only_jazz, both}));
    q.tags = {"nosuchtag"};
    EXPECT_TRUE(Feed(q).rows.empty());

    FeedQuery hidden;
    hidden.hidden_tags = {"ai", "live"};
    EXPECT_EQ(Ids(Feed(hidden).rows), (std::vector<std::int64_t>{untagged, only_jazz}));
    hidden.tags = {"jazz"};
    EXPECT_EQ(Ids(Feed(hidden).rows), (std::vector<std::int64_t>{only_jazz}));
}

TEST_P(TrackRepoTest, FeedOfOneArtistListsOnlyThatArtist) {
    auto a1 = Published(MakeTrack(kAlice, 1, kNow + 1));
    Published(MakeTrack(kBob, 2, kNow + 2));
    auto a3 = Published(MakeTrack(kAlice, 3, kNow + 3));
    FeedQuery q;
    q.artist_did = kAlice;
    EXPECT_EQ(Ids(Feed(q).rows), (std::vector<std::int64_t>{a3, a1}));
}

TEST_P(TrackRepoTest, FeedPaginationIsStableWhenCreatedAtTies) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(Published(MakeTrack(kAlice, i + 1, kNow)));  // all the same time
    ids.push_back(Published(MakeTrack(kAlice, 9, kNow - kSecond)));
    std::vector<std::int64_t> expected = {ids[4], ids[3], ids[2], ids[1], ids[0], ids[5]};

    std::vector<std::int64_t> seen;
    FeedQuery q;
    q.limit = 2;
    int pages = 0;
    while (true) {
        auto page = Feed(q);
        ++pages;
        ASSERT_LE(page.rows.size(), 2u);
        for (const auto& r : page.rows) seen.push_back(r.id);
        if (!page.has_more) {
            EXPECT_FALSE(page.next_cursor);
            break;
        }
        ASSERT_TRUE(page.next_cursor);
        // The cursor travels as text, as through the API.
        auto decoded = DecodeFeedCursor(EncodeFeedCursor(*page.next_cursor));
        ASSERT_TRUE(decoded);
        q.cursor = *decoded;
        ASSERT_LT(pages, 10);
    }
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(pages, 3);

    FeedQuery all;
    all.limit = 6;
    auto one = Feed(all);
    EXPECT_EQ(Ids(one.rows), expected);
    EXPECT_FALSE(one.has_more);
}

TEST_P(TrackRepoTest, FeedLimitIsClampedToOneThroughHundred) {
    for (int i = 0; i < 3; ++i) Published(MakeTrack(kAlice, i + 1, kNow + i));
    FeedQuery q;
    q.limit = 0;
    auto page = Feed(q);
    EXPECT_EQ(page.rows.size(), 1u);
    EXPECT_TRUE(page.has_more);
    q.limit = 100000;
    EXPECT_EQ(Feed(q).rows.size(), 3u);
}

// ---- owner's list ----

TEST_P(TrackRepoTest, OwnerListShowsEveryStateFiltersByTitleAndSorts) {
    NewTrack t1 = MakeTrack(kAlice, 1, kNow + 1);
    t1.title = "Banana Split";
    NewTrack t2 = MakeTrack(kAlice, 2, kNow + 2);
    t2.title = "apple pie";
    NewTrack t3 = MakeTrack(kAlice, 3, kNow + 3);
    t3.title = "100% Cherry";
    auto id1 = Published(t1);
    auto id2 = Reserve(t2);  // pending: still the owner's
    auto id3 = Published(t3);
    Published(MakeTrack(kBob, 4, kNow + 4));
    ASSERT_TRUE(Sql("UPDATE tracks SET play_count = $1 WHERE id = $2", {std::int64_t{7}, id1}));
    ASSERT_TRUE(Sql("UPDATE tracks SET play_count = $1 WHERE id = $2", {std::int64_t{3}, id3}));

    auto list = [&](OwnerListQuery q) {
        q.artist_did = kAlice;
        auto r = InRead<OwnerPage>([&](db::Connection& c) { return TrackRepository::ListByArtistForOwner(c, q); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? std::move(*r) : OwnerPage{};
    };
    auto recent = list({});
    EXPECT_EQ(Ids(recent.rows), (std::vector<std::int64_t>{id3, id2, id1}));
    EXPECT_EQ(recent.total, 3);

    OwnerListQuery by_title;
    by_title.sort = OwnerSort::kTitle;
    EXPECT_EQ(Ids(list(by_title).rows), (std::vector<std::int64_t>{id3, id2, id1}));  // "100…" < "apple" < "banana"
    OwnerListQuery by_plays;
    by_plays.sort = OwnerSort::kPlays;
    EXPECT_EQ(Ids(list(by_plays).rows), (std::vector<std::int64_t>{id1, id3, id2}));

    OwnerListQuery search;
    search.q = "BANANA";
    auto found = list(search);
    EXPECT_EQ(Ids(found.rows), (std::vector<std::int64_t>{id1}));
    EXPECT_EQ(found.total, 1);
    search.q = "%";  // literal, not a wildcard
    EXPECT_EQ(Ids(list(search).rows), (std::vector<std::int64_t>{id3}));
    search.q = "_";
    EXPECT_TRUE(list(search).rows.empty());

    OwnerListQuery paged;
    paged.limit = 1;
    paged.offset = 1;
    auto page = list(paged);
    EXPECT_EQ(Ids(page.rows), (std::vector<std::int64_t>{id2}));
    EXPECT_EQ(page.total, 3);
    paged.offset = -4;
    EXPECT_EQ(Ids(list(paged).rows), (std::vector<std::int64_t>{id3}));
}

TEST_P(TrackRepoTest, OwnerSearchFoldsAsciiCaseOnlyOnBothEngines) {
    NewTrack t = MakeTrack(kAlice, 1);
    t.title = "École ABC";
    auto id = Reserve(t);
    auto search = [&](const std::string& q) {
        OwnerListQuery query;
        query.artist_did = kAlice;
        query.q = q;
        auto r = InRead<OwnerPage>([&](db::Connection& c) { return TrackRepository::ListByArtistForOwner(c, query); });
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? Ids(r->rows) : std::vector<std::int64_t>{};
    };
    EXPECT_EQ(search("abc"), (std::vector<std::int64_t>{id}));
    EXPECT_EQ(search("ÉCOLE"), (std::vector<std::int64_t>{id}));
    EXPECT_TRUE(search("école").empty());  // "é" is not folded to "É" on either engine
}

TEST(OwnerSortTest, ParsesTheThreeSortNames) {
    EXPECT_EQ(ParseOwnerSort("recent"), OwnerSort::kRecent);
    EXPECT_EQ(ParseOwnerSort("title"), OwnerSort::kTitle);
    EXPECT_EQ(ParseOwnerSort("plays"), OwnerSort::kPlays);
    EXPECT_FALSE(ParseOwnerSort("Title"));
    EXPECT_EQ(ParsePublishState(ToString(PublishState::kFailed)), PublishState::kFailed);
    EXPECT_EQ(ParseVisibility(ToString(Visibility::kSupporters)), Visibility::kSupporters);
    EXPECT_EQ(ParsePeakResolution(ToString(PeakResolution::kHigh)), PeakResolution::kHigh);
}

// ---- peaks and fingerprints ----

TEST_P(TrackRepoTest, PeaksAreStoredPerResolutionAndReplacedOnPut) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    const std::string low("\x80\x7f\x00\x01", 4);
    const std::string high("\xff\x00\x10", 3);
    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::PutPeaks(c, id, PeakResolution::kLow, 4096, low); }));
    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::PutPeaks(c, id, PeakResolution::kHigh, 256, high); }));
    auto get = [&](PeakResolution r) {
        auto p =
            InRead<std::optional<TrackPeaks>>([&](db::Connection& c) { return TrackRepository::GetPeaks(c, id, r); });
        EXPECT_TRUE(p) << p.error().ToString();
        return p ? *p : std::nullopt;
    };
    auto l = get(PeakResolution::kLow);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->samples_per_peak, 4096);
    EXPECT_EQ(l->peaks, low);
    auto h = get(PeakResolution::kHigh);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->peaks, high);

    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::PutPeaks(c, id, PeakResolution::kLow, 2048, high); }));
    l = get(PeakResolution::kLow);
    EXPECT_EQ(l->samples_per_peak, 2048);
    EXPECT_EQ(l->peaks, high);

    auto none = InRead<std::optional<TrackPeaks>>(
        [&](db::Connection& c) { return TrackRepository::GetPeaks(c, id + 100, PeakResolution::kLow); });
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
}

TEST_P(TrackRepoTest, FingerprintIsStoredReplacedAndValidated) {
    auto id = Reserve(MakeTrack(kAlice, 1));
    const std::string fp("\x01\x02\x03\x04\x00\xff\xfe\xfd", 8);
    ASSERT_TRUE(Write([&](db::Connection& c) {
        return TrackRepository::PutFingerprint(c, id, 1, 179500, fp, R"([[0, 1500], [170000, 179500]])", kNow);
    }));
    auto get = [&] {
        auto f = InRead<std::optional<TrackFingerprint>>(
            [&](db::Connection& c) { return TrackRepository::GetFingerprint(c, id); });
        EXPECT_TRUE(f) << f.error().ToString();
        return f ? *f : std::nullopt;
    };
    auto f = get();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->algorithm, 1);
    EXPECT_EQ(f->duration_ms, 179500);
    EXPECT_EQ(f->fingerprint, fp);
    EXPECT_EQ(f->silent_windows, boost::json::parse("[[0,1500],[170000,179500]]"));
    EXPECT_EQ(f->created_at, kNow);

    ASSERT_TRUE(
        Write([&](db::Connection& c) { return TrackRepository::PutFingerprint(c, id, 2, 1000, "x", "[]", kNow + 1); }));
    f = get();
    EXPECT_EQ(f->algorithm, 2);
    EXPECT_EQ(f->fingerprint, "x");

    auto bad = Write([&](db::Connection& c) { return TrackRepository::PutFingerprint(c, id, 1, 1, "x", "{}", kNow); });
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

// ---- views ----

TEST_P(TrackRepoTest, GetViewsJoinsArtistAlbumImageAndTagsInTheOrderAsked) {
    const std::string cover = testing::TrackReposTest::HexId(0xc0);
    const std::string album_cover = testing::TrackReposTest::HexId(0xc1);
    ASSERT_TRUE(Write([&](db::Connection& c) -> Status {
        auto a = ImageRepository::Insert(c, ImageRow{cover, "png", 800, 800, 1234, kAlice, kNow});
        if (!a) return Fail(std::move(a.error()));
        auto b = ImageRepository::Insert(c, ImageRow{album_cover, "webp", 500, 500, 99, kAlice, kNow});
        if (!b) return Fail(std::move(b.error()));
        return Ok();
    }));
    auto album = MakeAlbum(kAlice, "The Album!");
    ASSERT_TRUE(Sql(std::string("UPDATE albums SET image_id = $1"), {album_cover}));

    NewTrack t1 = MakeTrack(kAlice, 1);
    t1.image_id = cover;
    t1.album_id = album;
    t1.album_position = 0;
    auto id1 = Reserve(t1);
    NewTrack t2 = MakeTrack(kBob, 2);
    t2.image_id = testing::TrackReposTest::HexId(0xdead);  // no images row
    auto id2 = Reserve(t2);
    SetTags(id1, {"zydeco", "ambient", "live"});

    auto views = InRead<std::vector<TrackView>>([&](db::Connection& c) {
        return TrackRepository::GetViews(c, {id2, 999999, id1, id2});
    });
    ASSERT_TRUE(views) << views.error().ToString();
    ASSERT_EQ(views->size(), 2u);
    const TrackView& b = (*views)[0];
    const TrackView& a = (*views)[1];
    EXPECT_EQ(b.track.id, id2);
    EXPECT_EQ(a.track.id, id1);

    EXPECT_EQ(a.artist.did, kAlice);
    EXPECT_EQ(a.artist.handle, std::optional<std::string>("alice.test"));
    EXPECT_EQ(a.artist.display_name, "Name of alice.test");
    EXPECT_EQ(a.artist.avatar_url, std::optional<std::string>("https://cdn.test/alice.test.jpg"));
    EXPECT_EQ(a.artist.support_url, "atprotofans");
    EXPECT_FALSE(a.artist.deactivated);
    EXPECT_EQ(a.image_ext, std::optional<std::string>("png"));
    ASSERT_TRUE(a.album);
    EXPECT_EQ(a.album->id, album);
    EXPECT_EQ(a.album->slug, "the-album");
    EXPECT_EQ(a.album->title, "The Album!");
    EXPECT_EQ(a.album->image_id, std::optional<std::string>(album_cover));
    EXPECT_EQ(a.album->image_ext, std::optional<std::string>("webp"));
    EXPECT_EQ(a.tags, (std::vector<std::string>{"ambient", "live", "zydeco"}));

    EXPECT_EQ(b.artist.did, kBob);
    EXPECT_FALSE(b.image_ext);
    EXPECT_FALSE(b.album);
    EXPECT_TRUE(b.tags.empty());

    auto empty = InRead<std::vector<TrackView>>([&](db::Connection& c) { return TrackRepository::GetViews(c, {}); });
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, TrackRepoTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::repos
