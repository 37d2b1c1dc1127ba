#include "app/commands.hpp"
#include "app/exit_codes.hpp"
namespace plyr::app {
int RunServe(const ServeOptions&) { return kExitRuntime; }
int RunWorker(const WorkerOptions&) { return kExitRuntime; }
int RunMigrate(const MigrateOptions&) { return kExitRuntime; }
}  // namespace plyr::app
