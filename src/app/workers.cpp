#include "app/workers.hpp"

#include "app/auth_cleanup.hpp"
#include "app/services.hpp"
#include "jobs/builtin.hpp"
#include "pds/outbox.hpp"
#include "storage/repos/play_repo.hpp"
#include "tracks/staging.hpp"
#include "tracks/upload_job.hpp"

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
    const tracks::Staging* staging = services.staging.get();
    const core::Clock* clock = &services.clock;
    builtin.cleanup_steps.push_back({"tracks.staging", [staging, clock](storage::db::Db& db, std::int64_t) -> Status {
                                         auto swept = tracks::SweepStaging(db, *staging, *clock);
                                         if (!swept) return Fail(std::move(swept.error()));
                                         return Ok();
                                     }});
    builtin.cleanup_steps.push_back({"tracks.plays", [](storage::db::Db& db, std::int64_t now) -> Status {
                                         return db.Write([now](storage::db::Connection& tx) -> Status {
                                             auto purged = storage::repos::PlayRepository::PurgeExpired(tx, now);
                                             if (!purged) return Fail(std::move(purged.error()));
                                             return Ok();
                                         });
                                     }});
    // Finished outbox entries are kept a week for the admin view, then dropped.
    builtin.cleanup_steps.push_back({"pds.outbox", [](storage::db::Db& db, std::int64_t now) -> Status {
                                         constexpr std::int64_t kWeekUs = 7LL * 24 * 3600 * 1'000'000;
                                         auto purged = pds::PurgeFinished(db, now - kWeekUs);
                                         if (!purged) return Fail(std::move(purged.error()));
                                         return Ok();
                                     }});
    PLYR_TRY_STATUS(jobs::RegisterBuiltinJobs(*pool, std::move(builtin)));
    PLYR_TRY_STATUS(tracks::RegisterUploadJob(*pool, services.UploadDeps()));
    PLYR_TRY_STATUS(pool->Start());
    return pool;
}

}  // namespace plyr::app
