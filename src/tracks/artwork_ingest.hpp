#pragma once
// Artwork sent outside an upload (PATCH /tracks/{id} `image`; album and playlist covers later): the staged file is
// normalised in the media sandbox (media::NormaliseImage: EXIF orientation, metadata stripped, ≤ 3000 px, 96 px
// thumb and 320/640 WebPs), stored content-addressed under images/ (the image_id is the hash of the stored full
// size, product.md §5.3) with its derived WebPs, and recorded in `images`. The upload job does the same inside its
// `artwork` phase.
//
// Errors (as the API answers them): 422 image_unreadable (the sandbox refused or failed), 507 insufficient_storage
// (disk full), 500 internal_error (other storage or database failures). The out_dir scratch directory is removed.
// BLOCKING (sandbox child, disk, database): call through net::Offload. Thread-safety: reentrant.

#include <filesystem>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "media/sandbox.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"
#include "tracks/track_service.hpp"

namespace plyr::tracks {

struct ArtworkIngestDeps {
    media::Sandbox* sandbox = nullptr;
    storage::blobs::BlobStore* image_store = nullptr;
    storage::db::Db* db = nullptr;
    const core::Config* config = nullptr;
    const core::Clock* clock = nullptr;
};

// Returns the image_id whose images row and objects exist afterwards.
ApiResult<std::string> IngestArtwork(const ArtworkIngestDeps& deps, const std::filesystem::path& staged,
                                     std::string_view owner_did);

}  // namespace plyr::tracks
