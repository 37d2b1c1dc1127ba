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
// `plyr keygen <kind>`: oauth-jwk (ES256 private JWK with kid), encryption-key (32 random bytes, base64url),
// labeler-key (secp256k1 private key hex, then its did:key, one per line). Stdout only; exit 0.
int RunKeygen(const std::string& kind);

// Loads the configuration (prints a clear message on failure) and initialises logging.
std::optional<core::Config> LoadConfigOrReport(const core::Environment& overrides,
                                               core::Environment* merged_out = nullptr);

}  // namespace plyr::app
