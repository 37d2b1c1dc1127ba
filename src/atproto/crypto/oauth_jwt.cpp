#include "atproto/crypto/oauth_jwt.hpp"

#include <cctype>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "core/encoding.hpp"

namespace plyr::atproto::crypto {
namespace {

constexpr std::size_t kMaxJtiBytes = 256;

std::string NewJti() { return core::Base64UrlEncode(core::RandomBytes(16)); }

const boost::json::string* StringClaim(const boost::json::object& payload, std::string_view name) {
    auto it = payload.find(name);
    if (it == payload.end() || !it->value().is_string()) return nullptr;
    return &it->value().get_string();
}

}  // namespace

Result<std::string> NormalizeHtu(std::string_view text) {
    auto parsed = boost::urls::parse_uri(text);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "DPoP htu is not an absolute URL");
    boost::urls::url url(*parsed);
    url.normalize();  // scheme/host case, percent-encoding case, dot segments
    if ((url.scheme() != "https" && url.scheme() != "http") || !url.has_authority() || url.host().empty() ||
        url.has_userinfo()) {
        return Fail(ErrorCode::kInvalidArgument, "DPoP htu must be an http(s) URL with a host");
    }
    url.remove_query();
    url.remove_fragment();
    if (url.has_port() && ((url.scheme() == "https" && url.port() == "443") ||
                           (url.scheme() == "http" && url.port() == "80") || url.port().empty())) {
        url.remove_port();
    }
    std::string out(url.buffer());
    // Query and fragment are gone, so the buffer ends with the authority when the path is empty.
    if (url.encoded_path().empty()) out += '/';
    return out;
}

Result<std::string> BuildDpopProof(const PrivateKey& key, const DpopRequest& request, const core::Clock& clock) {
    if (request.htm.empty()) return Fail(ErrorCode::kInvalidArgument, "DPoP htm is empty");
    // The exact form the request goes to, minus query and fragment; stricter servers compare it verbatim.
    std::string htu = request.htu.substr(0, request.htu.find_first_of("?#"));
    auto check = NormalizeHtu(htu);
    if (!check) return Fail(std::move(check.error()));
    boost::json::object header;
    header["typ"] = "dpop+jwt";
    header["alg"] = JwsAlgName(key.curve());
    header["jwk"] = key.Public().ToJwk();
    boost::json::object payload;
    payload["jti"] = NewJti();
    payload["htm"] = request.htm;
    payload["htu"] = htu;
    payload["iat"] = clock.NowMicros() / 1'000'000;
    if (request.nonce) payload["nonce"] = *request.nonce;
    if (request.access_token) payload["ath"] = AccessTokenHash(*request.access_token);
    return SignJwt(header, payload, key);
}

JwtTimeRules DefaultDpopTimeRules() {
    JwtTimeRules rules;
    rules.leeway_seconds = 180;
    rules.require_iat = true;
    rules.max_age_seconds = 10;
    return rules;
}

Result<VerifiedDpop> VerifyDpopProof(std::string_view proof, const DpopExpectation& expected,
                                     const core::Clock& clock) {
    auto jwt = ParseJwt(proof);
    if (!jwt) return Fail(std::move(jwt.error()));
    auto typ = jwt->header.find("typ");
    if (typ == jwt->header.end() || typ->value() != "dpop+jwt") {
        return Fail(ErrorCode::kInvalidArgument, "DPoP proof has an unexpected typ header");
    }
    auto jwk = jwt->header.find("jwk");
    if (jwk == jwt->header.end()) return Fail(ErrorCode::kInvalidArgument, "DPoP proof lacks a jwk header");
    auto key = PublicKey::FromJwk(jwk->value().get_object());  // ParseJwt checked it is an object
    if (!key) return Fail(std::move(key.error()));
    PLYR_TRY_STATUS(VerifyJwtSignature(*jwt, *key));

    const auto& payload = jwt->payload;
    const auto* jti = StringClaim(payload, "jti");
    if (!jti || jti->empty() || jti->size() > kMaxJtiBytes) {
        return Fail(ErrorCode::kInvalidArgument, "DPoP jti missing");
    }
    const auto* htm = StringClaim(payload, "htm");
    if (!htm || *htm != expected.htm) return Fail(ErrorCode::kPermissionDenied, "DPoP htm mismatch");
    const auto* htu = StringClaim(payload, "htu");
    if (!htu) return Fail(ErrorCode::kPermissionDenied, "DPoP htu mismatch");
    auto proof_htu = NormalizeHtu(std::string_view(htu->data(), htu->size()));
    auto request_htu = NormalizeHtu(expected.htu);
    if (!request_htu) return Fail(std::move(request_htu.error()));
    if (!proof_htu || *proof_htu != *request_htu) return Fail(ErrorCode::kPermissionDenied, "DPoP htu mismatch");
    PLYR_TRY_STATUS(CheckJwtTimes(payload, clock, expected.times));

    const auto* ath = StringClaim(payload, "ath");
    if (expected.access_token) {
        if (!ath || *ath != AccessTokenHash(*expected.access_token)) {
            return Fail(ErrorCode::kPermissionDenied, "DPoP ath mismatch");
        }
    } else if (payload.contains("ath")) {
        return Fail(ErrorCode::kPermissionDenied, "DPoP ath claim not allowed");
    }
    if (expected.nonce) {
        const auto* nonce = StringClaim(payload, "nonce");
        if (!nonce || *nonce != *expected.nonce) return Fail(ErrorCode::kConflict, "DPoP nonce mismatch");
    }
    std::string jkt = key->JwkThumbprint();
    std::string jti_copy(jti->data(), jti->size());
    return VerifiedDpop{std::move(*key), std::move(jkt), std::move(jti_copy), std::move(jwt->payload)};
}

Result<std::string> BuildClientAssertion(const PrivateKey& key, const ClientAssertionRequest& request,
                                         const core::Clock& clock) {
    if (request.client_id.empty() || request.issuer.empty() || request.kid.empty()) {
        return Fail(ErrorCode::kInvalidArgument, "client assertion needs client_id, issuer and kid");
    }
    const std::int64_t iat = clock.NowMicros() / 1'000'000 - request.backdate_seconds;
    boost::json::object header;
    header["alg"] = JwsAlgName(key.curve());
    header["kid"] = request.kid;
    boost::json::object payload;
    payload["iss"] = request.client_id;
    payload["sub"] = request.client_id;
    payload["aud"] = request.issuer;
    payload["jti"] = NewJti();
    payload["iat"] = iat;
    payload["exp"] = iat + request.lifetime_seconds;
    return SignJwt(header, payload, key);
}

}  // namespace plyr::atproto::crypto
