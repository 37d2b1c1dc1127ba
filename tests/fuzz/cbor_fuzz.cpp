// Fuzz target: the strict DAG-CBOR decoder only accepts canonical encodings — whatever decodes re-encodes to
// exactly the input bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "atproto/data/cbor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto value = plyr::atproto::DecodeDagCbor(input);
    if (value && plyr::atproto::EncodeDagCbor(*value) != input) std::abort();
    return 0;
}
