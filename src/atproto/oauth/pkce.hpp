#pragma once
// atproto/oauth PKCE (RFC 7636, S256 only) and the random per-login values (atproto.md §6.1).
//
// Contract
// - GeneratePkce(n): verifier = base64url(n random bytes), n in [32, 96] → 43..128 characters (RFC 7636
//   bounds); challenge = base64url(SHA-256(ascii verifier)), no padding. kInvalidArgument for other n.
// - PkceChallenge: the S256 challenge of any verifier (validated: 43-128 unreserved characters).
// - GenerateState / GenerateNonce: 256 random bits, base64url (43 characters), single-use values.
// - Thread-safety: randomness from OpenSSL's thread-safe CSPRNG.

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace plyr::atproto::oauth {

struct Pkce {
    std::string verifier;  // secret until the token exchange; never log it
    std::string challenge;
    static constexpr std::string_view kMethod = "S256";
};

Result<Pkce> GeneratePkce(std::size_t random_bytes = 32);
Result<std::string> PkceChallenge(std::string_view verifier);
std::string GenerateState();
std::string GenerateNonce();

}  // namespace plyr::atproto::oauth
