// Fuzz target: JSON → Value → JSON → Value is stable, and the Value survives a DAG-CBOR round trip.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "atproto/data/cbor.hpp"
#include "atproto/data/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto value = plyr::atproto::ValueFromJsonText(input);
    if (!value) return 0;
    auto again = plyr::atproto::ValueFromJsonText(plyr::atproto::ValueToJsonText(*value));
    if (!again || !(*again == *value)) std::abort();
    auto decoded = plyr::atproto::DecodeDagCbor(plyr::atproto::EncodeDagCbor(*value));
    if (!decoded || !(*decoded == *value)) std::abort();
    return 0;
}
