#pragma once
// Result<T>: the one way expected failures cross a module boundary.
//
// An Error carries a machine code (stable, mapped to HTTP/CLI by the edges), a message that is safe to
// show to a user (lowercase, no secrets, no internals) and an optional internal detail for logs only.
// Thread-safety: plain values.

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace plyr {

enum class ErrorCode {
    kInvalidArgument,  // the caller's input is malformed
    kNotFound,
    kAlreadyExists,
    kConflict,  // state changed underneath (lease lost, revision mismatch)
    kPermissionDenied,
    kTooLarge,
    kUnsupported,
    kBusy,         // transient contention (SQLite busy): retry later
    kUnavailable,  // a dependency is down (DB unreachable, S3 unreachable)
    kTimeout,
    kIo,  // local I/O failure
    kStorageFull,
    kCancelled,
    kConfig,    // invalid configuration
    kProtocol,  // a peer broke its protocol
    kInternal,  // a bug
};

std::string_view ErrorCodeName(ErrorCode code);

struct Error {
    ErrorCode code = ErrorCode::kInternal;
    std::string message;  // safe for users
    std::string detail;   // internal, for logs only

    std::string ToString() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

using Status = Result<void>;

inline tl::unexpected<Error> Fail(ErrorCode code, std::string message, std::string detail = {}) {
    return tl::unexpected<Error>(Error{code, std::move(message), std::move(detail)});
}

inline tl::unexpected<Error> Fail(Error error) { return tl::unexpected<Error>(std::move(error)); }

inline Status Ok() { return {}; }

}  // namespace plyr

// Propagates the error of a Result-returning expression; otherwise yields nothing.
#define PLYR_TRY_STATUS(expr)                                                            \
    do {                                                                                 \
        auto plyr_try_result_ = (expr);                                                  \
        if (!plyr_try_result_) return ::plyr::Fail(std::move(plyr_try_result_.error())); \
    } while (false)
