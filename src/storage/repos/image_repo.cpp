#include "storage/repos/image_repo.hpp"

#include <utility>

namespace plyr::storage::repos {

Result<bool> ImageRepository::Insert(db::Connection& tx, const ImageRow& image) {
    auto n = tx.Exec(
        "INSERT INTO images (image_id, ext, width, height, bytes, owner_did, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (image_id) DO NOTHING",
        {image.image_id, image.ext, image.width, image.height, image.bytes, image.owner_did, image.created_at});
    if (!n) return Fail(std::move(n.error()));
    return *n > 0;
}

Result<std::optional<ImageRow>> ImageRepository::Get(db::Connection& conn, std::string_view image_id) {
    auto rows =
        conn.Query("SELECT image_id, ext, width, height, bytes, owner_did, created_at FROM images WHERE image_id = $1",
                   {std::string(image_id)});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<ImageRow>{};
    const auto& r = rows->front();
    return std::optional<ImageRow>(ImageRow{r.Text(0), r.Text(1), r.Int(2), r.Int(3), r.Int(4), r.Text(5), r.Int(6)});
}

Result<bool> ImageRepository::Delete(db::Connection& tx, std::string_view image_id) {
    auto n = tx.Exec("DELETE FROM images WHERE image_id = $1", {std::string(image_id)});
    if (!n) return Fail(std::move(n.error()));
    return *n > 0;
}

}  // namespace plyr::storage::repos
