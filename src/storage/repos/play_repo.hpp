#pragma once
// storage::repos — play counting storage: `play_dedupe`, `listens` and tracks.play_count (migration
// 0005_tracks; product.md §6.9).
//
// Contract
// - BLOCKING, on the caller's db::Connection; RecordPlay must run inside one db::Db::Write transaction (its
//   statements are one unit). Coroutines call through net::Offload().
// - RecordPlay(input):
//   1. kNotFound when the track does not exist (nothing written).
//   2. With listen_id: the `listens` row is inserted if absent; a listen_id seen before → counted=false
//      (idempotent retries and the later scrobble call), nothing else changes.
//   3. play_dedupe (listener_key, track_id) is inserted, or refreshed only when its row has expired
//      (expires_at <= now), in ONE statement; no row changed → another play of this listener is inside the
//      window → counted=false.
//   4. Otherwise play_count + 1, the listen marked counted, counted=true.
//   play_count in the result is the track's count after the call.
// - MarkScrobbled: sets listens.scrobbled once; true only for the call that set it (false when the listen is
//   unknown or already scrobbled).
// - PurgeExpired: play_dedupe rows with expires_at <= now, listens older than kListenRetentionUs.
// - Errors: db errors pass through. listen_id must be a UUID (kInvalidArgument otherwise; the API checks first).
// - Thread-safety: stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

struct PlayInput {
    std::string listener_key;  // DID, "anon:<cookie id>" or the client IP
    std::int64_t track_id = 0;
    std::optional<std::string> listen_id;  // UUID from the player
    std::int64_t ttl_us = 0;               // dedupe window (clamp(duration, 30 s, 1 h); 5 min when unknown)
    std::int64_t now = 0;
};

struct PlayOutcome {
    bool counted = false;
    std::int64_t play_count = 0;
};

struct PurgeCounts {
    std::int64_t dedupe_rows = 0;
    std::int64_t listens = 0;
};

inline constexpr std::int64_t kListenRetentionUs = 48LL * 3600 * 1'000'000;

class PlayRepository {
  public:
    static Result<PlayOutcome> RecordPlay(db::Connection& tx, const PlayInput& input);
    static Result<bool> MarkScrobbled(db::Connection& tx, std::string_view listen_id);
    static Result<PurgeCounts> PurgeExpired(db::Connection& tx, std::int64_t now);
};

}  // namespace plyr::storage::repos
