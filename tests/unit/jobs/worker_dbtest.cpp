// jobs::WorkerPool against both engines: exactly-once under two pools, heartbeats, progress, failures,
// exceptions, lost leases, Stop() draining and cancelling, Notify(), built-in jobs.

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <vector>

#include <boost/json/parse.hpp>

#include "jobs/builtin.hpp"
#include "jobs/worker.hpp"
#include "jobs_test_base.hpp"

namespace plyr::jobs::testing {
namespace {

namespace sdb = ::plyr::storage::db;

// A one-shot gate a test opens to let a handler continue.
class Gate {
  public:
    void Open() {
        std::lock_guard lock(mu_);
        open_ = true;
        cv_.notify_all();
    }
    bool WaitOpen(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mu_);
        return cv_.wait_for(lock, timeout, [&] { return open_; });
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool open_ = false;
};

class WorkerDbTest : public JobsDbTest {
  protected:
    static WorkerPool::Options FastOptions() {
        WorkerPool::Options o;
        o.concurrency = 2;
        o.lease = 2s;
        o.heartbeat_interval = 100ms;
        o.poll_interval = 20ms;
        o.reap_interval = 100ms;
        return o;
    }

    bool WaitForStatus(const std::string& id, JobStatus status, std::chrono::milliseconds timeout = 20s) {
        return WaitUntil(
            [&] {
                auto v = Get(db(), id);
                return v && v->status == status;
            },
            timeout);
    }

    core::SystemClock clock_;
};

// Two pools on two database handles (two processes), 4 threads each, 200 jobs: every job runs exactly once.
TEST_P(WorkerDbTest, TwoPoolsRunEveryJobExactlyOnce) {
    constexpr int kJobs = 200;
    std::set<std::string> ids;
    for (int i = 0; i < kJobs; ++i) ids.insert(MustEnqueue(Spec("count"), clock_));
    auto other = tdb_->OpenAnother();
    ASSERT_TRUE(other) << other.error().ToString();

    std::mutex mu;
    std::map<std::string, int> runs;
    std::map<std::string, std::set<std::string>> runners;
    std::condition_variable all_done;
    auto handler_for = [&](std::string pool_name) {
        return [&, pool_name](JobContext& ctx) -> Status {
            std::lock_guard lock(mu);
            ++runs[ctx.id()];
            runners[ctx.id()].insert(pool_name);
            all_done.notify_all();
            return Ok();
        };
    };
    auto options = FastOptions();
    options.concurrency = 4;
    options.lease = 30s;  // no lease may expire in this test: a re-run would be a legitimate second run
    options.heartbeat_interval = 1s;
    WorkerPool a(db(), clock_, options);
    WorkerPool b(**other, clock_, options);
    ASSERT_TRUE(a.Register("count", handler_for("a")));
    ASSERT_TRUE(b.Register("count", handler_for("b")));
    ASSERT_TRUE(a.Start());
    ASSERT_TRUE(b.Start());
    {
        std::unique_lock lock(mu);
        ASSERT_TRUE(all_done.wait_for(lock, 60s, [&] { return runs.size() == ids.size(); }))
            << "ran " << runs.size() << " of " << ids.size();
    }
    ASSERT_TRUE(WaitUntil(
        [&] {
            ListFilter f;
            f.status = JobStatus::kCompleted;
            f.limit = 500;
            auto l = List(db(), f);
            return l && l->size() == ids.size();
        },
        30s));
    a.Stop(5s);
    b.Stop(5s);
    std::lock_guard lock(mu);
    for (const auto& [id, n] : runs) EXPECT_EQ(n, 1) << "job " << id << " ran " << n << " times";
    EXPECT_EQ(a.stats().completed + b.stats().completed, kJobs);
    EXPECT_EQ(a.stats().lost + b.stats().lost, 0);
}

TEST_P(WorkerDbTest, HeartbeatsKeepAJobLongerThanItsLeaseAlive) {
    const std::string id = MustEnqueue(Spec("long"), clock_);
    std::atomic<int> runs{0};
    auto options = FastOptions();
    options.lease = 500ms;
    options.heartbeat_interval = 100ms;
    options.reap_interval = 50ms;
    WorkerPool pool(db(), clock_, options);
    ASSERT_TRUE(pool.Register("long", [&](JobContext& ctx) -> Status {
        ++runs;
        // Three leases long; only heartbeats keep the reaper (in this same pool) away.
        const auto end = std::chrono::steady_clock::now() + 1500ms;
        while (std::chrono::steady_clock::now() < end) {
            if (ctx.Cancelled()) return Fail(ErrorCode::kCancelled, "lost");
            std::this_thread::sleep_for(10ms);
        }
        return Ok();
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(id, JobStatus::kCompleted));
    pool.Stop(5s);
    JobView v = MustGet(id);
    EXPECT_EQ(v.attempts, 1);
    EXPECT_EQ(runs.load(), 1);
    EXPECT_EQ(pool.stats().lost, 0);
    EXPECT_EQ(pool.stats().reaped, 0);
}

TEST_P(WorkerDbTest, HandlerProgressIsReadableWhileTheJobRuns) {
    const std::string id = MustEnqueue(Spec("upload"), clock_);
    Gate reported;
    Gate proceed;
    WorkerPool pool(db(), clock_, FastOptions());
    ASSERT_TRUE(pool.Register("upload", [&](JobContext& ctx) -> Status {
        ctx.AddWarning("pds_publish_deferred");
        PLYR_TRY_STATUS(ctx.Progress("transcoding", 60, "encoding"));
        reported.Open();
        if (!proceed.WaitOpen(20s)) return Fail(ErrorCode::kTimeout, "test gate never opened");
        ctx.SetResult(boost::json::parse(R"({"track_id": 9})"));
        return Ok();
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(reported.WaitOpen(20s));
    JobView running = MustGet(id);
    EXPECT_EQ(running.status, JobStatus::kRunning);
    EXPECT_EQ(running.phase, "transcoding");
    EXPECT_EQ(running.progress_pct, 60);
    EXPECT_EQ(running.message, "encoding");
    EXPECT_EQ(running.warnings, std::vector<std::string>{"pds_publish_deferred"});
    proceed.Open();
    ASSERT_TRUE(WaitForStatus(id, JobStatus::kCompleted));
    pool.Stop(5s);
    JobView done = MustGet(id);
    EXPECT_EQ(boost::json::parse(*done.result_json), boost::json::parse(R"({"track_id":9})"));
    EXPECT_EQ(done.warnings, std::vector<std::string>{"pds_publish_deferred"});
}

TEST_P(WorkerDbTest, ThrowingHandlerFailsTheAttemptAndTheJobEndsDead) {
    JobSpec spec = Spec("throws");
    spec.max_attempts = 2;
    const std::string id = MustEnqueue(spec, clock_);
    std::atomic<int> runs{0};
    WorkerPool pool(db(), clock_, FastOptions());
    TypeOptions fast_retry;
    fast_retry.retry.base = 1ms;
    fast_retry.retry.cap = 1ms;
    ASSERT_TRUE(pool.Register(
        "throws",
        [&](JobContext&) -> Status {
            ++runs;
            throw std::runtime_error("handler bug");
        },
        fast_retry));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(id, JobStatus::kDead));
    pool.Stop(5s);
    EXPECT_EQ(runs.load(), 2);
    JobView v = MustGet(id);
    EXPECT_EQ(v.attempts, 2);
    EXPECT_EQ(v.error_code, "internal_error");
    EXPECT_EQ(v.error, "internal error") << "the exception text is logged, not shown";
    EXPECT_TRUE(pool.running() == false);
}

TEST_P(WorkerDbTest, FailWithNonRetryableMarksTheJobFailedWithItsCode) {
    const std::string id = MustEnqueue(Spec("upload"), clock_);
    std::atomic<int> runs{0};
    WorkerPool pool(db(), clock_, FastOptions());
    ASSERT_TRUE(pool.Register("upload", [&](JobContext& ctx) -> Status {
        ++runs;
        return ctx.FailWith("audio_unreadable", "the audio could not be decoded", false);
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(id, JobStatus::kFailed));
    pool.Stop(5s);
    EXPECT_EQ(runs.load(), 1);
    JobView v = MustGet(id);
    EXPECT_EQ(v.error_code, "audio_unreadable");
    EXPECT_EQ(v.error, "the audio could not be decoded");
}

TEST_P(WorkerDbTest, ErrorStatusIsRetriedOrFailedByItsCode) {
    JobSpec transient = Spec("transient");
    transient.max_attempts = 2;
    const std::string transient_id = MustEnqueue(transient, clock_);
    const std::string permanent_id = MustEnqueue(Spec("permanent"), clock_);
    std::atomic<int> transient_runs{0};
    WorkerPool pool(db(), clock_, FastOptions());
    TypeOptions fast_retry;
    fast_retry.retry.base = 1ms;
    fast_retry.retry.cap = 1ms;
    ASSERT_TRUE(pool.Register(
        "transient",
        [&](JobContext& ctx) -> Status {
            if (++transient_runs == 1) return Fail(ErrorCode::kUnavailable, "pds unavailable", "connect refused");
            EXPECT_EQ(ctx.attempt(), 2);
            return Ok();
        },
        fast_retry));
    ASSERT_TRUE(pool.Register("permanent",
                              [&](JobContext&) -> Status { return Fail(ErrorCode::kInvalidArgument, "bad payload"); }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(transient_id, JobStatus::kCompleted));
    ASSERT_TRUE(WaitForStatus(permanent_id, JobStatus::kFailed));
    pool.Stop(5s);
    EXPECT_EQ(transient_runs.load(), 2);
    JobView completed = MustGet(transient_id);
    EXPECT_FALSE(completed.error_code) << "completion clears the error of an earlier attempt";
    JobView failed = MustGet(permanent_id);
    EXPECT_EQ(failed.error_code, "invalid_argument");
    EXPECT_EQ(failed.error, "bad payload");
    EXPECT_EQ(failed.attempts, 1);
}

TEST_P(WorkerDbTest, LostLeaseCancelsTheHandlerAndDiscardsItsOutcome) {
    const std::string id = MustEnqueue(Spec("victim"), clock_);
    Gate started;
    std::atomic<bool> saw_cancel{false};
    auto options = FastOptions();
    options.reap_interval = 0ms;
    WorkerPool pool(db(), clock_, options);
    ASSERT_TRUE(pool.Register("victim", [&](JobContext& ctx) -> Status {
        started.Open();
        const auto end = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < end) {
            if (ctx.Cancelled()) {
                saw_cancel = true;
                return Ok();  // even a success must not be recorded: the job is someone else's now
            }
            std::this_thread::sleep_for(5ms);
        }
        return Fail(ErrorCode::kTimeout, "never cancelled");
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(started.WaitOpen(20s));
    // Another worker takes the job over (as after a reap and re-claim).
    auto stolen = db().Write([&](sdb::Connection& tx) -> Status {
        auto n = tx.Exec("UPDATE jobs SET lease_owner = 'thief#1' WHERE status = 'running'");
        if (!n) return Fail(std::move(n.error()));
        return *n == 1 ? Ok() : Fail(ErrorCode::kInternal, "expected one running job");
    });
    ASSERT_TRUE(stolen) << stolen.error().ToString();
    ASSERT_TRUE(WaitUntil([&] { return pool.stats().lost == 1; }, 20s));
    pool.Stop(5s);
    EXPECT_TRUE(saw_cancel.load());
    JobView v = MustGet(id);
    EXPECT_EQ(v.status, JobStatus::kRunning);
    EXPECT_EQ(v.lease_owner, "thief#1");
    EXPECT_EQ(pool.stats().completed, 0);
}

TEST_P(WorkerDbTest, StopLetsRunningJobsFinishBeforeTheDeadline) {
    const std::string id = MustEnqueue(Spec("slow"), clock_);
    Gate started;
    WorkerPool pool(db(), clock_, FastOptions());
    ASSERT_TRUE(pool.Register("slow", [&](JobContext& ctx) -> Status {
        started.Open();
        std::this_thread::sleep_for(300ms);
        EXPECT_TRUE(ctx.Stopping());
        EXPECT_FALSE(ctx.Cancelled());
        return Ok();
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(started.WaitOpen(20s));
    const std::string queued = MustEnqueue(Spec("slow"), clock_);
    pool.Stop(10s);
    EXPECT_EQ(MustGet(id).status, JobStatus::kCompleted);
    EXPECT_EQ(MustGet(queued).status, JobStatus::kPending) << "no new claims while stopping";
    EXPECT_FALSE(pool.running());
}

TEST_P(WorkerDbTest, StopCancelsAfterTheDeadlineAndReleasesTheJobUncounted) {
    const std::string id = MustEnqueue(Spec("stubborn"), clock_);
    Gate started;
    WorkerPool pool(db(), clock_, FastOptions());
    ASSERT_TRUE(pool.Register("stubborn", [&](JobContext& ctx) -> Status {
        started.Open();
        while (!ctx.Cancelled()) std::this_thread::sleep_for(5ms);
        return Fail(ErrorCode::kCancelled, "stopping");
    }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(started.WaitOpen(20s));
    const auto before = std::chrono::steady_clock::now();
    pool.Stop(200ms);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 10s);
    JobView v = MustGet(id);
    EXPECT_EQ(v.status, JobStatus::kPending);
    EXPECT_EQ(v.attempts, 0);
    EXPECT_FALSE(v.lease_owner);
    EXPECT_EQ(pool.stats().released, 1);
}

TEST_P(WorkerDbTest, NotifyWakesAnIdleWorkerBeforeTheNextPoll) {
    auto options = FastOptions();
    options.concurrency = 1;
    options.poll_interval = 30s;
    Gate ran;
    WorkerPool pool(db(), clock_, options);
    ASSERT_TRUE(pool.Register("ping", [&](JobContext&) -> Status {
        ran.Open();
        return Ok();
    }));
    ASSERT_TRUE(pool.Start());
    // Give the worker time to find the queue empty and go to sleep for 30 s.
    ASSERT_TRUE(WaitUntil([&] { return pool.running(); }, 5s));
    std::this_thread::sleep_for(100ms);
    MustEnqueue(Spec("ping"), clock_);
    pool.Notify();
    EXPECT_TRUE(ran.WaitOpen(10s)) << "Notify() did not wake the worker";
    pool.Stop(5s);
}

TEST_P(WorkerDbTest, PoolClaimsOnlyTypesItHandles) {
    const std::string unknown = MustEnqueue(Spec("nobody.handles.this"), clock_);
    const std::string excluded = MustEnqueue(Spec("excluded"), clock_);
    const std::string known = MustEnqueue(Spec("known"), clock_);
    auto options = FastOptions();
    options.types = {"known", "not-registered"};
    WorkerPool pool(db(), clock_, options);
    ASSERT_TRUE(pool.Register("known", [](JobContext&) { return Ok(); }));
    ASSERT_TRUE(pool.Register("excluded", [](JobContext&) { return Ok(); }));
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(known, JobStatus::kCompleted));
    pool.Stop(5s);
    EXPECT_EQ(MustGet(unknown).status, JobStatus::kPending);
    EXPECT_EQ(MustGet(excluded).status, JobStatus::kPending);
}

TEST_P(WorkerDbTest, RegisterRejectsDuplicatesBadNamesAndLateCalls) {
    WorkerPool pool(db(), clock_, FastOptions());
    ASSERT_TRUE(pool.Register("a", [](JobContext&) { return Ok(); }));
    EXPECT_EQ(pool.Register("a", [](JobContext&) { return Ok(); }).error().code, ErrorCode::kAlreadyExists);
    EXPECT_EQ(pool.Register("Bad Name", [](JobContext&) { return Ok(); }).error().code, ErrorCode::kInvalidArgument);
    ASSERT_TRUE(pool.Start());
    EXPECT_EQ(pool.Register("b", [](JobContext&) { return Ok(); }).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(pool.Start().error().code, ErrorCode::kInvalidArgument);
    pool.Stop(1s);
}

TEST_P(WorkerDbTest, StartRejectsAHeartbeatNotShorterThanTheLease) {
    auto options = FastOptions();
    options.heartbeat_interval = options.lease;
    WorkerPool pool(db(), clock_, options);
    auto st = pool.Start();
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(WorkerDbTest, CleanupJobDeletesTerminalJobsOlderThanThirtyDays) {
    core::ManualClock manual;
    // Finished 31 days ago, finished 1 day ago, and still pending from 31 days ago.
    auto finish = [&](const std::string& type) {
        const std::string id = MustEnqueue(Spec(type), manual);
        auto c = Claim(db(), "setup", {type}, 60s, manual);
        EXPECT_TRUE(c && *c);
        EXPECT_TRUE(Complete(db(), id, (*c)->lease_owner, "", {}, manual));
        return id;
    };
    const std::string old_done = finish("old");
    const std::string old_pending = MustEnqueue(Spec("stays.pending"), manual);
    manual.Advance(30LL * 24 * 3600 * 1'000'000);
    const std::string recent_done = finish("recent");
    manual.Advance(24LL * 3600 * 1'000'000);

    auto options = FastOptions();
    options.reap_interval = 0ms;
    WorkerPool pool(db(), manual, options);
    BuiltinOptions builtin;
    builtin.schedule_cleanup = false;
    std::atomic<int> step_runs{0};
    builtin.cleanup_steps.push_back({"extra", [&](sdb::Db&, std::int64_t now) -> Status {
                                         EXPECT_EQ(now, manual.NowMicros());
                                         ++step_runs;
                                         return Ok();
                                     }});
    ASSERT_TRUE(RegisterBuiltinJobs(pool, builtin));
    const std::string cleanup = MustEnqueue(Spec("cleanup"), manual);
    ASSERT_TRUE(pool.Start());
    ASSERT_TRUE(WaitForStatus(cleanup, JobStatus::kCompleted));
    pool.Stop(5s);
    EXPECT_EQ(Get(db(), old_done).error().code, ErrorCode::kNotFound);
    EXPECT_EQ(MustGet(old_pending).status, JobStatus::kPending);
    EXPECT_EQ(MustGet(recent_done).status, JobStatus::kCompleted);
    EXPECT_EQ(step_runs.load(), 1);
    JobView v = MustGet(cleanup);
    EXPECT_EQ(boost::json::parse(*v.result_json), boost::json::parse(R"({"deleted_jobs":1})"));
}

TEST_P(WorkerDbTest, RecurringJobKeepsOneLiveInstanceAcrossPools) {
    auto other = tdb_->OpenAnother();
    ASSERT_TRUE(other) << other.error().ToString();
    auto options = FastOptions();
    WorkerPool a(db(), clock_, options);
    WorkerPool b(**other, clock_, options);
    ASSERT_TRUE(RegisterBuiltinJobs(a));
    ASSERT_TRUE(RegisterBuiltinJobs(b));
    ASSERT_TRUE(a.Start());
    ASSERT_TRUE(b.Start());
    ListFilter f;
    f.type = "cleanup";
    ASSERT_TRUE(WaitUntil(
        [&] {
            auto l = List(db(), f);
            return l && !l->empty();
        },
        10s));
    a.Stop(5s);
    b.Stop(5s);
    auto l = List(db(), f);
    ASSERT_TRUE(l) << l.error().ToString();
    ASSERT_EQ(l->size(), 1u) << "both pools tried; the dedupe key keeps one";
    EXPECT_EQ(l->front().status, JobStatus::kPending);
    EXPECT_EQ(l->front().dedupe_key, "recurring:cleanup");
    EXPECT_GT(l->front().run_after, clock_.NowMicros() + 9LL * 60 * 1'000'000) << "due one interval later";
}

PLYR_JOBS_INSTANTIATE(WorkerDbTest);

}  // namespace
}  // namespace plyr::jobs::testing
