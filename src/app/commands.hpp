#pragma once
// The subcommands of the `plyr` binary. Each returns a process exit code (exit_codes.hpp).

#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace plyr::app {

struct ServeOptions {
    core::Environment overrides;  // from --host/--port/--workers
};

struct WorkerOptions {
    core::Environment overrides;
    std::vector<std::string> types;  // empty = every registered type
};

struct MigrateOptions {
    bool status = false;
    bool dry_run = false;
};

int RunServe(const ServeOptions& options);
int RunWorker(const WorkerOptions& options);
int RunMigrate(const MigrateOptions& options);
int RunConfigCheck();
int RunConfigDocs();
int RunVersion();

// Loads the configuration (prints a clear message on failure) and initialises logging.
std::optional<core::Config> LoadConfigOrReport(const core::Environment& overrides,
                                               core::Environment* merged_out = nullptr);

}  // namespace plyr::app
