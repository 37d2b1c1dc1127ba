#include "storage/blobs/local/local_blob_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"

namespace plyr::storage::blobs {
namespace {

using detail::ErrnoError;
using detail::UniqueFd;

constexpr const char* kContentTypeXattr = "user.plyr.content_type";
constexpr std::size_t kCopyBufferBytes = 1 << 20;
constexpr std::size_t kReadChunkBytes = 256 << 10;

std::vector<std::string_view> SplitKey(std::string_view key) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (true) {
        std::size_t end = key.find('/', start);
        if (end == std::string_view::npos) {
            segments.push_back(key.substr(start));
            return segments;
        }
        segments.push_back(key.substr(start, end - start));
        start = end + 1;
    }
}

tl::unexpected<Error> CrossesSymlink() {
    return Fail(ErrorCode::kPermissionDenied, "storage key is not accessible", "key path crosses a symlink");
}

tl::unexpected<Error> NotFound() { return Fail(ErrorCode::kNotFound, "object not found"); }

// Copies src to dst until EOF: in the kernel when it can (copy_file_range), else through a buffer.
Status CopyFd(int src, int dst) {
    bool kernel_copy = true;
    std::unique_ptr<char[]> buffer;
    while (true) {
        if (kernel_copy) {
            ssize_t n = ::copy_file_range(src, nullptr, dst, nullptr, kCopyBufferBytes * 16, 0);
            if (n > 0) continue;
            if (n == 0) return Ok();
            if (errno == EINTR) continue;
            // Other filesystem, old kernel or unsupported file type: both offsets are where the kernel left
            // them, so the plain loop continues from there.
            if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) {
                kernel_copy = false;
                continue;
            }
            return Fail(ErrnoError(errno, "copy_file_range"));
        }
        if (!buffer) buffer = std::make_unique<char[]>(kCopyBufferBytes);
        ssize_t n = ::read(src, buffer.get(), kCopyBufferBytes);
        if (n == 0) return Ok();
        if (n < 0) {
            if (errno == EINTR) continue;
            return Fail(ErrnoError(errno, "read source file"));
        }
        PLYR_TRY_STATUS(detail::WriteAll(dst, std::string_view(buffer.get(), static_cast<std::size_t>(n))));
    }
}

std::string LocalEtag(const struct stat& st) {
    std::string material =
        fmt::format("{}:{}:{}:{}.{}", st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    return core::Sha256Hex(material).substr(0, 32);
}

}  // namespace

LocalBlobStore::LocalBlobStore(std::filesystem::path root, UniqueFd root_fd, UniqueFd temp_fd)
    : root_(std::move(root)), root_fd_(std::move(root_fd)), temp_fd_(std::move(temp_fd)) {}

Result<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(const LocalOptions& options) {
    if (options.root.empty()) return Fail(ErrorCode::kConfig, "local storage root is empty");
    std::error_code ec;
    std::filesystem::path root = std::filesystem::absolute(options.root, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot resolve local storage root", ec.message());
    std::filesystem::create_directories(root, ec);
    if (ec) {
        return Fail(ErrnoError(ec.value(), fmt::format("create local storage root {}", root.string())));
    }
    UniqueFd root_fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd) return Fail(ErrnoError(errno, fmt::format("open local storage root {}", root.string())));
    std::string temp_name(kReservedTempSegment);
    if (::mkdirat(root_fd.get(), temp_name.c_str(), 0700) != 0 && errno != EEXIST) {
        return Fail(ErrnoError(errno, "create temp directory"));
    }
    UniqueFd temp_fd(::openat(root_fd.get(), temp_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!temp_fd) return Fail(ErrnoError(errno, "open temp directory"));
    std::unique_ptr<LocalBlobStore> store(new LocalBlobStore(root, std::move(root_fd), std::move(temp_fd)));
    store->RemoveStaleTemps(options.stale_temp_age);
    return store;
}

void LocalBlobStore::RemoveStaleTemps(std::chrono::seconds age) const {
    int fd = ::dup(temp_fd_.get());
    if (fd < 0) return;
    DIR* dir = ::fdopendir(fd);
    if (dir == nullptr) {
        ::close(fd);
        return;
    }
    // The directory stream shares the file offset with temp_fd_; rewind so every entry is seen.
    ::rewinddir(dir);
    auto cutoff = std::chrono::system_clock::now() - age;
    int removed = 0;
    while (dirent* entry = ::readdir(dir)) {
        std::string_view name = entry->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::fstatat(temp_fd_.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
        if (mtime < cutoff && ::unlinkat(temp_fd_.get(), entry->d_name, 0) == 0) ++removed;
    }
    ::closedir(dir);
    if (removed > 0) log::Info("storage_stale_temps_removed", {{"count", removed}});
}

Result<LocalBlobStore::Parent> LocalBlobStore::OpenParent(std::string_view key, bool create) const {
    std::vector<std::string_view> segments = SplitKey(key);
    UniqueFd dir(::dup(root_fd_.get()));
    if (!dir) return Fail(ErrnoError(errno, "dup root"));
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
        std::string segment(segments[i]);
        // O_NOFOLLOW: a symlink anywhere below the root (even one pointing inside it) is refused, which makes
        // escaping the root impossible without any check-then-use race.
        constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        UniqueFd next(::openat(dir.get(), segment.c_str(), kFlags));
        if (!next && errno == ENOENT && create) {
            if (::mkdirat(dir.get(), segment.c_str(), 0755) != 0 && errno != EEXIST) {
                return Fail(ErrnoError(errno, "create directory"));
            }
            PLYR_TRY_STATUS(detail::Fsync(dir.get(), "fsync directory"));
            next = UniqueFd(::openat(dir.get(), segment.c_str(), kFlags));
        }
        if (!next) {
            int err = errno;
            if (err == ENOENT) return NotFound();
            if (err == ELOOP) return CrossesSymlink();
            if (err == ENOTDIR) {
                struct stat st {};
                if (::fstatat(dir.get(), segment.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
                    return CrossesSymlink();
                }
                if (!create) return NotFound();
                return Fail(ErrorCode::kConflict, "storage key clashes with an existing object",
                            "a parent segment is a file");
            }
            return Fail(ErrnoError(err, "open directory"));
        }
        dir = std::move(next);
    }
    return Parent{std::move(dir), std::string(segments.back())};
}

template <typename Fill>
Status LocalBlobStore::PutWith(std::string_view key, std::string_view content_type, Fill&& fill) {
    PLYR_TRY_STATUS(ValidateKey(key));
    PLYR_TRY_STATUS(ValidateContentType(content_type));
    std::string type(content_type.empty() ? ContentTypeForKey(key) : content_type);
    std::string temp_name = core::RandomHex(12) + ".tmp";
    UniqueFd fd(::openat(temp_fd_.get(), temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return Fail(ErrnoError(errno, "create temp file"));
    auto fail = [&](Error error) -> Status {
        fd.Reset();
        ::unlinkat(temp_fd_.get(), temp_name.c_str(), 0);
        if (error.code == ErrorCode::kStorageFull) {
            log::Warn("storage_full", {{"key", key}, {"detail", error.detail}});
        }
        return Fail(std::move(error));
    };
    if (Status filled = fill(fd.get()); !filled) return fail(std::move(filled.error()));
    if (::fsetxattr(fd.get(), kContentTypeXattr, type.data(), type.size(), 0) != 0) {
        // Without xattr support the type is derived from the key on read; a full disk is still a full disk.
        if (errno == ENOSPC || errno == EDQUOT) return fail(ErrnoError(errno, "set content type"));
    }
    if (Status synced = detail::Fsync(fd.get(), "fsync temp file"); !synced) return fail(std::move(synced.error()));
    if (Status closed = fd.Close("close temp file"); !closed) return fail(std::move(closed.error()));
    auto parent = OpenParent(key, true);
    if (!parent) return fail(std::move(parent.error()));
    if (::renameat(temp_fd_.get(), temp_name.c_str(), parent->dir.get(), parent->name.c_str()) != 0) {
        int err = errno;
        if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) {
            return fail(Error{ErrorCode::kConflict, "storage key clashes with an existing object",
                              "the key names a directory"});
        }
        return fail(ErrnoError(err, "rename temp file"));
    }
    // The object is visible now; a failing directory fsync only means it might not survive a crash.
    return detail::Fsync(parent->dir.get(), "fsync object directory");
}

Status LocalBlobStore::PutFile(std::string_view key, const std::filesystem::path& path, std::string_view content_type) {
    PLYR_TRY_STATUS(ValidateKey(key));
    UniqueFd src(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!src) {
        if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "source file not found");
        return Fail(ErrnoError(errno, "open source file"));
    }
    struct stat st {};
    if (::fstat(src.get(), &st) != 0) return Fail(ErrnoError(errno, "stat source file"));
    if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidArgument, "source is not a regular file");
    return PutWith(key, content_type, [&](int dst) { return CopyFd(src.get(), dst); });
}

Status LocalBlobStore::PutBytes(std::string_view key, std::string_view bytes, std::string_view content_type) {
    return PutWith(key, content_type, [&](int dst) { return detail::WriteAll(dst, bytes); });
}

Result<ObjectInfo> LocalBlobStore::InfoOf(int fd, std::string_view key) const {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return Fail(ErrnoError(errno, "stat object"));
    if (!S_ISREG(st.st_mode)) return NotFound();
    ObjectInfo info;
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.etag = LocalEtag(st);
    info.last_modified = std::chrono::sys_seconds(std::chrono::seconds(st.st_mtim.tv_sec));
    char type[256];
    ssize_t n = ::fgetxattr(fd, kContentTypeXattr, type, sizeof type);
    if (n > 0) {
        info.content_type.assign(type, static_cast<std::size_t>(n));
    } else {
        info.content_type = ContentTypeForKey(key);
    }
    return info;
}

namespace {

// Opens an object for reading without following a final symlink and without blocking on a planted FIFO.
Result<UniqueFd> OpenObject(int dir, const std::string& name) {
    UniqueFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd) return fd;
    if (errno == ENOENT || errno == ENOTDIR) return NotFound();
    if (errno == ELOOP) return CrossesSymlink();
    return Fail(ErrnoError(errno, "open object"));
}

}  // namespace

Result<ObjectInfo> LocalBlobStore::Head(std::string_view key) {
    PLYR_TRY_STATUS(ValidateKey(key));
    auto parent = OpenParent(key, false);
    if (!parent) return Fail(std::move(parent.error()));
    auto fd = OpenObject(parent->dir.get(), parent->name);
    if (!fd) return Fail(std::move(fd.error()));
    return InfoOf(fd->get(), key);
}

Result<ObjectInfo> LocalBlobStore::Get(std::string_view key, std::optional<ByteRange> range, const ChunkSink& sink) {
    PLYR_TRY_STATUS(ValidateKey(key));
    if (range && range->length == 0) return Fail(ErrorCode::kInvalidArgument, "empty byte range");
    auto parent = OpenParent(key, false);
    if (!parent) return Fail(std::move(parent.error()));
    auto fd = OpenObject(parent->dir.get(), parent->name);
    if (!fd) return Fail(std::move(fd.error()));
    auto info = InfoOf(fd->get(), key);
    if (!info) return info;
    std::uint64_t begin = 0;
    std::uint64_t end = info->size;
    if (range) {
        if (range->offset >= info->size) return Fail(ErrorCode::kInvalidArgument, "range not satisfiable");
        begin = range->offset;
        end = range->offset + std::min(range->length, info->size - range->offset);
    }
    auto buffer = std::make_unique<char[]>(kReadChunkBytes);
    // Published objects are never modified in place (puts rename a new file over them), so the size read
    // above stays valid for this descriptor.
    for (std::uint64_t pos = begin; pos < end;) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kReadChunkBytes, end - pos));
        ssize_t n = ::pread(fd->get(), buffer.get(), want, static_cast<off_t>(pos));
        if (n < 0) {
            if (errno == EINTR) continue;
            return Fail(ErrnoError(errno, "read object"));
        }
        if (n == 0) return Fail(ErrorCode::kIo, "storage i/o error", "object shorter than its size");
        pos += static_cast<std::uint64_t>(n);
        PLYR_TRY_STATUS(sink(std::string_view(buffer.get(), static_cast<std::size_t>(n))));
    }
    return info;
}

Status LocalBlobStore::Delete(std::string_view key) {
    PLYR_TRY_STATUS(ValidateKey(key));
    auto parent = OpenParent(key, false);
    if (!parent) {
        if (parent.error().code == ErrorCode::kNotFound) return Ok();
        return Fail(std::move(parent.error()));
    }
    if (::unlinkat(parent->dir.get(), parent->name.c_str(), 0) != 0) {
        // A directory is not an object, so there is nothing to delete under that key.
        if (errno == ENOENT || errno == EISDIR) return Ok();
        return Fail(ErrnoError(errno, "delete object"));
    }
    return Ok();
}

std::optional<std::string> LocalBlobStore::Url(std::string_view, std::chrono::seconds) { return std::nullopt; }

std::optional<std::filesystem::path> LocalBlobStore::LocalPath(std::string_view key) {
    if (!ValidateKey(key)) return std::nullopt;
    auto parent = OpenParent(key, false);
    if (!parent) {
        if (parent.error().code == ErrorCode::kNotFound) return root_ / std::string(key);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstatat(parent->dir.get(), parent->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        return std::nullopt;
    }
    return root_ / std::string(key);
}

Status LocalBlobStore::Check() {
    // A real create + delete also catches a read-only remount, which access() checks would not.
    std::string probe = core::RandomHex(8) + ".check";
    UniqueFd fd(::openat(temp_fd_.get(), probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return Fail(ErrnoError(errno, "create probe file"));
    fd.Reset();
    if (::unlinkat(temp_fd_.get(), probe.c_str(), 0) != 0) return Fail(ErrnoError(errno, "remove probe file"));
    return Ok();
}

}  // namespace plyr::storage::blobs
