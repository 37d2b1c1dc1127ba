#pragma once
// tracks::TrackService — the track API's domain logic (product.md §4.4-4.5 track rows, §6.6 access, §6.12 feed,
// §6.15 track delete; docs/tracks.md "track API" and "streaming"). api/track_routes and api/media_routes are
// thin translations of these calls.
//
// Contract
// - Every method is BLOCKING (database, object store): coroutines call through net::Offload.
// - Expected failures are ApiError values with the HTTP status, the product error code and (validation) the
//   field: 404 not_found for an unknown track AND for one the viewer may not see (pending/failed tracks of
//   others), 403 forbidden for a mutation of another artist's track (nothing changes), 400 invalid_cursor,
//   invalid_did, the upload_fields codes for PATCH, 404 album_not_found, 401 authentication_required /
//   402 supporter_required for gated audio. Database kBusy → 503 database_busy; anything else → 500
//   internal_error (logged).
// - Visibility: non-owners only ever see published tracks. Gated audio (every referencing track is
//   `supporters`) is open to its artist only until supporter checks exist (issue 10).
// - PATCH/DELETE/restore-record write the DB change and the outbox entry (entity_type "track",
//   collection {ns}.track, the track's rkey) in ONE transaction; a failed track (never published) queues
//   nothing on PATCH. DELETE frees media (tracks::ReleaseMedia) after the commit; a release failure is logged,
//   never reported (the row is gone either way; an orphan object is a leak, never a lost reference).
// - Thread-safety: all methods may run concurrently; the referenced Db, stores, config and clock must outlive
//   the service.

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <tl/expected.hpp>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"
#include "tracks/track_view.hpp"

namespace plyr::tracks {

struct ApiError {
    int status = 500;
    std::string code;
    std::string message;  // lowercase, user-safe
    std::string field;    // validation errors only
};

template <typename T>
using ApiResult = tl::expected<T, ApiError>;

inline tl::unexpected<ApiError> ApiFail(int status, std::string code, std::string message, std::string field = {}) {
    return tl::unexpected<ApiError>(ApiError{status, std::move(code), std::move(message), std::move(field)});
}
// A storage/db Error as an ApiError (kBusy → 503 database_busy, kNotFound → 404, else 500 internal_error).
ApiError ApiErrorFrom(const Error& error);

struct Viewer {
    std::optional<std::string> did;  // nullopt = anonymous
    bool is_admin = false;
};

ViewSettings ViewSettingsFromConfig(const core::Config& config);

// A track id in a path: a positive 63-bit decimal integer without sign, spaces or leading zeros beyond "0"
// itself (which is not positive). Anything else → nullopt (the API answers 400 invalid_id).
std::optional<std::int64_t> ParseTrackId(std::string_view text);

struct FeedParams {
    std::optional<std::string> artist_did;
    std::optional<std::string> tags;                // comma list (raw)
    std::optional<std::string> filter_hidden_tags;  // "true" | "false" (raw); default true without artist_did
    std::optional<std::string> cursor;
    std::optional<std::string> limit;  // raw; clamped to 1..100, default DEFAULT_PAGE_SIZE
};

struct MineParams {
    std::optional<std::string> limit;
    std::optional<std::string> offset;
    std::optional<std::string> q;
    std::optional<std::string> sort;  // recent | title | plays (anything else → recent)
};

// PATCH /tracks/{id}: the raw fields as received (JSON values, or multipart text parsed as JSON where the field
// is JSON). nullopt = not sent.
struct TrackEdit {
    std::optional<std::string> title;
    std::optional<std::string> description;  // "" clears
    std::optional<std::string> album;        // "" leaves the album
    std::optional<std::string> album_id;
    std::optional<boost::json::value> features;      // array of handles/DIDs
    std::optional<boost::json::value> tags;          // array of strings
    std::optional<boost::json::value> support_gate;  // {"type":"any"} or null
    bool remove_image = false;
    // A new artwork image already normalised and stored (images row + objects) by the caller: its id.
    std::optional<std::string> new_image_id;
};

// Where a GET /audio/{file_id} is served from, once access is granted.
struct AudioAccess {
    std::string file_id;
    std::string ext;        // stored extension of this file
    bool gated = false;     // every referencing visible track is supporters-only
    std::string key;        // audio/{file_id}.{ext}
    std::string mime_type;  // by format (product.md §6.6 step 3)
};

struct ImageAccess {
    std::string image_id;
    std::string key;  // images/{id}.{ext} or a derived …_thumb.webp / _320.webp / _640.webp
    std::string mime_type;
};

// Content-Type of an audio format name / extension (mp3 → audio/mpeg, …; unknown → application/octet-stream).
std::string_view AudioMimeType(std::string_view ext);

struct TrackServiceDeps {
    storage::db::Db* db = nullptr;
    const core::Config* config = nullptr;
    const core::Clock* clock = nullptr;
    storage::blobs::BlobStore* audio_store = nullptr;    // public audio bucket (local: DATA_DIR/media)
    storage::blobs::BlobStore* private_store = nullptr;  // gated audio (may equal audio_store)
    storage::blobs::BlobStore* image_store = nullptr;
    // Resolves a handle named in `features` to its DID (blocking). Unset: only handles of known artists
    // (artists table) are accepted; others → 400 invalid_features.
    std::function<Result<std::string>(std::string_view handle)> resolve_handle;
};

class TrackService {
  public:
    explicit TrackService(TrackServiceDeps deps);

    const ViewSettings& view_settings() const { return settings_; }

    ApiResult<boost::json::object> GetTrack(std::int64_t id, const Viewer& viewer);
    // {tracks, next_cursor, has_more}
    ApiResult<boost::json::object> Feed(const FeedParams& params, const Viewer& viewer);
    // {tracks, total, has_more}; viewer.did required.
    ApiResult<boost::json::object> Mine(const MineParams& params, const Viewer& viewer);
    // {resolution, samples_per_peak, peaks:[[min,max], …]}; 400 validation_error for a bad resolution.
    ApiResult<boost::json::object> Peaks(std::int64_t id, std::string_view resolution, const Viewer& viewer);

    // Owner only. Returns the updated Track JSON. Images released when unreferenced after the commit.
    ApiResult<boost::json::object> Update(std::int64_t id, const TrackEdit& edit, const Viewer& viewer);
    ApiResult<void> Delete(std::int64_t id, const Viewer& viewer);
    ApiResult<void> RestoreRecord(std::int64_t id, const Viewer& viewer);

    // §6.6 steps 1-2. file_id must already be syntactically valid; ext (when given) must equal the stored one
    // (else 400 invalid_file_id).
    ApiResult<AudioAccess> ResolveAudio(std::string_view file_id, const std::optional<std::string>& ext,
                                        const Viewer& viewer);
    // `name` is the last path segment: {id}.{ext}, {id}_thumb.webp, {id}_320.webp, {id}_640.webp.
    // 400 invalid_id for anything else; 404 when no images row or the extension differs.
    ApiResult<ImageAccess> ResolveImage(std::string_view name);

    // The answer of ResolveAudio for an anonymous viewer when it was public and was computed less than
    // kPublicAudioCacheTtl ago in this process (non-blocking: callable on an I/O thread). Range requests of one
    // playback hit this instead of the database. Writes through this service clear the cache; a track deleted or
    // gated through another instance stays playable here for at most the TTL.
    std::optional<AudioAccess> CachedPublicAudio(std::string_view file_id, const std::optional<std::string>& ext) const;

    // The store holding the audio object (private for gated audio in S3 mode).
    storage::blobs::BlobStore& AudioStoreFor(const AudioAccess& access) const;
    storage::blobs::BlobStore& image_store() const { return *deps_.image_store; }
    const core::Config& config() const { return *deps_.config; }

  private:
    struct CachedAudio {
        AudioAccess access;
        std::int64_t expires_at_us = 0;
    };
    struct CacheInvalidation {
        const TrackService& service;
        ~CacheInvalidation();
    };
    void RememberPublicAudio(const AudioAccess& access) const;
    void ForgetCachedAudio() const;

    TrackServiceDeps deps_;
    ViewSettings settings_;
    mutable std::mutex audio_cache_mu_;
    mutable std::unordered_map<std::string, CachedAudio> audio_cache_;
};

inline constexpr std::int64_t kPublicAudioCacheTtlUs = 2'000'000;
inline constexpr std::size_t kPublicAudioCacheMaxEntries = 4096;

}  // namespace plyr::tracks
