#pragma once
// pds::OutboxWorker — drains the outbox (product.md §6.5; docs/outbox.md). Started by `plyr serve` (when
// WORKER_IN_PROCESS) and `plyr worker`.
//
// Contract
// - Claim: due pending entries, and in_flight entries whose lease expired (a crashed worker), are taken with a
//   lease (Options::lease) under a fresh lease_owner token. At most one in_flight entry per DID across all
//   processes (writes to one repository are serialised): a claim skips DIDs with an unexpired in_flight entry;
//   up to Options::concurrency DIDs at once per worker. Oldest due first.
// - Send: the RecordSource of the entry's entity_type builds the record at send time from the DB with the record
//   currently on the PDS (WriteRecordRmw); a put whose entity is gone becomes a delete; deletes are idempotent.
// - Outcomes: success → OnWritten/OnDeleted, done (URI/CID stored on the entry). Transient failures → pending
//   after min(2^attempts s, 1 h) ± 20 % jitter, or Retry-After when that is later; dead after kMaxAttempts.
//   invalid_grant / session_expired / no session → blocked_auth (ReleaseBlocked at the next sign-in).
//   InvalidSwap beyond WriteRecordRmw's own retries → pending, due now, not counted. Other 4xx → dead.
//   A source that is not Ready → pending after kNotReadyDelay, not counted. No source registered for the
//   entity_type → pending after 1 min, not counted (a process without that source must not kill the entry).
//   An entry replaced while in flight (superseded) → pending again, due now, after the outcome above is
//   applied to the entity.
// - Threads: Start() runs a dispatcher thread and `concurrency` sender threads; all blocking work happens on
//   them (never on an I/O thread). Stop(deadline) stops claiming, waits for in-flight sends until the deadline,
//   then joins the threads (a send already talking to the PDS is not interrupted: its XRPC timeouts bound the
//   wait). Claimed entries that never started are given back (pending, due now, not counted). Leases of entries
//   being sent are extended every lease/3, so a slow PDS does not hand the entry to a second worker.
//   DrainOnce() (tests, `plyr worker --once`) claims and sends everything due now on the calling thread and
//   returns how many entries it processed; do not mix it with Start().
// - Logs (`outbox.*`) carry the entry id, DID, collection, rkey, outcome, error class and status — never
//   tokens or record bodies. Metrics: outbox_sent_total{outcome}, outbox_send_seconds.
// Thread-safety: Register before Start; Notify/Stop from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "atproto/xrpc/xrpc_client.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "pds/outbox.hpp"
#include "pds/record_source.hpp"
#include "pds/session_provider.hpp"
#include "storage/db/db.hpp"

namespace plyr::pds {

inline constexpr int kMaxAttempts = 20;
inline constexpr std::chrono::seconds kMaxBackoff{3600};

// min(2^attempts s, 1 h) — attempts = failures so far including this one (1 → 2 s).
std::chrono::microseconds BackoffCeiling(int attempts);
// BackoffCeiling ± 20 %: jitter01 is uniform in [0, 1).
std::chrono::microseconds BackoffWithJitter(int attempts, double jitter01);

struct ClaimedEntry {
    OutboxEntry entry;
    std::string lease_owner;
};

// Claims up to `limit` due entries of distinct DIDs, skipping `busy_dids` and DIDs with a live in_flight entry
// (any process). Exposed for tests and the worker.
Result<std::vector<ClaimedEntry>> ClaimDue(db::Db& db, std::string_view worker_id, int limit,
                                           std::chrono::microseconds lease, std::int64_t now,
                                           const std::set<std::string>& busy_dids = {});

enum class SendOutcome {
    kDone,
    kRetry,        // transient failure: backoff
    kDead,         // rejected or out of attempts
    kBlockedAuth,  // no usable session
    kWaiting,      // dependency not ready / no source: not counted
    kSuperseded,   // replaced while in flight: pending again at once
    kLeaseLost,    // the entry was taken over (lease expired): nothing recorded
};
std::string_view ToString(SendOutcome outcome);

class OutboxWorker {
  public:
    struct Options {
        int concurrency = 8;  // OUTBOX_CONCURRENCY: DIDs in flight at once in this process
        std::chrono::microseconds lease = std::chrono::seconds(30);
        std::chrono::milliseconds poll_interval{1000};
        std::string worker_id;  // default "<hostname>:<pid>"
        // Uniform in [0, 1); unset = a PRNG. Tests make backoff deterministic.
        std::function<double()> jitter;
    };

    OutboxWorker(db::Db& db, SessionProvider& sessions, const core::Clock& clock, Options options);
    ~OutboxWorker();
    OutboxWorker(const OutboxWorker&) = delete;
    OutboxWorker& operator=(const OutboxWorker&) = delete;

    void Register(std::string entity_type, RecordSource& source);
    RecordSourceRegistry& sources() { return sources_; }

    void Start();
    // Wakes the dispatcher (after a commit that enqueued something).
    void Notify();
    void Stop(std::chrono::steady_clock::time_point deadline);
    bool running() const { return running_.load(); }

    // Claims and sends due entries on the calling thread until none is due; returns how many were processed.
    Result<int> DrainOnce();

    // Sends one claimed entry and records its outcome (exposed for tests).
    SendOutcome Send(const ClaimedEntry& claimed);

    // Outcome counts since construction (logs and tests; the lead can export them as metrics).
    struct Counters {
        std::atomic<std::int64_t> done{0}, retry{0}, dead{0}, blocked_auth{0}, waiting{0}, superseded{0}, lease_lost{0};
    };
    const Counters& counters() const { return counters_; }

  private:
    void DispatchLoop();
    void SenderLoop();
    void Heartbeat();
    void GiveBack(const std::vector<ClaimedEntry>& entries);
    SendOutcome Record(const ClaimedEntry& claimed, SendOutcome outcome, const std::string& sql_set,
                       std::vector<storage::db::Value> params, const std::optional<std::string>& uri = std::nullopt,
                       const std::optional<std::string>& cid = std::nullopt);
    SendOutcome Failure(const ClaimedEntry& claimed, const atproto::xrpc::XrpcError& error);
    SendOutcome Wait(const ClaimedEntry& claimed, std::chrono::microseconds delay, std::string_view why);
    double Jitter();

    db::Db& db_;
    SessionProvider& sessions_;
    const core::Clock& clock_;
    Options options_;
    RecordSourceRegistry sources_;
    Counters counters_;

    std::atomic<bool> running_{false};
    std::mutex mutex_;
    std::condition_variable wake_;  // dispatcher: notify, a freed slot, stop
    std::condition_variable work_;  // senders: a queued entry, stop
    std::condition_variable idle_;  // Stop: the last send finished
    bool stop_ = false;
    bool notified_ = false;
    std::deque<ClaimedEntry> queue_;
    std::vector<ClaimedEntry> active_;  // queued or sending (heartbeats)
    std::set<std::string> busy_dids_;   // DIDs this process is sending for
    std::thread dispatcher_;
    std::vector<std::thread> senders_;
    std::mutex jitter_mutex_;
    std::mt19937_64 rng_;
};

}  // namespace plyr::pds
