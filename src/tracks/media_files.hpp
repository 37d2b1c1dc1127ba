#pragma once
// tracks media files: content-addressed storage of audio and artwork objects and their reference-checked
// deletion (product.md §5.3; docs/tracks.md "upload job").
//
// Contract
// - StoreContentAddressed hashes the file (SHA-256, streamed), names it `{prefix}/{file_id}.{ext}` with
//   file_id = the first 16 lowercase hex characters of the hash, and stores it unless an object under that key
//   already exists (Head): identical bytes are stored once and shared by every row that references them.
// - ReleaseMedia deletes the objects of the given ids that nothing references any more. The reference check
//   runs in one DB write transaction (tracks.file_id / original_file_id, tracks.image_id, albums.image_id, and
//   upload jobs that are pending or running and may be about to store the same bytes — see docs/tracks.md);
//   images rows of unreferenced images are deleted in that transaction; objects are deleted after the commit,
//   so a failed commit deletes nothing. Image ids delete the full size and the _thumb.webp, _320.webp and
//   _640.webp keys.
// - Errors: StoreContentAddressed: kIo (file unreadable), kInvalidArgument (bad prefix/ext), or the blob
//   store's error (kStorageFull, kUnavailable, …). ReleaseMedia: the DB error; object deletion failures are
//   returned after every object was tried (an orphan object is a leak, never a lost reference).
// - Blocking (disk, network, DB): call from a worker thread or through net::Offload.
// Thread-safety: free functions; safe from any thread given thread-safe stores and Db.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"

namespace plyr::tracks {

inline constexpr std::string_view kAudioPrefix = "audio";
inline constexpr std::string_view kImagesPrefix = "images";
// The derived artwork objects stored beside images/{id}.{ext}.
inline constexpr std::string_view kImageThumbSuffix = "_thumb.webp";
inline constexpr std::string_view kImage320Suffix = "_320.webp";
inline constexpr std::string_view kImage640Suffix = "_640.webp";

struct StoredFile {
    std::string file_id;  // 16 lowercase hex
    std::string ext;
    std::string key;  // {prefix}/{file_id}.{ext}
    std::uint64_t size = 0;
    std::string sha256_hex;
    bool already_stored = false;  // the object existed: nothing was written
};

// 16 lowercase hex characters.
bool IsValidMediaId(std::string_view id);
// The content id of a file: the first 16 hex of its SHA-256 (with the full hex digest and size).
struct FileDigest {
    std::string file_id;
    std::string sha256_hex;
    std::uint64_t size = 0;
};
Result<FileDigest> DigestFile(const std::filesystem::path& file);

// {prefix}/{id}.{ext}
std::string MediaKey(std::string_view prefix, std::string_view id, std::string_view ext);
// Every key of one artwork image: the full size, then the three derived sizes.
std::vector<std::string> ImageKeys(std::string_view image_id, std::string_view ext);

Result<StoredFile> StoreContentAddressed(storage::blobs::BlobStore& store, const std::filesystem::path& file,
                                         std::string_view ext, std::string_view prefix);
// The same with the file's digest already computed (DigestFile), so large files are hashed once.
Result<StoredFile> StoreContentAddressed(storage::blobs::BlobStore& store, const std::filesystem::path& file,
                                         const FileDigest& digest, std::string_view ext, std::string_view prefix);

// One audio object: audio/{id}.{ext}.
struct AudioObject {
    std::string file_id;
    std::string ext;
};

struct ReleaseOptions {
    // This job's own references do not count (the upload job releasing what it stored on failure).
    std::optional<std::string> exclude_job_id;
};

struct ReleaseResult {
    std::vector<std::string> deleted_keys;  // objects deleted (or already absent)
    std::vector<std::string> kept_ids;      // ids still referenced
};

// Image ids are looked up in `images` for their extension; for an id without a row every allowed extension
// (jpg, png, webp) is deleted. Duplicate ids are handled once.
Result<ReleaseResult> ReleaseMedia(storage::db::Db& db, storage::blobs::BlobStore& audio_store,
                                   storage::blobs::BlobStore& image_store, const std::vector<AudioObject>& audio,
                                   const std::vector<std::string>& image_ids, const ReleaseOptions& options = {});

}  // namespace plyr::tracks
