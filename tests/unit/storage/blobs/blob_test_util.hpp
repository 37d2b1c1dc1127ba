#pragma once
// Helpers for the storage/blobs tests: temp dirs, deterministic test data, reading a whole object.

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "storage/blobs/blob_store.hpp"
#include "support/temp_dir.hpp"

namespace plyr::storage::blobs::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
using plyr::testing::TempDir;

// Deterministic pseudo-random bytes (xorshift), fast enough for tens of MiB.
inline std::string PatternBytes(std::size_t size, std::uint64_t seed = 0x9E3779B97F4A7C15ull) {
    std::string out(size, '\0');
    std::uint64_t x = seed | 1;
    for (std::size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<char>(x >> 24);
    }
    return out;
}

inline void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Fetched {
    Result<ObjectInfo> info;
    std::string bytes;
    int chunks = 0;
};

inline Fetched GetAll(BlobStore& store, std::string_view key, std::optional<ByteRange> range = std::nullopt) {
    Fetched out{ObjectInfo{}, {}, 0};
    out.info = store.Get(key, range, [&](std::string_view chunk) {
        out.bytes.append(chunk);
        ++out.chunks;
        return Ok();
    });
    return out;
}

// Number of entries in a directory (0 when it does not exist).
inline int CountEntries(const std::filesystem::path& dir) {
    std::error_code ec;
    int n = 0;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        ++n;
    }
    return n;
}

}  // namespace plyr::storage::blobs::testing
