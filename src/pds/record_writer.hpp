#pragma once
// pds::record_writer — the read-modify-write record write of product.md §3.1 rule 3 and the PDS error
// classification every PDS write of plyr uses (the outbox worker, the upload job's first publish).
//
// Contract
// - BLOCKING (XRPC over the session): call from a worker thread or through net::Offload().
// - WriteRecordRmw: getRecord (RecordNotFound → current = nullopt, swapRecord = must-not-exist; otherwise
//   swapRecord = the CID just read) → build(current) → putRecord with that swapRecord. On InvalidSwap (someone
//   wrote the record meanwhile) it re-reads and rebuilds, at most kMaxSwapRetries times, then returns the last
//   InvalidSwap error. build's error is returned as an XrpcError with status 0 and the error's code.
// - DeleteRecordIdempotent: deleteRecord; RecordNotFound (and the reference PDS's silent no-op) is success.
// - ClassifyPdsError maps an XrpcError to the outbox's outcome classes (kTransient, kAuthBlocked, kInvalidSwap,
//   kRejected); PdsSession::Run already did the invalid_token refresh, so kAuthRefresh is only returned for an
//   invalid_token that escaped it (treated like a transient failure by callers).
// Thread-safety: free functions; as thread-safe as the PdsSession.

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/data/value.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/xrpc/repo.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/result.hpp"
#include "pds/session_provider.hpp"

namespace plyr::pds {

inline constexpr int kMaxSwapRetries = 3;

using RecordBuilder = std::function<Result<atproto::Value>(const std::optional<atproto::Value>& current)>;

struct RmwResult {
    atproto::xrpc::WriteResult write;
    bool created = false;  // no record existed before this write
    int swap_retries = 0;  // InvalidSwap re-reads needed
};

atproto::xrpc::XrpcResult<RmwResult> WriteRecordRmw(const atproto::oauth::PdsSession& session, std::string_view did,
                                                    std::string_view collection, std::string_view rkey,
                                                    const RecordBuilder& build);

// The same over a bare client (tests, app passwords).
atproto::xrpc::XrpcResult<RmwResult> WriteRecordRmw(const atproto::xrpc::XrpcClient& client, std::string_view did,
                                                    std::string_view collection, std::string_view rkey,
                                                    const RecordBuilder& build);

atproto::xrpc::XrpcResult<void> DeleteRecordIdempotent(const atproto::oauth::PdsSession& session, std::string_view did,
                                                       std::string_view collection, std::string_view rkey);
atproto::xrpc::XrpcResult<void> DeleteRecordIdempotent(const atproto::xrpc::XrpcClient& client, std::string_view did,
                                                       std::string_view collection, std::string_view rkey);

enum class PdsErrorClass {
    kTransient,    // network, timeout, 5xx, 429, 408: retry with backoff (honour Retry-After)
    kAuthRefresh,  // invalid_token that survived PdsSession's refresh: retry
    kAuthBlocked,  // invalid_grant / session_expired / no_session: blocked_auth until the next sign-in
    kInvalidSwap,  // the record changed under us: re-read and retry at once
    kRejected,     // any other 4xx (or a local validation failure): dead
};
PdsErrorClass ClassifyPdsError(const atproto::xrpc::XrpcError& error);
// "transient" | "auth_refresh" | "auth_blocked" | "invalid_swap" | "rejected"
std::string_view ToString(PdsErrorClass error_class);
// Convenience: ToString(ClassifyPdsError(error)).
std::string ClassifyPdsErrorName(const atproto::xrpc::XrpcError& error);

}  // namespace plyr::pds
