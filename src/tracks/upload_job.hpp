#pragma once
// tracks upload job: the `upload` job handler of product.md §6.4 (docs/tracks.md "upload job").
//
// Contract
// - RegisterUploadJob registers the handler for job type "upload" on a WorkerPool (before Start). The payload is
//   the one POST /tracks/ enqueues (docs/tracks.md "upload API"); upload_id = job id, owner_did = uploader.
// - Phases (JobContext::Progress, percent of the job's own 0-100 by the weights validating 5, transcoding 25,
//   storing 5, artwork 5, publishing 8, finalizing 2): one sandboxed media::Analyse run (probe, loudness, peaks,
//   fingerprint, web rendition when needed) → content-addressed audio objects + duplicate check → artwork
//   (uploaded image, else embedded cover) → reserved tracks row with album membership, peaks and fingerprint
//   (publish_state pending, fixed TID rkey) → PDS (uploadBlob when enabled, putRecord read-modify-write) → tags.
// - Outcomes: completed with result {track_id, atproto_uri, atproto_cid} (uri/cid null while deferred) and
//   warnings (the payload's, e.g. extension_mismatch; feature_unresolved, album_not_found, artwork_unreadable,
//   image_unavailable, pds_blob_failed, pds_publish_deferred, pds_auth_required); failed with the error codes of
//   §6.4/§9 (audio_unreadable, audio_too_long, unsupported_audio_format, transcode_failed, duplicate_upload,
//   storage_full, storage_error, image_unreadable, pds_rejected) or stalled / invalid_payload / artist_not_found,
//   and a lowercase message. A failure that ends the job leaves no row that never reached the PDS or the outbox,
//   no object only this run referenced and no staging directory; a retryable failure with attempts left keeps
//   everything for the next attempt.
// - Re-runs (a crashed worker's expired lease) duplicate nothing: objects are content-addressed, the row is
//   found by upload_job_id, the rkey is derived from uploaded_at_us and the job id.
// Thread-safety: the handler runs on pool threads; every dependency must be thread-safe and outlive the pool.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "jobs/worker.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"

namespace plyr::atproto::lexicon {
class Catalog;
}
namespace plyr::media {
class Sandbox;
}
namespace plyr::pds {
class SessionProvider;
}

namespace plyr::tracks {

inline constexpr std::string_view kUploadJobType = "upload";

// A resolved featured artist (or uploader) identity.
struct ResolvedIdentity {
    std::string did;
    std::string handle;        // verified handle; empty or "handle.invalid" when it does not verify
    std::string display_name;  // may be empty
};
// handle-or-DID → identity; any error means "unresolvable" (the feature is dropped with feature_unresolved).
using IdentityLookup = std::function<Result<ResolvedIdentity>(const std::string& handle_or_did)>;

struct UploadJobDeps {
    storage::db::Db* db = nullptr;
    const core::Config* config = nullptr;
    storage::blobs::BlobStore* audio_store = nullptr;    // Bucket::kAudio
    storage::blobs::BlobStore* image_store = nullptr;    // Bucket::kImages
    storage::blobs::BlobStore* private_store = nullptr;  // Bucket::kPrivate (S3 staging); may be null locally
    media::Sandbox* sandbox = nullptr;
    pds::SessionProvider* sessions = nullptr;
    IdentityLookup resolve_identity;
    const atproto::lexicon::Catalog* catalog = nullptr;  // EmbeddedCatalog(ATPROTO_APP_NAMESPACE)
    const core::Clock* clock = nullptr;
    std::function<void()> notify_outbox;  // wakes the outbox worker after an enqueue (may be empty)
    // putRecord retry delays on transient errors (4 attempts: 1/2/4 s); tests shorten them.
    std::chrono::milliseconds publish_retry_base{1000};
};

// kInvalidArgument when a required dependency is missing; the pool's Register errors otherwise.
Status RegisterUploadJob(jobs::WorkerPool& pool, UploadJobDeps deps);

// The handler itself (what RegisterUploadJob registers), for tests that drive one JobContext.
Status RunUploadJob(const UploadJobDeps& deps, jobs::JobContext& ctx);

// The record key of an upload: a TID whose timestamp is uploaded_at_us and whose clock id is derived from the
// job id, so every attempt of one job computes the same key.
std::string UploadRecordKey(std::int64_t uploaded_at_us, std::string_view job_id);

}  // namespace plyr::tracks
