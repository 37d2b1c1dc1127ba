// Fuzz target: Range header parsing. Properties: a satisfiable range lies inside the file and is non-empty;
// an empty file is never satisfiable.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "http/range.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 8) return 0;
    std::uint64_t file_size = 0;
    std::memcpy(&file_size, data, sizeof file_size);
    file_size %= (std::uint64_t{1} << 62);
    std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
    for (std::uint64_t n : {file_size, std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{5242880}}) {
        auto r = plyr::http::ParseRange(header, n);
        if (r.kind == plyr::http::RangeKind::kSatisfiable) {
            if (n == 0 || r.length == 0 || r.first >= n || r.length > n - r.first) std::abort();
        }
    }
    return 0;
}
