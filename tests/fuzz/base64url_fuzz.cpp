// Fuzz target: base64url decoding is canonical — whatever decodes re-encodes to the same text.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/encoding.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    if (auto decoded = plyr::core::Base64UrlDecode(input)) {
        if (plyr::core::Base64UrlEncode(*decoded) != input) std::abort();
    }
    auto encoded = plyr::core::Base64UrlEncode(input);
    auto back = plyr::core::Base64UrlDecode(encoded);
    if (!back || *back != input) std::abort();
    return 0;
}
