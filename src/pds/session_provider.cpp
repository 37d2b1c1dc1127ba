#include "pds/session_provider.hpp"

#include <string>

namespace plyr::pds {

Error NoSessionError(std::string_view did) {
    return Error{ErrorCode::kPermissionDenied, "no live session for this account: sign in again",
                 std::string(kNoSession) + ": " + std::string(did)};
}

bool IsNoSession(const Error& error) {
    return error.code == ErrorCode::kPermissionDenied && error.detail.starts_with(kNoSession);
}

}  // namespace plyr::pds
