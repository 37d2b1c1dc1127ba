#include "pds/outbox.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "atproto/syntax/syntax.hpp"

namespace plyr::pds {
namespace {

using db::Backend;
using db::Value;

bool IsPg(const db::Connection& c) { return c.backend() == Backend::kPostgres; }

constexpr std::string_view kColumns =
    "id, did, collection, rkey, op, entity_type, entity_id, status, attempts, next_attempt_at, lease_owner, "
    "lease_until, last_status, last_error, result_uri, result_cid, created_at, updated_at";

constexpr std::string_view kLive = "status IN ('pending', 'in_flight', 'blocked_auth')";

Result<std::vector<OutboxEntry>> FromRows(const db::Rows& rows) {
    std::vector<OutboxEntry> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
        auto e = OutboxEntryFromRow(row);
        if (!e) return Fail(std::move(e.error()));
        out.push_back(std::move(*e));
    }
    return out;
}

Status Validate(const OutboxWrite& w) {
    if (!atproto::syntax::IsValidDid(w.did)) return Fail(ErrorCode::kInvalidArgument, "invalid did", w.did);
    if (!atproto::syntax::IsValidNsid(w.collection)) {
        return Fail(ErrorCode::kInvalidArgument, "invalid collection", w.collection);
    }
    if (!atproto::syntax::IsValidRecordKey(w.rkey)) return Fail(ErrorCode::kInvalidArgument, "invalid rkey", w.rkey);
    if (w.entity_type.empty() || w.entity_type.size() > 64) {
        return Fail(ErrorCode::kInvalidArgument, "invalid entity type", w.entity_type);
    }
    if (w.entity_id.empty() || w.entity_id.size() > 256) {
        return Fail(ErrorCode::kInvalidArgument, "invalid entity id", w.entity_id);
    }
    return Ok();
}

// PostgreSQL: two transactions enqueueing the first entry of one record would both see no live row; the second
// INSERT would then fail on the unique index and abort the caller's whole transaction. A transaction-scoped
// advisory lock per record serialises them (SQLite has one writer anyway). The two-key form keeps this key
// space apart from the migrator's single bigint key.
Status LockRecord(db::Connection& tx, std::string_view did, std::string_view collection, std::string_view rkey) {
    if (!IsPg(tx)) return Ok();
    auto rows = tx.Query("SELECT pg_advisory_xact_lock(hashtext('plyr.pds_outbox'), hashtext($1))",
                         {fmt::format("{}\n{}\n{}", did, collection, rkey)});
    if (!rows) return Fail(std::move(rows.error()));
    return Ok();
}

Result<std::optional<OutboxEntry>> LiveForUpdate(db::Connection& tx, std::string_view did, std::string_view collection,
                                                 std::string_view rkey) {
    auto rows = tx.Query(fmt::format("SELECT {} FROM pds_outbox WHERE did = $1 AND collection = $2 AND rkey = $3 "
                                     "AND {} LIMIT 1{}",
                                     kColumns, kLive, IsPg(tx) ? " FOR UPDATE" : ""),
                         {std::string(did), std::string(collection), std::string(rkey)});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<OutboxEntry>();
    auto e = OutboxEntryFromRow(rows->front());
    if (!e) return Fail(std::move(e.error()));
    return std::optional<OutboxEntry>(std::move(*e));
}

}  // namespace

Result<OutboxEntry> OutboxEntryFromRow(const db::Row& row) {
    OutboxEntry e;
    e.id = row.Int("id");
    e.did = row.Text("did");
    e.collection = row.Text("collection");
    e.rkey = row.Text("rkey");
    auto op = ParseWriteOp(row.Text("op"));
    auto status = ParseOutboxStatus(row.Text("status"));
    if (!op || !status) {
        return Fail(ErrorCode::kInternal, "corrupt outbox row", fmt::format("pds_outbox id {}", e.id));
    }
    e.op = *op;
    e.status = *status;
    e.entity_type = row.Text("entity_type");
    e.entity_id = row.Text("entity_id");
    e.attempts = static_cast<int>(row.Int("attempts"));
    e.next_attempt_at = row.Int("next_attempt_at");
    e.lease_owner = row.OptText("lease_owner");
    e.lease_until = row.OptInt("lease_until");
    if (auto s = row.OptInt("last_status")) e.last_status = static_cast<int>(*s);
    e.last_error = row.OptText("last_error");
    e.result_uri = row.OptText("result_uri");
    e.result_cid = row.OptText("result_cid");
    e.created_at = row.Int("created_at");
    e.updated_at = row.Int("updated_at");
    return e;
}

std::string_view ToString(WriteOp op) { return op == WriteOp::kPut ? "put" : "delete"; }

std::optional<WriteOp> ParseWriteOp(std::string_view text) {
    if (text == "put") return WriteOp::kPut;
    if (text == "delete") return WriteOp::kDelete;
    return std::nullopt;
}

std::string_view ToString(OutboxStatus status) {
    switch (status) {
        case OutboxStatus::kPending:
            return "pending";
        case OutboxStatus::kInFlight:
            return "in_flight";
        case OutboxStatus::kDone:
            return "done";
        case OutboxStatus::kBlockedAuth:
            return "blocked_auth";
        case OutboxStatus::kDead:
            return "dead";
        case OutboxStatus::kCancelled:
            return "cancelled";
    }
    return "pending";
}

std::optional<OutboxStatus> ParseOutboxStatus(std::string_view text) {
    for (auto s : {OutboxStatus::kPending, OutboxStatus::kInFlight, OutboxStatus::kDone, OutboxStatus::kBlockedAuth,
                   OutboxStatus::kDead, OutboxStatus::kCancelled}) {
        if (ToString(s) == text) return s;
    }
    return std::nullopt;
}

Result<EnqueueOutcome> EnqueueWrite(db::Connection& tx, const OutboxWrite& write, std::int64_t now) {
    PLYR_TRY_STATUS(Validate(write));
    PLYR_TRY_STATUS(LockRecord(tx, write.did, write.collection, write.rkey));
    auto live = LiveForUpdate(tx, write.did, write.collection, write.rkey);
    if (!live) return Fail(std::move(live.error()));

    if (write.op == WriteOp::kDelete && !write.record_exists) {
        // An earlier write that succeeded means the record exists whatever the caller believes.
        auto done = tx.Query(
            "SELECT 1 FROM pds_outbox WHERE did = $1 AND collection = $2 AND rkey = $3 AND status = 'done' "
            "AND op = 'put' LIMIT 1",
            {write.did, write.collection, write.rkey});
        if (!done) return Fail(std::move(done.error()));
        const bool written_before = !done->empty();
        if (!written_before) {
            if (!*live) return EnqueueOutcome{};  // nothing to delete, nothing pending
            if ((*live)->status != OutboxStatus::kInFlight && (*live)->op == WriteOp::kPut) {
                auto n = tx.Exec("UPDATE pds_outbox SET status = 'cancelled', updated_at = $2 WHERE id = $1",
                                 {(*live)->id, now});
                if (!n) return Fail(std::move(n.error()));
                return EnqueueOutcome{0, false, true};
            }
            // In flight: the put may be creating the record right now, so the delete must follow it.
        }
    }

    if (*live) {
        // In flight: lease_owner NULL marks the entry superseded, so the worker's completion (which matches on
        // its lease token) fails and the worker puts the entry back to pending instead of done.
        auto n = tx.Exec(
            "UPDATE pds_outbox SET op = $2, entity_type = $3, entity_id = $4, attempts = 0, next_attempt_at = $5, "
            "last_status = NULL, last_error = NULL, updated_at = $5, "
            "lease_owner = CASE WHEN status = 'in_flight' THEN NULL ELSE lease_owner END WHERE id = $1",
            {(*live)->id, std::string(ToString(write.op)), write.entity_type, write.entity_id, now});
        if (!n) return Fail(std::move(n.error()));
        return EnqueueOutcome{(*live)->id, true, false};
    }
    auto rows = tx.Query(
        "INSERT INTO pds_outbox (did, collection, rkey, op, entity_type, entity_id, status, attempts, "
        "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7) "
        "RETURNING id",
        {write.did, write.collection, write.rkey, std::string(ToString(write.op)), write.entity_type, write.entity_id,
         now});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return Fail(ErrorCode::kInternal, "outbox insert returned no id");
    return EnqueueOutcome{rows->front().Int(0), false, false};
}

Result<bool> CancelPending(db::Connection& tx, std::string_view did, std::string_view collection, std::string_view rkey,
                           std::int64_t now) {
    auto n = tx.Exec(
        "UPDATE pds_outbox SET status = 'cancelled', updated_at = $4 WHERE did = $1 AND collection = $2 AND "
        "rkey = $3 AND status IN ('pending', 'blocked_auth')",
        {std::string(did), std::string(collection), std::string(rkey), now});
    if (!n) return Fail(std::move(n.error()));
    return *n > 0;
}

Result<std::int64_t> CancelAllForDid(db::Connection& tx, std::string_view did, std::int64_t now) {
    return tx.Exec(
        "UPDATE pds_outbox SET status = 'cancelled', updated_at = $2 WHERE did = $1 AND status IN ('pending', "
        "'blocked_auth')",
        {std::string(did), now});
}

Result<std::int64_t> ReleaseBlocked(db::Connection& tx, std::string_view did, std::int64_t now) {
    return tx.Exec(
        "UPDATE pds_outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, updated_at = $2 "
        "WHERE did = $1 AND status = 'blocked_auth'",
        {std::string(did), now});
}

Result<std::int64_t> ReleaseBlocked(db::Db& db, std::string_view did, std::int64_t now) {
    return db.WriteValue<std::int64_t>([&](db::Connection& tx) { return ReleaseBlocked(tx, did, now); });
}

Result<std::int64_t> BlockPending(db::Db& db, std::string_view did, std::int64_t now) {
    return db.WriteValue<std::int64_t>([&](db::Connection& tx) {
        return tx.Exec(
            "UPDATE pds_outbox SET status = 'blocked_auth', last_error = 'auth_blocked: no live session', "
            "updated_at = $2 WHERE did = $1 AND status = 'pending'",
            {std::string(did), now});
    });
}

Result<std::vector<OutboxEntry>> ListEntries(db::Db& db, const OutboxFilter& filter) {
    std::string where = "1 = 1";
    std::vector<Value> params;
    auto add = [&](std::string_view column, Value v) {
        params.push_back(std::move(v));
        where += fmt::format(" AND {} ${}", column, params.size());
    };
    if (filter.did) add("did =", *filter.did);
    if (filter.status) add("status =", std::string(ToString(*filter.status)));
    if (filter.entity_type) add("entity_type =", *filter.entity_type);
    if (filter.entity_id) add("entity_id =", *filter.entity_id);
    if (filter.before_id) add("id <", *filter.before_id);
    const std::int64_t limit = std::clamp(filter.limit, 1, 500);
    const std::string sql =
        fmt::format("SELECT {} FROM pds_outbox WHERE {} ORDER BY id DESC LIMIT {}", kColumns, where, limit);
    return db.ReadValue<std::vector<OutboxEntry>>([&](db::Connection& c) -> Result<std::vector<OutboxEntry>> {
        auto rows = c.Query(sql, db::Params(params.data(), params.size()));
        if (!rows) return Fail(std::move(rows.error()));
        return FromRows(*rows);
    });
}

Result<std::optional<OutboxEntry>> GetEntry(db::Db& db, std::int64_t id) {
    return db.ReadValue<std::optional<OutboxEntry>>([&](db::Connection& c) -> Result<std::optional<OutboxEntry>> {
        auto rows = c.Query(fmt::format("SELECT {} FROM pds_outbox WHERE id = $1", kColumns), {id});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return std::optional<OutboxEntry>();
        auto e = OutboxEntryFromRow(rows->front());
        if (!e) return Fail(std::move(e.error()));
        return std::optional<OutboxEntry>(std::move(*e));
    });
}

Result<std::optional<OutboxEntry>> GetLive(db::Connection& tx, std::string_view did, std::string_view collection,
                                           std::string_view rkey) {
    auto rows = tx.Query(fmt::format("SELECT {} FROM pds_outbox WHERE did = $1 AND collection = $2 AND rkey = $3 "
                                     "AND {} LIMIT 1",
                                     kColumns, kLive),
                         {std::string(did), std::string(collection), std::string(rkey)});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<OutboxEntry>();
    auto e = OutboxEntryFromRow(rows->front());
    if (!e) return Fail(std::move(e.error()));
    return std::optional<OutboxEntry>(std::move(*e));
}

Result<std::int64_t> Retry(db::Db& db, std::int64_t id, std::int64_t now) {
    return db.WriteValue<std::int64_t>([&](db::Connection& tx) -> Result<std::int64_t> {
        auto rows = tx.Query(fmt::format("SELECT {} FROM pds_outbox WHERE id = $1", kColumns), {id});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return Fail(ErrorCode::kNotFound, "no such outbox entry", fmt::format("id {}", id));
        auto entry = OutboxEntryFromRow(rows->front());
        if (!entry) return Fail(std::move(entry.error()));
        if (entry->status != OutboxStatus::kDead) {
            return Fail(ErrorCode::kConflict, "not_retryable",
                        fmt::format("entry {} is {}", id, ToString(entry->status)));
        }
        PLYR_TRY_STATUS(LockRecord(tx, entry->did, entry->collection, entry->rkey));
        auto live = LiveForUpdate(tx, entry->did, entry->collection, entry->rkey);
        if (!live) return Fail(std::move(live.error()));
        if (*live) return (*live)->id;  // a newer change of the record is already queued
        auto n = tx.Exec(
            "UPDATE pds_outbox SET status = 'pending', attempts = 0, next_attempt_at = $2, last_status = NULL, "
            "last_error = NULL, lease_owner = NULL, lease_until = NULL, updated_at = $2 "
            "WHERE id = $1 AND status = 'dead'",
            {id, now});
        if (!n) return Fail(std::move(n.error()));
        return id;
    });
}

Result<OutboxStats> Stats(db::Db& db, std::int64_t now) {
    return db.ReadValue<OutboxStats>([&](db::Connection& c) -> Result<OutboxStats> {
        auto rows = c.Query(
            "SELECT status, COUNT(*) AS n, SUM(CASE WHEN next_attempt_at <= $1 THEN 1 ELSE 0 END) AS "
            "due, MIN(created_at) AS oldest FROM pds_outbox GROUP BY status",
            {now});
        if (!rows) return Fail(std::move(rows.error()));
        OutboxStats s;
        for (const auto& row : *rows) {
            auto status = ParseOutboxStatus(row.Text("status"));
            if (!status) continue;
            const std::int64_t n = row.Int("n");
            switch (*status) {
                case OutboxStatus::kPending:
                    s.pending = n;
                    s.due = row.Int("due");
                    s.oldest_pending_at = row.OptInt("oldest");
                    break;
                case OutboxStatus::kInFlight:
                    s.in_flight = n;
                    break;
                case OutboxStatus::kDone:
                    s.done = n;
                    break;
                case OutboxStatus::kBlockedAuth:
                    s.blocked_auth = n;
                    break;
                case OutboxStatus::kDead:
                    s.dead = n;
                    break;
                case OutboxStatus::kCancelled:
                    s.cancelled = n;
                    break;
            }
        }
        return s;
    });
}

Result<std::int64_t> PurgeFinished(db::Db& db, std::int64_t before) {
    return db.WriteValue<std::int64_t>([&](db::Connection& tx) {
        return tx.Exec("DELETE FROM pds_outbox WHERE status IN ('done', 'cancelled') AND updated_at < $1", {before});
    });
}

}  // namespace plyr::pds
