#include "atproto/oauth/pkce.hpp"

#include <algorithm>

#include "core/encoding.hpp"

namespace plyr::atproto::oauth {

Result<std::string> PkceChallenge(std::string_view verifier) {
    const bool chars_ok = std::all_of(verifier.begin(), verifier.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
               c == '_' || c == '~';
    });
    if (verifier.size() < 43 || verifier.size() > 128 || !chars_ok) {
        return Fail(ErrorCode::kInvalidArgument, "invalid pkce verifier");
    }
    return core::Base64UrlEncode(core::DigestToString(core::Sha256(verifier)));
}

Result<Pkce> GeneratePkce(std::size_t random_bytes) {
    if (random_bytes < 32 || random_bytes > 96) {
        return Fail(ErrorCode::kInvalidArgument, "pkce verifier must come from 32 to 96 random bytes");
    }
    Pkce pkce;
    pkce.verifier = core::Base64UrlEncode(core::RandomBytes(random_bytes));
    auto challenge = PkceChallenge(pkce.verifier);
    if (!challenge) return Fail(challenge.error());
    pkce.challenge = std::move(*challenge);
    return pkce;
}

std::string GenerateState() { return core::Base64UrlEncode(core::RandomBytes(32)); }
std::string GenerateNonce() { return core::Base64UrlEncode(core::RandomBytes(32)); }

}  // namespace plyr::atproto::oauth
