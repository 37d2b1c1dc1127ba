#pragma once
// Local-disk backend: the object with key K is the file <root>/K (product.md §5.3: DATA_DIR/media).
//
// - Safe join: keys are validated (no '..', no absolute paths) and every directory on the way is opened
//   relative to its parent with O_NOFOLLOW, so no key can leave the root, not even through a symlink planted
//   inside it (kPermissionDenied). Symlinks at or above the root itself are followed normally.
// - Atomic writes: data goes to a temp file in <root>/.plyr-tmp (same filesystem), is fsynced, renamed over
//   the final name, and the directory is fsynced. Disk full (ENOSPC/EDQUOT) is kStorageFull and the temp file
//   is removed. Temp files older than `stale_temp_age` (left by a crash) are removed by Open().
// - The content type is kept in the xattr user.plyr.content_type when the filesystem supports it, otherwise
//   reported as ContentTypeForKey(key).
// - ETag: hex of SHA-256(device, inode, size, mtime in ns), truncated to 32 characters; every put creates a
//   new inode, so it changes whenever the content does.
// - A key cannot name both an object and a "directory" of other objects (a/b next to a/b/c): kConflict.
// Thread-safety: all methods may be called concurrently.

#include <chrono>
#include <filesystem>
#include <memory>

#include "storage/blobs/blob_store.hpp"
#include "storage/blobs/file_util.hpp"

namespace plyr::storage::blobs {

struct LocalOptions {
    std::filesystem::path root;  // created (with parents) when missing
    std::chrono::seconds stale_temp_age{3600};
};

class LocalBlobStore final : public BlobStore {
  public:
    // Errors: kConfig (empty root), kIo (root cannot be created or opened).
    static Result<std::unique_ptr<LocalBlobStore>> Open(const LocalOptions& options);

    Status PutFile(std::string_view key, const std::filesystem::path& path, std::string_view content_type) override;
    Status PutBytes(std::string_view key, std::string_view bytes, std::string_view content_type) override;
    Result<ObjectInfo> Get(std::string_view key, std::optional<ByteRange> range, const ChunkSink& sink) override;
    Result<ObjectInfo> Head(std::string_view key) override;
    Status Delete(std::string_view key) override;
    std::optional<std::string> Url(std::string_view key, std::chrono::seconds expires) override;
    std::optional<std::filesystem::path> LocalPath(std::string_view key) override;
    Status Check() override;

    const std::filesystem::path& root() const { return root_; }
    // The directory holding in-flight temp files (exposed for tests).
    std::filesystem::path temp_dir() const { return root_ / kReservedTempSegment; }

  private:
    struct Parent {
        detail::UniqueFd dir;
        std::string name;  // the key's last segment
    };

    LocalBlobStore(std::filesystem::path root, detail::UniqueFd root_fd, detail::UniqueFd temp_fd);

    // Opens the directory that holds `key`'s file, walking one segment at a time without following symlinks.
    // create: make missing directories (fsyncing their parents). Missing directory without create: kNotFound.
    Result<Parent> OpenParent(std::string_view key, bool create) const;
    // Writes via `fill` into a temp file, then publishes it under `key`.
    template <typename Fill>
    Status PutWith(std::string_view key, std::string_view content_type, Fill&& fill);
    Result<ObjectInfo> InfoOf(int fd, std::string_view key) const;
    void RemoveStaleTemps(std::chrono::seconds age) const;

    std::filesystem::path root_;
    detail::UniqueFd root_fd_;
    detail::UniqueFd temp_fd_;
};

}  // namespace plyr::storage::blobs
