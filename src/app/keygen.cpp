// `plyr keygen oauth-jwk|encryption-key|labeler-key` (product.md §8.1): fresh secrets on stdout only, so
// they go where the operator redirects them and never into logs. Needs no configuration.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include "app/commands.hpp"
#include "app/exit_codes.hpp"
#include "atproto/crypto/keys.hpp"
#include "core/encoding.hpp"
#include "core/secret_box.hpp"

namespace plyr::app {
namespace {

namespace crypto = atproto::crypto;

int Report(const Error& error) {
    fmt::print(stderr, "plyr keygen: {}\n", error.message);
    return kExitRuntime;
}

}  // namespace

int RunKeygen(const std::string& kind) {
    if (kind == "oauth-jwk") {
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        if (!key) return Report(key.error());
        auto jwk = key->ToJwk();
        // kid = RFC 7638 thumbprint: stable for the key, so the JWKS and client assertions agree on it.
        jwk["kid"] = key->Public().JwkThumbprint();
        jwk["alg"] = "ES256";
        jwk["use"] = "sig";
        fmt::print("{}\n", boost::json::serialize(jwk));
        return kExitOk;
    }
    if (kind == "encryption-key") {
        fmt::print("{}\n", core::Base64UrlEncode(core::RandomBytes(core::kSecretKeySize)));
        return kExitOk;
    }
    if (kind == "labeler-key") {
        auto key = crypto::PrivateKey::Generate(crypto::Curve::kSecp256k1);
        if (!key) return Report(key.error());
        // Line 1 is MODERATION_LABELER_SIGNING_KEY, line 2 the did:key to publish in the labeler's DID document.
        fmt::print("{}\n{}\n", core::HexEncode(key->Bytes()), key->Public().DidKey());
        return kExitOk;
    }
    fmt::print(stderr, "plyr keygen: unknown kind '{}' (oauth-jwk, encryption-key, labeler-key)\n", kind);
    return kExitUsage;
}

}  // namespace plyr::app
