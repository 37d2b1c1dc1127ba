#pragma once
// pds::RecordSource — how the outbox turns an entry back into a record at SEND time (product.md §6.5: the
// latest DB state wins), one source per entity_type ("track", "like", "comment", "list", "profile", …).
//
// Contract
// - Called on the outbox worker's threads (BLOCKING work is fine; never an I/O thread). Implementations must be
//   thread-safe: the worker runs up to OUTBOX_CONCURRENCY entries (of different DIDs) at once.
// - Build(db, entity_id, current): `current` is the record now on the PDS (nullopt when there is none), read
//   just before; the source carries over every field plyr does not manage (§3.1 rule 3: unknown keys,
//   audioBlob, labels, …). Returns the full record ($type = collection, validated against the lexicon — a
//   record failing validation is a bug and must be an error, never sent). BuiltRecord::record nullopt = the
//   entity is gone: the put becomes a delete. Build may run several times for one send (InvalidSwap re-reads).
//   An error is counted as a failed attempt (transient when its code is kUnavailable/kBusy/kTimeout, else dead).
// - Ready(db, entity_id): false while a dependency is pending (a like's subject track has no CID yet): the entry
//   waits kNotReadyDelay without counting an attempt.
// - OnWritten(db, entity_id, uri, cid): store the result on the entity (e.g. tracks.atproto_uri/cid). Called
//   after every successful put, before the entry is marked done. An error leaves the entry to be retried (the
//   put is idempotent).
// - OnDeleted(db, entity_id): after a successful delete (default: nothing).

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/data/value.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::pds {

inline constexpr std::chrono::seconds kNotReadyDelay{5};

struct BuiltRecord {
    std::optional<atproto::Value> record;  // nullopt → the entity is gone → delete the record
};

class RecordSource {
  public:
    virtual ~RecordSource() = default;
    virtual Result<BuiltRecord> Build(storage::db::Db& db, const std::string& entity_id,
                                      const std::optional<atproto::Value>& current_on_pds) = 0;
    virtual Status OnWritten(storage::db::Db& db, const std::string& entity_id, const std::string& uri,
                             const std::string& cid) = 0;
    virtual Status OnDeleted(storage::db::Db& /*db*/, const std::string& /*entity_id*/) { return Ok(); }
    virtual Result<bool> Ready(storage::db::Db& /*db*/, const std::string& /*entity_id*/) { return true; }
};

// entity_type → source. Sources are not owned and must outlive the registry. Thread-safe.
class RecordSourceRegistry {
  public:
    // Replaces an earlier registration of the same type.
    void Register(std::string entity_type, RecordSource& source);
    RecordSource* Find(std::string_view entity_type) const;

  private:
    mutable std::mutex mutex_;
    std::map<std::string, RecordSource*, std::less<>> sources_;
};

}  // namespace plyr::pds
