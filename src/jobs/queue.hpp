#pragma once
// jobs::queue — the durable job queue in the `jobs` table (product.md §5.2, §6.16; docs/jobs.md).
//
// Contract
// - Every function is BLOCKING (it runs SQL): call it from a worker thread or through net::Offload().
// - Enqueue(Connection&) writes through the caller's transaction, so the job commits or rolls back together
//   with the caller's domain write. Every other function runs its own transaction on the Db.
// - Claim() moves one due `pending` job of the given types to `running`, counts the attempt (attempts + 1
//   at claim time, so a job that crashes its worker every time still ends `dead`) and hands out a lease
//   identified by a fresh lease_owner token ("<worker_id>#<random>"). The lease-holder calls (Heartbeat,
//   ReportProgress, Complete, FailAttempt, Release) take that token and return kConflict with message
//   "lease_lost" when the job is no longer running under it: the caller lost the job and must stop.
// - Timestamps come from the injected Clock (µs since the epoch), never from the database server, so every
//   process sharing a database needs a synchronised clock (NTP); leases are long compared to clock skew.
// - Errors: kInvalidArgument (bad spec, type name or JSON), kNotFound (unknown job id; malformed ids are
//   unknown ids), kConflict ("lease_lost"; Retry of a job that is not failed/dead: "not_retryable"), and the
//   database errors passed through (kBusy, kUnavailable, kTimeout).
// - Thread-safety: free functions over a thread-safe Db; call from any thread.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"

namespace plyr::jobs {

namespace db = ::plyr::storage::db;

enum class JobStatus { kPending, kRunning, kCompleted, kFailed, kDead };

std::string_view ToString(JobStatus status);
std::optional<JobStatus> ParseJobStatus(std::string_view text);
// completed, failed and dead never change again (except through Retry of failed/dead).
bool IsTerminal(JobStatus status);
// The status shown by the HTTP API (product.md §4.2 "Progress event"): running → "processing", dead → "failed".
std::string_view PublicStatus(JobStatus status);

// Job type names: 1..64 characters of [a-z0-9_.-] (they appear in SQL parameters, logs and metrics).
bool IsValidJobType(std::string_view type);

inline constexpr std::size_t kMaxPayloadBytes = 256 * 1024;

struct JobSpec {
    // Caller-chosen id (a lowercase hyphenated UUID), for work that must name the job before it is claimable (an
    // upload hands its file to shared storage under the job id first). Unset = a fresh random UUID. An id that
    // already exists → kAlreadyExists; a malformed one → kInvalidArgument.
    std::optional<std::string> id;
    std::string type;
    std::string payload_json = "{}";  // any valid JSON, ≤ kMaxPayloadBytes
    std::optional<std::string> owner_did;
    int max_attempts = 3;  // ≥ 1; attempts are counted at claim
    // Earliest start (µs since the epoch); unset = now.
    std::optional<std::int64_t> run_after;
    // At most one live (pending or running) job per dedupe_key: enqueueing again returns the live job.
    std::optional<std::string> dedupe_key;
    // With owner_did: enqueueing again with the same (owner_did, idempotency_key) returns that job, whatever
    // its status (a client retrying a request). Best effort on PostgreSQL under concurrent identical requests
    // (the index is not unique); dedupe_key is the strict mechanism.
    std::optional<std::string> idempotency_key;
};

struct Enqueued {
    std::string id;
    bool existing = false;  // true: an existing job matched dedupe_key/idempotency_key; nothing was inserted
};

// Inserts the job through the caller's transaction. A live job with the same dedupe_key (or a job with the same
// owner_did + idempotency_key) is returned instead of inserting. In-process workers can be woken afterwards
// with WorkerPool::Notify() (after the caller's commit); other processes find the job by polling.
Result<Enqueued> Enqueue(db::Connection& tx, const JobSpec& spec, const core::Clock& clock);
// Convenience: Enqueue in a transaction of its own.
Result<Enqueued> Enqueue(db::Db& db, const JobSpec& spec, const core::Clock& clock);

struct ClaimedJob {
    std::string id;
    std::string type;
    std::string payload_json;
    std::optional<std::string> owner_did;
    std::string lease_owner;  // the token every lease-holder call needs
    int attempt = 0;          // 1 for the first run
    int max_attempts = 0;
    std::int64_t lease_until = 0;
};

// Claims the oldest due pending job (ORDER BY run_after, created_at) whose type is in `types` (must be
// non-empty: kInvalidArgument otherwise). PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent claimers never
// wait on or share a row. SQLite: one UPDATE … WHERE id = (SELECT …) inside the single-writer transaction.
// Returns nullopt when nothing is due.
Result<std::optional<ClaimedJob>> Claim(db::Db& db, std::string_view worker_id, const std::vector<std::string>& types,
                                        std::chrono::microseconds lease, const core::Clock& clock);

// Extends the lease to now + lease while the job is still running under lease_owner; returns the new
// lease_until. kConflict "lease_lost" otherwise.
Result<std::int64_t> Heartbeat(db::Db& db, std::string_view id, std::string_view lease_owner,
                               std::chrono::microseconds lease, const core::Clock& clock);

struct Progress {
    std::string phase;
    int pct = 0;  // clamped to 0..100
    std::string message;
    std::optional<std::vector<std::string>> warnings;  // replaces the stored warnings when set
};

// Records progress (readable at once through Get) and refreshes heartbeat_at. kConflict "lease_lost".
Status ReportProgress(db::Db& db, std::string_view id, std::string_view lease_owner, const Progress& progress,
                      const core::Clock& clock);

// running → completed with result (JSON text; empty = null), progress 100 and the warnings; clears the
// lease and any error left by an earlier attempt. kConflict "lease_lost"; kInvalidArgument for bad JSON.
Status Complete(db::Db& db, std::string_view id, std::string_view lease_owner, std::string_view result_json,
                const std::vector<std::string>& warnings, const core::Clock& clock);

// Exponential backoff with full jitter for failed attempts (docs/jobs.md):
//   delay(n) = uniform[0, min(cap, base · 2^(n−1))]   where n = the attempt that just failed (1, 2, …).
struct RetryPolicy {
    std::chrono::microseconds base = std::chrono::seconds(1);
    std::chrono::microseconds cap = std::chrono::minutes(5);
    // Returns a value uniformly distributed in [0, ceiling]. Unset = a thread-local PRNG. Tests inject one.
    std::function<std::int64_t(std::int64_t ceiling)> jitter;
};

// min(cap, base · 2^(attempt−1)) in µs; attempt < 1 is treated as 1.
std::int64_t BackoffCeilingMicros(const RetryPolicy& policy, int attempt);

struct FailureInfo {
    std::string error_code;  // stable, machine-readable (e.g. "audio_unreadable", "internal_error")
    std::string message;     // safe to show to the job's owner
    bool retryable = true;
};

enum class FailOutcome { kRetryScheduled, kFailed, kDead };

struct FailResult {
    FailOutcome outcome = FailOutcome::kFailed;
    std::int64_t run_after = 0;  // kRetryScheduled: when the next attempt becomes due
};

// Ends the current attempt with an error, which is kept in error_code/error in every outcome.
// retryable and attempts < max_attempts → pending again at now + backoff; retryable and no attempts left →
// dead; not retryable → failed. kConflict "lease_lost".
Result<FailResult> FailAttempt(db::Db& db, std::string_view id, std::string_view lease_owner,
                               const FailureInfo& failure, const RetryPolicy& policy, const core::Clock& clock);

// Gives a claimed job back without counting the attempt (graceful shutdown cancelled it): pending, due now.
// kConflict "lease_lost".
Status Release(db::Db& db, std::string_view id, std::string_view lease_owner, const core::Clock& clock);

struct ReapResult {
    int requeued = 0;
    int dead = 0;
};

// Running jobs whose lease_until has passed (their worker died or hung): back to pending (due now) when
// attempts < max_attempts, else dead with error_code "lease_expired", error "lease expired".
Result<ReapResult> ReapExpired(db::Db& db, const core::Clock& clock);

struct JobView {
    std::string id;
    std::string type;
    JobStatus status = JobStatus::kPending;
    std::optional<std::string> owner_did;
    std::string payload_json;
    std::optional<std::string> result_json;
    std::string phase;
    int progress_pct = 0;
    std::string message;
    std::vector<std::string> warnings;
    std::optional<std::string> error_code;
    std::optional<std::string> error;
    int attempts = 0;
    int max_attempts = 0;
    std::int64_t run_after = 0;
    std::optional<std::string> lease_owner;
    std::optional<std::int64_t> lease_until;
    std::optional<std::int64_t> heartbeat_at;
    std::optional<std::string> dedupe_key;
    std::optional<std::string> idempotency_key;
    std::int64_t created_at = 0;
    std::int64_t updated_at = 0;
    std::optional<std::int64_t> completed_at;
};

// kNotFound for an unknown or malformed id.
Result<JobView> Get(db::Db& db, std::string_view id);
Result<JobView> Get(db::Connection& conn, std::string_view id);

struct ListFilter {
    std::optional<JobStatus> status;
    std::optional<std::string> type;
    std::optional<std::string> owner_did;
    int limit = 50;  // clamped to 1..500
};

// Newest first (created_at desc, id desc).
Result<std::vector<JobView>> List(db::Db& db, const ListFilter& filter);

// failed/dead → pending, due now, attempts reset to 0, error/result/progress cleared; returns the job.
// kNotFound; kConflict "not_retryable" for any other status, or when a live job holds the same dedupe_key.
Result<JobView> Retry(db::Db& db, std::string_view id, const core::Clock& clock);

// Deletes completed/failed/dead jobs that finished before cutoff (µs); returns how many. Used by `cleanup`.
Result<std::int64_t> DeleteTerminalBefore(db::Connection& tx, std::int64_t cutoff_micros);

}  // namespace plyr::jobs
