#pragma once
// jobs::builtin — job types that belong to the queue itself (docs/jobs.md).
//
// - `cleanup` (always): deletes terminal jobs that finished more than `terminal_retention` ago, then runs
//   the cleanup steps other modules hand in (expired sessions, dedupe rows, …). Scheduled every
//   `cleanup_interval` through WorkerPool::AddRecurring (one live cleanup job across all processes).
// - `test.sleep` (only when the environment has PLYR_ENABLE_TEST_JOBS=1): a diagnostic job for crash tests.
//   Payload {"ms": N, "marker_dir": "/abs/dir"}: creates `<marker_dir>/<job_id>.<attempt>.started`, sleeps N ms
//   in small steps honouring Cancelled() (→ kCancelled), then creates `<job_id>.<attempt>.done` and completes
//   with {"slept_ms": N}. A bad payload fails the job (not retried) with error_code "invalid_payload".
// Errors: RegisterBuiltinJobs passes WorkerPool::Register/AddRecurring errors through.
// Thread-safety: call before WorkerPool::Start().

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "jobs/worker.hpp"

namespace plyr::jobs {

inline constexpr std::string_view kCleanupJobType = "cleanup";
inline constexpr std::string_view kTestSleepJobType = "test.sleep";

// One step of the cleanup job: deletes what its module keeps past expiry. now_micros from the pool's clock.
struct CleanupStep {
    std::string name;
    std::function<Status(db::Db& db, std::int64_t now_micros)> run;
};

struct BuiltinOptions {
    bool schedule_cleanup = true;
    std::chrono::milliseconds cleanup_interval = std::chrono::minutes(10);
    std::chrono::hours terminal_retention = std::chrono::hours(24 * 30);
    std::vector<CleanupStep> cleanup_steps;
};

// PLYR_ENABLE_TEST_JOBS=1 in the environment.
bool TestJobsEnabled();

Status RegisterBuiltinJobs(WorkerPool& pool, BuiltinOptions options = {});

}  // namespace plyr::jobs
