#pragma once
// jobs::WorkerPool — runs queued jobs on threads of its own (product.md §6.16; docs/jobs.md).
//
// Contract
// - Handlers are BLOCKING functions `Status(JobContext&)`, registered per job type before Start(), run on the
//   pool's threads (never on an I/O thread). The pool only claims types it has handlers for (intersected with
//   Options::types when that is set), so an unknown type is never claimed.
// - Each worker thread loops claim → run → complete/fail. A maintenance thread heartbeats every running job
//   (Options::heartbeat_interval; the lease is Options::lease), flags a job whose lease was lost, runs the
//   reaper (Options::reap_interval) and enqueues recurring jobs (AddRecurring).
// - Outcome of a handler: Ok → completed (result from SetResult). Error → FailAttempt with the error code and
//   retry decision given through JobContext::FailWith, or else derived from the Status (kBusy, kUnavailable,
//   kTimeout, kIo, kInternal, kProtocol, kCancelled retry; other codes fail at once). A handler that throws
//   is caught here (the per-job runner is one of the two places that catch escaping exceptions): the attempt
//   fails retryable with error_code "internal_error" and the exception is logged. A handler that returns
//   kCancelled because Stop() cancelled it gives the job back without counting the attempt (Release).
// - If the lease is lost (reaped after a stall, or the job was taken over) Cancelled() turns true and the
//   handler's outcome is discarded: the job belongs to someone else now.
// - Stop(deadline): stop claiming, let running handlers finish until the deadline, then set Cancelled() on
//   the rest and join. Handlers must poll Cancelled() in long loops; Stop() cannot interrupt one that doesn't.
// - Thread-safety: Register/AddRecurring before Start(); Start/Stop from one controlling thread; Notify() and
//   the accessors from any thread. A JobContext belongs to its handler invocation only.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "jobs/queue.hpp"
#include "storage/db/db.hpp"

namespace plyr::jobs {

class WorkerPool;

class JobContext {
  public:
    JobContext(const JobContext&) = delete;
    JobContext& operator=(const JobContext&) = delete;

    const std::string& id() const { return job_.id; }
    const std::string& type() const { return job_.type; }
    const std::optional<std::string>& owner_did() const { return job_.owner_did; }
    const std::string& payload_json() const { return job_.payload_json; }
    // The payload parsed once (it was validated at enqueue).
    const boost::json::value& payload() const { return payload_; }
    int attempt() const { return job_.attempt; }
    int max_attempts() const { return job_.max_attempts; }
    db::Db& database() const;
    const core::Clock& clock() const;

    // Writes phase/percent/message (readable through jobs::Get at once). Identical consecutive reports are
    // skipped. kConflict "lease_lost" (and Cancelled() turns true) when the job is no longer ours.
    Status Progress(std::string phase, int pct, std::string message = {});
    // Warning codes (e.g. "pds_publish_deferred"), stored with the next Progress and on completion.
    void AddWarning(std::string code);
    // The job's result (JSON), stored on completion.
    void SetResult(std::string result_json);
    void SetResult(const boost::json::value& result);

    // True once the lease is lost or Stop() ran out of patience: return promptly (kCancelled).
    bool Cancelled() const;
    // True while the pool is stopping (no new claims); a handler may use it to checkpoint early.
    bool Stopping() const;

    // Records how this attempt fails: a stable error_code for the API (e.g. "audio_unreadable"), a message safe
    // to show to the owner, and whether the queue should retry. Returns the error Status to hand back.
    Status FailWith(std::string error_code, std::string message, bool retryable);

  private:
    friend class WorkerPool;
    struct Shared;
    JobContext(WorkerPool& pool, ClaimedJob job, std::shared_ptr<Shared> shared);

    WorkerPool& pool_;
    ClaimedJob job_;
    boost::json::value payload_;
    std::shared_ptr<Shared> shared_;
    std::vector<std::string> warnings_;
    bool warnings_dirty_ = false;
    std::string result_json_;
    std::optional<FailureInfo> failure_;
    std::string last_phase_;
    int last_pct_ = -1;
    std::string last_message_;
};

using Handler = std::function<Status(JobContext&)>;

struct TypeOptions {
    RetryPolicy retry;  // backoff for this type's failed attempts
};

class WorkerPool {
  public:
    struct Options {
        int concurrency = 4;             // worker threads; ≥ 1
        std::vector<std::string> types;  // claim only these types (empty = every registered type)
        std::chrono::milliseconds lease = std::chrono::seconds(60);
        std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(10);
        std::chrono::milliseconds poll_interval = std::chrono::milliseconds(250);
        std::chrono::milliseconds reap_interval = std::chrono::seconds(5);  // 0 = this pool does not reap
        std::string worker_id;                                              // empty = "<hostname>:<pid>:<random>"
    };

    struct Stats {
        std::int64_t claimed = 0;
        std::int64_t completed = 0;
        std::int64_t retried = 0;
        std::int64_t failed = 0;  // failed or dead
        std::int64_t released = 0;
        std::int64_t lost = 0;  // lease lost while running
        std::int64_t reaped = 0;
    };

    WorkerPool(db::Db& db, const core::Clock& clock, Options options);
    ~WorkerPool();  // Stop(0) if still running
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    // kAlreadyExists for a second handler of one type; kInvalidArgument for a bad type name or after Start().
    Status Register(std::string type, Handler handler, TypeOptions options = {});
    // Keeps one job of `type` queued to run every `interval`: at most one live job (dedupe_key
    // "recurring:<type>") across every process sharing the database, due `interval` after it was enqueued.
    Status AddRecurring(std::string type, std::chrono::milliseconds interval, std::string payload_json = "{}");

    // kInvalidArgument when already started or options are invalid (concurrency < 1, heartbeat ≥ lease).
    Status Start();
    void Stop(std::chrono::milliseconds deadline);
    // Wakes an idle worker now (after an in-process enqueue has committed) instead of at the next poll.
    void Notify();

    const std::string& worker_id() const { return options_.worker_id; }
    db::Db& database() const { return db_; }
    const core::Clock& clock() const { return clock_; }
    bool running() const;
    Stats stats() const;

  private:
    friend class JobContext;
    struct Registration {
        Handler handler;
        TypeOptions options;
    };
    struct Recurring {
        std::string type;
        std::chrono::milliseconds interval;
        std::string payload_json;
        std::chrono::steady_clock::time_point next_check;
    };

    void WorkerLoop();
    void MaintenanceLoop();
    void RunJob(ClaimedJob job);
    void Finish(const JobContext& ctx, const Status& outcome, bool threw);
    void HeartbeatAll();
    void ReapOnce();
    void EnqueueRecurring(std::chrono::steady_clock::time_point now);
    void WaitForWork(std::uint64_t& seen, std::chrono::milliseconds timeout);

    db::Db& db_;
    const core::Clock& clock_;
    Options options_;
    std::map<std::string, Registration, std::less<>> handlers_;
    std::vector<std::string> claim_types_;
    std::vector<Recurring> recurring_;

    mutable std::mutex mu_;
    std::condition_variable work_cv_;   // workers: new work or stopping
    std::condition_variable idle_cv_;   // Stop(): a running job finished
    std::condition_variable maint_cv_;  // maintenance thread: stop
    bool started_ = false;
    bool stopping_ = false;
    bool maint_stop_ = false;
    std::uint64_t wake_generation_ = 0;
    std::map<std::string, std::shared_ptr<JobContext::Shared>> active_;  // job id → running job
    std::atomic<bool> cancel_all_{false};
    std::atomic<bool> stopping_flag_{false};
    Stats stats_;

    std::vector<std::thread> workers_;
    std::thread maintenance_;
};

}  // namespace plyr::jobs
