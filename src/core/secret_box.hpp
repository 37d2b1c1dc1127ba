#pragma once
// SecretBox: authenticated encryption of secrets at rest (product.md §5.1 `enc` columns).
//
// Format: version(1) ‖ key_id(1) ‖ nonce(12) ‖ ciphertext ‖ tag(16), AES-256-GCM. The associated data
// is supplied by the caller (table name + the row's stable internal id) so a blob copied to another row
// or table fails to open. The keyring holds the current key and optionally the previous one
// (OAUTH_ENCRYPTION_KEY_PREVIOUS): Seal always uses the current key; Open accepts either, and reports
// whether the blob needs re-encryption so writers can rotate rows on their next write.
//
// Errors: malformed keys → kConfig; truncated/tampered blobs, wrong associated data, unknown key id or
// version → kInvalidArgument (never a crash; never an exception escapes).
// Thread-safety: immutable after construction; Seal/Open may be called concurrently.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace plyr::core {

inline constexpr std::size_t kSecretKeySize = 32;
inline constexpr std::size_t kSecretNonceSize = 12;
inline constexpr std::size_t kSecretTagSize = 16;
inline constexpr std::size_t kSecretHeaderSize = 2 + kSecretNonceSize;
inline constexpr std::uint8_t kSecretBoxVersion = 1;

struct OpenedSecret {
    std::string plaintext;
    bool needs_reencrypt = false;  // sealed with the previous key (or an older format)
};

class SecretBox {
  public:
    // Keys are raw 32-byte strings. `previous` equal to `current` is ignored.
    static Result<SecretBox> FromKeys(std::string current, std::optional<std::string> previous = {});
    // Keys as configured: base64url (no padding) of 32 bytes. Empty `previous_b64` means none.
    static Result<SecretBox> FromBase64Url(std::string_view current_b64, std::string_view previous_b64 = {});

    // The key id stored in blobs: the first byte of SHA-256(key).
    static std::uint8_t KeyId(std::string_view key);

    Result<std::string> Seal(std::string_view plaintext, std::string_view associated_data) const;
    // As Seal with a caller-chosen nonce: for known-answer tests only (a reused nonce breaks GCM).
    Result<std::string> SealWithNonce(std::string_view plaintext, std::string_view associated_data,
                                      std::string_view nonce) const;
    Result<OpenedSecret> Open(std::string_view blob, std::string_view associated_data) const;

    std::uint8_t current_key_id() const { return current_id_; }

  private:
    SecretBox() = default;
    std::string current_;
    std::uint8_t current_id_ = 0;
    std::optional<std::string> previous_;
    std::uint8_t previous_id_ = 0;
};

// The associated data for an `enc` column: table name, a separator that cannot occur in table names,
// and the row's stable id.
std::string SecretAssociatedData(std::string_view table, std::string_view row_id);

}  // namespace plyr::core
