#include "atproto/crypto/jwt.hpp"

#include <cmath>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/encoding.hpp"
#include "core/json_strict.hpp"

namespace plyr::atproto::crypto {
namespace {

Result<boost::json::object> DecodeJsonSegment(std::string_view segment, std::string_view what) {
    auto bytes = core::Base64UrlDecode(segment);
    if (!bytes) return Fail(ErrorCode::kInvalidArgument, "jwt " + std::string(what) + " is not base64url");
    boost::json::parse_options options;
    options.max_depth = kMaxJwtJsonDepth;
    std::error_code ec;
    boost::json::value value = boost::json::parse(*bytes, ec, {}, options);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "jwt " + std::string(what) + " is not JSON", ec.message());
    if (core::JsonHasDuplicateKeys(*bytes, options)) {
        return Fail(ErrorCode::kInvalidArgument, "jwt " + std::string(what) + " repeats a member name");
    }
    if (!core::JsonNumbersFinite(value)) {
        return Fail(ErrorCode::kInvalidArgument, "jwt " + std::string(what) + " has an out-of-range number");
    }
    if (!value.is_object()) {
        return Fail(ErrorCode::kInvalidArgument, "jwt " + std::string(what) + " is not a JSON object");
    }
    return std::move(value.get_object());
}

Status CheckHeader(const boost::json::object& header, Curve& curve) {
    auto alg = header.find("alg");
    if (alg == header.end() || !alg->value().is_string()) {
        return Fail(ErrorCode::kInvalidArgument, "jwt header lacks a string 'alg'");
    }
    const auto& name = alg->value().get_string();
    if (name == "ES256") {
        curve = Curve::kP256;
    } else if (name == "ES256K") {
        curve = Curve::kSecp256k1;
    } else {
        // Includes "none": an unsigned token is never acceptable here.
        return Fail(ErrorCode::kUnsupported, "jwt algorithm is not ES256 or ES256K");
    }
    if (header.contains("crit")) return Fail(ErrorCode::kUnsupported, "jwt critical header extensions are refused");
    for (std::string_view member : {"typ", "kid", "cty"}) {
        if (auto it = header.find(member); it != header.end() && !it->value().is_string()) {
            return Fail(ErrorCode::kInvalidArgument, "jwt header '" + std::string(member) + "' is not a string");
        }
    }
    if (auto it = header.find("jwk"); it != header.end() && !it->value().is_object()) {
        return Fail(ErrorCode::kInvalidArgument, "jwt header 'jwk' is not an object");
    }
    return Ok();
}

// A NumericDate claim as whole seconds; nullopt when absent.
Result<std::optional<std::int64_t>> TimeClaim(const boost::json::object& payload, std::string_view name) {
    auto it = payload.find(name);
    if (it == payload.end()) return std::optional<std::int64_t>{};
    const auto& value = it->value();
    if (value.is_int64()) return std::optional<std::int64_t>{value.get_int64()};
    if (value.is_uint64() && value.get_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
        return std::optional<std::int64_t>{std::int64_t(value.get_uint64())};
    }
    return Fail(ErrorCode::kInvalidArgument, "jwt claim '" + std::string(name) + "' is not an integer time");
}

// Saturating add so hostile claims near INT64_MAX cannot overflow a comparison.
std::int64_t AddSat(std::int64_t a, std::int64_t b) {
    if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) return std::numeric_limits<std::int64_t>::max();
    if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b) return std::numeric_limits<std::int64_t>::min();
    return a + b;
}

std::int64_t SubSat(std::int64_t a, std::int64_t b) {
    if (b < 0 && a > std::numeric_limits<std::int64_t>::max() + b) return std::numeric_limits<std::int64_t>::max();
    if (b > 0 && a < std::numeric_limits<std::int64_t>::min() + b) return std::numeric_limits<std::int64_t>::min();
    return a - b;
}

}  // namespace

std::string Jwt::SigningInput() const { return header_segment + "." + payload_segment; }

std::string Jwt::Serialize() const { return header_segment + "." + payload_segment + "." + signature_segment; }

Result<Jwt> ParseJwt(std::string_view token) {
    if (token.size() > kMaxJwtBytes) return Fail(ErrorCode::kTooLarge, "jwt is too long");
    auto first = token.find('.');
    auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return Fail(ErrorCode::kInvalidArgument, "jwt must have exactly three segments");
    }
    Jwt jwt;
    jwt.header_segment = std::string(token.substr(0, first));
    jwt.payload_segment = std::string(token.substr(first + 1, second - first - 1));
    jwt.signature_segment = std::string(token.substr(second + 1));
    if (jwt.header_segment.empty() || jwt.payload_segment.empty() || jwt.signature_segment.empty()) {
        return Fail(ErrorCode::kInvalidArgument, "jwt has an empty segment");
    }
    auto header = DecodeJsonSegment(jwt.header_segment, "header");
    if (!header) return Fail(std::move(header.error()));
    jwt.header = std::move(*header);
    PLYR_TRY_STATUS(CheckHeader(jwt.header, jwt.curve));
    auto payload = DecodeJsonSegment(jwt.payload_segment, "payload");
    if (!payload) return Fail(std::move(payload.error()));
    jwt.payload = std::move(*payload);
    auto signature = core::Base64UrlDecode(jwt.signature_segment);
    if (!signature) return Fail(ErrorCode::kInvalidArgument, "jwt signature is not base64url");
    if (signature->size() != kSignatureBytes) {
        return Fail(ErrorCode::kInvalidArgument, "jwt signature must be 64 bytes r||s");
    }
    jwt.signature = std::move(*signature);
    return jwt;
}

Status VerifyJwtSignature(const Jwt& jwt, const PublicKey& key) {
    if (jwt.curve != key.curve()) {
        return Fail(ErrorCode::kPermissionDenied, "jwt algorithm does not match the key's curve");
    }
    return key.Verify(jwt.SigningInput(), jwt.signature);
}

Result<std::string> SignJwt(const boost::json::object& header, const boost::json::object& payload,
                            const PrivateKey& key) {
    const std::string_view alg = JwsAlgName(key.curve());
    boost::json::object full;
    if (auto it = header.find("alg"); it != header.end()) {
        if (!it->value().is_string() || it->value().get_string() != alg) {
            return Fail(ErrorCode::kInvalidArgument, "jwt header 'alg' does not match the signing key");
        }
        full = header;
    } else {
        full.reserve(header.size() + 1);
        full["alg"] = alg;
        for (const auto& member : header) full.emplace(member.key(), member.value());
    }
    std::string input = core::Base64UrlEncode(boost::json::serialize(full));
    input += '.';
    input += core::Base64UrlEncode(boost::json::serialize(payload));
    auto signature = key.Sign(input);
    if (!signature) return Fail(std::move(signature.error()));
    input += '.';
    input += core::Base64UrlEncode(*signature);
    return input;
}

Status CheckJwtTimes(const boost::json::object& payload, const core::Clock& clock, const JwtTimeRules& rules) {
    const std::int64_t now = clock.NowMicros() / 1'000'000;
    const std::int64_t leeway = rules.leeway_seconds;
    auto exp = TimeClaim(payload, "exp");
    if (!exp) return Fail(std::move(exp.error()));
    auto nbf = TimeClaim(payload, "nbf");
    if (!nbf) return Fail(std::move(nbf.error()));
    auto iat = TimeClaim(payload, "iat");
    if (!iat) return Fail(std::move(iat.error()));
    if (rules.require_exp && !*exp) return Fail(ErrorCode::kInvalidArgument, "jwt lacks 'exp'");
    if ((rules.require_iat || rules.max_age_seconds) && !*iat) {
        return Fail(ErrorCode::kInvalidArgument, "jwt lacks 'iat'");
    }
    if (*exp && now >= AddSat(**exp, leeway)) return Fail(ErrorCode::kPermissionDenied, "jwt has expired");
    if (*nbf && **nbf > AddSat(now, leeway)) return Fail(ErrorCode::kPermissionDenied, "jwt is not valid yet");
    if (*iat) {
        if (**iat > AddSat(now, leeway)) return Fail(ErrorCode::kPermissionDenied, "jwt is issued in the future");
        if (rules.max_age_seconds && SubSat(now, **iat) > AddSat(*rules.max_age_seconds, leeway)) {
            return Fail(ErrorCode::kPermissionDenied, "jwt is too old");
        }
    }
    return Ok();
}

Result<std::string> JwkThumbprint(const boost::json::object& jwk) {
    if (jwk.contains("d")) {
        auto key = PrivateKey::FromJwk(jwk);
        if (!key) return Fail(std::move(key.error()));
        return key->Public().JwkThumbprint();
    }
    auto key = PublicKey::FromJwk(jwk);
    if (!key) return Fail(std::move(key.error()));
    return key->JwkThumbprint();
}

std::string AccessTokenHash(std::string_view access_token) {
    return core::Base64UrlEncode(core::DigestToString(core::Sha256(access_token)));
}

Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view did_key) {
    static const core::SystemClock kClock;
    return VerifyJwt(token, did_key, kClock, JwtTimeRules{});
}

Result<boost::json::object> VerifyJwt(std::string_view token, std::string_view did_key, const core::Clock& clock,
                                      const JwtTimeRules& rules) {
    auto key = PublicKey::FromDidKey(did_key);
    if (!key) return Fail(std::move(key.error()));
    auto jwt = ParseJwt(token);
    if (!jwt) return Fail(std::move(jwt.error()));
    PLYR_TRY_STATUS(VerifyJwtSignature(*jwt, *key));
    PLYR_TRY_STATUS(CheckJwtTimes(jwt->payload, clock, rules));
    return std::move(jwt->payload);
}

}  // namespace plyr::atproto::crypto
