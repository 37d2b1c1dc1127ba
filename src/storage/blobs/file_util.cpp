#include "storage/blobs/file_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace plyr::storage::blobs::detail {

void UniqueFd::Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

Status UniqueFd::Close(std::string_view what) {
    int fd = std::exchange(fd_, -1);
    if (fd < 0) return Ok();
    // Linux closes the descriptor even when close() fails, so it is never retried.
    if (::close(fd) != 0 && errno != EINTR) return Fail(ErrnoError(errno, what));
    return Ok();
}

Error ErrnoError(int err, std::string_view what) {
    if (err == ENOSPC || err == EDQUOT) {
        return Error{ErrorCode::kStorageFull, "storage is full", fmt::format("{}: {}", what, std::strerror(err))};
    }
    return Error{ErrorCode::kIo, "storage i/o error", fmt::format("{}: {}", what, std::strerror(err))};
}

Status WriteAll(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return Fail(ErrnoError(errno, "write"));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return Ok();
}

Status Fsync(int fd, std::string_view what) {
    while (::fsync(fd) != 0) {
        if (errno != EINTR) return Fail(ErrnoError(errno, what));
    }
    return Ok();
}

Status FsyncDirectory(const std::string& path) {
    UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return Fail(ErrnoError(errno, "open directory"));
    return Fsync(dir.get(), "fsync directory");
}

}  // namespace plyr::storage::blobs::detail
