#pragma once
// Byte encodings and hashes used across modules. Pure functions; thread-safe.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace plyr::core {

std::string HexEncode(std::string_view bytes);
std::optional<std::string> HexDecode(std::string_view hex);
std::string Base64Encode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);  // no padding
std::optional<std::string> Base64UrlDecode(std::string_view text);
std::optional<std::string> Base64Decode(std::string_view text);

using Sha256Digest = std::array<std::uint8_t, 32>;
Sha256Digest Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);
Sha256Digest HmacSha256(std::string_view key, std::string_view data);

// Incremental SHA-256 for streams (files, request bodies).
class Sha256Stream {
  public:
    Sha256Stream();
    ~Sha256Stream();
    Sha256Stream(const Sha256Stream&) = delete;
    Sha256Stream& operator=(const Sha256Stream&) = delete;
    void Update(std::string_view data);
    Sha256Digest Finish();

  private:
    void* ctx_;
};

std::string DigestToString(const Sha256Digest& digest);  // raw 32 bytes as a string

// Cryptographically secure random bytes (OpenSSL RAND_bytes).
std::string RandomBytes(std::size_t count);
std::string RandomHex(std::size_t byte_count);
// RFC 4122 version 4, lowercase with hyphens.
std::string RandomUuid();
// Lowercase canonical text of a hyphenated UUID (any hex case accepted), or nullopt for anything else. Ids from
// requests pass through this before they reach a query: PostgreSQL's uuid parser must never see a malformed one,
// and SQLite compares the stored lowercase text.
std::optional<std::string> CanonicalUuid(std::string_view text);

}  // namespace plyr::core
