#pragma once
// Internal to atproto/identity: how transport failures of net::HttpClient read at this layer.

#include "core/result.hpp"

namespace plyr::atproto::identity::detail {

// A fetch that failed did not give us a document to judge: every such failure means "identity unreachable".
// Timeouts, SSRF refusals and oversized answers keep their codes; the rest becomes kUnavailable so that
// kProtocol stays reserved for documents we received and rejected, and kInvalidArgument for bad input.
inline Error TransportError(Error error) {
    switch (error.code) {
        case ErrorCode::kTimeout:
        case ErrorCode::kPermissionDenied:
        case ErrorCode::kTooLarge:
        case ErrorCode::kUnavailable:
            break;
        default:
            error.code = ErrorCode::kUnavailable;
            break;
    }
    return error;
}

}  // namespace plyr::atproto::identity::detail
