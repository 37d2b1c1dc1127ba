// Fuzz target: CAR parsing never crashes, and every block it returns hashes to its CID and re-serialises to
// a CAR that reads back to the same roots and blocks.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "atproto/data/car.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto car = plyr::atproto::ReadCar(input);
    if (!car) return 0;
    for (const auto& [cid, block] : car->blocks) {
        if (!plyr::atproto::VerifyCidMatches(cid, block)) std::abort();
    }
    auto again = plyr::atproto::ReadCar(plyr::atproto::WriteCar(car->roots, car->blocks));
    if (!again || again->roots != car->roots || again->blocks != car->blocks) std::abort();
    return 0;
}
