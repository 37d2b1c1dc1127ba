#pragma once
// storage::repos — the `tracks` table and what hangs off it (track_peaks, track_fingerprints; migration
// 0005_tracks; product.md §5.2, §6.4, §6.6, §6.12, §6.15). Tags: tag_repo.hpp; albums: album_repo.hpp; plays:
// play_repo.hpp; images: image_repo.hpp.
//
// Contract
// - Every function is BLOCKING and runs on the db::Connection it is given: inside the caller's transaction
//   (db::Db::Write for the writing ones, Read or Write for the reading ones). Coroutines call through
//   net::Offload(). Functions never open transactions of their own.
// - Identical results on SQLite and PostgreSQL (JSON columns compare equal as boost::json values; PostgreSQL
//   may reorder object keys and whitespace, so never compare serialized JSON text).
// - JSON columns are boost::json values in the structs: `features` (array of {did, …}), `support_gate`
//   (object or absent), `record_extra` (object: record fields plyr does not manage, incl. audioBlob);
//   `operator_labels` is a list of label values.
// - Times are µs since the epoch, passed in by the caller. Track ids are positive int64; album ids and upload
//   job ids are UUID text (a malformed UUID never reaches PostgreSQL: lookups by it find nothing).
// - Errors: db errors pass through (kConflict on unique/FK violations, e.g. a second track with the same
//   (artist_did, atproto_rkey)); kNotFound where stated; kInvalidArgument for a malformed cursor.
// - Thread-safety: stateless; a Connection belongs to one thread at a time (db.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

enum class PublishState { kPending, kPublished, kFailed };
enum class Visibility { kPublic, kSupporters };

std::string_view ToString(PublishState state);     // "pending" | "published" | "failed"
std::string_view ToString(Visibility visibility);  // "public" | "supporters"
std::optional<PublishState> ParsePublishState(std::string_view text);
std::optional<Visibility> ParseVisibility(std::string_view text);

// Every column of `tracks`.
struct TrackRow {
    std::int64_t id = 0;
    std::string artist_did;
    std::string title;
    std::optional<std::string> description;
    std::string file_id;  // playable rendition, 16 hex
    std::string file_type;
    std::optional<std::string> original_file_id;  // original upload when it was transcoded
    std::optional<std::string> original_file_type;
    std::int64_t file_size = 0;
    std::string codec;
    std::int64_t sample_rate = 0;
    std::int64_t channels = 0;
    std::optional<std::int64_t> duration_ms;
    std::optional<double> loudness_lufs;
    std::optional<double> true_peak_dbtp;
    std::optional<std::string> album_id;  // UUID
    std::optional<std::int64_t> album_position;
    boost::json::array features;  // [{"did": …}, …]
    std::optional<std::string> image_id;
    Visibility visibility = Visibility::kPublic;
    std::optional<boost::json::value> support_gate;  // {"type":"any"} or absent
    std::string atproto_rkey;
    std::optional<std::string> atproto_record_uri;
    std::optional<std::string> atproto_record_cid;
    boost::json::object record_extra;
    PublishState publish_state = PublishState::kPending;
    std::optional<std::string> upload_job_id;  // UUID of the upload job that created it
    std::int64_t play_count = 0;
    std::int64_t like_count = 0;
    std::int64_t comment_count = 0;
    std::optional<bool> copyright_flagged;  // nullopt = not scanned
    std::vector<std::string> operator_labels;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;

    bool HasLabel(std::string_view value) const;
};

// What the upload job inserts in `publishing` (before the PDS is called). publish_state starts `pending`;
// the counters start at 0; created_at = updated_at = now.
struct NewTrack {
    std::string artist_did;
    std::string title;
    std::optional<std::string> description;
    std::string file_id;
    std::string file_type;
    std::optional<std::string> original_file_id;
    std::optional<std::string> original_file_type;
    std::int64_t file_size = 0;
    std::string codec;
    std::int64_t sample_rate = 0;
    std::int64_t channels = 0;
    std::optional<std::int64_t> duration_ms;
    std::optional<double> loudness_lufs;
    std::optional<double> true_peak_dbtp;
    std::optional<std::string> album_id;
    std::optional<std::int64_t> album_position;
    boost::json::array features;
    std::optional<std::string> image_id;
    Visibility visibility = Visibility::kPublic;
    std::optional<boost::json::value> support_gate;
    std::string atproto_rkey;  // TID from the upload time
    boost::json::object record_extra;
    std::optional<std::string> upload_job_id;
    std::int64_t now = 0;
};

struct ReservedTrack {
    std::int64_t id = 0;
    bool created = false;  // false: a row of this upload_job_id already existed (a re-run job); it is unchanged
};

// PATCH /tracks/{id}: every engaged field is written; the outer optional says "change it", the inner one
// (where there is one) allows clearing. updated_at is always set to `now`.
struct TrackPatch {
    std::optional<std::string> title;
    std::optional<std::optional<std::string>> description;
    std::optional<boost::json::array> features;
    std::optional<std::optional<std::string>> album_id;
    std::optional<std::optional<std::int64_t>> album_position;
    std::optional<std::optional<std::string>> image_id;
    std::optional<std::optional<boost::json::value>> support_gate;
    std::optional<Visibility> visibility;
};

// Opaque position in the feed: the last row's (created_at, id).
struct FeedCursor {
    std::int64_t created_at = 0;
    std::int64_t id = 0;
    bool operator==(const FeedCursor&) const = default;
};
// base64url (no padding) of 16 bytes: created_at and id, big-endian.
std::string EncodeFeedCursor(const FeedCursor& cursor);
std::string EncodeFeedCursor(std::int64_t created_at, std::int64_t id);
// kInvalidArgument for anything EncodeFeedCursor could not have produced (bad base64url, wrong length,
// non-canonical encoding, negative created_at, id ≤ 0). The API answers 400 invalid_cursor.
Result<FeedCursor> DecodeFeedCursor(std::string_view text);

// Discovery feed / artist catalogue / tag page (product.md §6.12). Always: publish_state published, artist
// not deactivated, no `copyright-violation` in operator_labels. Newest first by (created_at, id).
struct FeedQuery {
    std::optional<std::string> artist_did;  // one artist's catalogue
    std::vector<std::string> tags;          // every one must be on the track (normalised names)
    std::vector<std::string> hidden_tags;   // a track with any of them is left out
    std::optional<FeedCursor> cursor;       // exclusive: rows strictly after it in feed order
    int limit = 50;                         // clamped to 1..100
};
struct FeedPage {
    std::vector<TrackRow> rows;
    bool has_more = false;
    std::optional<FeedCursor> next_cursor;  // set when has_more: the last row's position
};

enum class OwnerSort { kRecent, kTitle, kPlays };
// "recent" | "title" | "plays"; nullopt otherwise.
std::optional<OwnerSort> ParseOwnerSort(std::string_view text);

// The owner's portal (GET /tracks/me): every track of the artist, whatever its state or labels.
struct OwnerListQuery {
    std::string artist_did;
    int limit = 50;                       // clamped to 1..100
    int offset = 0;                       // negative → 0
    std::string q;                        // title substring, ASCII case-insensitive; empty = all
    OwnerSort sort = OwnerSort::kRecent;  // recent: created_at desc; title: title asc (ASCII case-folded,
                                          // bytewise); plays: play_count desc; ties by id desc
};
struct OwnerPage {
    std::vector<TrackRow> rows;
    std::int64_t total = 0;  // rows matching artist_did and q, ignoring limit/offset
};

enum class PeakResolution { kLow, kHigh };
std::string_view ToString(PeakResolution resolution);  // "low" | "high"
std::optional<PeakResolution> ParsePeakResolution(std::string_view text);

struct TrackPeaks {
    std::int64_t samples_per_peak = 0;
    std::string peaks;  // int8 min,max pairs
};

struct TrackFingerprint {
    std::int64_t algorithm = 0;
    std::int64_t duration_ms = 0;
    std::string fingerprint;            // raw bytes (32-bit items, caller's byte order)
    boost::json::value silent_windows;  // JSON array
    std::int64_t created_at = 0;
};

// Everything the Track JSON (product.md §4.2) needs beyond the row, read N+1 free.
struct TrackArtistBrief {
    std::string did;
    std::optional<std::string> handle;
    std::string display_name;
    std::optional<std::string> avatar_url;
    std::string support_url;
    bool deactivated = false;
};
struct TrackAlbumBrief {
    std::string id;
    std::string slug;
    std::string title;
    std::optional<std::string> image_id;
    std::optional<std::string> image_ext;  // from `images`; nullopt when the image row is missing
};
struct TrackView {
    TrackRow track;
    std::optional<std::string> image_ext;  // of track.image_id, from `images`
    TrackArtistBrief artist;
    std::optional<TrackAlbumBrief> album;
    std::vector<std::string> tags;  // names, sorted
};

class TrackRepository {
  public:
    // Inserts the row (publish_state pending). When upload_job_id is set and a row of that job exists, returns
    // that row's id with created=false and changes nothing (concurrent reserves of one job yield one row).
    static Result<ReservedTrack> ReserveTrack(db::Connection& tx, const NewTrack& track);

    static Result<std::optional<TrackRow>> Get(db::Connection& conn, std::int64_t id);
    // Get that also locks the row until the end of the transaction (PostgreSQL: FOR UPDATE; SQLite: the
    // write transaction is already exclusive). Use inside db::Db::Write only.
    static Result<std::optional<TrackRow>> GetForUpdate(db::Connection& tx, std::int64_t id);
    static Result<std::optional<TrackRow>> GetByUploadJob(db::Connection& conn, std::string_view upload_job_id);
    static Result<std::optional<TrackRow>> GetByRecordUri(db::Connection& conn, std::string_view record_uri);
    // Tracks whose file_id or original_file_id is `file_id`, any state, lowest id first (/audio access check,
    // product.md §6.6 step 2: the caller filters published / owned / public).
    static Result<std::vector<TrackRow>> FindByFile(db::Connection& conn, std::string_view file_id);

    // duplicate_upload check (§6.4 storing): the lowest id of a track of this artist (any publish state)
    // whose file_id or original_file_id is in `file_ids`. A row created by `exclude_upload_job_id` (the
    // running job's own reserved row on a re-run) does not count.
    static Result<std::optional<std::int64_t>> FindArtistDuplicate(
        db::Connection& tx, std::string_view artist_did, const std::vector<std::string>& file_ids,
        const std::optional<std::string>& exclude_upload_job_id = std::nullopt);

    // publish_state = published, uri and cid stored, record_extra replaced (nullopt: kept). kNotFound when no row.
    static Status MarkPublished(db::Connection& tx, std::int64_t id, std::string_view record_uri,
                                std::string_view record_cid,
                                const std::optional<boost::json::object>& record_extra = std::nullopt);
    // kNotFound when no row.
    static Status SetPublishState(db::Connection& tx, std::int64_t id, PublishState state);
    // kNotFound when no row. An empty patch still bumps updated_at.
    static Status UpdateMetadata(db::Connection& tx, std::int64_t id, const TrackPatch& patch, std::int64_t now);
    // Deletes the row (peaks, fingerprint and track_tags cascade). false when there was none.
    static Result<bool> Delete(db::Connection& tx, std::int64_t id);

    // Reference checks for content-addressed media (§5.3), run in the transaction that removes a reference.
    // File: tracks.file_id or tracks.original_file_id of ANY track. Image: tracks.image_id or albums.image_id.
    static Result<bool> IsFileReferenced(db::Connection& tx, std::string_view file_id);
    static Result<bool> IsImageReferenced(db::Connection& tx, std::string_view image_id);

    // Fetches limit+1 rows to know has_more.
    static Result<FeedPage> ListFeed(db::Connection& conn, const FeedQuery& query);
    static Result<OwnerPage> ListByArtistForOwner(db::Connection& conn, const OwnerListQuery& query);

    // Upsert of one resolution.
    static Status PutPeaks(db::Connection& tx, std::int64_t track_id, PeakResolution resolution,
                           std::int64_t samples_per_peak, std::string_view peaks);
    static Result<std::optional<TrackPeaks>> GetPeaks(db::Connection& conn, std::int64_t track_id,
                                                      PeakResolution resolution);
    // Upsert. silent_windows_json must be a JSON array (kInvalidArgument otherwise).
    static Status PutFingerprint(db::Connection& tx, std::int64_t track_id, std::int64_t algorithm,
                                 std::int64_t duration_ms, std::string_view fingerprint,
                                 std::string_view silent_windows_json, std::int64_t now);
    static Result<std::optional<TrackFingerprint>> GetFingerprint(db::Connection& conn, std::int64_t track_id);

    // Views of the given tracks in the order of `ids` (duplicates collapsed, missing ids skipped). One query
    // for tracks+artists+images, one for albums, one for tags — whatever the number of ids.
    static Result<std::vector<TrackView>> GetViews(db::Connection& conn, const std::vector<std::int64_t>& ids);
};

}  // namespace plyr::storage::repos
