#pragma once
// pds::SessionProvider — an authenticated PDS client for a DID without a request (the outbox and background
// jobs write on the user's behalf). Implemented in src/auth (auth::AuthSessionProvider over
// AuthService::OpenPdsSessionForDid), faked in tests.
//
// Contract
// - OpenForDid(did) is BLOCKING (database). It picks the DID's most recently used live session, browser
//   sessions before developer tokens, never a session marked `deleting` (product.md §6.5, §6.15).
// - Errors: kPermissionDenied with detail starting "no_session" when the DID has no live session
//   (IsNoSession); database errors as they are. A dead grant shows up later, as atproto::oauth::IsSessionExpired
//   errors from PdsSession::Run.
// - The returned handle owns what the atproto::oauth::PdsSession refers to; it may be used from one thread at a
//   time and must not outlive the provider.

#include <memory>
#include <string>
#include <string_view>

#include "atproto/oauth/pds_session.hpp"
#include "core/result.hpp"

namespace plyr::pds {

inline constexpr std::string_view kNoSession = "no_session";

class SessionHandle {
  public:
    virtual ~SessionHandle() = default;
    virtual const std::string& did() const = 0;
    virtual const atproto::oauth::PdsSession& session() const = 0;
};

class SessionProvider {
  public:
    virtual ~SessionProvider() = default;
    virtual Result<std::unique_ptr<SessionHandle>> OpenForDid(std::string_view did) = 0;
};

// The kPermissionDenied "no_session" error of OpenForDid.
Error NoSessionError(std::string_view did);
bool IsNoSession(const Error& error);

}  // namespace plyr::pds
