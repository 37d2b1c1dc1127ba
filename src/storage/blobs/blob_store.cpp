#include "storage/blobs/blob_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "storage/blobs/file_util.hpp"
#include "storage/blobs/local/local_blob_store.hpp"
#include "storage/blobs/s3/s3_blob_store.hpp"

namespace plyr::storage::blobs {
namespace {

tl::unexpected<Error> BadKey(std::string_view rule) {
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid storage key: {}", rule));
}

// Length of the UTF-8 sequence starting at s[i], or 0 when it is not well-formed (overlong forms,
// surrogates and code points above U+10FFFF are rejected, as S3 requires valid UTF-8).
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = byte(i);
    if (c < 0x80) return 1;
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
        n = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

}  // namespace

Status ValidateKey(std::string_view key) {
    if (key.empty()) return BadKey("empty");
    if (key.size() > kMaxKeyBytes) return BadKey("longer than 1024 bytes");
    if (key.front() == '/') return BadKey("leading '/'");
    for (std::size_t i = 0; i < key.size();) {
        unsigned char c = static_cast<unsigned char>(key[i]);
        if (c < 0x20 || c == 0x7F) return BadKey("control character");
        if (c == '\\') return BadKey("backslash");
        std::size_t n = Utf8SequenceLength(key, i);
        if (n == 0) return BadKey("not valid UTF-8");
        // C1 controls (U+0080..U+009F) are control characters too.
        if (n == 2 && c == 0xC2 && static_cast<unsigned char>(key[i + 1]) < 0xA0) return BadKey("control character");
        i += n;
    }
    std::size_t start = 0;
    bool first = true;
    while (start <= key.size()) {
        std::size_t end = key.find('/', start);
        if (end == std::string_view::npos) end = key.size();
        std::string_view segment = key.substr(start, end - start);
        if (segment.empty()) return BadKey("empty path segment");
        if (segment == "." || segment == "..") return BadKey("'.' or '..' segment");
        if (segment.size() > kMaxKeySegmentBytes) return BadKey("path segment longer than 255 bytes");
        if (first && segment == kReservedTempSegment) return BadKey("reserved prefix");
        first = false;
        start = end + 1;
    }
    return Ok();
}

Status ValidateContentType(std::string_view content_type) {
    if (content_type.size() > 255) return Fail(ErrorCode::kInvalidArgument, "content type longer than 255 bytes");
    for (char c : content_type) {
        if (c < 0x20 || c > 0x7E) return Fail(ErrorCode::kInvalidArgument, "content type is not printable ASCII");
    }
    return Ok();
}

std::string_view ContentTypeForKey(std::string_view key) {
    static constexpr std::pair<std::string_view, std::string_view> kTypes[] = {
        {"mp3", "audio/mpeg"}, {"wav", "audio/wav"},   {"flac", "audio/flac"},     {"m4a", "audio/mp4"},
        {"mp4", "audio/mp4"},  {"aac", "audio/aac"},   {"aif", "audio/aiff"},      {"aiff", "audio/aiff"},
        {"ogg", "audio/ogg"},  {"oga", "audio/ogg"},   {"opus", "audio/ogg"},      {"webm", "audio/webm"},
        {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"},       {"webp", "image/webp"},
        {"gif", "image/gif"},  {"avif", "image/avif"}, {"zip", "application/zip"}, {"json", "application/json"},
        {"txt", "text/plain"},
    };
    std::size_t slash = key.rfind('/');
    std::string_view name = slash == std::string_view::npos ? key : key.substr(slash + 1);
    std::size_t dot = name.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == name.size()) return "application/octet-stream";
    std::string ext(name.substr(dot + 1));
    for (char& c : ext) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    for (const auto& [extension, type] : kTypes) {
        if (ext == extension) return type;
    }
    return "application/octet-stream";
}

Result<ObjectInfo> BlobStore::GetToFile(std::string_view key, const std::filesystem::path& path) {
    PLYR_TRY_STATUS(ValidateKey(key));
    if (path.filename().empty()) return Fail(ErrorCode::kInvalidArgument, "destination is not a file path");
    std::filesystem::path dir = path.parent_path();
    if (dir.empty()) dir = ".";
    // The temp file sits beside the destination, so the final rename stays within one filesystem.
    std::filesystem::path tmp = dir / fmt::format(".{}.part-{}", path.filename().string(), core::RandomHex(8));
    detail::UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return Fail(detail::ErrnoError(errno, "create download temp file"));
    auto discard = [&] {
        fd.Reset();
        ::unlink(tmp.c_str());
    };
    auto info = Get(key, std::nullopt, [&](std::string_view chunk) { return detail::WriteAll(fd.get(), chunk); });
    if (!info) {
        discard();
        return info;
    }
    Status done = detail::Fsync(fd.get(), "fsync download");
    if (done) done = fd.Close("close download");
    if (done && ::rename(tmp.c_str(), path.c_str()) != 0) done = Fail(detail::ErrnoError(errno, "rename download"));
    if (!done) {
        discard();
        return Fail(std::move(done.error()));
    }
    PLYR_TRY_STATUS(detail::FsyncDirectory(dir.string()));
    return info;
}

Result<std::unique_ptr<BlobStore>> Open(const core::Config& config, Bucket bucket) {
    if (config.storage_kind == core::StorageKind::kLocal) {
        auto store = LocalBlobStore::Open(LocalOptions{.root = config.data_dir / "media"});
        if (!store) return Fail(std::move(store.error()));
        return std::unique_ptr<BlobStore>(std::move(*store));
    }
    const core::S3Config& s3 = config.s3;
    S3Options options;
    options.endpoint = s3.endpoint_url;
    options.region = s3.region;
    options.force_path_style = s3.force_path_style;
    options.access_key_id = s3.access_key_id;
    options.secret_access_key = s3.secret_access_key;
    switch (bucket) {
        case Bucket::kAudio:
            options.bucket = s3.bucket;
            options.public_base_url = s3.public_bucket_url;
            break;
        case Bucket::kPrivate:
            options.bucket = s3.private_bucket.empty() ? s3.bucket : s3.private_bucket;
            if (s3.private_bucket.empty()) {
                log::Warn("storage_private_bucket_unset",
                          {{"detail", "R2_PRIVATE_BUCKET is empty: gated audio, staging and exports share R2_BUCKET"}});
            }
            break;
        case Bucket::kImages:
            if (s3.image_bucket.empty()) {
                options.bucket = s3.bucket;
                options.public_base_url =
                    s3.public_image_bucket_url.empty() ? s3.public_bucket_url : s3.public_image_bucket_url;
            } else {
                options.bucket = s3.image_bucket;
                options.public_base_url = s3.public_image_bucket_url;
            }
            break;
    }
    auto store = S3BlobStore::Open(std::move(options));
    if (!store) return Fail(std::move(store.error()));
    return std::unique_ptr<BlobStore>(std::move(*store));
}

}  // namespace plyr::storage::blobs
