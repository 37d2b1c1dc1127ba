#pragma once
// storage::repos — `tags` and `track_tags` (migration 0005_tracks; product.md §5.2). Names arrive normalised
// (tracks::NormaliseTag in tracks/upload_fields.hpp); this layer stores and reads them as given.
//
// Contract
// - BLOCKING, on the caller's db::Connection (inside its transaction). Coroutines call through net::Offload().
// - SetTrackTags replaces the track's whole set: tags are upserted by name (created_by_did and created_at are
//   those of the first creator), links not in `names` are removed. Duplicate names collapse. Tags left without
//   tracks are kept (tag pages and search may still name them; a cleanup may prune them).
// - Errors: db errors pass through (kConflict when the track does not exist: FK).
// - Thread-safety: stateless.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

class TagRepository {
  public:
    static Status SetTrackTags(db::Connection& tx, std::int64_t track_id, const std::vector<std::string>& names,
                               std::string_view creator_did, std::int64_t now);
    // Tag names per track id, each list sorted by name; tracks without tags are absent. One query.
    static Result<std::unordered_map<std::int64_t, std::vector<std::string>>> TagsForTracks(
        db::Connection& conn, const std::vector<std::int64_t>& track_ids);
};

}  // namespace plyr::storage::repos
