#pragma once
// Module-internal POSIX file helpers shared by the backends: an owning fd, errno → Error mapping, full
// writes and fsync. Not part of the module's public interface.

#include <string>
#include <string_view>
#include <utility>

#include "core/result.hpp"

namespace plyr::storage::blobs::detail {

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    ~UniqueFd() { Reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            Reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }
    void Reset();
    // Closes and reports the close error (a deferred write error on some filesystems).
    Status Close(std::string_view what);

  private:
    int fd_ = -1;
};

// ENOSPC/EDQUOT → kStorageFull, everything else → kIo; `what` names the operation (no key bytes needed).
Error ErrnoError(int err, std::string_view what);

// Writes all of `data` (retrying short writes and EINTR).
Status WriteAll(int fd, std::string_view data);

Status Fsync(int fd, std::string_view what);

// Path-based helper for a directory: open it and fsync it (makes a rename or create inside it durable).
Status FsyncDirectory(const std::string& path);

}  // namespace plyr::storage::blobs::detail
