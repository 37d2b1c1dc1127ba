#include "atproto/crypto/service_auth.hpp"

#include <string_view>

namespace plyr::atproto::crypto {
namespace {

// Longest iss/aud/lxm/jti we accept: DIDs are ≤ 2 KiB by spec; NSIDs ≤ 317 characters.
constexpr std::size_t kMaxClaimBytes = 2048;

Result<std::optional<std::string>> OptionalStringClaim(const boost::json::object& payload, std::string_view name) {
    auto it = payload.find(name);
    if (it == payload.end()) return std::optional<std::string>{};
    if (!it->value().is_string() || it->value().get_string().empty() ||
        it->value().get_string().size() > kMaxClaimBytes) {
        return Fail(ErrorCode::kInvalidArgument, "service auth claim '" + std::string(name) + "' is malformed");
    }
    return std::optional<std::string>{std::string(it->value().get_string())};
}

}  // namespace

JwtTimeRules DefaultServiceAuthTimeRules() {
    JwtTimeRules rules;
    rules.leeway_seconds = 10;
    rules.require_exp = true;
    return rules;
}

Result<std::string> ServiceAuthIssuer(const Jwt& jwt) {
    auto iss = OptionalStringClaim(jwt.payload, "iss");
    if (!iss) return Fail(std::move(iss.error()));
    if (!*iss) return Fail(ErrorCode::kInvalidArgument, "service auth token lacks 'iss'");
    std::string did = (*iss)->substr(0, (*iss)->find('#'));
    if (did.rfind("did:", 0) != 0 || did.size() <= 4) {
        return Fail(ErrorCode::kInvalidArgument, "service auth 'iss' is not a DID");
    }
    return did;
}

Result<ServiceAuthClaims> VerifyServiceAuth(const Jwt& jwt, const PublicKey& issuer_key,
                                            const ServiceAuthExpectation& expected, const core::Clock& clock) {
    if (auto typ = jwt.header.find("typ"); typ != jwt.header.end() && typ->value() != "JWT") {
        return Fail(ErrorCode::kPermissionDenied, "service auth token has an unexpected typ");
    }
    auto issuer_did = ServiceAuthIssuer(jwt);
    if (!issuer_did) return Fail(std::move(issuer_did.error()));
    PLYR_TRY_STATUS(VerifyJwtSignature(jwt, issuer_key));

    ServiceAuthClaims claims;
    claims.issuer_did = std::move(*issuer_did);
    claims.iss = std::string(jwt.payload.at("iss").get_string());
    auto aud = OptionalStringClaim(jwt.payload, "aud");
    if (!aud) return Fail(std::move(aud.error()));
    const bool aud_ok =
        *aud && (**aud == expected.service_did ||
                 (!expected.service_id.empty() && **aud == expected.service_did + "#" + expected.service_id));
    if (!aud_ok) return Fail(ErrorCode::kPermissionDenied, "service auth 'aud' is not this service");
    claims.aud = **aud;
    PLYR_TRY_STATUS(CheckJwtTimes(jwt.payload, clock, expected.times));
    claims.exp = jwt.payload.contains("exp") ? jwt.payload.at("exp").to_number<std::int64_t>() : 0;
    auto lxm = OptionalStringClaim(jwt.payload, "lxm");
    if (!lxm) return Fail(std::move(lxm.error()));
    if (expected.lxm && *lxm != *expected.lxm) {
        return Fail(ErrorCode::kPermissionDenied, "service auth 'lxm' does not match the method called");
    }
    claims.lxm = std::move(*lxm);
    auto jti = OptionalStringClaim(jwt.payload, "jti");
    if (!jti) return Fail(std::move(jti.error()));
    claims.jti = std::move(*jti);
    claims.payload = jwt.payload;
    return claims;
}

}  // namespace plyr::atproto::crypto
