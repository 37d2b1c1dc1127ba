// pds::ClassifyPdsError (the outbox's outcome classes, product.md §6.5) and the backoff schedule.
#include "pds/record_writer.hpp"

#include <chrono>

#include <gtest/gtest.h>

#include "pds/outbox_worker.hpp"
#include "pds/session_provider.hpp"

namespace plyr::pds {
namespace {

namespace xrpc = atproto::xrpc;
using namespace std::chrono_literals;

xrpc::XrpcError Response(int status, std::string name = {}) {
    xrpc::XrpcError e;
    e.status = status;
    e.error = std::move(name);
    e.code = xrpc::CodeForXrpcError(status, e.error);
    return e;
}

xrpc::XrpcError Local(ErrorCode code, std::string detail = {}) {
    xrpc::XrpcError e;
    e.code = code;
    e.detail = std::move(detail);
    return e;
}

TEST(ClassifyPdsError, TransportFailuresServerErrorsAndRateLimitsAreTransient) {
    EXPECT_EQ(ClassifyPdsError(Local(ErrorCode::kUnavailable, "connection refused")), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Local(ErrorCode::kTimeout)), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Response(500)), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Response(502)), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Response(503)), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Response(429, "RateLimitExceeded")), PdsErrorClass::kTransient);
    EXPECT_EQ(ClassifyPdsError(Response(408)), PdsErrorClass::kTransient);
}

TEST(ClassifyPdsError, DeadGrantsAndMissingSessionsBlockUntilTheNextSignIn) {
    auto expired = Local(ErrorCode::kPermissionDenied, "session_expired: refresh refused (invalid_grant)");
    EXPECT_EQ(ClassifyPdsError(expired), PdsErrorClass::kAuthBlocked);
    EXPECT_EQ(ClassifyPdsError(Local(ErrorCode::kPermissionDenied, "invalid_grant: revoked")),
              PdsErrorClass::kAuthBlocked);
    EXPECT_EQ(ClassifyPdsError(xrpc::FromError(NoSessionError("did:plc:abc"))), PdsErrorClass::kAuthBlocked);
    EXPECT_EQ(ClassifyPdsError(Response(400, "invalid_grant")), PdsErrorClass::kAuthBlocked);
    EXPECT_EQ(ClassifyPdsErrorName(Response(400, "invalid_grant")), "auth_blocked");
}

TEST(ClassifyPdsError, InvalidSwapIsItsOwnClass) {
    EXPECT_EQ(ClassifyPdsError(Response(400, "InvalidSwap")), PdsErrorClass::kInvalidSwap);
    EXPECT_EQ(ClassifyPdsErrorName(Response(400, "InvalidSwap")), "invalid_swap");
}

TEST(ClassifyPdsError, AnInvalidTokenThatEscapedTheRefreshAsksForARefresh) {
    auto e = Response(401, "invalid_token");
    e.www_authenticate = R"(DPoP error="invalid_token")";
    EXPECT_EQ(ClassifyPdsError(e), PdsErrorClass::kAuthRefresh);
}

TEST(ClassifyPdsError, OtherClientErrorsAndLocalValidationFailuresAreRejected) {
    EXPECT_EQ(ClassifyPdsError(Response(400, "InvalidRequest")), PdsErrorClass::kRejected);
    EXPECT_EQ(ClassifyPdsError(Response(403)), PdsErrorClass::kRejected);
    EXPECT_EQ(ClassifyPdsError(Response(413, "PayloadTooLarge")), PdsErrorClass::kRejected);
    EXPECT_EQ(ClassifyPdsError(Local(ErrorCode::kInvalidArgument, "record build: lexicon")), PdsErrorClass::kRejected);
    EXPECT_EQ(ClassifyPdsErrorName(Response(404)), "rejected");
}

TEST(OutboxBackoff, DoublesFromTwoSecondsAndStopsAtOneHour) {
    EXPECT_EQ(BackoffCeiling(1), 2s);
    EXPECT_EQ(BackoffCeiling(2), 4s);
    EXPECT_EQ(BackoffCeiling(10), 1024s);
    EXPECT_EQ(BackoffCeiling(12), 3600s);
    EXPECT_EQ(BackoffCeiling(19), 3600s);
    EXPECT_EQ(BackoffCeiling(500), 3600s);
}

TEST(OutboxBackoff, JitterStaysWithinTwentyPercent) {
    EXPECT_EQ(BackoffWithJitter(3, 0.0), std::chrono::microseconds(6'400'000));       // 8 s − 20 %
    EXPECT_EQ(BackoffWithJitter(3, 0.5), std::chrono::microseconds(8'000'000));       // 8 s
    EXPECT_EQ(BackoffWithJitter(3, 0.999999), std::chrono::microseconds(9'599'997));  // just under 8 s + 20 %
    EXPECT_EQ(BackoffWithJitter(20, 1.0), std::chrono::microseconds(4'320'000'000));  // 1 h + 20 %
}

TEST(OutboxBackoff, TwentyAttemptsSpanAboutHalfADay) {
    std::chrono::microseconds total{0};
    for (int attempt = 1; attempt < kMaxAttempts; ++attempt) total += BackoffCeiling(attempt);
    EXPECT_GT(total, 6h);
    EXPECT_LT(total, 14h);
}

}  // namespace
}  // namespace plyr::pds
