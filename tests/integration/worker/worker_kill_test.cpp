// Crash safety of the job queue with the real binary: a job whose worker dies with SIGKILL mid-run is run
// again by another process once its lease expires, and completes exactly once.
// PostgreSQL: a separate `plyr worker` is killed; SQLite: the whole `plyr serve` (in-process workers) dies.
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "jobs/queue.hpp"
#include "storage/db/db.hpp"
#include "support/process.hpp"

namespace plyr::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool WaitForFile(const fs::path& path, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (fs::exists(path)) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

class KillTest {
  public:
    KillTest(std::string database_url, std::string command)
        : url_(std::move(database_url)), command_(std::move(command)) {
        fs::create_directories(markers());
    }

    Env WorkerEnv() const {
        Env extra{{"DATA_DIR", dir_.str() + "/data"},   {"PLYR_ENABLE_TEST_JOBS", "1"},
                  {"JOB_LEASE_SECONDS", "5"},           {"WORKER_CONCURRENCY", "1"},
                  {"HTTP_SHUTDOWN_GRACE_SECONDS", "1"}, {"PORT", std::to_string(FreePort())}};
        if (!url_.empty()) extra["DATABASE_URL"] = url_;
        return BaseEnv(extra);
    }

    std::unique_ptr<ChildProcess> StartWorker() const {
        auto child = std::make_unique<ChildProcess>();
        EXPECT_TRUE(child->Start({PlyrBinary(), command_}, WorkerEnv(), dir_.path()));
        return child;
    }

    std::string Migrate() const {
        auto r = RunProcess({PlyrBinary(), "migrate"}, WorkerEnv(), dir_.path());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.err;
    }

    std::unique_ptr<storage::db::Db> OpenDb() const {
        storage::db::Options options;
        if (url_.empty()) {
            options.backend = storage::db::Backend::kSqlite;
            options.sqlite_path = dir_.str() + "/data/plyr.db";
        } else {
            options.backend = storage::db::Backend::kPostgres;
            options.postgres_url = url_;
        }
        auto db = storage::db::Open(options);
        EXPECT_TRUE(db) << db.error().ToString();
        return db ? std::move(*db) : nullptr;
    }

    fs::path markers() const { return fs::path(dir_.path()) / "markers"; }

    void Run() {
        Migrate();
        auto db = OpenDb();
        ASSERT_TRUE(db);
        core::SystemClock clock;
        jobs::JobSpec spec;
        spec.type = "test.sleep";
        spec.payload_json = R"({"ms": 3000, "marker_dir": ")" + markers().string() + R"("})";
        spec.max_attempts = 3;
        auto job = jobs::Enqueue(*db, spec, clock);
        ASSERT_TRUE(job) << job.error().ToString();
        const std::string& id = job->id;

        auto first = StartWorker();
        ASSERT_TRUE(WaitForFile(markers() / (id + ".1.started"), 30s)) << first->stderr_text();
        first->Signal(SIGKILL);
        ASSERT_EQ(first->Wait(10s), -SIGKILL);

        auto view = jobs::Get(*db, id);
        ASSERT_TRUE(view);
        EXPECT_EQ(view->status, jobs::JobStatus::kRunning) << "the dead worker still holds the lease";

        auto second = StartWorker();
        ASSERT_TRUE(WaitForFile(markers() / (id + ".2.done"), 40s)) << second->stderr_text();
        // Completion is written right after the marker.
        for (int i = 0; i < 100; ++i) {
            view = jobs::Get(*db, id);
            if (view && view->status == jobs::JobStatus::kCompleted) break;
            std::this_thread::sleep_for(50ms);
        }
        ASSERT_TRUE(view);
        EXPECT_EQ(view->status, jobs::JobStatus::kCompleted);
        EXPECT_EQ(view->attempts, 2);
        EXPECT_FALSE(fs::exists(markers() / (id + ".1.done"))) << "the killed attempt must not have finished";
        EXPECT_FALSE(fs::exists(markers() / (id + ".3.started"))) << "the job ran more than twice";
        second->Signal(SIGTERM);
        EXPECT_EQ(second->Wait(20s), 0) << second->stderr_text();
    }

  private:
    TempDir dir_;
    std::string url_;
    std::string command_;
};

TEST(WorkerCrash, PostgresJobRunsAgainAfterTheWorkerProcessIsKilled) {
    auto url = FreshPostgresDatabase("plyr_worker_kill");
    if (!url) GTEST_SKIP() << "PLYR_TEST_PG not set";
    KillTest test(*url, "worker");
    test.Run();
}

TEST(WorkerCrash, SqliteJobRunsAgainAfterTheWholeServerProcessDies) {
    KillTest test("", "serve");
    test.Run();
}

}  // namespace
}  // namespace plyr::testing
