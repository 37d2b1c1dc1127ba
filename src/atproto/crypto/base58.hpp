#pragma once
// base58btc (the Bitcoin alphabet), the encoding inside multibase 'z' strings: multikeys and did:key
// (atproto.md §2.4). Leading zero bytes map to leading '1' characters and back.
// Pure functions; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace plyr::atproto::crypto {

// Longest text Base58BtcDecode accepts. The conversion is quadratic, and every key encoding plyr meets
// is under 120 characters, so anything longer is refused rather than decoded slowly.
inline constexpr std::size_t kMaxBase58TextBytes = 1024;

std::string Base58BtcEncode(std::string_view bytes);

// nullopt when the text has a character outside the alphabet or is longer than kMaxBase58TextBytes.
// The empty string decodes to no bytes. Every byte string has exactly one encoding, so decode(encode(x)) == x
// and encode(decode(t)) == t for every t that decodes.
std::optional<std::string> Base58BtcDecode(std::string_view text);

}  // namespace plyr::atproto::crypto
