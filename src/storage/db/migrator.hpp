#pragma once
// storage::db migrator — forward-only SQL migrations embedded in the binary (docs/schema.md).
//
// Files: migrations/<dialect>/NNNN_name.sql, turned into a generated .cpp at build time; both dialects carry
// the same versions. Applied state lives in schema_migrations(version, name, checksum, applied_at), a table the
// migrator creates itself. Each migration runs in its own Write transaction together with its
// schema_migrations row, so a failed migration leaves nothing behind.
//
// Concurrency: safe to run from several threads and processes at once. Every transaction re-reads the applied
// versions after taking the lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: pg_advisory_xact_lock(kAdvisoryLockKey)),
// so each migration is applied exactly once.
//
// Errors: kConfig when the database has a version this binary does not know ("database is newer than this
// binary") or an applied migration's checksum differs from the embedded file; a failing migration returns the
// database error (kInvalidArgument for bad SQL, …). Functions are blocking; thread-safe as Db is.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::storage::db::migrator {

// Key of the PostgreSQL advisory lock that serializes migrators (ASCII "plyrmigr").
inline constexpr std::int64_t kAdvisoryLockKey = 0x706c79726d696772;

struct Migration {
    std::int64_t version = 0;
    std::string name;      // from the file name: 0001_init.sql -> "init"
    std::string checksum;  // lowercase hex SHA-256 of the file's bytes
    std::string sql;
};

struct AppliedMigration {
    std::int64_t version = 0;
    std::string name;
    std::string checksum;          // as recorded when it was applied
    std::int64_t applied_at = 0;   // µs since the epoch
    bool known = true;             // this binary has a migration with this version
    bool checksum_matches = true;  // … and its checksum equals the recorded one
};

struct MigrationStatus {
    std::vector<AppliedMigration> applied;  // ascending version
    std::vector<Migration> pending;         // ascending version: known but not applied
};

// Builds a Migration (checksum from sql). For tests and tools.
Migration MakeMigration(std::int64_t version, std::string name, std::string sql);

// The migrations embedded in this binary for one dialect, ascending version.
std::vector<Migration> ListMigrations(Backend backend);

// Reads the applied state. Changes nothing (does not create schema_migrations). Does not fail on unknown
// versions or checksum mismatches: it reports them (see Check()).
Result<MigrationStatus> GetStatus(Db& db);
Result<MigrationStatus> GetStatus(Db& db, std::span<const Migration> migrations);

// kConfig when status shows a version unknown to this binary or a checksum mismatch; Ok otherwise (pending
// migrations are fine).
plyr::Status Check(const MigrationStatus& status);

// Applies the pending migrations in ascending order and returns the versions this call applied (with dry_run:
// the versions it would apply, changing nothing). Refuses (kConfig) as Check() does, before changing anything.
Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run);  // applied_at from the system clock
Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run, const core::Clock& clock);
Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run, const core::Clock& clock,
                                        std::span<const Migration> migrations);

}  // namespace plyr::storage::db::migrator
