#pragma once
// tracks plays — POST /tracks/{id}/play counting (product.md §6.9; docs/tracks.md "track API").
//
// Contract
// - CountThresholdMs(duration): min(30 s, 50 % of the duration); 30 s when the duration is unknown.
// - DedupeTtlUs(duration): clamp(duration, 30 s, 1 h); 5 min when unknown.
// - ListenerKey: the DID when signed in; else "anon:" + the plyr_play_id cookie when it is 32 lowercase hex
//   characters (16 random bytes); else the client IP.
// - RecordPlay (BLOCKING: one db write transaction through storage::repos::PlayRepository::RecordPlay):
//   the track must exist and be visible to the viewer (published, or the viewer's own) → else 404 not_found;
//   listened_ms below the threshold → 422 below_threshold (nothing written); listen_id must be a UUID
//   (400 validation_error, field listen_id); listened_ms negative → 400 validation_error. Then the dedupe
//   window decides `counted`. Scrobbling is issue 10: `scrobbled` is always false.
//   A storage failure inside the dedupe step → the play is not lost silently: the error is returned (500/503)
//   and logged (product.md §6.9 step 5's "count anyway" needs a second write path; see docs/tracks.md).
// - Thread-safety: free functions; the Db and Clock must be thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "storage/db/db.hpp"
#include "tracks/track_service.hpp"

namespace plyr::tracks {

inline constexpr std::string_view kPlayIdCookie = "plyr_play_id";
inline constexpr std::int64_t kPlayIdCookieMaxAgeSeconds = 180LL * 24 * 3600;

std::int64_t CountThresholdMs(std::optional<std::int64_t> duration_ms);
std::int64_t DedupeTtlUs(std::optional<std::int64_t> duration_ms);

// True for a value NewPlayId() could have produced (32 lowercase hex characters).
bool IsValidPlayId(std::string_view value);
// 16 random bytes as lowercase hex.
std::string NewPlayId();

std::string ListenerKey(const std::optional<std::string>& viewer_did, const std::optional<std::string>& play_id_cookie,
                        std::string_view client_ip);

struct PlayRequest {
    std::int64_t track_id = 0;
    std::optional<std::string> listen_id;
    std::optional<std::int64_t> listened_ms;
    std::optional<std::string> started_at;  // accepted and ignored until scrobbling (issue 10)
    std::string listener_key;
};

struct PlayResult {
    bool counted = false;
    std::int64_t play_count = 0;
    bool scrobbled = false;
};

ApiResult<PlayResult> RecordPlay(storage::db::Db& db, const core::Clock& clock, const PlayRequest& request,
                                 const Viewer& viewer);

}  // namespace plyr::tracks
