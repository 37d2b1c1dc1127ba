#pragma once
// storage::repos — the `images` table (migration 0005_tracks; product.md §5.2-5.3): one row per stored,
// normalised artwork (full size + thumbnails share the image_id).
//
// Contract
// - BLOCKING, on the caller's db::Connection (inside its transaction). Coroutines call through net::Offload().
// - Insert is idempotent on image_id (content-addressed: the same bytes give the same id); an existing row is
//   left unchanged and `created` says so.
// - Errors: db errors pass through (kInvalidArgument/kConflict for rows violating the table's checks:
//   image_id not 16 chars, ext not jpg|png|webp, width/height ≤ 0).
// - Thread-safety: stateless.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::repos {

struct ImageRow {
    std::string image_id;  // 16 lowercase hex
    std::string ext;       // jpg | png | webp (of the full size)
    std::int64_t width = 0;
    std::int64_t height = 0;
    std::int64_t bytes = 0;
    std::string owner_did;
    std::int64_t created_at = 0;
    bool operator==(const ImageRow&) const = default;
};

class ImageRepository {
  public:
    // true when the row was inserted, false when image_id already existed.
    static Result<bool> Insert(db::Connection& tx, const ImageRow& image);
    static Result<std::optional<ImageRow>> Get(db::Connection& conn, std::string_view image_id);
    // Removes the row; the caller checked TrackRepository::IsImageReferenced in the same transaction.
    static Result<bool> Delete(db::Connection& tx, std::string_view image_id);
};

}  // namespace plyr::storage::repos
