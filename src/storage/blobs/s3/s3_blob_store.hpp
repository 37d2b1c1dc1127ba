#pragma once
// S3-compatible backend (AWS S3, Cloudflare R2, MinIO, s3rver) over libcurl with our own SigV4 (sigv4.hpp).
//
// - Addressing: virtual-host (https://<bucket>.<endpoint host>/<key>) unless force_path_style, or when the
//   endpoint host is an IP address (https://<endpoint>/<bucket>/<key>). Keys are URI-encoded per segment.
// - Every request is signed with header auth; streamed bodies use x-amz-content-sha256: UNSIGNED-PAYLOAD,
//   in-memory bodies their real SHA-256.
// - PutFile streams from the file (CURLOPT_READFUNCTION). Files larger than multipart_threshold go up as a
//   multipart upload (parts of part_size, at least 5 MiB, at most 10,000 parts), completed last, so the
//   object appears whole or not at all; any failure aborts the upload (best effort).
// - Get streams the body to the sink (a Range header when a range is asked for).
// - Errors: connection failures and timeouts → kUnavailable; 5xx → kUnavailable; 404 → kNotFound (but
//   NoSuchBucket → kConfig); 416 → kInvalidArgument; other 4xx/3xx → kProtocol with the S3 error code in
//   detail. Nothing logged or returned contains the secret key, a signature or a presigned URL.
// - Timeouts: connect_timeout for every request; requests without a large body have the total limit
//   request_timeout; object transfers (which may take hours for big files) are aborted only when slower
//   than low_speed_limit bytes/s for low_speed_time; CompleteMultipartUpload has the total limit
//   assemble_timeout (S3 may think for minutes, sending only whitespace).
// Thread-safety: all methods may be called concurrently; curl easy handles (and with them connections) are
// reused through a small mutex-guarded pool.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.hpp"
#include "storage/blobs/blob_store.hpp"

namespace plyr::storage::blobs {

inline constexpr std::uint64_t kMiB = 1024 * 1024;
inline constexpr std::uint64_t kMinPartSize = 5 * kMiB;

struct S3Options {
    std::string endpoint;  // http(s)://host[:port][/path]
    std::string region = "auto";
    std::string bucket;
    bool force_path_style = false;
    std::string access_key_id;
    std::string secret_access_key;
    std::string public_base_url;  // objects are public at <public_base_url>/<key>; empty = presigned URLs
    std::uint64_t multipart_threshold = 64 * kMiB;
    std::uint64_t part_size = 16 * kMiB;
    std::chrono::milliseconds connect_timeout{5000};
    long low_speed_limit = 1024;  // bytes per second
    std::chrono::seconds low_speed_time{30};
    std::chrono::seconds request_timeout{60};
    std::chrono::seconds assemble_timeout{900};
    std::shared_ptr<const core::Clock> clock;  // signing time; null = the system clock
};

class S3BlobStore final : public BlobStore {
  public:
    // Validates the options (kConfig: endpoint not http(s), empty bucket/credentials/region, part size below
    // 5 MiB). Performs no network I/O.
    static Result<std::unique_ptr<S3BlobStore>> Open(S3Options options);
    ~S3BlobStore() override;
    S3BlobStore(const S3BlobStore&) = delete;
    S3BlobStore& operator=(const S3BlobStore&) = delete;

    Status PutFile(std::string_view key, const std::filesystem::path& path, std::string_view content_type) override;
    Status PutBytes(std::string_view key, std::string_view bytes, std::string_view content_type) override;
    Result<ObjectInfo> Get(std::string_view key, std::optional<ByteRange> range, const ChunkSink& sink) override;
    Result<ObjectInfo> Head(std::string_view key) override;
    Status Delete(std::string_view key) override;
    std::optional<std::string> Url(std::string_view key, std::chrono::seconds expires) override;
    std::optional<std::filesystem::path> LocalPath(std::string_view key) override;
    Status Check() override;

    // Unsigned URL of an object (what a presigned URL is built on). Exposed for tests.
    std::string ObjectUrl(std::string_view key) const;
    // Completed multipart uploads since Open (for tests and metrics).
    std::uint64_t multipart_uploads() const { return multipart_uploads_.load(); }

  private:
    class HandlePool;
    enum class Timing { kShort, kStream, kAssemble };
    struct Request;
    struct Response;
    struct Endpoint {
        std::string scheme;
        std::string host;  // lower-case, without port
        std::string port;  // empty = scheme default
        std::string base_path;
        bool host_is_ip = false;
    };

    S3BlobStore(S3Options options, Endpoint endpoint);

    bool PathStyle() const;
    std::string Authority() const;  // host[:port] of requests (with the bucket for virtual-host style)
    std::string Path(std::string_view key) const;
    std::chrono::sys_seconds Now() const;
    Result<Response> Perform(const Request& request) const;
    Status PutMultipart(std::string_view key, int fd, std::uint64_t size, const std::string& content_type);
    void AbortMultipart(std::string_view key, const std::string& upload_id) const;

    S3Options options_;
    Endpoint endpoint_;
    std::unique_ptr<HandlePool> pool_;
    std::atomic<std::uint64_t> multipart_uploads_{0};
};

}  // namespace plyr::storage::blobs
