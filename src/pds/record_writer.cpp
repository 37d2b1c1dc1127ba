#include "pds/record_writer.hpp"

#include <utility>

#include <fmt/format.h>

namespace plyr::pds {
namespace {

namespace xrpc = atproto::xrpc;

bool IsRetryableCode(ErrorCode code) {
    return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout || code == ErrorCode::kBusy;
}

}  // namespace

xrpc::XrpcResult<RmwResult> WriteRecordRmw(const xrpc::XrpcClient& client, std::string_view did,
                                           std::string_view collection, std::string_view rkey,
                                           const RecordBuilder& build) {
    RmwResult out;
    for (int round = 0;; ++round) {
        std::optional<atproto::Value> current;
        xrpc::SwapRecord swap = xrpc::SwapRecord::MustNotExist();
        bool swap_known = true;
        auto got = xrpc::GetRecord(client, did, collection, rkey);
        if (got) {
            current = std::move(got->value);
            if (got->cid) {
                swap = xrpc::SwapRecord::MustEqual(*got->cid);
            } else {
                swap_known = false;  // the PDS did not say which version it returned: write unconditionally
            }
        } else if (!got.error().Is("RecordNotFound")) {
            return xrpc::XrpcFail(std::move(got.error()));
        }
        auto record = build(current);
        if (!record) {
            xrpc::XrpcError error = xrpc::FromError(record.error());
            error.detail = fmt::format("record build: {}", record.error().detail);
            return xrpc::XrpcFail(std::move(error));
        }
        xrpc::PutRecordInput input;
        input.repo = std::string(did);
        input.collection = std::string(collection);
        input.rkey = std::string(rkey);
        input.record = std::move(*record);
        if (swap_known) input.swap_record = std::move(swap);
        auto put = xrpc::PutRecord(client, input);
        if (put) {
            out.write = std::move(*put);
            out.created = !current.has_value();
            return out;
        }
        if (!put.error().Is("InvalidSwap") || round >= kMaxSwapRetries) return xrpc::XrpcFail(std::move(put.error()));
        ++out.swap_retries;
    }
}

xrpc::XrpcResult<RmwResult> WriteRecordRmw(const atproto::oauth::PdsSession& session, std::string_view did,
                                           std::string_view collection, std::string_view rkey,
                                           const RecordBuilder& build) {
    // An invalid_token answer means the PDS did nothing, so repeating the whole read-modify-write is safe.
    return session.Run(
        [&](const xrpc::XrpcClient& client) { return WriteRecordRmw(client, did, collection, rkey, build); });
}

xrpc::XrpcResult<void> DeleteRecordIdempotent(const xrpc::XrpcClient& client, std::string_view did,
                                              std::string_view collection, std::string_view rkey) {
    xrpc::DeleteRecordInput input;
    input.repo = std::string(did);
    input.collection = std::string(collection);
    input.rkey = std::string(rkey);
    auto deleted = xrpc::DeleteRecord(client, input);
    if (deleted || deleted.error().Is("RecordNotFound")) return {};
    return xrpc::XrpcFail(std::move(deleted.error()));
}

xrpc::XrpcResult<void> DeleteRecordIdempotent(const atproto::oauth::PdsSession& session, std::string_view did,
                                              std::string_view collection, std::string_view rkey) {
    return session.Run(
        [&](const xrpc::XrpcClient& client) { return DeleteRecordIdempotent(client, did, collection, rkey); });
}

PdsErrorClass ClassifyPdsError(const xrpc::XrpcError& error) {
    if (atproto::oauth::IsSessionExpired(error) || error.Is("invalid_grant") ||
        error.detail.starts_with("invalid_grant") || error.detail.starts_with(kNoSession)) {
        return PdsErrorClass::kAuthBlocked;
    }
    if (error.Is("InvalidSwap")) return PdsErrorClass::kInvalidSwap;
    if (atproto::oauth::IsInvalidTokenError(error)) return PdsErrorClass::kAuthRefresh;
    if (error.status == 0) {
        // No response: a transport failure, or a local one (record build, credentials).
        if (IsRetryableCode(error.code)) return PdsErrorClass::kTransient;
        switch (error.code) {
            case ErrorCode::kPermissionDenied:
                return PdsErrorClass::kAuthBlocked;
            case ErrorCode::kInvalidArgument:
            case ErrorCode::kUnsupported:
            case ErrorCode::kTooLarge:
                return PdsErrorClass::kRejected;
            default:
                return PdsErrorClass::kTransient;
        }
    }
    if (error.status == 408 || error.status == 429 || error.status >= 500) return PdsErrorClass::kTransient;
    if (error.status >= 400) return PdsErrorClass::kRejected;
    return PdsErrorClass::kTransient;  // 3xx and other oddities: a misbehaving proxy, worth retrying
}

std::string_view ToString(PdsErrorClass error_class) {
    switch (error_class) {
        case PdsErrorClass::kTransient:
            return "transient";
        case PdsErrorClass::kAuthRefresh:
            return "auth_refresh";
        case PdsErrorClass::kAuthBlocked:
            return "auth_blocked";
        case PdsErrorClass::kInvalidSwap:
            return "invalid_swap";
        case PdsErrorClass::kRejected:
            return "rejected";
    }
    return "transient";
}

std::string ClassifyPdsErrorName(const xrpc::XrpcError& error) {
    return std::string(ToString(ClassifyPdsError(error)));
}

}  // namespace plyr::pds
