#pragma once
// tracks — the upload staging area DATA_DIR/staging/ (product.md §5.3 "staging", §6.4 steps 2 and 6;
// docs/tracks.md "upload API").
//
// Contract
// - Create() makes DATA_DIR/staging/ (0700) if needed and a fresh DATA_DIR/staging/<32 hex>/ (0700) for one
//   upload; paths are absolute. The upload handler deletes its directory on every failure before the 202; after
//   the 202 the upload job owns it (its payload's "staging_dir") and deletes it when it ends.
// - Remove() deletes a staging directory recursively; it refuses (kInvalidArgument) any path that is not a direct
//   child of the staging root, so a corrupt payload can never delete elsewhere. A missing directory is Ok.
// - SweepStaging() is the startup/cleanup sweep: it removes entries of the root whose modification time is older
//   than max_age (1 h) and that no `upload` job in pending/running references (payload.staging_dir). The lead
//   calls it at start and from the cleanup job.
// - BLOCKING (filesystem, database): coroutines call through net::Offload().
// - Errors: kIo / kStorageFull (ENOSPC) from the filesystem; db errors pass through.
// - Thread-safety: Staging is immutable after construction; calls are safe concurrently.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::tracks {

struct StagedDir {
    std::string id;              // 32 lowercase hex characters
    std::filesystem::path path;  // absolute: <root>/<id>
};

class Staging {
  public:
    // root = absolute(data_dir) / "staging".
    explicit Staging(const std::filesystem::path& data_dir);

    const std::filesystem::path& root() const { return root_; }

    Result<StagedDir> Create() const;
    Status Remove(const std::filesystem::path& dir) const;
    // True when `dir` is a direct child of root() (lexically, after normalisation).
    bool Contains(const std::filesystem::path& dir) const;

  private:
    std::filesystem::path root_;
};

inline constexpr std::chrono::seconds kStagingMaxAge = std::chrono::hours(1);

struct SweepResult {
    int removed = 0;
    int kept_referenced = 0;  // old entries kept because a live upload job references them
};

// Removes stale staging entries (see the contract). `clock` gives "now" (µs since the epoch) for the age check.
Result<SweepResult> SweepStaging(storage::db::Db& db, const Staging& staging, const core::Clock& clock,
                                 std::chrono::seconds max_age = kStagingMaxAge);

}  // namespace plyr::tracks
