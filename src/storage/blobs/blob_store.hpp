#pragma once
// storage/blobs: named byte objects (audio, artwork, exports, staged uploads; product.md §5.3) behind one
// interface, stored on local disk (local/) or in an S3-compatible bucket (s3/). docs/storage.md has the
// layout and the reasons.
//
// Contract
// - Keys follow ValidateKey() on every backend, so objects can move between backends unchanged. Every call
//   validates its key before any I/O; an invalid key is kInvalidArgument.
// - Writes are atomic: an object appears under its final key only when complete (local: temp file, fsync,
//   rename, fsync of the directory; S3: one PUT, or a multipart upload completed last). A failed write
//   leaves no partial object and no temp file, and the previous object under that key (if any) untouched.
// - Calls BLOCK on disk or network I/O. From a coroutine, run them through net::Offload on the blocking pool.
// - Thread-safety: one BlobStore may be used from any number of threads at once.
// - Errors: kInvalidArgument (key, range), kNotFound (absent object), kStorageFull (local disk full; the
//   temp file is removed), kIo (other local I/O failure), kUnavailable (S3 unreachable, timed out or 5xx),
//   kProtocol (other S3 4xx; the S3 error code is in detail), kConfig (bucket missing), kPermissionDenied
//   (local: the key's path crosses a symlink), kConflict (local: the key clashes with a directory), and
//   whatever error a sink returns (the transfer stops there).
// - Nothing here logs secrets, signatures or presigned URLs.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"

namespace plyr::storage::blobs {

// Longest key in bytes (S3's own limit).
inline constexpr std::size_t kMaxKeyBytes = 1024;
// Longest path segment in bytes (the common filesystem name limit, so every key also fits on disk).
inline constexpr std::size_t kMaxKeySegmentBytes = 255;
// First key segment reserved for the local backend's temp files.
inline constexpr std::string_view kReservedTempSegment = ".plyr-tmp";

// A key is valid when it is non-empty, at most kMaxKeyBytes bytes of valid UTF-8, has no leading '/', no
// empty, '.' or '..' segment (so no trailing or doubled '/'), no segment longer than kMaxKeySegmentBytes,
// no '\\', no NUL or other control character, and does not start with the segment kReservedTempSegment.
// Failure: kInvalidArgument naming the rule (never echoing the key's bytes).
Status ValidateKey(std::string_view key);

// A content type is at most 255 bytes of printable ASCII (it travels in an HTTP header). Empty means "derive
// from the key" (ContentTypeForKey). Failure: kInvalidArgument.
Status ValidateContentType(std::string_view content_type);

// The content type for a key by its extension (audio, image, zip, json, text), else application/octet-stream.
std::string_view ContentTypeForKey(std::string_view key);

struct ObjectInfo {
    std::uint64_t size = 0;  // of the whole object, also after a ranged Get
    std::string etag;        // opaque, without quotes; changes whenever the content changes
    std::string content_type;
    std::chrono::sys_seconds last_modified{};
};

// Bytes [offset, offset + length) of an object. length must be > 0; a range running past the end is cut at
// the end; offset >= size is kInvalidArgument ("range not satisfiable").
struct ByteRange {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
};

// Receives an object's bytes in order, in chunks of any size. Returning an error stops the transfer and Get
// returns that error.
using ChunkSink = std::function<Status(std::string_view chunk)>;

class BlobStore {
  public:
    virtual ~BlobStore() = default;

    // Stores the file at `path` under `key`, streamed (never whole in memory). Replaces an existing object.
    virtual Status PutFile(std::string_view key, const std::filesystem::path& path, std::string_view content_type) = 0;
    virtual Status PutBytes(std::string_view key, std::string_view bytes, std::string_view content_type) = 0;

    // Streams the object (or `range` of it) to `sink`; returns the whole object's info.
    virtual Result<ObjectInfo> Get(std::string_view key, std::optional<ByteRange> range, const ChunkSink& sink) = 0;
    // Downloads the object to `path` atomically (temp file beside it, fsync, rename).
    virtual Result<ObjectInfo> GetToFile(std::string_view key, const std::filesystem::path& path);

    // kNotFound when absent.
    virtual Result<ObjectInfo> Head(std::string_view key) = 0;
    // Absent is success.
    virtual Status Delete(std::string_view key) = 0;

    // A URL a client can fetch the object from: the public URL when the bucket has one, else (S3) a presigned
    // GET valid for `expires` (clamped to 1 s .. 7 days). Local disk and invalid keys: nullopt.
    virtual std::optional<std::string> Url(std::string_view key, std::chrono::seconds expires) = 0;
    // Local disk: the object's file path (for sendfile), when the key is valid and its path crosses no
    // symlink; the file itself may not exist. Other backends: nullopt.
    virtual std::optional<std::filesystem::path> LocalPath(std::string_view key) = 0;

    // Health: the storage is reachable and writable (local: root directory; S3: HEAD of the bucket).
    virtual Status Check() = 0;
};

// Which bucket of product.md §5.3 a store serves. Local disk keeps every bucket under DATA_DIR/media.
enum class Bucket {
    kAudio,    // R2_BUCKET, public URL R2_PUBLIC_BUCKET_URL
    kPrivate,  // R2_PRIVATE_BUCKET (gated audio, staging, exports); falls back to R2_BUCKET; never a public URL
    kImages,   // R2_IMAGE_BUCKET, public URL R2_PUBLIC_IMAGE_BUCKET_URL; falls back to R2_BUCKET and its URL
};

// The store for `bucket` as configured (STORAGE_BACKEND and the storage settings of product.md §8.2).
// Errors: kConfig (bad settings), kIo (local root cannot be created or opened).
Result<std::unique_ptr<BlobStore>> Open(const core::Config& config, Bucket bucket);

}  // namespace plyr::storage::blobs
