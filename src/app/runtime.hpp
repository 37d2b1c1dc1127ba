#pragma once
// Pieces shared by the long-running commands (serve, worker) and migrate: opening the configured database,
// mapping errors to exit codes, and waiting for SIGTERM/SIGINT.

#include <memory>
#include <string_view>

#include "core/config.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::app {

storage::db::Options DbOptionsFromConfig(const core::Config& config);

// Opens the database named by the configuration; prints a clear message and returns nullptr on failure.
std::unique_ptr<storage::db::Db> OpenDatabaseOrReport(const core::Config& config);

// Applies pending migrations, printing one line per applied version; false (message printed) on failure.
// `exit_code` receives kExitConfig for a database newer than this binary or a checksum mismatch, else
// kExitRuntime.
bool MigrateOrReport(storage::db::Db& db, int& exit_code);

// kExitConfig for ErrorCode::kConfig, kExitNotFound for kNotFound, else kExitRuntime.
int ExitCodeFor(const Error& error);

// Blocks SIGTERM and SIGINT in the calling thread (and every thread it creates afterwards), so that
// WaitForShutdownSignal() receives them. Call first thing, before any thread exists.
void BlockShutdownSignals();
// Waits for SIGTERM or SIGINT; returns the signal number.
int WaitForShutdownSignal();

}  // namespace plyr::app
