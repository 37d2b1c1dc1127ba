#include "tracks/artwork_ingest.hpp"

#include <system_error>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "media/image.hpp"
#include "storage/repos/image_repo.hpp"
#include "tracks/media_files.hpp"

namespace plyr::tracks {
namespace fs = std::filesystem;

namespace {

ApiError StorageFailure(const Error& error) {
    if (error.code == ErrorCode::kStorageFull) return {507, "insufficient_storage", "the server is out of storage", {}};
    log::Error("tracks.artwork_store_failed", {{"error", error.ToString()}});
    return {500, "internal_error", "the artwork could not be stored", {}};
}

// Removes the scratch directory on every path out.
struct ScratchDir {
    fs::path path;
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

}  // namespace

ApiResult<std::string> IngestArtwork(const ArtworkIngestDeps& deps, const fs::path& staged,
                                     std::string_view owner_did) {
    ScratchDir scratch{staged.parent_path() / ("artwork-" + core::RandomHex(8))};
    std::error_code ec;
    fs::create_directory(scratch.path, ec);
    if (ec) return ApiFail(500, "internal_error", "the artwork could not be processed");
    auto image = media::NormaliseImage(*deps.sandbox, staged.string(), scratch.path.string(),
                                       media::ImageSandboxLimits(*deps.config));
    if (!image) {
        log::Info("tracks.artwork_refused", {{"error", image.error().ToString()}});
        return ApiFail(422, "image_unreadable", "the image could not be read", "image");
    }
    auto stored = StoreContentAddressed(*deps.image_store, image->full, image->ext, kImagesPrefix);
    if (!stored) return tl::unexpected(StorageFailure(stored.error()));
    auto keys = ImageKeys(stored->file_id, image->ext);
    const std::string* sources[] = {&image->thumb, &image->w320, &image->w640};
    for (std::size_t i = 0; i < 3; ++i) {
        if (deps.image_store->Head(keys[i + 1])) continue;  // same id, same derived images
        if (auto put = deps.image_store->PutFile(keys[i + 1], *sources[i], "image/webp"); !put) {
            return tl::unexpected(StorageFailure(put.error()));
        }
    }
    storage::repos::ImageRow row;
    row.image_id = stored->file_id;
    row.ext = image->ext;
    row.width = image->width;
    row.height = image->height;
    row.bytes = static_cast<std::int64_t>(stored->size);
    row.owner_did = std::string(owner_did);
    row.created_at = deps.clock->NowMicros();
    auto inserted = deps.db->Write([&](storage::db::Connection& tx) -> Status {
        auto done = storage::repos::ImageRepository::Insert(tx, row);
        if (!done) return Fail(std::move(done.error()));
        return Ok();
    });
    if (!inserted) return tl::unexpected(ApiErrorFrom(inserted.error()));
    return stored->file_id;
}

}  // namespace plyr::tracks
