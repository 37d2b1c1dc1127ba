#include "jobs/worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"

namespace plyr::jobs {

// State of one running job shared between its handler (through JobContext) and the maintenance thread.
struct JobContext::Shared {
    std::string id;
    std::string type;
    std::string lease_owner;
    std::atomic<std::int64_t> lease_until{0};
    std::atomic<bool> lost{false};
    // Set once the handler returned: the runner is ending the lease itself, heartbeats leave the job alone.
    std::atomic<bool> finishing{false};
};

namespace {

using std::chrono::steady_clock;

std::string DefaultWorkerId() {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
    return fmt::format("{}:{}:{}", host, static_cast<long>(getpid()), core::RandomHex(3));
}

// Errors that describe a transient condition: the attempt is retried (with backoff) until max_attempts.
bool RetryableByDefault(ErrorCode code) {
    switch (code) {
        case ErrorCode::kBusy:
        case ErrorCode::kUnavailable:
        case ErrorCode::kTimeout:
        case ErrorCode::kIo:
        case ErrorCode::kInternal:
        case ErrorCode::kProtocol:
        case ErrorCode::kCancelled:
            return true;
        default:
            return false;
    }
}

bool Transient(const Error& e) {
    return e.code == ErrorCode::kBusy || e.code == ErrorCode::kUnavailable || e.code == ErrorCode::kTimeout;
}

// Runs a queue write that ends an attempt; a busy/unavailable database gets two more tries before the lease
// is left to expire (the reaper then re-runs the job).
template <typename F>
auto WithRetries(F&& fn) {
    auto result = fn();
    for (int i = 1; i < 3 && !result && Transient(result.error()); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100 * i));
        result = fn();
    }
    return result;
}

}  // namespace

// ---------------------------------------------------------------------------------------------- JobContext

JobContext::JobContext(WorkerPool& pool, ClaimedJob job, std::shared_ptr<Shared> shared)
    : pool_(pool), job_(std::move(job)), shared_(std::move(shared)) {
    boost::system::error_code ec;
    payload_ = boost::json::parse(job_.payload_json, ec);
    if (ec) payload_ = nullptr;
}

db::Db& JobContext::database() const { return pool_.db_; }
const core::Clock& JobContext::clock() const { return pool_.clock_; }

Status JobContext::Progress(std::string phase, int pct, std::string message) {
    pct = std::clamp(pct, 0, 100);
    if (!warnings_dirty_ && phase == last_phase_ && pct == last_pct_ && message == last_message_) return Ok();
    jobs::Progress progress{phase, pct, message, std::nullopt};
    if (warnings_dirty_) progress.warnings = warnings_;
    auto st = ReportProgress(pool_.db_, job_.id, job_.lease_owner, progress, pool_.clock_);
    if (!st) {
        if (st.error().code == ErrorCode::kConflict) shared_->lost.store(true);
        return st;
    }
    last_phase_ = std::move(phase);
    last_pct_ = pct;
    last_message_ = std::move(message);
    warnings_dirty_ = false;
    return Ok();
}

void JobContext::AddWarning(std::string code) {
    if (std::find(warnings_.begin(), warnings_.end(), code) != warnings_.end()) return;
    warnings_.push_back(std::move(code));
    warnings_dirty_ = true;
}

void JobContext::SetResult(std::string result_json) { result_json_ = std::move(result_json); }
void JobContext::SetResult(const boost::json::value& result) { result_json_ = boost::json::serialize(result); }

bool JobContext::Cancelled() const { return shared_->lost.load() || pool_.cancel_all_.load(); }
bool JobContext::Stopping() const { return pool_.stopping_flag_.load(); }

Status JobContext::FailWith(std::string error_code, std::string message, bool retryable) {
    failure_ = FailureInfo{error_code, message, retryable};
    return Fail(retryable ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument, std::move(message),
                std::move(error_code));
}

// ---------------------------------------------------------------------------------------------- WorkerPool

WorkerPool::WorkerPool(db::Db& db, const core::Clock& clock, Options options)
    : db_(db), clock_(clock), options_(std::move(options)) {
    if (options_.worker_id.empty()) options_.worker_id = DefaultWorkerId();
}

WorkerPool::~WorkerPool() { Stop(std::chrono::milliseconds(0)); }

Status WorkerPool::Register(std::string type, Handler handler, TypeOptions options) {
    std::lock_guard lock(mu_);
    if (started_ || stopping_) return Fail(ErrorCode::kInvalidArgument, "register job handlers before Start()");
    if (!IsValidJobType(type)) return Fail(ErrorCode::kInvalidArgument, "invalid job type", type);
    if (!handler) return Fail(ErrorCode::kInvalidArgument, "job handler is empty", type);
    if (handlers_.count(type) != 0) return Fail(ErrorCode::kAlreadyExists, "job type already registered", type);
    handlers_.emplace(std::move(type), Registration{std::move(handler), std::move(options)});
    return Ok();
}

Status WorkerPool::AddRecurring(std::string type, std::chrono::milliseconds interval, std::string payload_json) {
    std::lock_guard lock(mu_);
    if (started_ || stopping_) return Fail(ErrorCode::kInvalidArgument, "add recurring jobs before Start()");
    if (!IsValidJobType(type)) return Fail(ErrorCode::kInvalidArgument, "invalid job type", type);
    if (interval.count() <= 0) return Fail(ErrorCode::kInvalidArgument, "recurring interval must be positive");
    boost::system::error_code ec;
    (void)boost::json::parse(payload_json, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "recurring job payload is not valid json", ec.message());
    recurring_.push_back(Recurring{std::move(type), interval, std::move(payload_json), steady_clock::now()});
    return Ok();
}

Status WorkerPool::Start() {
    std::lock_guard lock(mu_);
    if (started_ || stopping_) return Fail(ErrorCode::kInvalidArgument, "worker pool already started");
    if (options_.concurrency < 1) return Fail(ErrorCode::kInvalidArgument, "worker concurrency must be at least 1");
    if (options_.lease.count() <= 0 || options_.heartbeat_interval.count() <= 0 ||
        options_.heartbeat_interval >= options_.lease) {
        return Fail(ErrorCode::kInvalidArgument, "heartbeat interval must be positive and shorter than the lease");
    }
    if (options_.poll_interval.count() <= 0) return Fail(ErrorCode::kInvalidArgument, "poll interval must be positive");
    if (options_.reap_interval.count() < 0) return Fail(ErrorCode::kInvalidArgument, "reap interval is negative");

    claim_types_.clear();
    for (const auto& [type, reg] : handlers_) {
        if (options_.types.empty() ||
            std::find(options_.types.begin(), options_.types.end(), type) != options_.types.end()) {
            claim_types_.push_back(type);
        }
    }
    for (const auto& wanted : options_.types) {
        if (handlers_.count(wanted) == 0) log::Warn("job_type_without_handler", {{"type", wanted}});
    }
    started_ = true;
    log::Info("job_workers_started", {{"worker_id", options_.worker_id},
                                      {"concurrency", claim_types_.empty() ? 0 : options_.concurrency},
                                      {"types", fmt::format("{}", fmt::join(claim_types_, ","))}});
    // Without a type to claim the pool still heartbeats nothing but reaps and schedules recurring jobs.
    if (!claim_types_.empty()) {
        for (int i = 0; i < options_.concurrency; ++i) workers_.emplace_back([this] { WorkerLoop(); });
    }
    maintenance_ = std::thread([this] { MaintenanceLoop(); });
    return Ok();
}

void WorkerPool::Stop(std::chrono::milliseconds deadline) {
    {
        std::unique_lock lock(mu_);
        if (!started_ || stopping_) return;
        stopping_ = true;
        stopping_flag_.store(true);
        ++wake_generation_;
        work_cv_.notify_all();
        idle_cv_.wait_for(lock, deadline, [this] { return active_.empty(); });
        if (!active_.empty()) {
            log::Warn("job_workers_cancelling", {{"running", static_cast<std::int64_t>(active_.size())}});
        }
    }
    cancel_all_.store(true);
    for (auto& t : workers_) t.join();
    workers_.clear();
    {
        std::lock_guard lock(mu_);
        maint_stop_ = true;
    }
    maint_cv_.notify_all();
    if (maintenance_.joinable()) maintenance_.join();
    log::Info("job_workers_stopped", {{"worker_id", options_.worker_id}});
}

void WorkerPool::Notify() {
    {
        std::lock_guard lock(mu_);
        ++wake_generation_;
    }
    work_cv_.notify_one();
}

bool WorkerPool::running() const {
    std::lock_guard lock(mu_);
    return started_ && !stopping_;
}

WorkerPool::Stats WorkerPool::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void WorkerPool::WaitForWork(std::uint64_t& seen, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    // A Notify() that arrived while this thread was claiming counts: claim again at once.
    work_cv_.wait_for(lock, timeout, [&] { return stopping_ || wake_generation_ != seen; });
    seen = wake_generation_;
}

void WorkerPool::WorkerLoop() {
    std::uint64_t seen = 0;
    {
        std::lock_guard lock(mu_);
        seen = wake_generation_;
    }
    int failures = 0;
    const auto lease = std::chrono::duration_cast<std::chrono::microseconds>(options_.lease);
    while (!stopping_flag_.load()) {
        auto claimed = Claim(db_, options_.worker_id, claim_types_, lease, clock_);
        if (!claimed) {
            log::Warn("job_claim_failed", {{"worker_id", options_.worker_id}, {"error", claimed.error().ToString()}});
            // Back off while the database is unavailable instead of spinning on it.
            WaitForWork(seen, options_.poll_interval * (1 << std::min(failures, 4)));
            ++failures;
            continue;
        }
        failures = 0;
        if (!*claimed) {
            WaitForWork(seen, options_.poll_interval);
            continue;
        }
        RunJob(std::move(**claimed));
    }
}

void WorkerPool::RunJob(ClaimedJob job) {
    auto shared = std::make_shared<JobContext::Shared>();
    shared->id = job.id;
    shared->type = job.type;
    shared->lease_owner = job.lease_owner;
    shared->lease_until.store(job.lease_until);

    const Registration* reg = nullptr;
    {
        std::lock_guard lock(mu_);
        ++stats_.claimed;
        auto it = handlers_.find(job.type);
        if (it != handlers_.end()) reg = &it->second;
        if (!stopping_ && reg != nullptr) active_[job.id] = shared;
    }
    if (reg == nullptr || stopping_flag_.load()) {
        // Claimed while Stop() began (or, impossibly, a type without handler): give it back uncounted.
        shared->finishing.store(true);
        auto st = WithRetries([&] { return Release(db_, job.id, job.lease_owner, clock_); });
        if (!st) log::Warn("job_release_failed", {{"job_id", job.id}, {"error", st.error().ToString()}});
        std::lock_guard lock(mu_);
        ++stats_.released;
        active_.erase(job.id);
        idle_cv_.notify_all();
        return;
    }

    log::Info("job_started", {{"job_id", job.id}, {"type", job.type}, {"attempt", job.attempt}});
    JobContext ctx(*this, std::move(job), shared);
    Status outcome;
    bool threw = false;
    // The per-job runner is where an exception escaping a handler stops: the attempt fails, the worker lives.
    try {
        outcome = reg->handler(ctx);
    } catch (const std::exception& e) {
        threw = true;
        log::Error("job_handler_threw", {{"job_id", ctx.id()}, {"type", ctx.type()}, {"what", e.what()}});
    } catch (...) {
        threw = true;
        log::Error("job_handler_threw", {{"job_id", ctx.id()}, {"type", ctx.type()}, {"what", "non-std exception"}});
    }
    shared->finishing.store(true);
    Finish(ctx, outcome, threw);

    std::lock_guard lock(mu_);
    active_.erase(ctx.id());
    idle_cv_.notify_all();
}

void WorkerPool::Finish(const JobContext& ctx, const Status& outcome, bool threw) {
    const auto& shared = *ctx.shared_;
    auto lost = [&](const Error& e) {
        log::Warn("job_lease_lost", {{"job_id", ctx.id()}, {"type", ctx.type()}, {"detail", e.detail}});
        std::lock_guard lock(mu_);
        ++stats_.lost;
    };
    if (shared.lost.load()) {
        lost(Error{ErrorCode::kConflict, "lease_lost", "lost before the handler returned; outcome discarded"});
        return;
    }

    if (!threw && outcome) {
        auto st = WithRetries(
            [&] { return Complete(db_, ctx.id(), ctx.job_.lease_owner, ctx.result_json_, ctx.warnings_, clock_); });
        if (!st) {
            if (st.error().code == ErrorCode::kConflict) return lost(st.error());
            log::Error("job_complete_failed", {{"job_id", ctx.id()}, {"error", st.error().ToString()}});
            return;
        }
        log::Info("job_completed", {{"job_id", ctx.id()}, {"type", ctx.type()}, {"attempt", ctx.attempt()}});
        std::lock_guard lock(mu_);
        ++stats_.completed;
        return;
    }

    if (!threw && outcome.error().code == ErrorCode::kCancelled && cancel_all_.load() && !ctx.failure_) {
        auto st = WithRetries([&] { return Release(db_, ctx.id(), ctx.job_.lease_owner, clock_); });
        if (!st) {
            if (st.error().code == ErrorCode::kConflict) return lost(st.error());
            log::Error("job_release_failed", {{"job_id", ctx.id()}, {"error", st.error().ToString()}});
            return;
        }
        log::Info("job_released", {{"job_id", ctx.id()}, {"type", ctx.type()}});
        std::lock_guard lock(mu_);
        ++stats_.released;
        return;
    }

    FailureInfo failure;
    if (threw) {
        failure = FailureInfo{"internal_error", "internal error", true};
    } else if (ctx.failure_) {
        failure = *ctx.failure_;
    } else {
        const Error& e = outcome.error();
        failure = FailureInfo{std::string(ErrorCodeName(e.code)), e.message, RetryableByDefault(e.code)};
        if (!e.detail.empty()) log::Warn("job_error_detail", {{"job_id", ctx.id()}, {"detail", e.detail}});
    }
    const RetryPolicy& policy = handlers_.at(ctx.type()).options.retry;
    auto result =
        WithRetries([&] { return FailAttempt(db_, ctx.id(), ctx.job_.lease_owner, failure, policy, clock_); });
    if (!result) {
        if (result.error().code == ErrorCode::kConflict) return lost(result.error());
        log::Error("job_fail_failed", {{"job_id", ctx.id()}, {"error", result.error().ToString()}});
        return;
    }
    const bool retry = result->outcome == FailOutcome::kRetryScheduled;
    log::Write(retry ? log::Level::kWarn : log::Level::kError, retry ? "job_retry_scheduled" : "job_failed",
               {{"job_id", ctx.id()},
                {"type", ctx.type()},
                {"attempt", ctx.attempt()},
                {"error_code", failure.error_code},
                {"error", failure.message},
                {"status", result->outcome == FailOutcome::kDead     ? "dead"
                           : result->outcome == FailOutcome::kFailed ? "failed"
                                                                     : "pending"}});
    std::lock_guard lock(mu_);
    if (retry) {
        ++stats_.retried;
    } else {
        ++stats_.failed;
    }
}

void WorkerPool::MaintenanceLoop() {
    auto now = steady_clock::now();
    auto next_heartbeat = now + options_.heartbeat_interval;
    auto next_reap = options_.reap_interval.count() > 0 ? now : steady_clock::time_point::max();
    std::unique_lock lock(mu_);
    while (!maint_stop_) {
        auto wake = std::min(next_heartbeat, next_reap);
        for (const auto& r : recurring_) wake = std::min(wake, r.next_check);
        maint_cv_.wait_until(lock, wake, [this] { return maint_stop_; });
        if (maint_stop_) break;
        lock.unlock();
        now = steady_clock::now();
        if (now >= next_heartbeat) {
            HeartbeatAll();
            next_heartbeat = now + options_.heartbeat_interval;
        }
        if (now >= next_reap) {
            ReapOnce();
            next_reap = now + options_.reap_interval;
        }
        EnqueueRecurring(now);
        lock.lock();
    }
}

void WorkerPool::HeartbeatAll() {
    std::vector<std::shared_ptr<JobContext::Shared>> running;
    {
        std::lock_guard lock(mu_);
        for (const auto& [id, shared] : active_) running.push_back(shared);
    }
    const auto lease = std::chrono::duration_cast<std::chrono::microseconds>(options_.lease);
    for (const auto& job : running) {
        if (job->lost.load() || job->finishing.load()) continue;
        auto until = Heartbeat(db_, job->id, job->lease_owner, lease, clock_);
        if (until) {
            job->lease_until.store(*until);
            continue;
        }
        // The runner completed or released the job while this heartbeat was on its way: not a loss.
        if (job->finishing.load()) continue;
        if (until.error().code == ErrorCode::kConflict) {
            job->lost.store(true);
            log::Warn("job_lease_lost", {{"job_id", job->id}, {"type", job->type}, {"detail", "heartbeat refused"}});
            continue;
        }
        log::Warn("job_heartbeat_failed", {{"job_id", job->id}, {"error", until.error().ToString()}});
        // Past our own lease we can no longer prove ownership; another worker may already run the job.
        if (clock_.NowMicros() > job->lease_until.load()) {
            job->lost.store(true);
            log::Warn("job_lease_lost", {{"job_id", job->id}, {"type", job->type}, {"detail", "lease expired"}});
        }
    }
}

void WorkerPool::ReapOnce() {
    auto reaped = ReapExpired(db_, clock_);
    if (!reaped) {
        log::Warn("job_reap_failed", {{"error", reaped.error().ToString()}});
        return;
    }
    if (reaped->requeued == 0 && reaped->dead == 0) return;
    log::Warn("job_leases_expired", {{"requeued", reaped->requeued}, {"dead", reaped->dead}});
    {
        std::lock_guard lock(mu_);
        stats_.reaped += reaped->requeued + reaped->dead;
        ++wake_generation_;
    }
    work_cv_.notify_all();
}

void WorkerPool::EnqueueRecurring(steady_clock::time_point now) {
    // recurring_ is fixed after Start(), so it is read here without the lock.
    for (auto& r : recurring_) {
        if (now < r.next_check) continue;
        r.next_check = now + std::min<std::chrono::milliseconds>(r.interval, std::chrono::minutes(1));
        JobSpec spec;
        spec.type = r.type;
        spec.payload_json = r.payload_json;
        spec.max_attempts = 1;  // the next occurrence is the retry
        spec.dedupe_key = "recurring:" + r.type;
        spec.run_after = clock_.NowMicros() + std::chrono::duration_cast<std::chrono::microseconds>(r.interval).count();
        auto enqueued = Enqueue(db_, spec, clock_);
        if (!enqueued) {
            log::Warn("job_recurring_enqueue_failed", {{"type", r.type}, {"error", enqueued.error().ToString()}});
        } else if (!enqueued->existing) {
            log::Debug("job_recurring_enqueued", {{"type", r.type}, {"job_id", enqueued->id}});
        }
    }
}

}  // namespace plyr::jobs
