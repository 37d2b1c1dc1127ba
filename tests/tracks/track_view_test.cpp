// tracks::TrackJson: the Track JSON of product.md §4.2 (owner vs others, URLs on local disk vs S3).
#include "tracks/track_view.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

namespace plyr::tracks {
namespace {

namespace json = boost::json;

TrackViewRow SampleRow() {
    TrackViewRow row;
    row.id = 42;
    row.artist_did = "did:plc:artist";
    row.artist_handle = "artist.test";
    row.artist_display_name = "The Artist";
    row.artist_avatar_url = "https://cdn.example/a.jpg";
    row.artist_support_url = "atprotofans";
    row.title = "Song";
    row.description = "notes";
    row.file_id = "0123456789abcdef";
    row.file_type = "mp3";
    row.original_file_id = "fedcba9876543210";
    row.original_file_type = "aiff";
    row.duration_ms = 183'600;
    row.loudness_lufs = -14.25;
    row.true_peak_dbtp = -1.0;
    row.features = {{"did:plc:known", "known.test", "Known", std::nullopt}, {"did:plc:unknown", {}, {}, {}}};
    row.image_id = "aaaaaaaaaaaaaaaa";
    row.image_ext = "jpg";
    row.album = AlbumView{"5b1e0000-0000-4000-8000-000000000001", "first", "First", "bbbbbbbbbbbbbbbb", "png"};
    row.tags = {"ambient", "drone"};
    row.atproto_record_uri = "at://did:plc:artist/fm.plyr.track/3kabc";
    row.atproto_record_cid = "bafycid";
    row.publish_state = "published";
    row.play_count = 7;
    row.like_count = 2;
    row.copyright_flagged = false;
    row.operator_labels = {"copyright-violation"};
    row.created_at = 1'764'091'296'123'456;  // 2025-11-25T17:21:36.123456Z
    return row;
}

TEST(TrackViewTest, AnonymousViewerGetsPublicFieldsWithoutOwnerOnlyOnes) {
    ViewSettings settings;
    settings.public_url = "https://plyr.example/";
    ViewContext context{&settings, std::nullopt, false};
    auto out = TrackJson(SampleRow(), context);

    EXPECT_EQ(out.at("id").as_int64(), 42);
    EXPECT_EQ(out.at("title").as_string(), "Song");
    EXPECT_EQ(out.at("artist").as_string(), "The Artist");
    EXPECT_EQ(out.at("artist_handle").as_string(), "artist.test");
    EXPECT_EQ(out.at("artist_did").as_string(), "did:plc:artist");
    EXPECT_EQ(out.at("artist_avatar_url").as_string(), "https://cdn.example/a.jpg");
    EXPECT_EQ(out.at("duration").as_int64(), 184);  // 183.6 s rounds to 184
    EXPECT_EQ(out.at("original_file_type").as_string(), "aiff");
    EXPECT_DOUBLE_EQ(out.at("loudness_lufs").as_double(), -14.25);
    EXPECT_EQ(out.at("audio_url").as_string(), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(out.at("r2_url").as_string(), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(out.at("image_url").as_string(), "https://plyr.example/images/aaaaaaaaaaaaaaaa.jpg");
    EXPECT_EQ(out.at("thumbnail_url").as_string(), "https://plyr.example/images/aaaaaaaaaaaaaaaa_thumb.webp");
    EXPECT_EQ(out.at("atproto_record_url").as_string(), "https://pdsls.dev/at://did:plc:artist/fm.plyr.track/3kabc");
    EXPECT_EQ(out.at("created_at").as_string(), "2025-11-25T17:21:36.123456Z");
    EXPECT_EQ(out.at("artist_support_url").as_string(), "https://atprotofans.com/support/did:plc:artist");
    EXPECT_FALSE(out.at("is_liked").as_bool());
    EXPECT_FALSE(out.at("gated").as_bool());
    EXPECT_FALSE(out.at("comments_enabled").as_bool());
    EXPECT_TRUE(out.at("support_gate").is_null());
    EXPECT_EQ(out.at("visibility").as_string(), "public");
    EXPECT_EQ(out.at("tags").as_array().size(), 2u);
    EXPECT_EQ(out.at("labels").as_array().at(0).as_string(), "copyright-violation");
    const auto& album = out.at("album").as_object();
    EXPECT_EQ(album.at("slug").as_string(), "first");
    EXPECT_EQ(album.at("image_url").as_string(), "https://plyr.example/images/bbbbbbbbbbbbbbbb.png");

    // Owner-only fields are absent, not null.
    EXPECT_FALSE(out.contains("publish_state"));
    EXPECT_FALSE(out.contains("copyright_flagged"));
    EXPECT_FALSE(out.contains("copyright_match"));
}

TEST(TrackViewTest, FeaturesCarryArtistDataOnlyWhenKnown) {
    ViewSettings settings;
    auto out = TrackJson(SampleRow(), ViewContext{&settings, std::nullopt, false});
    const auto& features = out.at("features").as_array();
    ASSERT_EQ(features.size(), 2u);
    EXPECT_EQ(features[0].at("handle").as_string(), "known.test");
    EXPECT_EQ(features[0].at("display_name").as_string(), "Known");
    EXPECT_TRUE(features[0].at("avatar_url").is_null());
    EXPECT_EQ(features[1].as_object().size(), 1u);
    EXPECT_EQ(features[1].at("did").as_string(), "did:plc:unknown");
}

TEST(TrackViewTest, OwnerAndAdminSeeOwnerOnlyFields) {
    ViewSettings settings;
    auto row = SampleRow();
    row.publish_state = "pending";
    row.copyright_flagged.reset();
    for (auto context : {ViewContext{&settings, std::string("did:plc:artist"), false},
                         ViewContext{&settings, std::string("did:plc:admin"), true}}) {
        auto out = TrackJson(row, context);
        EXPECT_EQ(out.at("publish_state").as_string(), "pending");
        EXPECT_TRUE(out.at("copyright_flagged").is_null());  // not scanned
        EXPECT_TRUE(out.at("copyright_match").is_null());
    }
    auto other = TrackJson(row, ViewContext{&settings, std::string("did:plc:someone"), false});
    EXPECT_FALSE(other.contains("publish_state"));
}

TEST(TrackViewTest, GatedTrackHasNoDirectUrlAndIsGatedForEveryoneButItsArtist) {
    ViewSettings settings;
    auto row = SampleRow();
    row.visibility = "supporters";
    auto anonymous = TrackJson(row, ViewContext{&settings, std::nullopt, false});
    EXPECT_TRUE(anonymous.at("r2_url").is_null());
    EXPECT_TRUE(anonymous.at("gated").as_bool());
    EXPECT_EQ(anonymous.at("support_gate").at("type").as_string(), "any");
    EXPECT_EQ(anonymous.at("visibility").as_string(), "supporters");
    auto other = TrackJson(row, ViewContext{&settings, std::string("did:plc:someone"), false});
    EXPECT_TRUE(other.at("gated").as_bool());
    auto artist = TrackJson(row, ViewContext{&settings, std::string("did:plc:artist"), false});
    EXPECT_FALSE(artist.at("gated").as_bool());
    EXPECT_TRUE(artist.at("r2_url").is_null());
}

TEST(TrackViewTest, S3ModeUsesThePublicBucketUrls) {
    ViewSettings settings;
    settings.public_url = "https://plyr.example";
    settings.s3 = true;
    settings.public_bucket_url = "https://audio.cdn.example/";
    settings.public_image_bucket_url = "https://img.cdn.example";
    auto out = TrackJson(SampleRow(), ViewContext{&settings, std::nullopt, false});
    EXPECT_EQ(out.at("audio_url").as_string(), "https://plyr.example/audio/0123456789abcdef");
    EXPECT_EQ(out.at("r2_url").as_string(), "https://audio.cdn.example/audio/0123456789abcdef.mp3");
    EXPECT_EQ(out.at("image_url").as_string(), "https://img.cdn.example/images/aaaaaaaaaaaaaaaa.jpg");
    EXPECT_EQ(out.at("thumbnail_url").as_string(), "https://img.cdn.example/images/aaaaaaaaaaaaaaaa_thumb.webp");

    // Without an image bucket URL the audio bucket's URL serves the images too (same bucket, §8.2 fallback).
    settings.public_image_bucket_url.clear();
    out = TrackJson(SampleRow(), ViewContext{&settings, std::nullopt, false});
    EXPECT_EQ(out.at("image_url").as_string(), "https://audio.cdn.example/images/aaaaaaaaaaaaaaaa.jpg");
}

TEST(TrackViewTest, NullablesAreNullWhenAbsent) {
    ViewSettings settings;
    TrackViewRow row;
    row.id = 1;
    row.artist_did = "did:plc:x";
    row.title = "t";
    row.file_id = "0000000000000000";
    row.file_type = "wav";
    row.created_at = 0;
    auto out = TrackJson(row, ViewContext{&settings, std::nullopt, false});
    EXPECT_EQ(out.at("artist").as_string(), "did:plc:x");  // no display name, no handle
    for (const char* key :
         {"duration", "description", "loudness_lufs", "true_peak_dbtp", "original_file_id", "atproto_record_uri",
          "atproto_record_url", "image_url", "thumbnail_url", "album", "artist_support_url", "artist_avatar_url"}) {
        EXPECT_TRUE(out.at(key).is_null()) << key;
    }
    EXPECT_EQ(out.at("created_at").as_string(), "1970-01-01T00:00:00.000000Z");
}

TEST(TrackViewTest, SupportUrlAndViewerTemplate) {
    EXPECT_EQ(ArtistSupportUrl("https://ko-fi.example/x", "did:plc:a").value(), "https://ko-fi.example/x");
    EXPECT_FALSE(ArtistSupportUrl("", "did:plc:a").has_value());
    EXPECT_FALSE(ArtistSupportUrl("javascript:alert(1)", "did:plc:a").has_value());
    ViewSettings settings;
    settings.record_viewer_url = "https://viewer.example/?u={uri}&x=1";
    EXPECT_EQ(RecordViewerUrl(settings, "at://a/b/c").value(), "https://viewer.example/?u=at://a/b/c&x=1");
    settings.record_viewer_url.clear();
    EXPECT_FALSE(RecordViewerUrl(settings, "at://a/b/c").has_value());
}

}  // namespace
}  // namespace plyr::tracks
