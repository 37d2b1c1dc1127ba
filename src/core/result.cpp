#include "core/result.hpp"

namespace plyr {

std::string_view ErrorCodeName(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidArgument:
            return "invalid_argument";
        case ErrorCode::kNotFound:
            return "not_found";
        case ErrorCode::kAlreadyExists:
            return "already_exists";
        case ErrorCode::kConflict:
            return "conflict";
        case ErrorCode::kPermissionDenied:
            return "permission_denied";
        case ErrorCode::kTooLarge:
            return "too_large";
        case ErrorCode::kUnsupported:
            return "unsupported";
        case ErrorCode::kBusy:
            return "busy";
        case ErrorCode::kUnavailable:
            return "unavailable";
        case ErrorCode::kTimeout:
            return "timeout";
        case ErrorCode::kIo:
            return "io";
        case ErrorCode::kStorageFull:
            return "storage_full";
        case ErrorCode::kCancelled:
            return "cancelled";
        case ErrorCode::kConfig:
            return "config";
        case ErrorCode::kProtocol:
            return "protocol";
        case ErrorCode::kInternal:
            return "internal";
    }
    return "internal";
}

std::string Error::ToString() const {
    std::string out(ErrorCodeName(code));
    out += ": ";
    out += message;
    if (!detail.empty()) {
        out += " (";
        out += detail;
        out += ")";
    }
    return out;
}

}  // namespace plyr
