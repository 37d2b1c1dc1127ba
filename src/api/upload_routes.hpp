#pragma once
// api — the upload endpoints (product.md §4.4 POST /tracks/ and GET /tracks/uploads/{upload_id}/progress, §6.4
// handler steps 1-6, §4.1 SSE and idempotency, §9 rows 1-4, 12-19, 21-23, 25; docs/tracks.md "upload API").
//
// Contract
// - AddUploadRoutes registers, with OpenAPI docs:
//   POST /tracks/ (stream_body; the `upload` rate-limit bucket instead of `default`) → 202 {upload_id, status}
//     after the multipart body is staged under DATA_DIR/staging/<id>/ (audio, image), sniffed, checked and the
//     `upload` job (payload: s3_common "tracks (H6 → H7)") is enqueued with owner_did and the Idempotency-Key.
//     Any failure before the 202 (including a client that disconnects) deletes the staging directory.
//   GET /tracks/uploads/{upload_id}/progress → SSE of Progress events (product.md §4.2) until a terminal state.
//   GET /tracks/uploads/{upload_id} → the current Progress event as JSON (for API clients that poll).
// - Auth: cookie or Bearer (auth::AuthService::Authenticate); cookie-authenticated POST passes CSRF first.
//   Uploading needs an `artists` row (issue 6 adds profile_completed; see docs/tracks.md). Progress is owner
//   only: another user's or an unknown upload → 404 not_found; a malformed id → 400 invalid_id.
// - Blocking work (database, filesystem) runs on deps.pool through net::Offload.
// - Thread-safety: every referenced dependency must outlive the router; handlers run concurrently.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_service.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "http/rate_limit.hpp"
#include "http/router.hpp"
#include "net/offload.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"
#include "tracks/staging.hpp"

namespace plyr::api {

inline constexpr int kMaxLiveUploadsPerArtist = 3;
inline constexpr std::size_t kMaxIdempotencyKeyChars = 64;

struct UploadRoutesOptions {
    std::shared_ptr<http::RateLimiter> limiter;      // null: no `upload` bucket
    std::vector<std::string> credentialed_origins;   // CSRF: origin of PUBLIC_URL + CORS_ALLOWED_ORIGINS
    std::uint64_t max_upload_bytes = 1536ULL << 20;  // MAX_UPLOAD_SIZE_MB: the audio file; the body may be 1 MiB more
    std::uint64_t max_image_bytes = 20ULL << 20;     // MAX_IMAGE_SIZE_MB
    // S3 mode (product.md §6.4 step 6): the private bucket. The staged audio is put there as staging/<job id>
    // before the job is enqueued (under that caller-chosen id), so a `plyr worker` on another machine can fetch it.
    // Null (local storage): the staged directory is the hand-off.
    storage::blobs::BlobStore* handoff_store = nullptr;
    // Wakes the in-process job workers after an upload job is committed (WorkerPool::Notify); may be empty.
    std::function<void()> notify_workers;
    // SSE pacing (product.md §4.1): poll the job this often (≤ 4 events/s), resend the state at least this often
    // while it is not terminal, and send `: ping` when nothing else was sent for ping_interval.
    std::chrono::milliseconds poll_interval{250};
    std::chrono::milliseconds resend_interval{2000};
    std::chrono::milliseconds ping_interval{15000};
};

// Options from the configuration: limits from MAX_UPLOAD_SIZE_MB / MAX_IMAGE_SIZE_MB and the credentialed origins
// (PUBLIC_URL's origin + CORS_ALLOWED_ORIGINS). The caller adds limiter and notify_workers.
UploadRoutesOptions UploadRoutesOptionsFromConfig(const core::Config& config);

struct UploadRoutesDeps {
    auth::AuthService& auth;
    storage::db::Db& db;
    net::BlockingPool& pool;
    const core::Clock& clock;
    const tracks::Staging& staging;
    UploadRoutesOptions options;
};

// kAlreadyExists when the routes are already registered (router errors pass through).
Status AddUploadRoutes(http::Router& router, UploadRoutesDeps deps);

}  // namespace plyr::api
