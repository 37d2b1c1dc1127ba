#pragma once
// core::keyring — the secrets plyr needs before it can serve sign-in (product.md §5.1, §6.1, §8.2):
// the SecretBox keyring from OAUTH_ENCRYPTION_KEY[_PREVIOUS], and the shape check of OAUTH_JWK.
//
// Encryption key
// - OAUTH_ENCRYPTION_KEY set: base64url (no padding) of 32 bytes; OAUTH_ENCRYPTION_KEY_PREVIOUS optional.
// - Unset, production: kConfig "OAUTH_ENCRYPTION_KEY is required …" naming `plyr keygen encryption-key`
//   (the binary exits 3).
// - Unset, development mode (IsDevelopmentMode): the key lives in DevelopmentKeyPath(config)
//   (DATA_DIR/secrets/oauth-encryption-key). It is generated once — directory 0700, file 0600, written to a
//   temporary file and linked into place, so two processes starting together agree on one key — and reused
//   on later starts. A key file that is unreadable, malformed, or readable by group/others → kConfig.
//   Generation is logged as event "oauth_encryption_key_generated" with the path, never the key.
// - Errors name the variable or the file, never a secret value.
//
// OAUTH_JWK
// - Core does not depend on atproto, so it only checks the shape here (LoadConfig calls CheckOAuthJwk and
//   fails with kConfig "invalid OAUTH_JWK: …"): a JSON object with kty "EC", crv "P-256", base64url `d`, `x`,
//   `y` of 32 bytes each, optional string `kid`, optional `alg` "ES256", optional `use` "sig"; and the
//   public point must match `d` (checked with OpenSSL). The auth module imports the key with
//   atproto::crypto::PrivateKey::FromJwk(boost::json::parse(config.oauth_jwk).as_object()) and uses
//   config.oauth_jwk_kid (the JWK's `kid`, or its RFC 7638 thumbprint when absent) as the kid.
//
// Thread-safety: free functions; LoadSecretBox touches the file system (call once at start-up).

#include <filesystem>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"
#include "core/secret_box.hpp"

namespace plyr::core {

// PUBLIC_URL is http:// on a loopback host (127.0.0.1, [::1], localhost).
bool IsDevelopmentMode(const Config& config);

// DATA_DIR/secrets/oauth-encryption-key.
std::filesystem::path DevelopmentKeyPath(const Config& config);

enum class KeySource { kConfigured, kDevelopmentFile, kGenerated };
std::string_view ToString(KeySource source);

struct LoadedKeyring {
    SecretBox box;
    KeySource source = KeySource::kConfigured;
    std::filesystem::path file;  // set for kDevelopmentFile / kGenerated
};

// The keyring as configured (see above). Errors: kConfig (missing/malformed key, bad key file), kIo (the
// secrets directory or file cannot be created).
Result<LoadedKeyring> LoadKeyring(const Config& config);
// LoadKeyring(config)->box.
Result<SecretBox> LoadSecretBox(const Config& config);

struct OAuthJwkInfo {
    std::string kid;  // the JWK's kid, else its RFC 7638 thumbprint
};

// Shape and key-pair check of an OAUTH_JWK value (see above). Errors: kConfig; the message never quotes
// the value.
Result<OAuthJwkInfo> CheckOAuthJwk(std::string_view jwk_json);

}  // namespace plyr::core
