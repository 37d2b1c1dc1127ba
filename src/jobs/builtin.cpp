#include "jobs/builtin.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <boost/json/object.hpp>

#include "core/log.hpp"

namespace plyr::jobs {
namespace {

constexpr std::int64_t kMaxSleepMs = 10 * 60 * 1000;

Status CleanupJob(JobContext& ctx, const BuiltinOptions& options) {
    const std::int64_t now = ctx.clock().NowMicros();
    const std::int64_t cutoff =
        now - std::chrono::duration_cast<std::chrono::microseconds>(options.terminal_retention).count();
    auto deleted =
        ctx.database().WriteValue<std::int64_t>([&](db::Connection& tx) { return DeleteTerminalBefore(tx, cutoff); });
    if (!deleted) return Fail(std::move(deleted.error()));

    boost::json::object result;
    result["deleted_jobs"] = *deleted;
    // Every step runs even when an earlier one failed, so one broken module cannot stall the others.
    std::optional<Error> first_error;
    for (const auto& step : options.cleanup_steps) {
        if (ctx.Cancelled()) return Fail(ErrorCode::kCancelled, "cleanup cancelled");
        auto st = step.run(ctx.database(), now);
        if (!st) {
            log::Warn("cleanup_step_failed", {{"step", step.name}, {"error", st.error().ToString()}});
            if (!first_error) first_error = st.error();
        }
    }
    if (first_error) return Fail(std::move(*first_error));
    ctx.SetResult(boost::json::value(std::move(result)));
    return Ok();
}

Status TouchMarker(const std::filesystem::path& path) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) return Fail(ErrorCode::kIo, "cannot write marker file", path.string());
    return Ok();
}

Status TestSleepJob(JobContext& ctx) {
    const auto& payload = ctx.payload();
    const auto* obj = payload.if_object();
    const auto* ms_value = obj ? obj->if_contains("ms") : nullptr;
    const auto* dir_value = obj ? obj->if_contains("marker_dir") : nullptr;
    if (ms_value == nullptr || !ms_value->is_int64() || ms_value->as_int64() < 0 ||
        ms_value->as_int64() > kMaxSleepMs || dir_value == nullptr || !dir_value->is_string()) {
        return ctx.FailWith("invalid_payload", "payload must be {\"ms\": 0..600000, \"marker_dir\": path}", false);
    }
    const std::int64_t ms = ms_value->as_int64();
    const std::filesystem::path dir(std::string(dir_value->as_string().c_str()));
    std::error_code ec;
    if (!dir.is_absolute() || !std::filesystem::is_directory(dir, ec)) {
        return ctx.FailWith("invalid_payload", "marker_dir must be an existing absolute directory", false);
    }
    const std::string stem = fmt::format("{}.{}", ctx.id(), ctx.attempt());
    PLYR_TRY_STATUS(TouchMarker(dir / (stem + ".started")));

    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::milliseconds(ms);
    int last_decile = -1;
    while (std::chrono::steady_clock::now() < end) {
        if (ctx.Cancelled()) return Fail(ErrorCode::kCancelled, "test.sleep cancelled");
        const auto elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
        const int decile = ms == 0 ? 10 : static_cast<int>(elapsed * 10 / ms);
        if (decile != last_decile) {
            last_decile = decile;
            // A lost lease shows up here as an error and through Cancelled() on the next turn.
            (void)ctx.Progress("sleeping", decile * 10, fmt::format("slept {} of {} ms", elapsed, ms));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    PLYR_TRY_STATUS(TouchMarker(dir / (stem + ".done")));
    boost::json::object result;
    result["slept_ms"] = ms;
    ctx.SetResult(boost::json::value(std::move(result)));
    return Ok();
}

}  // namespace

bool TestJobsEnabled() {
    const char* v = std::getenv("PLYR_ENABLE_TEST_JOBS");
    return v != nullptr && std::string_view(v) == "1";
}

Status RegisterBuiltinJobs(WorkerPool& pool, BuiltinOptions options) {
    auto shared = std::make_shared<BuiltinOptions>(std::move(options));
    PLYR_TRY_STATUS(
        pool.Register(std::string(kCleanupJobType), [shared](JobContext& ctx) { return CleanupJob(ctx, *shared); }));
    if (shared->schedule_cleanup) {
        PLYR_TRY_STATUS(pool.AddRecurring(std::string(kCleanupJobType), shared->cleanup_interval));
    }
    if (TestJobsEnabled()) {
        PLYR_TRY_STATUS(pool.Register(std::string(kTestSleepJobType), TestSleepJob));
        log::Warn("test_jobs_enabled", {{"type", kTestSleepJobType}});
    }
    return Ok();
}

}  // namespace plyr::jobs
