// `plyr worker` and `plyr migrate`.
#include <fmt/format.h>

#include "app/commands.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "app/services.hpp"
#include "app/workers.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "storage/db/migrator.hpp"

namespace plyr::app {

int RunWorker(const WorkerOptions& options) {
    BlockShutdownSignals();
    auto config = LoadConfigOrReport(options.overrides);
    if (!config) return kExitConfig;
    std::unique_ptr<AppServices> app;
    if (int built = BuildServices(*config, app); built != kExitOk) return built;
    auto workers = StartWorkers(*app, options.types);
    if (!workers) {
        fmt::print(stderr, "plyr: cannot start job workers: {}\n", workers.error().message);
        return ExitCodeFor(workers.error());
    }
    log::Info("worker.started", {{"worker_id", (*workers)->worker_id()},
                                 {"concurrency", config->worker_concurrency},
                                 {"database", core::ToString(config->database_kind)}});
    app->StartOutbox();
    int sig = WaitForShutdownSignal();
    log::Info("worker.stopping", {{"signal", sig}});
    (*workers)->Stop(std::chrono::seconds(config->http_shutdown_grace_seconds));
    app->StopOutbox(std::chrono::steady_clock::now() + std::chrono::seconds(config->http_shutdown_grace_seconds));
    log::Info("worker.stopped");
    return kExitOk;
}

int RunMigrate(const MigrateOptions& options) {
    auto config = LoadConfigOrReport({});
    if (!config) return kExitConfig;
    auto db = OpenDatabaseOrReport(*config);
    if (!db) return kExitRuntime;
    namespace migrator = storage::db::migrator;

    auto status = migrator::GetStatus(*db);
    if (!status) {
        fmt::print(stderr, "plyr: database error: {}\n", status.error().message);
        return ExitCodeFor(status.error());
    }
    if (options.status) {
        for (const auto& m : status->applied) {
            std::string note = !m.known              ? "  (unknown to this binary)"
                               : !m.checksum_matches ? "  (checksum differs)"
                                                     : "";
            fmt::print("applied  {:04d} {}{}\n", m.version, m.name, note);
        }
        for (const auto& m : status->pending) fmt::print("pending  {:04d} {}\n", m.version, m.name);
        auto check = migrator::Check(*status);
        if (!check) {
            fmt::print(stderr, "plyr: {}\n", check.error().message);
            return kExitConfig;
        }
        return kExitOk;
    }
    auto applied = migrator::Apply(*db, options.dry_run);
    if (!applied) {
        fmt::print(stderr, "plyr: migration failed: {}\n", applied.error().message);
        return ExitCodeFor(applied.error());
    }
    for (std::int64_t version : *applied) {
        std::string name;
        for (const auto& m : status->pending) {
            if (m.version == version) name = m.name;
        }
        fmt::print("{} {:04d} {}\n", options.dry_run ? "would apply" : "applied", version, name);
    }
    if (!options.dry_run) {
        auto all = migrator::ListMigrations(db->backend());
        fmt::print("database is up to date (version {:04d})\n", all.empty() ? 0 : all.back().version);
    }
    return kExitOk;
}

}  // namespace plyr::app
