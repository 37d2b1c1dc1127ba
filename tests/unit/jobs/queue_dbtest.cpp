// jobs::queue against both engines: enqueue/claim/complete, retries and backoff, leases, reaper, progress,
// dedupe, idempotency, Retry, listing and deletion.

#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/json/parse.hpp>

#include "jobs_test_base.hpp"

namespace plyr::jobs::testing {
namespace {

namespace sdb = ::plyr::storage::db;

constexpr std::int64_t kSecond = 1'000'000;

class QueueDbTest : public JobsDbTest {
  protected:
    ClaimedJob MustClaim(const std::vector<std::string>& types = {"t"}, std::string_view worker = "w1",
                         std::chrono::microseconds lease = 60s) {
        auto r = Claim(db(), worker, types, lease, clock_);
        EXPECT_TRUE(r) << r.error().ToString();
        EXPECT_TRUE(r && r->has_value()) << "nothing claimed";
        return (r && *r) ? **r : ClaimedJob{};
    }
    bool NothingToClaim(const std::vector<std::string>& types = {"t"}) {
        auto r = Claim(db(), "w", types, 60s, clock_);
        EXPECT_TRUE(r) << r.error().ToString();
        return r && !r->has_value();
    }

    core::ManualClock clock_;
};

TEST_P(QueueDbTest, EnqueueInsideRolledBackTransactionLeavesNoJob) {
    std::string id;
    auto st = db().Write([&](sdb::Connection& tx) -> Status {
        auto r = Enqueue(tx, Spec(), clock_);
        if (!r) return Fail(std::move(r.error()));
        id = r->id;
        return Fail(ErrorCode::kInvalidArgument, "the domain write failed");
    });
    ASSERT_FALSE(st);
    ASSERT_FALSE(id.empty());
    auto got = Get(db(), id);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code, ErrorCode::kNotFound);
    auto all = List(db(), {});
    ASSERT_TRUE(all) << all.error().ToString();
    EXPECT_TRUE(all->empty());
    EXPECT_TRUE(NothingToClaim());
}

TEST_P(QueueDbTest, EnqueueCommitsTogetherWithTheCallersTransaction) {
    std::string id;
    auto st = db().Write([&](sdb::Connection& tx) -> Status {
        auto r = Enqueue(tx, Spec("t", R"({"track": 7, "name": "x"})"), clock_);
        if (!r) return Fail(std::move(r.error()));
        id = r->id;
        EXPECT_FALSE(r->existing);
        // The job is visible inside the same transaction before commit.
        auto inside = Get(tx, id);
        EXPECT_TRUE(inside) << inside.error().ToString();
        return Ok();
    });
    ASSERT_TRUE(st) << st.error().ToString();
    JobView v = MustGet(id);
    EXPECT_EQ(v.id, id);
    EXPECT_EQ(v.type, "t");
    EXPECT_EQ(v.status, JobStatus::kPending);
    EXPECT_EQ(v.attempts, 0);
    EXPECT_EQ(v.max_attempts, 3);
    EXPECT_EQ(v.created_at, clock_.NowMicros());
    EXPECT_EQ(v.run_after, clock_.NowMicros());
    EXPECT_EQ(boost::json::parse(v.payload_json), boost::json::parse(R"({"track":7,"name":"x"})"));
    EXPECT_FALSE(v.result_json);
    EXPECT_FALSE(v.completed_at);
}

TEST_P(QueueDbTest, EnqueueTakesACallerChosenIdOnce) {
    JobSpec spec = Spec();
    spec.id = "0b6f3a2e-9c1d-4e5f-8a7b-112233445566";
    auto first = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_EQ(first->id, *spec.id);
    EXPECT_FALSE(first->existing);
    auto view = Get(db(), *spec.id);
    ASSERT_TRUE(view);
    EXPECT_EQ(view->status, JobStatus::kPending);
    auto again = Enqueue(db(), spec, clock_);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
    for (const char* bad : {"0B6F3A2E-9C1D-4E5F-8A7B-112233445566", "not-a-uuid", ""}) {
        spec.id = bad;
        auto refused = Enqueue(db(), spec, clock_);
        ASSERT_FALSE(refused) << bad;
        EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument) << bad;
    }
}

TEST_P(QueueDbTest, EnqueueRejectsBadTypeJsonAndAttempts) {
    auto bad_type = Enqueue(db(), Spec("Upload Job"), clock_);
    ASSERT_FALSE(bad_type);
    EXPECT_EQ(bad_type.error().code, ErrorCode::kInvalidArgument);
    auto bad_json = Enqueue(db(), Spec("t", "{not json"), clock_);
    ASSERT_FALSE(bad_json);
    EXPECT_EQ(bad_json.error().code, ErrorCode::kInvalidArgument);
    JobSpec zero = Spec();
    zero.max_attempts = 0;
    auto bad_attempts = Enqueue(db(), zero, clock_);
    ASSERT_FALSE(bad_attempts);
    EXPECT_EQ(bad_attempts.error().code, ErrorCode::kInvalidArgument);
    auto too_big = Enqueue(db(), Spec("t", "\"" + std::string(kMaxPayloadBytes, 'a') + "\""), clock_);
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().code, ErrorCode::kTooLarge);
}

TEST_P(QueueDbTest, ClaimThenCompleteStoresResultAndEndsTheLease) {
    const std::string id = MustEnqueue(Spec("t", R"({"n":1})"), clock_);
    ClaimedJob job = MustClaim({"t"}, "worker-a");
    EXPECT_EQ(job.id, id);
    EXPECT_EQ(job.type, "t");
    EXPECT_EQ(job.attempt, 1);
    EXPECT_EQ(job.max_attempts, 3);
    EXPECT_EQ(job.lease_until, clock_.NowMicros() + 60 * kSecond);
    EXPECT_EQ(job.lease_owner.rfind("worker-a#", 0), 0u) << job.lease_owner;
    EXPECT_EQ(boost::json::parse(job.payload_json), boost::json::parse(R"({"n":1})"));

    JobView running = MustGet(id);
    EXPECT_EQ(running.status, JobStatus::kRunning);
    EXPECT_EQ(running.lease_owner, job.lease_owner);
    EXPECT_EQ(running.heartbeat_at, clock_.NowMicros());
    EXPECT_TRUE(NothingToClaim()) << "a running job must not be claimed again";

    clock_.Advance(2 * kSecond);
    auto st = Complete(db(), id, job.lease_owner, R"({"track_id": 42})", {"pds_publish_deferred"}, clock_);
    ASSERT_TRUE(st) << st.error().ToString();
    JobView done = MustGet(id);
    EXPECT_EQ(done.status, JobStatus::kCompleted);
    ASSERT_TRUE(done.result_json);
    EXPECT_EQ(boost::json::parse(*done.result_json), boost::json::parse(R"({"track_id":42})"));
    EXPECT_EQ(done.progress_pct, 100);
    EXPECT_EQ(done.warnings, std::vector<std::string>{"pds_publish_deferred"});
    EXPECT_EQ(done.completed_at, clock_.NowMicros());
    EXPECT_FALSE(done.lease_until);
    EXPECT_EQ(done.attempts, 1);
    EXPECT_EQ(PublicStatus(done.status), "completed");

    // A second completion (a duplicate delivery) is refused: the job is no longer running under that lease.
    auto again = Complete(db(), id, job.lease_owner, "{}", {}, clock_);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kConflict);
    EXPECT_EQ(again.error().message, "lease_lost");
}

TEST_P(QueueDbTest, ClaimSkipsJobsNotYetDueAndOfOtherTypes) {
    JobSpec later = Spec("t");
    later.run_after = clock_.NowMicros() + 10 * kSecond;
    const std::string later_id = MustEnqueue(later, clock_);
    const std::string other_id = MustEnqueue(Spec("other"), clock_);
    EXPECT_TRUE(NothingToClaim({"t"}));
    ClaimedJob other = MustClaim({"other", "more"});
    EXPECT_EQ(other.id, other_id);
    clock_.Advance(10 * kSecond);
    EXPECT_EQ(MustClaim({"t"}).id, later_id);
}

TEST_P(QueueDbTest, ClaimTakesTheEarliestDueJobFirst) {
    JobSpec b = Spec();
    b.run_after = clock_.NowMicros() - 5 * kSecond;
    const std::string first_created = MustEnqueue(Spec(), clock_);
    clock_.Advance(1);
    const std::string second_created = MustEnqueue(Spec(), clock_);
    const std::string earliest = MustEnqueue(b, clock_);
    EXPECT_EQ(MustClaim().id, earliest);
    EXPECT_EQ(MustClaim().id, first_created);
    EXPECT_EQ(MustClaim().id, second_created);
    EXPECT_TRUE(NothingToClaim());
}

TEST_P(QueueDbTest, ClaimRequiresAtLeastOneValidType) {
    auto none = Claim(db(), "w", {}, 60s, clock_);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);
    auto bad = Claim(db(), "w", {"x'; DROP TABLE jobs; --"}, 60s, clock_);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

// Two database handles (as two processes would have) × 4 threads claim 200 jobs concurrently: every job is
// claimed exactly once.
TEST_P(QueueDbTest, ConcurrentClaimersNeverShareAJob) {
    constexpr int kJobs = 200;
    std::set<std::string> ids;
    for (int i = 0; i < kJobs; ++i) ids.insert(MustEnqueue(Spec(), clock_));
    auto other = tdb_->OpenAnother();
    ASSERT_TRUE(other) << other.error().ToString();
    std::vector<sdb::Db*> handles{&db(), other->get()};

    std::mutex mu;
    std::map<std::string, int> claims;
    std::atomic<int> errors{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            sdb::Db& handle = *handles[t % 2];
            const std::string worker = "w" + std::to_string(t);
            while (true) {
                auto c = Claim(handle, worker, {"t"}, 60s, clock_);
                if (!c) {
                    ++errors;
                    ADD_FAILURE() << c.error().ToString();
                    return;
                }
                if (!*c) return;
                {
                    std::lock_guard lock(mu);
                    ++claims[(*c)->id];
                }
                auto st = Complete(handle, (*c)->id, (*c)->lease_owner, "", {}, clock_);
                if (!st) {
                    ++errors;
                    ADD_FAILURE() << st.error().ToString();
                }
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    ASSERT_EQ(claims.size(), ids.size());
    for (const auto& [id, n] : claims) {
        EXPECT_TRUE(ids.count(id)) << id;
        EXPECT_EQ(n, 1) << "job " << id << " claimed " << n << " times";
    }
    ListFilter completed;
    completed.status = JobStatus::kCompleted;
    completed.limit = 500;
    auto done = List(db(), completed);
    ASSERT_TRUE(done) << done.error().ToString();
    EXPECT_EQ(done->size(), ids.size());
}

TEST(BackoffTest, CeilingDoublesFromBaseUntilTheCap) {
    RetryPolicy p;
    p.base = 1s;
    p.cap = 10s;
    EXPECT_EQ(BackoffCeilingMicros(p, 0), 1 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 1), 1 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 2), 2 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 3), 4 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 4), 8 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 5), 10 * kSecond);
    EXPECT_EQ(BackoffCeilingMicros(p, 1000), 10 * kSecond);
}

TEST_P(QueueDbTest, RetryableFailuresBackOffExponentiallyWithJitterThenDie) {
    JobSpec spec = Spec();
    spec.max_attempts = 5;
    const std::string id = MustEnqueue(spec, clock_);
    RetryPolicy policy;
    policy.base = 1s;
    policy.cap = 5s;
    std::vector<std::int64_t> ceilings;
    // Deterministic "jitter": three quarters of the ceiling, recording what the queue asked for.
    policy.jitter = [&](std::int64_t ceiling) {
        ceilings.push_back(ceiling);
        return ceiling / 4 * 3;
    };
    std::vector<std::int64_t> delays;
    for (int attempt = 1; attempt <= 4; ++attempt) {
        ClaimedJob job = MustClaim();
        ASSERT_EQ(job.id, id);
        EXPECT_EQ(job.attempt, attempt);
        auto r =
            FailAttempt(db(), id, job.lease_owner, {"upstream_down", "the pds is unavailable", true}, policy, clock_);
        ASSERT_TRUE(r) << r.error().ToString();
        EXPECT_EQ(r->outcome, FailOutcome::kRetryScheduled);
        JobView v = MustGet(id);
        EXPECT_EQ(v.status, JobStatus::kPending);
        EXPECT_EQ(v.run_after, r->run_after);
        EXPECT_EQ(v.error_code, "upstream_down");
        EXPECT_EQ(v.error, "the pds is unavailable");
        EXPECT_FALSE(v.lease_owner);
        delays.push_back(r->run_after - clock_.NowMicros());
        // Not due before its backoff has passed.
        clock_.Advance(delays.back() - 1);
        EXPECT_TRUE(NothingToClaim());
        clock_.Advance(1);
    }
    EXPECT_EQ(ceilings, (std::vector<std::int64_t>{1 * kSecond, 2 * kSecond, 4 * kSecond, 5 * kSecond}));
    EXPECT_EQ(delays, (std::vector<std::int64_t>{750'000, 1'500'000, 3'000'000, 3'750'000}));

    ClaimedJob last = MustClaim();
    EXPECT_EQ(last.attempt, 5);
    auto r = FailAttempt(db(), id, last.lease_owner, {"upstream_down", "the pds is unavailable", true}, policy, clock_);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->outcome, FailOutcome::kDead);
    JobView dead = MustGet(id);
    EXPECT_EQ(dead.status, JobStatus::kDead);
    EXPECT_EQ(dead.attempts, 5);
    EXPECT_EQ(dead.error_code, "upstream_down");
    EXPECT_EQ(dead.error, "the pds is unavailable");
    EXPECT_EQ(dead.completed_at, clock_.NowMicros());
    EXPECT_EQ(PublicStatus(dead.status), "failed");
    clock_.Advance(3600 * kSecond);
    EXPECT_TRUE(NothingToClaim());
}

TEST_P(QueueDbTest, DefaultJitterStaysWithinTheGrowingBounds) {
    JobSpec spec = Spec();
    spec.max_attempts = 6;
    const std::string id = MustEnqueue(spec, clock_);
    RetryPolicy policy;  // base 1 s, cap 5 min, thread-local PRNG
    for (int attempt = 1; attempt <= 5; ++attempt) {
        ClaimedJob job = MustClaim();
        auto r = FailAttempt(db(), id, job.lease_owner, {"e", "m", true}, policy, clock_);
        ASSERT_TRUE(r) << r.error().ToString();
        const std::int64_t delay = r->run_after - clock_.NowMicros();
        EXPECT_GE(delay, 0);
        EXPECT_LE(delay, BackoffCeilingMicros(policy, attempt)) << "attempt " << attempt;
        clock_.Advance(delay);
    }
}

TEST_P(QueueDbTest, NonRetryableFailureFailsAtOnceKeepingTheError) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob job = MustClaim();
    auto r = FailAttempt(db(), id, job.lease_owner, {"audio_unreadable", "the file could not be decoded", false}, {},
                         clock_);
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->outcome, FailOutcome::kFailed);
    JobView v = MustGet(id);
    EXPECT_EQ(v.status, JobStatus::kFailed);
    EXPECT_EQ(v.attempts, 1);
    EXPECT_EQ(v.error_code, "audio_unreadable");
    EXPECT_EQ(v.error, "the file could not be decoded");
    EXPECT_TRUE(v.completed_at);
    EXPECT_TRUE(NothingToClaim());
}

TEST_P(QueueDbTest, ReaperRequeuesExpiredLeasesThenMarksTheLastAttemptDead) {
    JobSpec spec = Spec();
    spec.max_attempts = 2;
    const std::string id = MustEnqueue(spec, clock_);
    ClaimedJob first = MustClaim({"t"}, "w1", 10s);

    clock_.Advance(10 * kSecond);  // lease_until == now: not yet expired
    auto none = ReapExpired(db(), clock_);
    ASSERT_TRUE(none) << none.error().ToString();
    EXPECT_EQ(none->requeued, 0);
    EXPECT_EQ(MustGet(id).status, JobStatus::kRunning);

    clock_.Advance(1);
    auto reaped = ReapExpired(db(), clock_);
    ASSERT_TRUE(reaped) << reaped.error().ToString();
    EXPECT_EQ(reaped->requeued, 1);
    EXPECT_EQ(reaped->dead, 0);
    JobView requeued = MustGet(id);
    EXPECT_EQ(requeued.status, JobStatus::kPending);
    EXPECT_EQ(requeued.attempts, 1);
    EXPECT_EQ(requeued.error_code, "lease_expired");
    EXPECT_FALSE(requeued.lease_owner);

    ClaimedJob second = MustClaim({"t"}, "w2", 10s);
    EXPECT_EQ(second.attempt, 2);
    clock_.Advance(11 * kSecond);
    auto final_reap = ReapExpired(db(), clock_);
    ASSERT_TRUE(final_reap) << final_reap.error().ToString();
    EXPECT_EQ(final_reap->requeued, 0);
    EXPECT_EQ(final_reap->dead, 1);
    JobView dead = MustGet(id);
    EXPECT_EQ(dead.status, JobStatus::kDead);
    EXPECT_EQ(dead.attempts, 2);
    EXPECT_EQ(dead.error_code, "lease_expired");
    EXPECT_EQ(dead.error, "lease expired");
    EXPECT_TRUE(dead.completed_at);
}

TEST_P(QueueDbTest, HeartbeatExtendsTheLeaseSoTheReaperLeavesTheJob) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob job = MustClaim({"t"}, "w1", 60s);
    for (int i = 0; i < 5; ++i) {
        clock_.Advance(50 * kSecond);
        auto until = Heartbeat(db(), id, job.lease_owner, 60s, clock_);
        ASSERT_TRUE(until) << until.error().ToString();
        EXPECT_EQ(*until, clock_.NowMicros() + 60 * kSecond);
        auto reaped = ReapExpired(db(), clock_);
        ASSERT_TRUE(reaped) << reaped.error().ToString();
        EXPECT_EQ(reaped->requeued + reaped->dead, 0);
    }
    JobView v = MustGet(id);
    EXPECT_EQ(v.status, JobStatus::kRunning);
    EXPECT_EQ(v.heartbeat_at, clock_.NowMicros());
    EXPECT_EQ(v.attempts, 1);
}

TEST_P(QueueDbTest, LostLeaseRefusesHeartbeatProgressCompleteAndFail) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob old_worker = MustClaim({"t"}, "old", 10s);
    clock_.Advance(11 * kSecond);
    auto reaped = ReapExpired(db(), clock_);
    ASSERT_TRUE(reaped) << reaped.error().ToString();
    ASSERT_EQ(reaped->requeued, 1);
    ClaimedJob new_worker = MustClaim({"t"}, "new", 10s);
    ASSERT_EQ(new_worker.id, id);

    auto hb = Heartbeat(db(), id, old_worker.lease_owner, 10s, clock_);
    ASSERT_FALSE(hb);
    EXPECT_EQ(hb.error().code, ErrorCode::kConflict);
    EXPECT_EQ(hb.error().message, "lease_lost");
    auto progress = ReportProgress(db(), id, old_worker.lease_owner, {"late", 50, "", std::nullopt}, clock_);
    ASSERT_FALSE(progress);
    EXPECT_EQ(progress.error().code, ErrorCode::kConflict);
    auto complete = Complete(db(), id, old_worker.lease_owner, R"({"from":"old"})", {}, clock_);
    ASSERT_FALSE(complete);
    EXPECT_EQ(complete.error().code, ErrorCode::kConflict);
    auto fail = FailAttempt(db(), id, old_worker.lease_owner, {"x", "y", false}, {}, clock_);
    ASSERT_FALSE(fail);
    EXPECT_EQ(fail.error().code, ErrorCode::kConflict);

    JobView still = MustGet(id);
    EXPECT_EQ(still.status, JobStatus::kRunning);
    EXPECT_EQ(still.lease_owner, new_worker.lease_owner);
    ASSERT_TRUE(Complete(db(), id, new_worker.lease_owner, R"({"from":"new"})", {}, clock_));
    JobView done = MustGet(id);
    EXPECT_EQ(done.status, JobStatus::kCompleted);
    EXPECT_EQ(boost::json::parse(*done.result_json), boost::json::parse(R"({"from":"new"})"));
}

TEST_P(QueueDbTest, SameWorkerIdGetsADistinctLeaseTokenPerClaim) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob first = MustClaim({"t"}, "same-worker", 10s);
    clock_.Advance(11 * kSecond);
    ASSERT_TRUE(ReapExpired(db(), clock_));
    ClaimedJob second = MustClaim({"t"}, "same-worker", 10s);
    ASSERT_EQ(second.id, id);
    EXPECT_NE(first.lease_owner, second.lease_owner);
    // A stale thread of the same worker process cannot complete the re-claimed job.
    EXPECT_FALSE(Complete(db(), id, first.lease_owner, "", {}, clock_));
}

TEST_P(QueueDbTest, ProgressIsReadableThroughGet) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob job = MustClaim();
    clock_.Advance(kSecond);
    ASSERT_TRUE(ReportProgress(db(), id, job.lease_owner, {"transcoding", 40, "encoding mp3", std::nullopt}, clock_));
    JobView v = MustGet(id);
    EXPECT_EQ(v.phase, "transcoding");
    EXPECT_EQ(v.progress_pct, 40);
    EXPECT_EQ(v.message, "encoding mp3");
    EXPECT_TRUE(v.warnings.empty());
    EXPECT_EQ(v.heartbeat_at, clock_.NowMicros());
    EXPECT_EQ(v.updated_at, clock_.NowMicros());
    EXPECT_EQ(PublicStatus(v.status), "processing");

    ASSERT_TRUE(ReportProgress(db(), id, job.lease_owner,
                               {"publishing", 250, "", std::vector<std::string>{"pds_publish_deferred"}}, clock_));
    v = MustGet(id);
    EXPECT_EQ(v.phase, "publishing");
    EXPECT_EQ(v.progress_pct, 100) << "percent is clamped";
    EXPECT_EQ(v.warnings, std::vector<std::string>{"pds_publish_deferred"});
}

TEST_P(QueueDbTest, DedupeKeyReturnsTheLiveJobUntilItFinishes) {
    JobSpec spec = Spec();
    spec.dedupe_key = "sync:did:plc:abc";
    auto first = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_FALSE(first->existing);
    auto second = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(second) << second.error().ToString();
    EXPECT_TRUE(second->existing);
    EXPECT_EQ(second->id, first->id);

    ClaimedJob job = MustClaim();
    auto while_running = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(while_running);
    EXPECT_EQ(while_running->id, first->id) << "running jobs are live too";

    ASSERT_TRUE(Complete(db(), job.id, job.lease_owner, "", {}, clock_));
    auto after = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(after) << after.error().ToString();
    EXPECT_FALSE(after->existing);
    EXPECT_NE(after->id, first->id);
}

TEST_P(QueueDbTest, DedupeConflictKeepsTheCallersTransactionUsable) {
    JobSpec spec = Spec();
    spec.dedupe_key = "k";
    const std::string first = MustEnqueue(spec, clock_);
    std::string other;
    auto st = db().Write([&](sdb::Connection& tx) -> Status {
        auto again = Enqueue(tx, spec, clock_);
        if (!again) return Fail(std::move(again.error()));
        EXPECT_EQ(again->id, first);
        // On PostgreSQL a failed statement would abort the transaction; the next write must still work.
        auto next = Enqueue(tx, Spec("u"), clock_);
        if (!next) return Fail(std::move(next.error()));
        other = next->id;
        return Ok();
    });
    ASSERT_TRUE(st) << st.error().ToString();
    EXPECT_EQ(MustGet(other).type, "u");
}

TEST_P(QueueDbTest, IdempotencyKeyReturnsTheSameJobForTheSameOwner) {
    JobSpec spec = Spec();
    spec.owner_did = "did:plc:alice";
    spec.idempotency_key = "upload-123";
    const std::string first = MustEnqueue(spec, clock_);
    ClaimedJob job = MustClaim();
    ASSERT_TRUE(Complete(db(), job.id, job.lease_owner, "", {}, clock_));
    auto again = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_TRUE(again->existing);
    EXPECT_EQ(again->id, first) << "idempotency holds after completion too";

    spec.owner_did = "did:plc:bob";
    auto other_owner = Enqueue(db(), spec, clock_);
    ASSERT_TRUE(other_owner);
    EXPECT_FALSE(other_owner->existing);

    JobSpec no_owner = Spec();
    no_owner.idempotency_key = "x";
    auto refused = Enqueue(db(), no_owner, clock_);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(QueueDbTest, RetryRequeuesADeadJobWithFreshAttempts) {
    JobSpec spec = Spec();
    spec.max_attempts = 1;
    const std::string id = MustEnqueue(spec, clock_);
    ClaimedJob job = MustClaim();
    auto r = FailAttempt(db(), id, job.lease_owner, {"boom", "it broke", true}, {}, clock_);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->outcome, FailOutcome::kDead);

    clock_.Advance(kSecond);
    auto retried = Retry(db(), id, clock_);
    ASSERT_TRUE(retried) << retried.error().ToString();
    EXPECT_EQ(retried->status, JobStatus::kPending);
    EXPECT_EQ(retried->attempts, 0);
    EXPECT_EQ(retried->run_after, clock_.NowMicros());
    EXPECT_FALSE(retried->error_code);
    EXPECT_FALSE(retried->completed_at);
    ClaimedJob again = MustClaim();
    EXPECT_EQ(again.id, id);
    EXPECT_EQ(again.attempt, 1);
}

TEST_P(QueueDbTest, RetryRefusesJobsThatAreNotFailedOrDead) {
    const std::string id = MustEnqueue(Spec(), clock_);
    auto pending = Retry(db(), id, clock_);
    ASSERT_FALSE(pending);
    EXPECT_EQ(pending.error().code, ErrorCode::kConflict);
    EXPECT_EQ(pending.error().message, "not_retryable");
    ClaimedJob job = MustClaim();
    EXPECT_EQ(Retry(db(), id, clock_).error().message, "not_retryable");
    ASSERT_TRUE(Complete(db(), id, job.lease_owner, "", {}, clock_));
    EXPECT_EQ(Retry(db(), id, clock_).error().message, "not_retryable");

    auto unknown = Retry(db(), "00000000-0000-4000-8000-000000000000", clock_);
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
    auto malformed = Retry(db(), "not-a-uuid", clock_);
    ASSERT_FALSE(malformed);
    EXPECT_EQ(malformed.error().code, ErrorCode::kNotFound);
}

TEST_P(QueueDbTest, RetryRefusesWhileAnotherLiveJobHoldsTheDedupeKey) {
    JobSpec spec = Spec();
    spec.dedupe_key = "export:did:plc:a";
    const std::string failed_id = MustEnqueue(spec, clock_);
    ClaimedJob job = MustClaim();
    ASSERT_TRUE(FailAttempt(db(), failed_id, job.lease_owner, {"x", "y", false}, {}, clock_));
    const std::string live_id = MustEnqueue(spec, clock_);
    ASSERT_NE(live_id, failed_id);
    auto retried = Retry(db(), failed_id, clock_);
    ASSERT_FALSE(retried);
    EXPECT_EQ(retried.error().code, ErrorCode::kConflict);
    EXPECT_EQ(retried.error().message, "not_retryable");
    EXPECT_EQ(MustGet(failed_id).status, JobStatus::kFailed);
}

TEST_P(QueueDbTest, ReleaseGivesTheJobBackWithoutCountingTheAttempt) {
    const std::string id = MustEnqueue(Spec(), clock_);
    ClaimedJob job = MustClaim();
    ASSERT_TRUE(Release(db(), id, job.lease_owner, clock_));
    JobView v = MustGet(id);
    EXPECT_EQ(v.status, JobStatus::kPending);
    EXPECT_EQ(v.attempts, 0);
    EXPECT_FALSE(v.lease_owner);
    EXPECT_EQ(MustClaim().attempt, 1);
    EXPECT_EQ(Release(db(), id, job.lease_owner, clock_).error().code, ErrorCode::kConflict);
}

TEST_P(QueueDbTest, ListFiltersByStatusTypeAndOwnerNewestFirst) {
    JobSpec a = Spec("upload");
    a.owner_did = "did:plc:a";
    const std::string a1 = MustEnqueue(a, clock_);
    clock_.Advance(1);
    const std::string a2 = MustEnqueue(a, clock_);
    clock_.Advance(1);
    JobSpec b = Spec("export");
    b.owner_did = "did:plc:b";
    const std::string b1 = MustEnqueue(b, clock_);
    ClaimedJob running = MustClaim({"export"});

    auto all = List(db(), {});
    ASSERT_TRUE(all) << all.error().ToString();
    ASSERT_EQ(all->size(), 3u);
    EXPECT_EQ((*all)[0].id, b1);
    EXPECT_EQ((*all)[1].id, a2);
    EXPECT_EQ((*all)[2].id, a1);

    ListFilter by_owner;
    by_owner.owner_did = "did:plc:a";
    auto owned = List(db(), by_owner);
    ASSERT_TRUE(owned);
    EXPECT_EQ(owned->size(), 2u);

    ListFilter by_status;
    by_status.status = JobStatus::kRunning;
    auto live = List(db(), by_status);
    ASSERT_TRUE(live);
    ASSERT_EQ(live->size(), 1u);
    EXPECT_EQ(live->front().id, running.id);

    ListFilter by_type_limited;
    by_type_limited.type = "upload";
    by_type_limited.limit = 1;
    auto limited = List(db(), by_type_limited);
    ASSERT_TRUE(limited);
    ASSERT_EQ(limited->size(), 1u);
    EXPECT_EQ(limited->front().id, a2);
}

TEST_P(QueueDbTest, DeleteTerminalBeforeRemovesOnlyOldFinishedJobs) {
    const std::string old_done = MustEnqueue(Spec(), clock_);
    ClaimedJob j1 = MustClaim();
    ASSERT_TRUE(Complete(db(), old_done, j1.lease_owner, "", {}, clock_));
    const std::string old_pending = MustEnqueue(Spec("later"), clock_);
    const std::int64_t cutoff = clock_.NowMicros() + 1;
    clock_.Advance(kSecond);
    const std::string recent_done = MustEnqueue(Spec(), clock_);
    ClaimedJob j2 = MustClaim();
    ASSERT_TRUE(Complete(db(), recent_done, j2.lease_owner, "", {}, clock_));

    auto deleted = db().WriteValue<std::int64_t>([&](sdb::Connection& tx) { return DeleteTerminalBefore(tx, cutoff); });
    ASSERT_TRUE(deleted) << deleted.error().ToString();
    EXPECT_EQ(*deleted, 1);
    EXPECT_EQ(Get(db(), old_done).error().code, ErrorCode::kNotFound);
    EXPECT_EQ(MustGet(old_pending).status, JobStatus::kPending);
    EXPECT_EQ(MustGet(recent_done).status, JobStatus::kCompleted);
}

TEST_P(QueueDbTest, GetAcceptsUppercaseIdsAndTreatsMalformedIdsAsUnknown) {
    const std::string id = MustEnqueue(Spec(), clock_);
    std::string upper = id;
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto got = Get(db(), upper);
    ASSERT_TRUE(got) << got.error().ToString();
    EXPECT_EQ(got->id, id);
    for (const char* bad : {"", "1", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "'; DROP TABLE jobs; --"}) {
        auto r = Get(db(), bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_EQ(r.error().code, ErrorCode::kNotFound) << bad;
    }
}

PLYR_JOBS_INSTANTIATE(QueueDbTest);

}  // namespace
}  // namespace plyr::jobs::testing
