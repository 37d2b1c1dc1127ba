#include "app/workers.hpp"

#include "app/auth_cleanup.hpp"
#include "app/services.hpp"
#include "jobs/builtin.hpp"

namespace plyr::app {

Result<std::unique_ptr<jobs::WorkerPool>> StartWorkers(AppServices& services, const std::vector<std::string>& types) {
    const core::Config& config = services.config;
    jobs::WorkerPool::Options options;
    options.concurrency = std::max(1, config.worker_concurrency);
    options.types = types;
    options.lease = std::chrono::seconds(config.job_lease_seconds);
    // Heartbeat at a sixth of the lease (10 s for the default 60 s), so a busy worker renews several times.
    options.heartbeat_interval = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200), options.lease / 6);
    options.reap_interval = std::max<std::chrono::milliseconds>(std::chrono::milliseconds(200), options.lease / 4);
    auto pool = std::make_unique<jobs::WorkerPool>(*services.db, services.clock, options);
    jobs::BuiltinOptions builtin;
    builtin.cleanup_steps = AuthCleanupSteps();
    PLYR_TRY_STATUS(jobs::RegisterBuiltinJobs(*pool, std::move(builtin)));
    PLYR_TRY_STATUS(pool->Start());
    return pool;
}

}  // namespace plyr::app
