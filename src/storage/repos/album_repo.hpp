#pragma once
// storage::repos — the minimal `albums` table an upload needs (migration 0005_tracks; product.md §5.2, §6.4
// finalizing). Issue 6 completes albums (listing, editing, the list record).
//
// Contract
// - BLOCKING, on the caller's db::Connection (inside its transaction). Coroutines call through net::Offload().
// - Album ids are UUIDs (text); a malformed id finds nothing (it never reaches PostgreSQL's uuid parser).
// - Slugs: AlbumSlug(title) — lowercase ASCII letters and digits kept, every other run of bytes becomes one
//   '-', leading/trailing '-' trimmed, at most 64 chars (no trailing '-' after the cut), "album" when nothing
//   is left. Unique per artist: GetOrCreateForArtist returns the existing album whose title equals `title`
//   exactly; otherwise it creates one with the first free slug of base, base-2, base-3, …
// - Errors: db errors pass through (kConflict when the artist row does not exist: FK).
// - Thread-safety: stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

struct Album {
    std::string id;  // UUID
    std::string artist_did;
    std::string slug;
    std::string title;
    std::optional<std::string> image_id;
    std::string atproto_rkey;
    std::optional<std::string> atproto_record_uri;
    std::optional<std::string> atproto_record_cid;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
};

struct AlbumUpsert {
    Album album;
    bool created = false;
};

std::string AlbumSlug(std::string_view title);

class AlbumRepository {
  public:
    // rkey_for_new: the list record's rkey (a TID) used only when a new album is created.
    static Result<AlbumUpsert> GetOrCreateForArtist(db::Connection& tx, std::string_view artist_did,
                                                    std::string_view title, std::string_view rkey_for_new,
                                                    std::int64_t now);
    static Result<std::optional<Album>> Get(db::Connection& conn, std::string_view album_id);
    // The album when it exists and belongs to artist_did (the API answers 404 album_not_found otherwise).
    static Result<std::optional<Album>> GetOwned(db::Connection& conn, std::string_view album_id,
                                                 std::string_view artist_did);
    // The album_position for a track appended to the album: last position + 1, 0 for an empty album.
    static Result<std::int64_t> NextPosition(db::Connection& tx, std::string_view album_id);
};

}  // namespace plyr::storage::repos
