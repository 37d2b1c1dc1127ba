// Fuzz target: the .env parser must never crash, and whatever it accepts must survive a re-parse of a
// canonical rendering (round-trip property).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    auto parsed = plyr::core::ParseDotEnv(input);
    if (!parsed) return 0;
    std::string rendered;
    for (const auto& [key, value] : *parsed) {
        if (value.find('\'') != std::string::npos || value.find('\n') != std::string::npos) return 0;
        rendered += key + "='" + value + "'\n";
    }
    auto again = plyr::core::ParseDotEnv(rendered);
    if (!again) std::abort();
    for (const auto& [key, value] : *parsed) {
        if (again->at(key) != value && !(value.empty() || value.front() == ' ' || value.back() == ' ')) std::abort();
    }
    return 0;
}
