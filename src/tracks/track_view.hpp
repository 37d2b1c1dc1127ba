#pragma once
// tracks::TrackJson — the Track JSON of product.md §4.2 built from one joined row (docs/tracks.md "track API").
//
// Contract
// - Pure functions over plain values: no I/O, no clock, thread-safe.
// - Owner/admin-only fields (publish_state, copyright_flagged, copyright_match) are present only when the
//   viewer is the track's artist or an admin; everyone else never sees them (and only ever sees published
//   tracks: the service filters those before building the view).
// - URLs: audio_url is always {PUBLIC_URL}/audio/{file_id} (access-checked, the one clients should use);
//   r2_url is the direct object URL ({R2_PUBLIC_BUCKET_URL}/audio/{file_id}.{ext} in S3 mode, audio_url on
//   local disk) and null when the track is gated (visibility supporters); image_url / thumbnail_url are
//   {PUBLIC_URL}/images/{image_id}.{ext} and …_thumb.webp on local disk, the public image bucket URL in S3 mode.
// - Not implemented yet (later issues) and fixed here: is_liked false (likes, issue 6), comments_enabled false
//   (comments, issue 6), copyright_match null (scans, issue 9). `gated` is true only for a supporters track
//   whose viewer is not its artist (supporter checks are issue 10).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace plyr::tracks {

// A DID in a track's `features`, with what the artists table knows about it (nothing when unknown).
struct FeatureView {
    std::string did;
    std::optional<std::string> handle;
    std::optional<std::string> display_name;
    std::optional<std::string> avatar_url;
};

struct AlbumView {
    std::string id;
    std::string slug;
    std::string title;
    std::optional<std::string> image_id;
    std::optional<std::string> image_ext;
};

// One track joined with its artist, album, image and tags (what track_service reads).
struct TrackViewRow {
    std::int64_t id = 0;
    std::string artist_did;
    std::optional<std::string> artist_handle;
    std::string artist_display_name;
    std::optional<std::string> artist_avatar_url;
    std::string artist_support_url;  // "" | "atprotofans" | https URL
    std::string title;
    std::optional<std::string> description;
    std::string file_id;
    std::string file_type;
    std::optional<std::string> original_file_id;
    std::optional<std::string> original_file_type;
    std::optional<std::int64_t> duration_ms;
    std::optional<double> loudness_lufs;
    std::optional<double> true_peak_dbtp;
    std::vector<FeatureView> features;
    std::optional<std::string> image_id;
    std::optional<std::string> image_ext;  // jpg | png | webp
    std::optional<AlbumView> album;
    std::vector<std::string> tags;
    std::string visibility = "public";  // public | supporters
    std::optional<std::string> atproto_record_uri;
    std::optional<std::string> atproto_record_cid;
    std::string publish_state = "pending";  // pending | published | failed
    std::int64_t play_count = 0;
    std::int64_t like_count = 0;
    std::int64_t comment_count = 0;
    std::optional<bool> copyright_flagged;
    std::vector<std::string> operator_labels;
    std::int64_t created_at = 0;  // µs since the epoch
};

// What the view needs to know about the deployment (from core::Config; see ViewSettingsFromConfig in
// track_service.hpp).
struct ViewSettings {
    std::string public_url = "http://127.0.0.1:8001";  // no trailing '/'
    bool s3 = false;
    std::string public_bucket_url;        // R2_PUBLIC_BUCKET_URL (S3 mode)
    std::string public_image_bucket_url;  // R2_PUBLIC_IMAGE_BUCKET_URL, falling back to the audio bucket URL
    std::string record_viewer_url = "https://pdsls.dev/{uri}";  // ATPROTO_RECORD_VIEWER_URL
};

struct ViewContext {
    const ViewSettings* settings = nullptr;  // required
    std::optional<std::string> viewer_did;   // nullopt = anonymous
    bool viewer_is_admin = false;
};

// True when the viewer sees the owner-only fields (artist or admin).
bool ViewerIsOwnerOrAdmin(const TrackViewRow& row, const ViewContext& context);
// True when the viewer lacks access to the audio (see the contract).
bool ViewerIsGated(const TrackViewRow& row, const ViewContext& context);

boost::json::object TrackJson(const TrackViewRow& row, const ViewContext& context);

// URL helpers (also used by /audio/{file_id}/url and the record builder's callers).
std::string AudioUrl(const ViewSettings& settings, std::string_view file_id);
std::string ImageUrl(const ViewSettings& settings, std::string_view image_id, std::string_view ext);
std::string ThumbnailUrl(const ViewSettings& settings, std::string_view image_id);
// The viewer link of an AT-URI: `{uri}` in the template replaced; nullopt when the template is empty.
std::optional<std::string> RecordViewerUrl(const ViewSettings& settings, std::string_view uri);
// artists.support_url → a link: "atprotofans" → https://atprotofans.com/support/{did}; an https URL as is.
std::optional<std::string> ArtistSupportUrl(std::string_view support_url, std::string_view did);
// ISO-8601 UTC with microseconds ("2026-11-25T17:21:36.123456Z") of µs since the epoch.
std::string IsoTimestamp(std::int64_t micros);

}  // namespace plyr::tracks
