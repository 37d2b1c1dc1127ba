// Fuzz target: compact JWT parsing never crashes, and a parsed token keeps its segments byte-for-byte
// (Serialize() == input, and parsing that again yields the same header, payload and signature).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "atproto/crypto/jwt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto jwt = plyr::atproto::crypto::ParseJwt(input);
    if (!jwt) return 0;
    if (jwt->Serialize() != input) std::abort();
    if (jwt->signature.size() != plyr::atproto::crypto::kSignatureBytes) std::abort();
    if (jwt->SigningInput() + "." + jwt->signature_segment != input) std::abort();
    auto again = plyr::atproto::crypto::ParseJwt(jwt->Serialize());
    if (!again || again->header != jwt->header || again->payload != jwt->payload ||
        again->signature != jwt->signature || again->curve != jwt->curve) {
        std::abort();
    }
    return 0;
}
