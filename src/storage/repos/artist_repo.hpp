#pragma once
// storage::repos — the `artists` table (product.md §5.2, migration 0004_artists) and the session queries the
// sign-in service needs beyond auth_repos.hpp (seeing expired rows, so an expired session answers
// `session_expired` rather than `authentication_required`).
//
// Contract
// - BLOCKING (one db::Db transaction per call): coroutines call through net::Offload().
// - Times are µs since the epoch passed in by the caller.
// - UpsertOnSignIn: inserts the row or updates handle, pds_url and deactivated=false; a row of another DID
//   holding the same handle has its handle cleared (NULL) in the same transaction (a verified handle moved).
// - Errors: db errors pass through.
// - Thread-safety: holds a reference to the Db only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

struct Artist {
    std::string did;
    std::optional<std::string> handle;
    std::string display_name;
    std::string bio;
    std::optional<std::string> avatar_url;
    std::string pds_url;
    std::string support_url;
    bool profile_completed = false;
    bool deactivated = false;
    bool display_name_from_bsky = false;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
};

struct ArtistUpsert {
    Artist artist;
    bool created = false;  // first sign-in
};

class ArtistRepository {
  public:
    explicit ArtistRepository(db::Db& db) : db_(db) {}

    Result<ArtistUpsert> UpsertOnSignIn(std::string_view did, std::string_view handle, std::string_view pds_url,
                                        std::int64_t now);
    // Display name (marked as coming from Bluesky) and avatar from the user's profile record (first sign-in).
    Status SetProfileFromBsky(std::string_view did, std::string_view display_name,
                              const std::optional<std::string>& avatar_url, std::int64_t now);
    Result<std::optional<Artist>> Get(std::string_view did);

  private:
    db::Db& db_;
};

// What a session row looks like without decrypting it (expired rows included).
struct SessionProbe {
    std::string session_hash;
    std::string did;
    std::optional<std::string> group_id;
    bool is_developer_token = false;
    std::int64_t expires_at = 0;
    std::optional<std::int64_t> refresh_expires_at;

    // expires_at or refresh_expires_at not after `now`.
    bool ExpiredAt(std::int64_t now) const {
        return expires_at <= now || (refresh_expires_at && *refresh_expires_at <= now);
    }
};

Result<std::optional<SessionProbe>> ProbeSession(db::Db& db, std::string_view session_hash);
// Every member of a group, expired ones included, oldest first.
Result<std::vector<SessionProbe>> ProbeGroup(db::Db& db, std::string_view group_id);

}  // namespace plyr::storage::repos
