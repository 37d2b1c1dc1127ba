#include "app/runtime.hpp"

#include <signal.h>

#include <fmt/format.h>

#include "app/exit_codes.hpp"
#include "core/log.hpp"
#include "storage/db/migrator.hpp"

namespace plyr::app {

storage::db::Options DbOptionsFromConfig(const core::Config& config) {
    storage::db::Options options;
    if (config.database_kind == core::DatabaseKind::kSqlite) {
        options.backend = storage::db::Backend::kSqlite;
        options.sqlite_path = config.sqlite_path;
    } else {
        options.backend = storage::db::Backend::kPostgres;
        options.postgres_url = config.database_url;
    }
    options.pool_size = config.database_pool_size;
    options.statement_timeout_s = config.database_statement_timeout_seconds;
    return options;
}

int ExitCodeFor(const Error& error) {
    switch (error.code) {
        case ErrorCode::kConfig:
            return kExitConfig;
        case ErrorCode::kNotFound:
            return kExitNotFound;
        default:
            return kExitRuntime;
    }
}

std::unique_ptr<storage::db::Db> OpenDatabaseOrReport(const core::Config& config) {
    auto db = storage::db::Open(DbOptionsFromConfig(config));
    if (!db) {
        // Messages from the db module never carry connection passwords (tested there).
        fmt::print(stderr, "plyr: database error: {}\n", db.error().message);
        return nullptr;
    }
    return std::move(*db);
}

bool MigrateOrReport(storage::db::Db& db, int& exit_code) {
    auto applied = storage::db::migrator::Apply(db, false);
    if (!applied) {
        fmt::print(stderr, "plyr: database migration failed: {}\n", applied.error().message);
        exit_code = ExitCodeFor(applied.error());
        return false;
    }
    for (std::int64_t version : *applied) log::Info("db.migration_applied", {{"version", version}});
    return true;
}

void BlockShutdownSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // A peer closing a socket mid-write must not kill the process.
    signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    return sig;
}

}  // namespace plyr::app
