// tracks::TrackRecordSource — the outbox's builder for entity_type "track": the record from the DB row at send
// time, carried-over fields from the PDS copy or record_extra, nullopt for a deleted track, OnWritten bookkeeping.

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "atproto/data/cid.hpp"
#include "atproto/data/json.hpp"
#include "atproto/lexicon/embedded.hpp"
#include "atproto/lexicon/validate.hpp"
#include "atproto/syntax/tid.hpp"
#include "storage/repos/album_repo.hpp"
#include "storage/repos/image_repo.hpp"
#include "storage/repos/track_repo.hpp"
#include "test_db.hpp"
#include "tracks/track_record.hpp"

namespace plyr::tracks {
namespace {

using atproto::Value;
using storage::db::testing::BackendName;
using storage::db::testing::BackendValues;
namespace db = storage::db;
namespace json = boost::json;
namespace repos = storage::repos;

constexpr const char* kAlice = "did:plc:alice";
constexpr std::int64_t kUploadUs = 1'764'000'000'123'456;

const atproto::lexicon::Catalog& Catalog() {
    static const atproto::lexicon::Catalog catalog = [] {
        auto c = atproto::lexicon::EmbeddedCatalog("fm.plyr");
        if (!c) throw std::runtime_error(c.error().ToString());
        return std::move(*c);
    }();
    return catalog;
}

class TrackRecordSourceTest : public storage::db::testing::MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        config_.public_url = "https://plyr.example";
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto r = c.Query(
                "INSERT INTO artists (did, handle, display_name, created_at, updated_at) VALUES ($1, "
                "'alice.test', 'Alice', 1, 1)",
                {std::string(kAlice)});
            if (!r) return Fail(std::move(r.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();
    }

    std::int64_t Reserve(bool gated, json::object record_extra = {}) {
        auto rkey = atproto::syntax::Tid::FromParts(kUploadUs, 7);
        repos::NewTrack t;
        t.artist_did = kAlice;
        t.title = "Night Drive";
        t.description = "notes";
        t.file_id = "0123456789abcdef";
        t.file_type = "mp3";
        t.duration_ms = 61'400;
        t.features.push_back(json::object{{"did", "did:plc:bob"}, {"handle", "bob.test"}, {"display_name", "Bob"}});
        t.image_id = "fedcba9876543210";
        if (gated) {
            t.visibility = repos::Visibility::kSupporters;
            t.support_gate = json::object{{"type", "any"}};
        }
        t.atproto_rkey = rkey->ToString();
        t.record_extra = std::move(record_extra);
        t.now = kUploadUs + 5'000'000;
        auto id = db_->WriteValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto album = repos::AlbumRepository::GetOrCreateForArtist(c, kAlice, "Roads", "3kalbumrkey22", t.now);
            if (!album) return Fail(std::move(album.error()));
            t.album_id = album->album.id;
            t.album_position = 0;
            repos::ImageRow image{"fedcba9876543210", "jpg", 10, 10, 3, kAlice, t.now};
            auto inserted = repos::ImageRepository::Insert(c, image);
            if (!inserted) return Fail(std::move(inserted.error()));
            auto r = repos::TrackRepository::ReserveTrack(c, t);
            if (!r) return Fail(std::move(r.error()));
            return r->id;
        });
        EXPECT_TRUE(id) << id.error().ToString();
        return id ? *id : 0;
    }

    core::Config config_;
};

TEST_P(TrackRecordSourceTest, BuildsTheRecordFromTheRowAtSendTime) {
    auto id = Reserve(false);
    TrackRecordSource source(config_, Catalog());
    auto built = source.Build(*db_, std::to_string(id), std::nullopt);
    ASSERT_TRUE(built) << built.error().ToString();
    ASSERT_TRUE(built->record.has_value());
    const Value& r = *built->record;
    EXPECT_EQ(r.Find("$type")->GetString(), "fm.plyr.track");
    EXPECT_EQ(r.Find("title")->GetString(), "Night Drive");
    EXPECT_EQ(r.Find("artist")->GetString(), "Alice");
    EXPECT_EQ(r.Find("fileType")->GetString(), "mp3");
    EXPECT_EQ(r.Find("createdAt")->GetString(), "2025-11-24T16:00:00.123Z");  // the rkey's TID time
    EXPECT_EQ(r.Find("audioUrl")->GetString(), "https://plyr.example/audio/0123456789abcdef.mp3");
    EXPECT_EQ(r.Find("imageUrl")->GetString(), "https://plyr.example/images/fedcba9876543210.jpg");
    EXPECT_EQ(r.Find("album")->GetString(), "Roads");
    EXPECT_EQ(r.Find("duration")->GetInteger(), 61);
    EXPECT_EQ(r.Find("description")->GetString(), "notes");
    const auto& features = r.Find("features")->GetArray();
    ASSERT_EQ(features.size(), 1u);
    EXPECT_EQ(features[0].Find("did")->GetString(), "did:plc:bob");
    EXPECT_EQ(features[0].Find("handle")->GetString(), "bob.test");
    EXPECT_EQ(features[0].Find("displayName")->GetString(), "Bob");
    EXPECT_EQ(r.Find("supportGate"), nullptr);
    EXPECT_TRUE(atproto::lexicon::ValidateRecord(Catalog(), "fm.plyr.track", r));
}

TEST_P(TrackRecordSourceTest, GatedTrackGetsTheAccessCheckedUrlAndTheGate) {
    auto id = Reserve(true);
    TrackRecordSource source(config_, Catalog());
    auto built = source.Build(*db_, std::to_string(id), std::nullopt);
    ASSERT_TRUE(built && built->record);
    EXPECT_EQ(built->record->Find("audioUrl")->GetString(), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(built->record->Find("supportGate")->Find("type")->GetString(), "any");
}

TEST_P(TrackRecordSourceTest, KeepsForeignFieldsFromThePdsCopyOrRecordExtra) {
    const atproto::BlobRef blob{atproto::CidForRaw("audio"), "audio/mpeg", 5};
    auto extra = atproto::ValueToJson(Value(Value::Map{{"audioBlob", Value(blob)}, {"mood", Value("calm")}}));
    auto id = Reserve(false, extra.as_object());
    TrackRecordSource source(config_, Catalog());

    // The record is gone from the PDS: record_extra is the carry-over base.
    auto built = source.Build(*db_, std::to_string(id), std::nullopt);
    ASSERT_TRUE(built && built->record);
    ASSERT_NE(built->record->Find("audioBlob"), nullptr);
    EXPECT_EQ(built->record->Find("audioBlob")->GetBlob(), blob);
    EXPECT_EQ(built->record->Find("mood")->GetString(), "calm");

    // A PDS copy wins: its createdAt and foreign fields are kept.
    Value::Map current{{"createdAt", Value("2024-01-01T00:00:00.000Z")}, {"other", Value("x")}};
    built = source.Build(*db_, std::to_string(id), Value(current));
    ASSERT_TRUE(built && built->record);
    EXPECT_EQ(built->record->Find("createdAt")->GetString(), "2024-01-01T00:00:00.000Z");
    EXPECT_EQ(built->record->Find("other")->GetString(), "x");
    EXPECT_EQ(built->record->Find("audioBlob"), nullptr);  // not on the PDS copy: the PDS copy is the truth
}

TEST_P(TrackRecordSourceTest, ADeletedOrUnknownTrackBecomesADelete) {
    TrackRecordSource source(config_, Catalog());
    for (const char* entity : {"999", "abc", "-1", "12x"}) {
        auto built = source.Build(*db_, entity, std::nullopt);
        ASSERT_TRUE(built) << entity;
        EXPECT_FALSE(built->record.has_value()) << entity;
    }
}

TEST_P(TrackRecordSourceTest, OnWrittenPublishesAndStoresRecordExtra) {
    auto id = Reserve(false);
    TrackRecordSource source(config_, Catalog());
    const atproto::BlobRef blob{atproto::CidForRaw("audio"), "audio/mpeg", 5};
    Value::Map current{{"audioBlob", Value(blob)}};
    ASSERT_TRUE(source.Build(*db_, std::to_string(id), Value(current)));
    const std::string uri = "at://did:plc:alice/fm.plyr.track/x", cid = atproto::CidForDagCbor("r").ToString();
    ASSERT_TRUE(source.OnWritten(*db_, std::to_string(id), uri, cid));
    auto row = db_->ReadValue<std::optional<repos::TrackRow>>(
        [&](db::Connection& c) { return repos::TrackRepository::Get(c, id); });
    ASSERT_TRUE(row && *row);
    EXPECT_EQ((*row)->publish_state, repos::PublishState::kPublished);
    EXPECT_EQ((*row)->atproto_record_uri, uri);
    EXPECT_EQ((*row)->atproto_record_cid, cid);
    EXPECT_TRUE((*row)->record_extra.contains("audioBlob"));
    EXPECT_FALSE((*row)->record_extra.contains("title"));

    // A track deleted meanwhile is not an error (its delete follows).
    EXPECT_TRUE(source.OnWritten(*db_, "999", uri, cid));
}

INSTANTIATE_TEST_SUITE_P(Backends, TrackRecordSourceTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::tracks
