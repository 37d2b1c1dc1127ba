// Crash behaviour: a worker process SIGKILLed in the middle of a job. The lease expires, the reaper re-queues
// the job and another worker runs it again (attempt 2) to completion, exactly once.
// - SQLite (one process per database in production): the whole process dies; a restarted process re-runs it.
// - PostgreSQL (scale-out): a separate worker process dies; the surviving process's pool re-runs it.

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "jobs/builtin.hpp"
#include "jobs/worker.hpp"
#include "jobs_test_base.hpp"
#include "support/process.hpp"

namespace plyr::jobs::testing {
namespace {

namespace fs = std::filesystem;

class CrashDbTest : public JobsDbTest {
  protected:
    std::vector<std::string> FixtureArgv() const {
        return {JOBS_WORKER_FIXTURE,
                "--database-url",
                tdb_->url(),
                "--lease-seconds",
                "2",
                "--heartbeat-ms",
                "500",
                "--reap-interval-ms",
                "500",
                "--poll-ms",
                "50"};
    }
    static plyr::testing::Env FixtureEnv() { return plyr::testing::BaseEnv({{"PLYR_ENABLE_TEST_JOBS", "1"}}); }
    static bool Exists(const fs::path& p) {
        std::error_code ec;
        return fs::exists(p, ec);
    }
    static int CountWithSuffix(const fs::path& dir, const std::string& suffix) {
        int n = 0;
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string name = entry.path().filename().string();
            if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
                ++n;
            }
        }
        return n;
    }

    core::SystemClock clock_;
};

TEST_P(CrashDbTest, WorkerKilledMidJobRunsItAgainAndCompletesOnce) {
    plyr::testing::TempDir markers;
    const fs::path dir = markers.path();
    JobSpec spec = Spec("test.sleep", R"({"ms": 1500, "marker_dir": ")" + dir.string() + R"("})");
    spec.max_attempts = 3;
    const std::string id = MustEnqueue(spec, clock_);

    plyr::testing::ChildProcess first;
    ASSERT_TRUE(first.Start(FixtureArgv(), FixtureEnv()));
    ASSERT_TRUE(first.WaitForStderr("jobs_worker_fixture ready", 30s)) << first.stderr_text();
    ASSERT_TRUE(WaitUntil([&] { return Exists(dir / (id + ".1.started")); }, 30s)) << first.stderr_text();
    first.Signal(SIGKILL);
    ASSERT_EQ(first.Wait(10s), -SIGKILL);

    JobView orphan = MustGet(id);
    EXPECT_EQ(orphan.status, JobStatus::kRunning) << "the dead worker still holds the lease";
    EXPECT_EQ(orphan.attempts, 1);
    EXPECT_FALSE(Exists(dir / (id + ".1.done")));

    plyr::testing::ChildProcess second;
    std::unique_ptr<WorkerPool> survivor;
    if (GetParam() == Engine::kSqlite) {
        // SQLite: the whole process died; the next start of the process picks the job up.
        ASSERT_TRUE(second.Start(FixtureArgv(), FixtureEnv()));
    } else {
        // PostgreSQL: the worker process died; this process (think `plyr serve` with in-process workers) lives on.
        ASSERT_EQ(setenv("PLYR_ENABLE_TEST_JOBS", "1", 1), 0);
        WorkerPool::Options options;
        options.concurrency = 1;
        options.lease = 2s;
        options.heartbeat_interval = 500ms;
        options.poll_interval = 50ms;
        options.reap_interval = 500ms;
        survivor = std::make_unique<WorkerPool>(db(), clock_, options);
        BuiltinOptions builtin;
        builtin.schedule_cleanup = false;
        ASSERT_TRUE(RegisterBuiltinJobs(*survivor, builtin));
        ASSERT_EQ(unsetenv("PLYR_ENABLE_TEST_JOBS"), 0);
        ASSERT_TRUE(survivor->Start());
    }

    ASSERT_TRUE(WaitUntil(
        [&] {
            auto v = Get(db(), id);
            return v && v->status == JobStatus::kCompleted;
        },
        60s))
        << "job did not complete; status " << ToString(MustGet(id).status) << "\n"
        << second.stderr_text();

    if (survivor) survivor->Stop(5s);
    if (second.running()) {
        second.Signal(SIGTERM);
        EXPECT_EQ(second.Wait(20s), 0) << second.stderr_text();
    }

    JobView done = MustGet(id);
    EXPECT_EQ(done.attempts, 2);
    EXPECT_TRUE(Exists(dir / (id + ".2.started")));
    EXPECT_TRUE(Exists(dir / (id + ".2.done")));
    EXPECT_FALSE(Exists(dir / (id + ".1.done"))) << "the killed attempt never finished";
    EXPECT_EQ(CountWithSuffix(dir, ".done"), 1) << "completed exactly once";
    EXPECT_EQ(CountWithSuffix(dir, ".started"), 2);
}

TEST_P(CrashDbTest, TestSleepJobRejectsABadPayloadWithoutRetrying) {
    ASSERT_EQ(setenv("PLYR_ENABLE_TEST_JOBS", "1", 1), 0);
    WorkerPool::Options options;
    options.concurrency = 1;
    options.lease = 2s;
    options.heartbeat_interval = 500ms;
    options.poll_interval = 20ms;
    WorkerPool pool(db(), clock_, options);
    BuiltinOptions builtin;
    builtin.schedule_cleanup = false;
    ASSERT_TRUE(RegisterBuiltinJobs(pool, builtin));
    ASSERT_EQ(unsetenv("PLYR_ENABLE_TEST_JOBS"), 0);
    const std::string id = MustEnqueue(Spec("test.sleep", R"({"ms": "soon", "marker_dir": "relative/dir"})"), clock_);
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitUntil(
        [&] {
            auto v = Get(db(), id);
            return v && v->status == JobStatus::kFailed;
        },
        20s));
    pool.Stop(5s);
    JobView v = MustGet(id);
    EXPECT_EQ(v.error_code, "invalid_payload");
    EXPECT_EQ(v.attempts, 1);
}

TEST_P(CrashDbTest, TestJobsAreNotRegisteredWithoutTheEnvironmentSwitch) {
    ASSERT_EQ(unsetenv("PLYR_ENABLE_TEST_JOBS"), 0);
    EXPECT_FALSE(TestJobsEnabled());
    WorkerPool pool(db(), clock_, {});
    BuiltinOptions builtin;
    builtin.schedule_cleanup = false;
    ASSERT_TRUE(RegisterBuiltinJobs(pool, builtin));
    // test.sleep is free, so it was not registered; cleanup is.
    EXPECT_TRUE(pool.Register("test.sleep", [](JobContext&) { return Ok(); }));
    EXPECT_EQ(pool.Register("cleanup", [](JobContext&) { return Ok(); }).error().code, ErrorCode::kAlreadyExists);
}

PLYR_JOBS_INSTANTIATE(CrashDbTest);

}  // namespace
}  // namespace plyr::jobs::testing
