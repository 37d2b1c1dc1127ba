// tracks::BuildTrackRecord (product.md §3.2): every field, the artist cut, carried-over fields, createdAt
// stability, lexicon validation.

#include "tracks/track_record.hpp"

#include <gtest/gtest.h>

#include "atproto/data/cid.hpp"
#include "atproto/data/json.hpp"
#include "atproto/lexicon/embedded.hpp"
#include "atproto/lexicon/graphemes.hpp"
#include "atproto/lexicon/validate.hpp"
#include "core/encoding.hpp"

namespace plyr::tracks {
namespace {

using atproto::Value;

const atproto::lexicon::Catalog& Catalog() {
    static const atproto::lexicon::Catalog catalog = [] {
        auto c = atproto::lexicon::EmbeddedCatalog("fm.plyr");
        if (!c) throw std::runtime_error(c.error().ToString());
        return std::move(*c);
    }();
    return catalog;
}

constexpr std::int64_t kUploadUs = 1'764'000'000'123'456;  // 2025-11-24T16:00:00.123456Z

TrackRecordInput FullInput() {
    TrackRecordInput in;
    in.title = "Night Drive";
    in.artist_display_name = "Alice";
    in.artist_handle = "alice.test";
    in.file_type = "mp3";
    in.created_at_us = kUploadUs;
    in.audio_url = "https://plyr.example/audio/0123456789abcdef.mp3";
    in.album_title = "Roads";
    in.duration_ms = 185'600;
    in.features = {{"did:plc:bobbobbobbobbobbobbobbob", "bob.test", "Bob"},
                   {"did:plc:carolcarolcarolcarolcaro", std::nullopt, std::nullopt}};
    in.image_url = "https://plyr.example/images/fedcba9876543210.jpg";
    in.support_gate = true;
    in.description = "liner notes";
    return in;
}

atproto::BlobRef SomeBlob() {
    auto cid = atproto::CidForRaw("audio bytes");
    return atproto::BlobRef{cid, "audio/mpeg", 1234};
}

const std::string& Str(const Value& record, std::string_view key) {
    const Value* v = record.Find(key);
    if (!v || !v->AsString()) throw std::runtime_error("missing string " + std::string(key));
    return *v->AsString();
}

TEST(TrackRecord, WritesEveryManagedFieldOfProductSpec) {
    auto record = BuildTrackRecord(Catalog(), FullInput(), std::nullopt);
    ASSERT_TRUE(record) << record.error().ToString();
    EXPECT_EQ(Str(*record, "$type"), "fm.plyr.track");
    EXPECT_EQ(Str(*record, "title"), "Night Drive");
    EXPECT_EQ(Str(*record, "artist"), "Alice");
    EXPECT_EQ(Str(*record, "fileType"), "mp3");
    EXPECT_EQ(Str(*record, "createdAt"), "2025-11-24T16:00:00.123Z");
    EXPECT_EQ(Str(*record, "audioUrl"), "https://plyr.example/audio/0123456789abcdef.mp3");
    EXPECT_EQ(Str(*record, "album"), "Roads");
    ASSERT_NE(record->Find("duration"), nullptr);
    EXPECT_EQ(record->Find("duration")->GetInteger(), 186);  // 185.6 s rounded
    EXPECT_EQ(Str(*record, "imageUrl"), "https://plyr.example/images/fedcba9876543210.jpg");
    ASSERT_NE(record->Find("supportGate"), nullptr);
    EXPECT_EQ(Str(*record->Find("supportGate"), "type"), "any");
    EXPECT_EQ(Str(*record, "description"), "liner notes");
    const auto& features = record->Find("features")->GetArray();
    ASSERT_EQ(features.size(), 2u);
    EXPECT_EQ(Str(features[0], "did"), "did:plc:bobbobbobbobbobbobbobbob");
    EXPECT_EQ(Str(features[0], "handle"), "bob.test");
    EXPECT_EQ(Str(features[0], "displayName"), "Bob");
    EXPECT_EQ(features[1].Find("handle"), nullptr);
    EXPECT_EQ(features[1].Find("displayName"), nullptr);
    EXPECT_EQ(record->Find("audioBlob"), nullptr);
    EXPECT_TRUE(atproto::lexicon::ValidateRecord(Catalog(), "fm.plyr.track", *record));
}

TEST(TrackRecord, OmitsOptionalFieldsThatAreUnset) {
    TrackRecordInput in;
    in.title = "t";
    in.artist_handle = "alice.test";
    in.file_type = "wav";
    in.created_at_us = kUploadUs;
    in.audio_url = "http://127.0.0.1:8001/audio/0123456789abcdef.wav";
    auto record = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_TRUE(record) << record.error().ToString();
    for (auto key : {"album", "duration", "features", "imageUrl", "supportGate", "description", "audioBlob", "labels"})
        EXPECT_EQ(record->Find(key), nullptr) << key;
    EXPECT_EQ(Str(*record, "artist"), "alice.test");  // blank display name → handle
}

TEST(TrackRecord, UsesTheConfiguredNamespaceAsType) {
    auto catalog = atproto::lexicon::EmbeddedCatalog("app.example");
    ASSERT_TRUE(catalog);
    auto in = FullInput();
    in.app_namespace = "app.example";
    auto record = BuildTrackRecord(*catalog, in, std::nullopt);
    ASSERT_TRUE(record) << record.error().ToString();
    EXPECT_EQ(Str(*record, "$type"), "app.example.track");
    EXPECT_EQ(TrackCollection("app.example"), "app.example.track");
}

TEST(TrackRecord, ArtistIsCutAtAGraphemeBoundaryTo256Bytes) {
    // 85 × "é" as e + combining acute (3 bytes per cluster) = 255 bytes, then a family emoji (ZWJ sequence, 25
    // bytes): a byte cut at 256 would split the emoji; the grapheme cut drops it whole.
    std::string name;
    for (int i = 0; i < 85; ++i) name += "e\xCC\x81";
    name += "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6";
    auto in = FullInput();
    in.artist_display_name = name;
    auto record = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_TRUE(record) << record.error().ToString();
    const auto& artist = Str(*record, "artist");
    EXPECT_EQ(artist.size(), 255u);
    EXPECT_EQ(artist, name.substr(0, 255));

    // Clusters never split: 100 × "é" (decomposed) cut to 256 bytes keeps 85 whole clusters (255 bytes).
    std::string many;
    for (int i = 0; i < 100; ++i) many += "e\xCC\x81";
    auto cut = CutAtGraphemeBoundary(many, 256);
    EXPECT_EQ(cut.size(), 255u);
    EXPECT_EQ(atproto::lexicon::CountGraphemes(cut), 85u);
    EXPECT_EQ(CutAtGraphemeBoundary("short", 256), "short");
    EXPECT_EQ(CutAtGraphemeBoundary("abc\xE2\x82", 256), "abc");  // invalid tail dropped
}

TEST(TrackRecord, CarriesOverUnknownFieldsLabelsAndAudioBlob) {
    Value::Map current;
    current["$type"] = Value("fm.plyr.track");
    current["title"] = Value("old title");
    current["artist"] = Value("Old Name");
    current["fileType"] = Value("mp3");
    current["createdAt"] = Value("2024-01-02T03:04:05.678Z");
    current["audioUrl"] = Value("https://old.example/audio/x.mp3");
    current["audioBlob"] = Value(SomeBlob());
    current["album"] = Value("Old Album");
    current["mood"] = Value("calm");  // a field of a newer lexicon
    current["labels"] = Value(Value::Map{{"$type", Value("com.atproto.label.defs#selfLabels")},
                                         {"values", Value(Value::Array{Value(Value::Map{{"val", Value("nudity")}})})}});
    auto in = FullInput();
    in.album_title.reset();  // the track left its album: the managed field goes
    auto record = BuildTrackRecord(Catalog(), in, Value(current));
    ASSERT_TRUE(record) << record.error().ToString();
    EXPECT_EQ(Str(*record, "title"), "Night Drive");
    EXPECT_EQ(Str(*record, "mood"), "calm");
    ASSERT_NE(record->Find("labels"), nullptr);
    EXPECT_EQ(*record->Find("labels"), current["labels"]);
    ASSERT_NE(record->Find("audioBlob"), nullptr);
    EXPECT_EQ(record->Find("audioBlob")->GetBlob(), SomeBlob());
    EXPECT_EQ(record->Find("album"), nullptr);

    auto extra = UnmanagedFields(*record);
    ASSERT_TRUE(extra.IsMap());
    EXPECT_EQ(extra.GetMap().size(), 3u);  // audioBlob, labels, mood
    EXPECT_NE(extra.Find("audioBlob"), nullptr);
    EXPECT_EQ(extra.Find("title"), nullptr);
}

TEST(TrackRecord, CreatedAtNeverChangesOnRebuild) {
    Value::Map current;
    current["createdAt"] = Value("2024-01-02T03:04:05.678Z");
    auto record = BuildTrackRecord(Catalog(), FullInput(), Value(current));
    ASSERT_TRUE(record) << record.error().ToString();
    EXPECT_EQ(Str(*record, "createdAt"), "2024-01-02T03:04:05.678Z");

    current["createdAt"] = Value("not a date");  // unusable: the upload time instead
    record = BuildTrackRecord(Catalog(), FullInput(), Value(current));
    ASSERT_TRUE(record);
    EXPECT_EQ(Str(*record, "createdAt"), "2025-11-24T16:00:00.123Z");
}

TEST(TrackRecord, JustUploadedBlobIsSetAndDescriptionFollowsInput) {
    Value::Map current;
    current["description"] = Value("written elsewhere");
    auto in = FullInput();
    in.audio_blob = SomeBlob();
    in.description.reset();
    auto record = BuildTrackRecord(Catalog(), in, Value(current));
    ASSERT_TRUE(record) << record.error().ToString();
    EXPECT_EQ(record->Find("audioBlob")->GetBlob(), SomeBlob());
    EXPECT_EQ(Str(*record, "description"), "written elsewhere");  // not managed by this write: kept

    in.description = "";  // cleared by the artist
    record = BuildTrackRecord(Catalog(), in, Value(current));
    ASSERT_TRUE(record);
    EXPECT_EQ(record->Find("description"), nullptr);
}

TEST(TrackRecord, InvalidInputIsAnError) {
    auto in = FullInput();
    in.title = "";  // below minLength
    auto r = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);

    in = FullInput();
    in.features[0].did = "not-a-did";
    r = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_NE(r.error().detail.find("features[0].did"), std::string::npos) << r.error().detail;

    in = FullInput();
    in.audio_url = "not a uri";
    r = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);

    in = FullInput();
    in.artist_display_name = "  ";
    in.artist_handle = "";
    r = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

    in = FullInput();
    in.audio_url.clear();  // neither audioUrl nor audioBlob
    r = BuildTrackRecord(Catalog(), in, std::nullopt);
    ASSERT_FALSE(r);

    r = BuildTrackRecord(Catalog(), FullInput(), Value("not a map"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(TrackRecord, UrlsFollowStorageMode) {
    core::Config config;
    config.public_url = "https://plyr.example/";
    EXPECT_EQ(AudioUrl(config, "0123456789abcdef", "mp3", false), "https://plyr.example/audio/0123456789abcdef.mp3");
    EXPECT_EQ(AudioUrl(config, "0123456789abcdef", "mp3", true), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(ImageUrl(config, "fedcba9876543210", "png"), "https://plyr.example/images/fedcba9876543210.png");
    config.storage_kind = core::StorageKind::kS3;
    config.s3.public_bucket_url = "https://cdn.example";
    EXPECT_EQ(AudioUrl(config, "0123456789abcdef", "flac", false), "https://cdn.example/audio/0123456789abcdef.flac");
    EXPECT_EQ(AudioUrl(config, "0123456789abcdef", "flac", true), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(ImageUrl(config, "fedcba9876543210", "jpg"), "https://cdn.example/images/fedcba9876543210.jpg");
    config.s3.image_bucket = "imgs";
    config.s3.public_image_bucket_url = "https://img.example";
    EXPECT_EQ(ImageUrl(config, "fedcba9876543210", "jpg"), "https://img.example/images/fedcba9876543210.jpg");
}

}  // namespace
}  // namespace plyr::tracks
