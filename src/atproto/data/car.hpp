#pragma once
// CAR v1 (content-addressed archives: repo exports, firehose `blocks`, sync proofs), atproto.md §4.4.
//
// Layout: varint(len) ‖ DAG-CBOR header {"roots": [cid-link…], "version": 1}, then sections
// varint(len) ‖ binary CID ‖ block bytes. The reader checks every block against its CID (sha2-256 only;
// any other hash is kUnsupported), bounds header size, block size and block count, and never reads past
// the input. Duplicate blocks (same CID) are allowed and collapse in the map; unreferenced blocks are kept.
//
// Errors: kInvalidArgument (malformed, hash mismatch), kTooLarge (a limit), kUnsupported (hash function).
// Thread-safety: CarReader is a cursor over caller-owned bytes (one thread at a time); the free functions
// are pure.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atproto/data/cbor.hpp"
#include "atproto/data/cid.hpp"
#include "core/result.hpp"

namespace plyr::atproto {

struct CarLimits {
    std::size_t max_header_bytes = 64 * 1024;
    std::size_t max_block_bytes = 2 * 1024 * 1024;  // records are ≤ 1 MB; MST nodes are small
    std::size_t max_blocks = 1'000'000;
};

struct CarBlock {
    Cid cid;
    std::string_view data;  // points into the reader's input
};

class CarReader {
  public:
    // Parses the header; the bytes must outlive the reader and the blocks it returns.
    static Result<CarReader> Open(std::string_view bytes, const CarLimits& limits = {});

    const std::vector<Cid>& roots() const { return roots_; }
    // The next verified block, or std::nullopt at the clean end of the input.
    Result<std::optional<CarBlock>> Next();

  private:
    CarReader(std::string_view bytes, const CarLimits& limits) : in_(bytes), limits_(limits) {}

    std::string_view in_;
    CarLimits limits_;
    std::size_t pos_ = 0;
    std::size_t blocks_read_ = 0;
    std::vector<Cid> roots_;
};

struct Car {
    std::vector<Cid> roots;
    std::map<Cid, std::string> blocks;
};

// Reads and verifies a whole CAR.
Result<Car> ReadCar(std::string_view bytes, const CarLimits& limits = {});

// Writes a CAR v1 (blocks in map order). For tests and exports; the caller supplies correct CIDs.
std::string WriteCar(const std::vector<Cid>& roots, const std::map<Cid, std::string>& blocks);

}  // namespace plyr::atproto
