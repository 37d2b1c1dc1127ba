#pragma once
// Job workers as `plyr serve` (in-process) and `plyr worker` run them: every job type plyr has, registered
// in one place.
//
// StartWorkerPool: the pool with the queue's built-in jobs (the `cleanup` job runs the auth steps plus
// `extra_cleanup`), then `register_more` registers domain job types, then the pool starts. StartWorkers
// (services.cpp) is the full set over an AppServices bundle: the track steps and the upload job.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "jobs/builtin.hpp"
#include "jobs/worker.hpp"
#include "storage/db/db.hpp"

namespace plyr::app {

struct AppServices;

// `types` empty = all registered types.
Result<std::unique_ptr<jobs::WorkerPool>> StartWorkerPool(
    const core::Config& config, storage::db::Db& db, const core::Clock& clock, const std::vector<std::string>& types,
    std::vector<jobs::CleanupStep> extra_cleanup = {},
    const std::function<Status(jobs::WorkerPool&)>& register_more = {});

// Registers every job type, starts the pool. `types` empty = all registered types.
Result<std::unique_ptr<jobs::WorkerPool>> StartWorkers(AppServices& services, const std::vector<std::string>& types);

}  // namespace plyr::app
