#pragma once
// Job workers as `plyr serve` (in-process) and `plyr worker` run them: every job type plyr has, registered
// in one place.

#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "jobs/worker.hpp"
#include "storage/db/db.hpp"

namespace plyr::app {

struct AppServices;

// Registers every job type, starts the pool. `types` empty = all registered types.
Result<std::unique_ptr<jobs::WorkerPool>> StartWorkers(AppServices& services, const std::vector<std::string>& types);

}  // namespace plyr::app
