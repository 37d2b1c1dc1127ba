#pragma once
// pds::outbox — the durable PDS outbox of product.md §6.5 in the `pds_outbox` table (migration 0005;
// docs/outbox.md). Every write plyr makes to a user's repository except the upload job's first publish goes
// through it.
//
// Contract
// - Every function is BLOCKING (SQL): call it from a worker thread or through net::Offload().
// - EnqueueWrite / CancelPending take the caller's transaction, so the entry commits or rolls back together
//   with the domain change ("a committed change always has its pending write").
// - One live entry (pending, in_flight, blocked_auth) per (did, collection, rkey) — a unique partial index.
//   A new enqueue REPLACES the live entry: op, entity, attempts = 0, due now, errors cleared. An entry that is
//   in_flight stays in_flight (its worker is talking to the PDS) but is marked superseded (lease_owner NULL):
//   when that worker finishes, the entry goes back to pending instead of done, so the change made meanwhile
//   is sent too — never lost. A blocked_auth entry stays blocked_auth (sending needs a sign-in first).
// - A delete of a record that was never written (`record_exists` false: the entity has no URI and no earlier
//   write of it succeeded) cancels a live never-sent put instead (status cancelled) and enqueues nothing;
//   when an in_flight put may be creating the record right now, the delete replaces it like any enqueue.
// - Timestamps are µs since the epoch from the caller (an injected Clock), never the database server's.
// - Errors: kInvalidArgument (empty field, bad op, malformed DID / collection / rkey), kNotFound (Retry of an
//   unknown id), kConflict ("not_retryable": Retry of an entry that is not dead), database errors as they are.
// Thread-safety: free functions over a thread-safe Db / the caller's connection.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::pds {

namespace db = ::plyr::storage::db;

enum class WriteOp { kPut, kDelete };
std::string_view ToString(WriteOp op);
std::optional<WriteOp> ParseWriteOp(std::string_view text);

enum class OutboxStatus { kPending, kInFlight, kDone, kBlockedAuth, kDead, kCancelled };
std::string_view ToString(OutboxStatus status);
std::optional<OutboxStatus> ParseOutboxStatus(std::string_view text);

struct OutboxWrite {
    std::string did;
    std::string collection;  // NSID, e.g. "fm.plyr.track"
    std::string rkey;        // fixed at creation (TID), so a retry overwrites instead of duplicating
    WriteOp op = WriteOp::kPut;
    std::string entity_type;  // names the RecordSource that builds the record ("track", "like", …)
    std::string entity_id;
    // Only read for kDelete: false when the record was never written (see the contract above).
    bool record_exists = true;
};

struct EnqueueOutcome {
    std::int64_t id = 0;     // the live entry; 0 when nothing is live (cancelled / nothing to delete)
    bool replaced = false;   // an existing live entry was replaced
    bool cancelled = false;  // a never-sent put was cancelled by a delete of a record that never existed
};

Result<EnqueueOutcome> EnqueueWrite(db::Connection& tx, const OutboxWrite& write, std::int64_t now);

// Cancels the live pending / blocked_auth entry of (did, collection, rkey). An in_flight entry is left alone: its
// worker cannot be stopped mid-request, and a change queued behind it is still sent — built from the DB, so an
// entity that is gone by then becomes a delete. Returns true when an entry was cancelled.
Result<bool> CancelPending(db::Connection& tx, std::string_view did, std::string_view collection, std::string_view rkey,
                           std::int64_t now);
// Every live pending / blocked_auth entry of the DID (account deletion). Returns how many.
Result<std::int64_t> CancelAllForDid(db::Connection& tx, std::string_view did, std::int64_t now);

// blocked_auth → pending (due now, attempts reset) for every entry of the DID: called at each sign-in.
// Returns how many were released.
Result<std::int64_t> ReleaseBlocked(db::Db& db, std::string_view did, std::int64_t now);
Result<std::int64_t> ReleaseBlocked(db::Connection& tx, std::string_view did, std::int64_t now);

// pending → blocked_auth for every entry of the DID (its last grant died: product.md §9 row 44). in_flight entries
// are left to their worker, which finds no session and blocks them itself. Returns how many.
Result<std::int64_t> BlockPending(db::Db& db, std::string_view did, std::int64_t now);

struct OutboxEntry {
    std::int64_t id = 0;
    std::string did;
    std::string collection;
    std::string rkey;
    WriteOp op = WriteOp::kPut;
    std::string entity_type;
    std::string entity_id;
    OutboxStatus status = OutboxStatus::kPending;
    int attempts = 0;
    std::int64_t next_attempt_at = 0;
    std::optional<std::string> lease_owner;
    std::optional<std::int64_t> lease_until;
    std::optional<int> last_status;  // HTTP status of the last failed attempt (0: no response)
    std::optional<std::string> last_error;
    std::optional<std::string> result_uri;
    std::optional<std::string> result_cid;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;

    std::string AtUri() const { return "at://" + did + "/" + collection + "/" + rkey; }
};

struct OutboxFilter {
    std::optional<std::string> did;
    std::optional<OutboxStatus> status;
    std::optional<std::string> entity_type;
    std::optional<std::string> entity_id;
    std::optional<std::int64_t> before_id;  // pagination: entries with id < before_id (newest first)
    int limit = 50;                         // 1..500
};

// Newest first (id descending).
Result<std::vector<OutboxEntry>> ListEntries(db::Db& db, const OutboxFilter& filter);
Result<std::optional<OutboxEntry>> GetEntry(db::Db& db, std::int64_t id);
// The live entry of (did, collection, rkey), if any.
Result<std::optional<OutboxEntry>> GetLive(db::Connection& tx, std::string_view did, std::string_view collection,
                                           std::string_view rkey);

// Portal / admin "retry": a dead entry → pending, attempts reset, due now. When another live entry of the same
// record exists meanwhile, the dead one is left alone and that live one is returned (it carries the newer
// state). Returns the id of the live entry. kNotFound / kConflict "not_retryable" (not dead).
Result<std::int64_t> Retry(db::Db& db, std::int64_t id, std::int64_t now);

struct OutboxStats {
    std::int64_t pending = 0;
    std::int64_t due = 0;  // pending and next_attempt_at <= now
    std::int64_t in_flight = 0;
    std::int64_t blocked_auth = 0;
    std::int64_t dead = 0;
    std::int64_t done = 0;
    std::int64_t cancelled = 0;
    std::optional<std::int64_t> oldest_pending_at;  // created_at of the oldest pending entry
};
Result<OutboxStats> Stats(db::Db& db, std::int64_t now);

// A pds_outbox row selected with every column (the worker's claim query shares it). kInternal for a corrupt row.
Result<OutboxEntry> OutboxEntryFromRow(const db::Row& row);

// Deletes done / cancelled entries whose updated_at is older than `before` (cleanup). Returns how many.
Result<std::int64_t> PurgeFinished(db::Db& db, std::int64_t before);

}  // namespace plyr::pds
