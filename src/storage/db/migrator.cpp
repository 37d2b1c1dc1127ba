#include "storage/db/migrator.hpp"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "storage/db/embedded_migrations.hpp"

namespace plyr::storage::db::migrator {

namespace {

constexpr std::string_view kSqliteTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT";
constexpr std::string_view kPostgresTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
    "checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

Status CheckOrder(std::span<const Migration> migrations) {
    for (std::size_t i = 1; i < migrations.size(); ++i) {
        if (migrations[i].version <= migrations[i - 1].version) {
            return Fail(ErrorCode::kInternal, "migrations out of order",
                        fmt::format("version {} follows {}", migrations[i].version, migrations[i - 1].version));
        }
    }
    return Ok();
}

const Migration* Find(std::span<const Migration> migrations, std::int64_t version) {
    auto it = std::lower_bound(migrations.begin(), migrations.end(), version,
                               [](const Migration& m, std::int64_t v) { return m.version < v; });
    return it != migrations.end() && it->version == version ? &*it : nullptr;
}

Result<bool> TableExists(Connection& c) {
    if (c.backend() == Backend::kSqlite) {
        auto rows = c.Query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
        if (!rows) return Fail(std::move(rows.error()));
        return rows->front().Int(0) > 0;
    }
    // to_regclass follows search_path, as CREATE TABLE does.
    auto rows = c.Query("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!rows) return Fail(std::move(rows.error()));
    return rows->front().Bool(0);
}

Result<MigrationStatus> StatusIn(Connection& c, std::span<const Migration> migrations) {
    MigrationStatus status;
    auto exists = TableExists(c);
    if (!exists) return Fail(std::move(exists.error()));
    if (*exists) {
        auto rows = c.Query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version");
        if (!rows) return Fail(std::move(rows.error()));
        for (const Row& row : *rows) {
            AppliedMigration a;
            a.version = row.Int(0);
            a.name = row.Text(1);
            a.checksum = row.Text(2);
            a.applied_at = row.Int(3);
            const Migration* known = Find(migrations, a.version);
            a.known = known != nullptr;
            a.checksum_matches = known != nullptr && known->checksum == a.checksum;
            status.applied.push_back(std::move(a));
        }
    }
    for (const Migration& m : migrations) {
        const bool done = std::any_of(status.applied.begin(), status.applied.end(),
                                      [&](const AppliedMigration& a) { return a.version == m.version; });
        if (!done) status.pending.push_back(m);
    }
    return status;
}

}  // namespace

Migration MakeMigration(std::int64_t version, std::string name, std::string sql) {
    Migration m;
    m.version = version;
    m.name = std::move(name);
    m.checksum = core::Sha256Hex(sql);
    m.sql = std::move(sql);
    return m;
}

std::vector<Migration> ListMigrations(Backend backend) {
    std::vector<Migration> out;
    for (const auto& e : detail::EmbeddedMigrations()) {
        if (e.backend == backend) out.push_back(MakeMigration(e.version, std::string(e.name), std::string(e.sql)));
    }
    std::sort(out.begin(), out.end(), [](const Migration& a, const Migration& b) { return a.version < b.version; });
    return out;
}

Result<MigrationStatus> GetStatus(Db& db) {
    const auto migrations = ListMigrations(db.backend());
    return GetStatus(db, migrations);
}

Result<MigrationStatus> GetStatus(Db& db, std::span<const Migration> migrations) {
    PLYR_TRY_STATUS(CheckOrder(migrations));
    std::optional<MigrationStatus> out;
    auto st = db.Read([&](Connection& c) -> Status {
        auto status = StatusIn(c, migrations);
        if (!status) return Fail(std::move(status.error()));
        out = std::move(*status);
        return Ok();
    });
    if (!st) return Fail(std::move(st.error()));
    return std::move(*out);
}

plyr::Status Check(const MigrationStatus& status) {
    std::int64_t newest_known = 0;
    for (const auto& m : status.pending) newest_known = std::max(newest_known, m.version);
    for (const auto& a : status.applied) {
        if (a.known) newest_known = std::max(newest_known, a.version);
    }
    for (const auto& a : status.applied) {
        if (!a.known) {
            return Fail(ErrorCode::kConfig,
                        fmt::format("database is newer than this binary: it has migration {:04}_{}, which this "
                                    "binary does not know (this binary knows up to {:04}); upgrade plyr",
                                    a.version, a.name, newest_known));
        }
        if (!a.checksum_matches) {
            return Fail(ErrorCode::kConfig,
                        fmt::format("migration {:04}_{} was changed after it was applied (checksum mismatch); "
                                    "migrations are forward-only: add a new migration instead",
                                    a.version, a.name),
                        fmt::format("recorded checksum {}", a.checksum));
        }
    }
    return Ok();
}

Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run) {
    const core::SystemClock clock;
    return Apply(db, dry_run, clock);
}

Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run, const core::Clock& clock) {
    const auto migrations = ListMigrations(db.backend());
    return Apply(db, dry_run, clock, migrations);
}

Result<std::vector<std::int64_t>> Apply(Db& db, bool dry_run, const core::Clock& clock,
                                        std::span<const Migration> migrations) {
    auto before = GetStatus(db, migrations);
    if (!before) return Fail(std::move(before.error()));
    PLYR_TRY_STATUS(Check(*before));
    std::vector<std::int64_t> versions;
    if (dry_run) {
        for (const auto& m : before->pending) versions.push_back(m.version);
        return versions;
    }
    const std::string_view table_sql = db.backend() == Backend::kSqlite ? kSqliteTable : kPostgresTable;
    for (const Migration& m : before->pending) {
        bool applied = false;
        auto st = db.Write([&](Connection& c) -> Status {
            applied = false;
            if (c.backend() == Backend::kPostgres) {
                // Held until this transaction ends; SQLite's BEGIN IMMEDIATE already serializes writers.
                PLYR_TRY_STATUS(c.Query("SELECT pg_advisory_xact_lock($1::bigint)", {kAdvisoryLockKey}));
            }
            PLYR_TRY_STATUS(c.ExecScript(table_sql));
            // Another migrator may have got here first: decide on what is committed now, under the lock.
            auto now = StatusIn(c, migrations);
            if (!now) return Fail(std::move(now.error()));
            PLYR_TRY_STATUS(Check(*now));
            const bool done = std::none_of(now->pending.begin(), now->pending.end(),
                                           [&](const Migration& p) { return p.version == m.version; });
            if (done) return Ok();
            PLYR_TRY_STATUS(c.ExecScript(m.sql));
            PLYR_TRY_STATUS(
                c.Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                       {m.version, m.name, m.checksum, clock.NowMicros()}));
            applied = true;
            return Ok();
        });
        if (!st) {
            Error error = std::move(st.error());
            if (error.code != ErrorCode::kConfig) {
                error.message = fmt::format("migration {:04}_{} failed: {}", m.version, m.name, error.message);
            }
            return Fail(std::move(error));
        }
        if (applied) {
            log::Info("db.migration.applied", {{"version", m.version}, {"name", m.name}});
            versions.push_back(m.version);
        }
    }
    return versions;
}

}  // namespace plyr::storage::db::migrator
