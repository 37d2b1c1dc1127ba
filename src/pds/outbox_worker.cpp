#include "pds/outbox_worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "pds/record_writer.hpp"

namespace plyr::pds {
namespace {

using db::Value;
namespace xrpc = atproto::xrpc;

constexpr std::string_view kColumns =
    "id, did, collection, rkey, op, entity_type, entity_id, status, attempts, next_attempt_at, lease_owner, "
    "lease_until, last_status, last_error, result_uri, result_cid, created_at, updated_at";
constexpr std::chrono::seconds kNoSourceDelay{60};
constexpr std::size_t kMaxErrorText = 500;
constexpr int kClaimScan = 200;  // due rows looked at per claim (distinct DIDs are picked from them)

std::string DefaultWorkerId() {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "unknown");
    return fmt::format("{}:{}", host, static_cast<long>(getpid()));
}

std::string Truncate(std::string text) {
    if (text.size() > kMaxErrorText) text.resize(kMaxErrorText);
    return text;
}

// The parts of an entry a log line may carry (never tokens or record bodies).
std::string Describe(const OutboxEntry& e) {
    return fmt::format("{} {} {}/{}/{}", e.id, ToString(e.op), e.did, e.collection, e.rkey);
}

}  // namespace

std::chrono::microseconds BackoffCeiling(int attempts) {
    const int exponent = std::clamp(attempts, 0, 12);  // 2^12 s > 1 h
    const std::chrono::seconds delay(std::int64_t{1} << exponent);
    return std::min<std::chrono::microseconds>(delay, kMaxBackoff);
}

std::chrono::microseconds BackoffWithJitter(int attempts, double jitter01) {
    const double base = static_cast<double>(BackoffCeiling(attempts).count());
    const double factor = 0.8 + 0.4 * std::clamp(jitter01, 0.0, 1.0);
    return std::chrono::microseconds(static_cast<std::int64_t>(std::llround(base * factor)));
}

std::string_view ToString(SendOutcome outcome) {
    switch (outcome) {
        case SendOutcome::kDone:
            return "done";
        case SendOutcome::kRetry:
            return "retry";
        case SendOutcome::kDead:
            return "dead";
        case SendOutcome::kBlockedAuth:
            return "blocked_auth";
        case SendOutcome::kWaiting:
            return "waiting";
        case SendOutcome::kSuperseded:
            return "superseded";
        case SendOutcome::kLeaseLost:
            return "lease_lost";
    }
    return "retry";
}

Result<std::vector<ClaimedEntry>> ClaimDue(db::Db& db, std::string_view worker_id, int limit,
                                           std::chrono::microseconds lease, std::int64_t now,
                                           const std::set<std::string>& busy_dids) {
    if (limit <= 0) return std::vector<ClaimedEntry>{};
    const bool pg = db.backend() == db::Backend::kPostgres;
    return db.WriteValue<std::vector<ClaimedEntry>>([&](db::Connection& tx) -> Result<std::vector<ClaimedEntry>> {
        // PostgreSQL: claimers in several processes would each see "no in_flight entry for this DID" and both
        // claim one; serialising the (short) claim transactions keeps one in-flight entry per DID. SQLite has a
        // single writer already.
        if (pg) {
            auto locked = tx.Query("SELECT pg_advisory_xact_lock(hashtext('plyr.pds_outbox.claim'), 0)");
            if (!locked) return Fail(std::move(locked.error()));
        }
        // A worker that died mid-send left its lease behind: the entry is sent again (a put at a fixed rkey or a
        // delete, so repeating it is harmless). The lost attempt counts, so a crash loop still ends dead.
        auto expired = tx.Exec(
            "UPDATE pds_outbox SET status = 'pending', attempts = attempts + 1, lease_owner = NULL, lease_until = "
            "NULL, last_error = 'lease expired', updated_at = $1 WHERE status = 'in_flight' AND lease_until <= $1",
            {now});
        if (!expired) return Fail(std::move(expired.error()));
        if (*expired > 0) log::Warn("outbox.lease_expired", {{"entries", *expired}});

        auto rows = tx.Query(fmt::format("SELECT {} FROM pds_outbox o WHERE status = 'pending' AND next_attempt_at "
                                         "<= $1 AND NOT EXISTS (SELECT 1 FROM pds_outbox i WHERE i.did = o.did AND "
                                         "i.status = 'in_flight') ORDER BY next_attempt_at, id LIMIT {}",
                                         kColumns, kClaimScan),
                             {now});
        if (!rows) return Fail(std::move(rows.error()));
        std::vector<ClaimedEntry> out;
        std::set<std::string> taken;
        for (const auto& row : *rows) {
            if (static_cast<int>(out.size()) >= limit) break;
            auto entry = OutboxEntryFromRow(row);
            if (!entry) return Fail(std::move(entry.error()));
            if (busy_dids.contains(entry->did) || taken.contains(entry->did)) continue;
            std::string token = fmt::format("{}#{}", worker_id, core::RandomHex(6));
            const std::int64_t until = now + lease.count();
            auto n = tx.Exec(
                "UPDATE pds_outbox SET status = 'in_flight', lease_owner = $2, lease_until = $3, updated_at = $4 "
                "WHERE id = $1 AND status = 'pending'",
                {entry->id, token, until, now});
            if (!n) return Fail(std::move(n.error()));
            if (*n == 0) continue;
            taken.insert(entry->did);
            entry->status = OutboxStatus::kInFlight;
            entry->lease_owner = token;
            entry->lease_until = until;
            out.push_back(ClaimedEntry{std::move(*entry), std::move(token)});
        }
        return out;
    });
}

OutboxWorker::OutboxWorker(db::Db& db, SessionProvider& sessions, const core::Clock& clock, Options options)
    : db_(db), sessions_(sessions), clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {
    if (options_.worker_id.empty()) options_.worker_id = DefaultWorkerId();
    options_.concurrency = std::max(1, options_.concurrency);
    if (options_.lease.count() <= 0) options_.lease = std::chrono::seconds(30);
    if (options_.poll_interval.count() <= 0) options_.poll_interval = std::chrono::milliseconds(1000);
}

OutboxWorker::~OutboxWorker() { Stop(std::chrono::steady_clock::now()); }

void OutboxWorker::Register(std::string entity_type, RecordSource& source) {
    sources_.Register(std::move(entity_type), source);
}

double OutboxWorker::Jitter() {
    if (options_.jitter) return options_.jitter();
    std::lock_guard lock(jitter_mutex_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

// Applies an outcome under the entry's lease. When the lease token no longer matches, the entry was either
// replaced while in flight (lease_owner NULL: it goes back to pending, the newer change is sent next) or taken
// over after its lease expired (nothing is recorded).
SendOutcome OutboxWorker::Record(const ClaimedEntry& claimed, SendOutcome outcome, const std::string& sql_set,
                                 std::vector<Value> params, const std::optional<std::string>& uri,
                                 const std::optional<std::string>& cid) {
    const std::int64_t now = clock_.NowMicros();
    const std::size_t base = params.size();
    params.emplace_back(claimed.entry.id);
    params.emplace_back(claimed.lease_owner);
    const std::string sql = fmt::format(
        "UPDATE pds_outbox SET {}, lease_owner = NULL, lease_until = NULL WHERE id = ${} AND status = 'in_flight' "
        "AND lease_owner = ${}",
        sql_set, base + 1, base + 2);
    SendOutcome result = outcome;
    auto st = db_.Write([&](db::Connection& tx) -> Status {
        auto n = tx.Query(sql, db::Params(params.data(), params.size()));
        if (!n) return Fail(std::move(n.error()));
        if (n->affected() > 0) return Ok();
        // Superseded: keep what we learnt about the record (it exists now when the put succeeded).
        auto back = tx.Exec(
            "UPDATE pds_outbox SET status = 'pending', lease_until = NULL, updated_at = $2, "
            "result_uri = COALESCE($3, result_uri), result_cid = COALESCE($4, result_cid) "
            "WHERE id = $1 AND status = 'in_flight' AND lease_owner IS NULL",
            {claimed.entry.id, now, uri ? Value(*uri) : Value(nullptr), cid ? Value(*cid) : Value(nullptr)});
        if (!back) return Fail(std::move(back.error()));
        result = *back > 0 ? SendOutcome::kSuperseded : SendOutcome::kLeaseLost;
        return Ok();
    });
    if (!st) {
        // The outcome is lost; the lease expires and the entry is sent again (idempotent).
        log::Error(
            "outbox.record_failed",
            {{"entry", Describe(claimed.entry)}, {"outcome", ToString(outcome)}, {"error", st.error().ToString()}});
        return SendOutcome::kLeaseLost;
    }
    switch (result) {
        case SendOutcome::kDone:
            ++counters_.done;
            break;
        case SendOutcome::kRetry:
            ++counters_.retry;
            break;
        case SendOutcome::kDead:
            ++counters_.dead;
            break;
        case SendOutcome::kBlockedAuth:
            ++counters_.blocked_auth;
            break;
        case SendOutcome::kWaiting:
            ++counters_.waiting;
            break;
        case SendOutcome::kSuperseded:
            ++counters_.superseded;
            break;
        case SendOutcome::kLeaseLost:
            ++counters_.lease_lost;
            break;
    }
    return result;
}

SendOutcome OutboxWorker::Wait(const ClaimedEntry& claimed, std::chrono::microseconds delay, std::string_view why) {
    const std::int64_t now = clock_.NowMicros();
    log::Debug("outbox.waiting", {{"entry", Describe(claimed.entry)}, {"why", why}});
    return Record(claimed, SendOutcome::kWaiting,
                  "status = 'pending', next_attempt_at = $1, last_error = $2, updated_at = $3",
                  {now + delay.count(), std::string(why), now});
}

SendOutcome OutboxWorker::Failure(const ClaimedEntry& claimed, const xrpc::XrpcError& error) {
    const std::int64_t now = clock_.NowMicros();
    const PdsErrorClass klass = ClassifyPdsError(error);
    const int attempts = claimed.entry.attempts + 1;
    const std::string text = Truncate(fmt::format("{}: {}", ToString(klass), error.ToString()));
    const Value status = error.status == 0 ? Value(nullptr) : Value(std::int64_t{error.status});
    auto log_fields = [&](std::string_view outcome) {
        log::Warn("outbox.send_failed", {{"entry", Describe(claimed.entry)},
                                         {"outcome", outcome},
                                         {"class", ToString(klass)},
                                         {"status", error.status},
                                         {"attempts", attempts},
                                         {"error", error.error}});
    };
    switch (klass) {
        case PdsErrorClass::kAuthBlocked:
            log_fields("blocked_auth");
            return Record(claimed, SendOutcome::kBlockedAuth,
                          "status = 'blocked_auth', last_status = $1, last_error = $2, updated_at = $3",
                          {status, text, now});
        case PdsErrorClass::kRejected:
            log::Error("outbox.dead", {{"entry", Describe(claimed.entry)},
                                       {"status", error.status},
                                       {"error", error.error},
                                       {"reason", "rejected"}});
            return Record(claimed, SendOutcome::kDead,
                          "status = 'dead', attempts = $1, last_status = $2, last_error = $3, updated_at = $4",
                          {std::int64_t{attempts}, status, text, now});
        case PdsErrorClass::kInvalidSwap:
        case PdsErrorClass::kAuthRefresh:
        case PdsErrorClass::kTransient:
            break;
    }
    if (attempts >= kMaxAttempts) {
        log::Error("outbox.dead", {{"entry", Describe(claimed.entry)},
                                   {"status", error.status},
                                   {"error", error.error},
                                   {"reason", "attempts_exhausted"}});
        return Record(claimed, SendOutcome::kDead,
                      "status = 'dead', attempts = $1, last_status = $2, last_error = $3, updated_at = $4",
                      {std::int64_t{attempts}, status, text, now});
    }
    std::chrono::microseconds delay{0};
    if (klass != PdsErrorClass::kInvalidSwap) {  // someone else wrote the record: re-read at once
        delay = BackoffWithJitter(attempts, Jitter());
        if (error.retry_after) {
            delay = std::max<std::chrono::microseconds>(
                delay, std::min<std::chrono::microseconds>(*error.retry_after, kMaxBackoff));
        }
    }
    log_fields("retry");
    return Record(claimed, SendOutcome::kRetry,
                  "status = 'pending', attempts = $1, next_attempt_at = $2, last_status = $3, last_error = $4, "
                  "updated_at = $5",
                  {std::int64_t{attempts}, now + delay.count(), status, text, now});
}

SendOutcome OutboxWorker::Send(const ClaimedEntry& claimed) {
    const OutboxEntry& e = claimed.entry;
    RecordSource* source = sources_.Find(e.entity_type);
    if (source == nullptr) {
        // Another process (or a later version) may know this type: wait instead of failing the entry.
        log::Warn("outbox.no_source", {{"entry", Describe(e)}, {"entity_type", e.entity_type}});
        return Wait(claimed, kNoSourceDelay, "no record source for this entity type");
    }
    if (e.op == WriteOp::kPut) {
        auto ready = source->Ready(db_, e.entity_id);
        if (!ready) return Failure(claimed, xrpc::FromError(ready.error()));
        if (!*ready) return Wait(claimed, kNotReadyDelay, "waiting for a dependency");
    }
    auto handle = sessions_.OpenForDid(e.did);
    if (!handle) {
        xrpc::XrpcError error = xrpc::FromError(handle.error());
        return Failure(claimed, error);
    }
    const atproto::oauth::PdsSession& session = (*handle)->session();
    const auto started = std::chrono::steady_clock::now();

    bool gone = false;
    if (e.op == WriteOp::kPut) {
        auto build = [&](const std::optional<atproto::Value>& current) -> Result<atproto::Value> {
            auto built = source->Build(db_, e.entity_id, current);
            if (!built) return Fail(std::move(built.error()));
            if (!built->record) {
                gone = true;
                return Fail(ErrorCode::kNotFound, "entity gone", "entity_gone");
            }
            gone = false;
            return std::move(*built->record);
        };
        auto written = WriteRecordRmw(session, e.did, e.collection, e.rkey, build);
        if (written) {
            const std::string uri = written->write.uri;
            const std::string cid = written->write.cid.ToString();
            if (auto st = source->OnWritten(db_, e.entity_id, uri, cid); !st) {
                xrpc::XrpcError error = xrpc::FromError(st.error());
                error.code = ErrorCode::kUnavailable;  // the put is idempotent: store the result next time
                return Failure(claimed, error);
            }
            const std::int64_t now = clock_.NowMicros();
            auto outcome = Record(claimed, SendOutcome::kDone,
                                  "status = 'done', last_status = NULL, last_error = NULL, result_uri = $1, "
                                  "result_cid = $2, updated_at = $3",
                                  {uri, cid, now}, uri, cid);
            log::Info("outbox.sent", {{"entry", Describe(e)},
                                      {"outcome", ToString(outcome)},
                                      {"created", written->created},
                                      {"swap_retries", written->swap_retries},
                                      {"ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 std::chrono::steady_clock::now() - started)
                                                 .count()}});
            return outcome;
        }
        if (!gone) return Failure(claimed, written.error());
        // The entity no longer exists: its record must not either.
    }
    auto deleted = DeleteRecordIdempotent(session, e.did, e.collection, e.rkey);
    if (!deleted) return Failure(claimed, deleted.error());
    if (auto st = source->OnDeleted(db_, e.entity_id); !st) {
        xrpc::XrpcError error = xrpc::FromError(st.error());
        error.code = ErrorCode::kUnavailable;
        return Failure(claimed, error);
    }
    const std::int64_t now = clock_.NowMicros();
    auto outcome = Record(claimed, SendOutcome::kDone,
                          "status = 'done', last_status = NULL, last_error = NULL, updated_at = $1", {now});
    log::Info("outbox.deleted", {{"entry", Describe(e)}, {"outcome", ToString(outcome)}, {"entity_gone", gone}});
    return outcome;
}

Result<int> OutboxWorker::DrainOnce() {
    int processed = 0;
    // Bounded: superseded entries and InvalidSwap retries become due again at once.
    for (int round = 0; round < 1000; ++round) {
        auto claimed = ClaimDue(db_, options_.worker_id, options_.concurrency, options_.lease, clock_.NowMicros(), {});
        if (!claimed) return Fail(std::move(claimed.error()));
        if (claimed->empty()) break;
        for (const auto& c : *claimed) {
            (void)Send(c);
            ++processed;
        }
    }
    return processed;
}

void OutboxWorker::Start() {
    std::lock_guard lock(mutex_);
    if (running_.load() || dispatcher_.joinable()) return;
    stop_ = false;
    running_ = true;
    for (int i = 0; i < options_.concurrency; ++i) senders_.emplace_back([this] { SenderLoop(); });
    dispatcher_ = std::thread([this] { DispatchLoop(); });
    log::Info("outbox.started", {{"worker_id", options_.worker_id}, {"concurrency", options_.concurrency}});
}

void OutboxWorker::Notify() {
    {
        std::lock_guard lock(mutex_);
        notified_ = true;
    }
    wake_.notify_all();
}

void OutboxWorker::Stop(std::chrono::steady_clock::time_point deadline) {
    std::deque<ClaimedEntry> unstarted;
    {
        std::unique_lock lock(mutex_);
        if (!dispatcher_.joinable() && senders_.empty()) return;
        stop_ = true;
        unstarted.swap(queue_);
        for (const auto& c : unstarted) {
            busy_dids_.erase(c.entry.did);
            std::erase_if(active_, [&](const ClaimedEntry& a) { return a.entry.id == c.entry.id; });
        }
    }
    wake_.notify_all();
    work_.notify_all();
    // Entries claimed but never started go back at once (not counted) instead of waiting for their lease.
    GiveBack(std::vector<ClaimedEntry>(unstarted.begin(), unstarted.end()));
    {
        std::unique_lock lock(mutex_);
        idle_.wait_until(lock, deadline, [&] { return active_.empty(); });
    }
    if (dispatcher_.joinable()) dispatcher_.join();
    for (auto& t : senders_) t.join();
    senders_.clear();
    running_ = false;
    log::Info("outbox.stopped", {{"worker_id", options_.worker_id}});
}

void OutboxWorker::GiveBack(const std::vector<ClaimedEntry>& entries) {
    if (entries.empty()) return;
    const std::int64_t now = clock_.NowMicros();
    auto st = db_.Write([&](db::Connection& tx) -> Status {
        for (const auto& c : entries) {
            auto n = tx.Exec(
                "UPDATE pds_outbox SET status = 'pending', lease_owner = NULL, lease_until = NULL, next_attempt_at = "
                "$3, updated_at = $3 WHERE id = $1 AND status = 'in_flight' AND (lease_owner = $2 OR lease_owner IS "
                "NULL)",
                {c.entry.id, c.lease_owner, now});
            if (!n) return Fail(std::move(n.error()));
        }
        return Ok();
    });
    // Not fatal: the leases expire and the entries return to pending then.
    if (!st) log::Warn("outbox.give_back_failed", {{"entries", entries.size()}, {"error", st.error().ToString()}});
}

void OutboxWorker::Heartbeat() {
    std::vector<std::pair<std::int64_t, std::string>> leases;
    {
        std::lock_guard lock(mutex_);
        for (const auto& a : active_) leases.emplace_back(a.entry.id, a.lease_owner);
    }
    if (leases.empty()) return;
    const std::int64_t until = clock_.NowMicros() + options_.lease.count();
    auto st = db_.Write([&](db::Connection& tx) -> Status {
        for (const auto& [id, owner] : leases) {
            auto n = tx.Exec(
                "UPDATE pds_outbox SET lease_until = $3 WHERE id = $1 AND status = 'in_flight' AND "
                "(lease_owner = $2 OR lease_owner IS NULL)",
                {id, owner, until});
            if (!n) return Fail(std::move(n.error()));
        }
        return Ok();
    });
    if (!st) log::Warn("outbox.heartbeat_failed", {{"error", st.error().ToString()}});
}

void OutboxWorker::DispatchLoop() {
    auto last_heartbeat = std::chrono::steady_clock::now();
    const auto heartbeat_every = std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.lease / 3);
    for (;;) {
        int slots = 0;
        std::set<std::string> busy;
        {
            std::lock_guard lock(mutex_);
            if (stop_) return;
            slots = options_.concurrency - static_cast<int>(active_.size());
            busy = busy_dids_;
            notified_ = false;
        }
        bool claimed_all = false;
        if (slots > 0) {
            auto claimed = ClaimDue(db_, options_.worker_id, slots, options_.lease, clock_.NowMicros(), busy);
            if (!claimed) {
                log::Warn("outbox.claim_failed",
                          {{"worker_id", options_.worker_id}, {"error", claimed.error().ToString()}});
            } else if (!claimed->empty()) {
                claimed_all = static_cast<int>(claimed->size()) == slots;
                bool stopping = false;
                {
                    std::lock_guard lock(mutex_);
                    stopping = stop_;
                    if (!stopping) {
                        for (auto& c : *claimed) {
                            busy_dids_.insert(c.entry.did);
                            active_.push_back(c);
                            queue_.push_back(std::move(c));
                        }
                    }
                }
                if (stopping) {
                    GiveBack(*claimed);  // Stop() came while claiming: nobody will send these
                    return;
                }
                work_.notify_all();
            }
        }
        if (std::chrono::steady_clock::now() - last_heartbeat >= heartbeat_every) {
            Heartbeat();
            last_heartbeat = std::chrono::steady_clock::now();
        }
        std::unique_lock lock(mutex_);
        const auto wait = std::min<std::chrono::steady_clock::duration>(options_.poll_interval, heartbeat_every);
        // All slots full: wake when one frees. Otherwise: on Notify, or the poll interval.
        wake_.wait_for(lock, wait, [&] {
            if (stop_ || notified_) return true;
            const int free = options_.concurrency - static_cast<int>(active_.size());
            return claimed_all ? free > 0 : false;
        });
        if (claimed_all) continue;
    }
}

void OutboxWorker::SenderLoop() {
    for (;;) {
        ClaimedEntry claimed;
        {
            std::unique_lock lock(mutex_);
            work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            if (stop_) return;
            claimed = std::move(queue_.front());
            queue_.pop_front();
        }
        (void)Send(claimed);
        {
            std::lock_guard lock(mutex_);
            busy_dids_.erase(claimed.entry.did);
            std::erase_if(active_, [&](const ClaimedEntry& a) { return a.entry.id == claimed.entry.id; });
            if (active_.empty()) idle_.notify_all();
            notified_ = true;  // the DID may have more entries queued behind this one
        }
        wake_.notify_all();
    }
}

}  // namespace plyr::pds
