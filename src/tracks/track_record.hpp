#pragma once
// tracks::BuildTrackRecord — the `{ns}.track` record of product.md §3.2 (docs/tracks.md "record").
//
// Contract
// - BuildTrackRecord(input, current_on_pds) returns the record plyr writes: every field plyr manages comes from
//   `input`; everything else (unknown keys, `labels`, `audioBlob`) is carried over from `current_on_pds` (the
//   record now on the PDS, or the row's record_extra when the PDS copy is unknown). `createdAt` is taken from
//   the current record when it has a valid one (it never changes), else formatted from input.created_at_us.
//   `audioBlob`: input.audio_blob when the playable file was just uploaded, else the current one (never
//   dropped). `description`: input.description when set (an empty string removes it), else carried over.
//   `artist` = display name, or the handle when the display name is blank, cut at a grapheme boundary to
//   256 bytes.
// - The record is validated against the lexicon catalog before it is returned: a failure is kInternal (a
//   bug or bad data upstream — such a record is never sent, product.md §3.1 rule 1). kInvalidArgument when
//   the input lacks an artist name (neither display name nor handle) or current_on_pds is not a map.
// - URL helpers: AudioUrl / ImageUrl build the public URLs of §3.2 from the configuration.
// Thread-safety: pure functions over immutable inputs.

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atproto/data/value.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "pds/outbox.hpp"
#include "pds/record_source.hpp"
#include "storage/db/db.hpp"

namespace plyr::tracks {

inline constexpr std::size_t kMaxArtistBytes = 256;

// A featured artist as written into the record: `did` always, handle/display name as snapshots.
struct FeatureSnapshot {
    std::string did;
    std::optional<std::string> handle;        // omitted when empty or not a valid handle ("handle.invalid")
    std::optional<std::string> display_name;  // omitted when empty; cut to 256 bytes
};

struct TrackRecordInput {
    std::string app_namespace = "fm.plyr";  // ATPROTO_APP_NAMESPACE: $type = {ns}.track
    std::string title;
    std::string artist_display_name;
    std::string artist_handle;
    std::string file_type;                       // extension of the playable file (mp3, wav, m4a, flac)
    std::int64_t created_at_us = 0;              // upload time (= the TID's timestamp)
    std::string audio_url;                       // AudioUrl(...)
    std::optional<atproto::BlobRef> audio_blob;  // set only when the playable file was just uploaded
    std::optional<std::string> album_title;
    std::optional<std::int64_t> duration_ms;  // written as whole seconds, rounded
    std::vector<FeatureSnapshot> features;
    std::optional<std::string> image_url;
    bool support_gate = false;               // {"type":"any"} iff the track is supporter-gated
    std::optional<std::string> description;  // nullopt: carried over; "": removed
};

// The `{ns}.track` collection name.
std::string TrackCollection(std::string_view app_namespace);

Result<atproto::Value> BuildTrackRecord(const atproto::lexicon::Catalog& catalog, const TrackRecordInput& input,
                                        const std::optional<atproto::Value>& current_on_pds);

// The fields of a record plyr does not manage (unknown keys, labels, audioBlob), as a map: stored in
// tracks.record_extra after each write so a rebuild without the PDS copy still keeps them.
atproto::Value UnmanagedFields(const atproto::Value& record);

// `text` cut to at most max_bytes bytes at an extended grapheme cluster boundary (never inside a UTF-8 sequence
// or a cluster). Invalid UTF-8 is cut at a byte boundary after the last complete sequence.
std::string CutAtGraphemeBoundary(std::string_view text, std::size_t max_bytes);

// product.md §3.2 audioUrl: gated → {PUBLIC_URL}/audio/{file_id}; S3 with a public bucket URL →
// {R2_PUBLIC_BUCKET_URL}/audio/{file_id}.{ext}; otherwise {PUBLIC_URL}/audio/{file_id}.{ext}.
std::string AudioUrl(const core::Config& config, std::string_view file_id, std::string_view ext, bool gated);
// product.md §3.2 imageUrl: S3 with a public image (else audio) bucket URL → {that}/images/{id}.{ext}, else
// {PUBLIC_URL}/images/{id}.{ext}.
std::string ImageUrl(const core::Config& config, std::string_view image_id, std::string_view ext);

// The outbox's RecordSource for entity_type "track" (entity_id = the track id as decimal text): builds the record
// at send time from the DB row (TrackRepository::GetViews: title, artist, album, image, features snapshots,
// visibility) and the record on the PDS, or — when there is none — the row's record_extra, so audioBlob and foreign
// fields survive a record that was lost. A missing row (deleted track) → nullopt (the put becomes a delete).
// OnWritten stores uri/cid, publish_state published and record_extra (the unmanaged fields of the record built
// last for that entity). Thread-safe (the last-built map is under a mutex).
inline constexpr std::string_view kTrackEntityType = "track";

// The outbox write of a track's record: `{ns}.track` at the track's fixed rkey, built at send time by
// TrackRecordSource (entity "track", id = the track id). record_exists matters for kDelete only.
pds::OutboxWrite TrackOutboxWrite(std::string_view app_namespace, std::string_view artist_did, std::string_view rkey,
                                  std::int64_t track_id, pds::WriteOp op, bool record_exists = true);

class TrackRecordSource final : public pds::RecordSource {
  public:
    // Both must outlive the source.
    TrackRecordSource(const core::Config& config, const atproto::lexicon::Catalog& catalog)
        : config_(config), catalog_(catalog) {}

    Result<pds::BuiltRecord> Build(storage::db::Db& db, const std::string& entity_id,
                                   const std::optional<atproto::Value>& current_on_pds) override;
    Status OnWritten(storage::db::Db& db, const std::string& entity_id, const std::string& uri,
                     const std::string& cid) override;

  private:
    const core::Config& config_;
    const atproto::lexicon::Catalog& catalog_;
    std::mutex mutex_;
    std::map<std::string, atproto::Value> last_built_;  // entity id → unmanaged fields of the last built record
};

}  // namespace plyr::tracks
