#include "app/workers.hpp"

#include "app/auth_cleanup.hpp"

namespace plyr::app {

Result<std::unique_ptr<jobs::WorkerPool>> StartWorkerPool(
    const core::Config& config, storage::db::Db& db, const core::Clock& clock, const std::vector<std::string>& types,
    std::vector<jobs::CleanupStep> extra_cleanup, const std::function<Status(jobs::WorkerPool&)>& register_more) {
    jobs::WorkerPool::Options options;
    options.concurrency = std::max(1, config.worker_concurrency);
    options.types = types;
    options.lease = std::chrono::seconds(config.job_lease_seconds);
    // Heartbeat at a sixth of the lease (10 s for the default 60 s), so a busy worker renews several times.
    options.heartbeat_interval = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200), options.lease / 6);
    options.reap_interval = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200), options.lease / 4);
    auto pool = std::make_unique<jobs::WorkerPool>(db, clock, options);
    jobs::BuiltinOptions builtin;
    builtin.cleanup_steps = AuthCleanupSteps();
    for (auto& step : extra_cleanup) builtin.cleanup_steps.push_back(std::move(step));
    PLYR_TRY_STATUS(jobs::RegisterBuiltinJobs(*pool, std::move(builtin)));
    if (register_more) PLYR_TRY_STATUS(register_more(*pool));
    PLYR_TRY_STATUS(pool->Start());
    return pool;
}

}  // namespace plyr::app
