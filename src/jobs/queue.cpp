#include "jobs/queue.hpp"

#include <algorithm>
#include <random>
#include <utility>

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/encoding.hpp"

namespace plyr::jobs {
namespace {

using db::Backend;
using db::Value;

bool IsPg(Backend backend) { return backend == Backend::kPostgres; }

// PostgreSQL keeps ids as UUID and documents as JSONB; parameters arrive as text, so they are cast explicitly
// (an untyped or text parameter is not implicitly a uuid/jsonb in every position). SQLite stores both as TEXT.
std::string IdParam(Backend backend, int n) {
    return IsPg(backend) ? fmt::format("${}::uuid", n) : fmt::format("${}", n);
}
std::string JsonParam(Backend backend, int n) {
    return IsPg(backend) ? fmt::format("${}::jsonb", n) : fmt::format("${}", n);
}

// Column list of JobView, read back as text on both engines.
std::string_view Columns(Backend backend) {
    static const std::string kPg =
        "id::text AS id, type, status, owner_did, payload::text AS payload, result::text AS result, phase, "
        "progress_pct, message, warnings::text AS warnings, error_code, error, attempts, max_attempts, run_after, "
        "lease_owner, lease_until, heartbeat_at, dedupe_key, idempotency_key, created_at, updated_at, completed_at";
    static const std::string kSqlite =
        "id, type, status, owner_did, payload, result, phase, progress_pct, message, warnings, error_code, error, "
        "attempts, max_attempts, run_after, lease_owner, lease_until, heartbeat_at, dedupe_key, idempotency_key, "
        "created_at, updated_at, completed_at";
    return IsPg(backend) ? kPg : kSqlite;
}

Value Opt(const std::optional<std::string>& text) {
    if (!text) return nullptr;
    return *text;
}

Value Int(std::int64_t v) { return v; }

// Lowercase canonical UUID text, or nullopt when `id` is not a UUID.
std::optional<std::string> NormalizeId(std::string_view id) {
    if (id.size() != 36) return std::nullopt;
    std::string out(id);
    for (std::size_t i = 0; i < out.size(); ++i) {
        char& c = out[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return std::nullopt;
            continue;
        }
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
    }
    return out;
}

// Parses and re-serialises JSON so both engines store the same compact text.
Result<std::string> NormalizeJson(std::string_view text, std::string_view what) {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not valid json", what), ec.message());
    return boost::json::serialize(v);
}

std::string WarningsJson(const std::vector<std::string>& warnings) {
    boost::json::array arr;
    for (const auto& w : warnings) arr.emplace_back(boost::json::string_view(w.data(), w.size()));
    return boost::json::serialize(arr);
}

std::vector<std::string> ParseWarnings(const std::string& text) {
    std::vector<std::string> out;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(text, ec);
    if (ec || !v.is_array()) return out;
    for (const auto& item : v.as_array()) {
        if (item.is_string()) out.emplace_back(item.as_string().c_str(), item.as_string().size());
    }
    return out;
}

tl::unexpected<Error> LeaseLost(std::string_view id) {
    return Fail(ErrorCode::kConflict, "lease_lost", fmt::format("job {} is no longer running under this lease", id));
}

Result<std::string> LeaseId(std::string_view id) {
    auto norm = NormalizeId(id);
    if (!norm) return Fail(ErrorCode::kInvalidArgument, "invalid job id");
    return std::move(*norm);
}

Result<JobView> ToView(const db::Row& row) {
    JobView v;
    v.id = row.Text("id");
    v.type = row.Text("type");
    auto status = ParseJobStatus(row.Text("status"));
    if (!status) return Fail(ErrorCode::kInternal, "corrupt job row", "unknown status " + row.Text("status"));
    v.status = *status;
    v.owner_did = row.OptText("owner_did");
    v.payload_json = row.Text("payload");
    v.result_json = row.OptText("result");
    v.phase = row.Text("phase");
    v.progress_pct = static_cast<int>(row.Int("progress_pct"));
    v.message = row.Text("message");
    v.warnings = ParseWarnings(row.Text("warnings"));
    v.error_code = row.OptText("error_code");
    v.error = row.OptText("error");
    v.attempts = static_cast<int>(row.Int("attempts"));
    v.max_attempts = static_cast<int>(row.Int("max_attempts"));
    v.run_after = row.Int("run_after");
    v.lease_owner = row.OptText("lease_owner");
    v.lease_until = row.OptInt("lease_until");
    v.heartbeat_at = row.OptInt("heartbeat_at");
    v.dedupe_key = row.OptText("dedupe_key");
    v.idempotency_key = row.OptText("idempotency_key");
    v.created_at = row.Int("created_at");
    v.updated_at = row.Int("updated_at");
    v.completed_at = row.OptInt("completed_at");
    return v;
}

std::int64_t DefaultJitter(std::int64_t ceiling) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<std::int64_t> dist(0, ceiling);
    return dist(rng);
}

// Stored ids are lowercase: a caller-chosen id must already be canonical.
bool IsLowerUuid(std::string_view id) { return core::CanonicalUuid(id) == id; }

Status ValidateSpec(const JobSpec& spec) {
    if (!IsValidJobType(spec.type)) {
        return Fail(ErrorCode::kInvalidArgument, "invalid job type", "type must be 1..64 chars of [a-z0-9_.-]");
    }
    if (spec.max_attempts < 1) return Fail(ErrorCode::kInvalidArgument, "max_attempts must be at least 1");
    if (spec.payload_json.size() > kMaxPayloadBytes) return Fail(ErrorCode::kTooLarge, "job payload too large");
    if (spec.idempotency_key && !spec.owner_did) {
        return Fail(ErrorCode::kInvalidArgument, "idempotency_key needs owner_did");
    }
    if (spec.id && !IsLowerUuid(*spec.id)) return Fail(ErrorCode::kInvalidArgument, "job id must be a lowercase uuid");
    return Ok();
}

}  // namespace

std::string_view ToString(JobStatus status) {
    switch (status) {
        case JobStatus::kPending:
            return "pending";
        case JobStatus::kRunning:
            return "running";
        case JobStatus::kCompleted:
            return "completed";
        case JobStatus::kFailed:
            return "failed";
        case JobStatus::kDead:
            return "dead";
    }
    return "pending";
}

std::optional<JobStatus> ParseJobStatus(std::string_view text) {
    if (text == "pending") return JobStatus::kPending;
    if (text == "running") return JobStatus::kRunning;
    if (text == "completed") return JobStatus::kCompleted;
    if (text == "failed") return JobStatus::kFailed;
    if (text == "dead") return JobStatus::kDead;
    return std::nullopt;
}

bool IsTerminal(JobStatus status) {
    return status == JobStatus::kCompleted || status == JobStatus::kFailed || status == JobStatus::kDead;
}

std::string_view PublicStatus(JobStatus status) {
    switch (status) {
        case JobStatus::kRunning:
            return "processing";
        case JobStatus::kDead:
            return "failed";
        default:
            return ToString(status);
    }
}

bool IsValidJobType(std::string_view type) {
    if (type.empty() || type.size() > 64) return false;
    return std::all_of(type.begin(), type.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    });
}

std::int64_t BackoffCeilingMicros(const RetryPolicy& policy, int attempt) {
    const std::int64_t cap = std::max<std::int64_t>(0, policy.cap.count());
    std::int64_t delay = std::max<std::int64_t>(0, policy.base.count());
    // Doubling step by step (instead of a shift) cannot overflow: it stops at the cap.
    for (int i = 1; i < attempt && delay < cap; ++i) delay = delay > cap / 2 ? cap : delay * 2;
    return std::min(delay, cap);
}

Result<Enqueued> Enqueue(db::Connection& tx, const JobSpec& spec, const core::Clock& clock) {
    PLYR_TRY_STATUS(ValidateSpec(spec));
    auto payload = NormalizeJson(spec.payload_json, "job payload");
    if (!payload) return Fail(std::move(payload.error()));
    const Backend backend = tx.backend();
    const std::int64_t now = clock.NowMicros();

    if (spec.idempotency_key) {
        auto rows = tx.Query(fmt::format("SELECT {} FROM jobs WHERE owner_did = $1 AND idempotency_key = $2 "
                                         "ORDER BY created_at LIMIT 1",
                                         IsPg(backend) ? "id::text AS id" : "id"),
                             {*spec.owner_did, *spec.idempotency_key});
        if (!rows) return Fail(std::move(rows.error()));
        if (!rows->empty()) return Enqueued{rows->front().Text("id"), true};
    }

    const std::string insert = fmt::format(
        "INSERT INTO jobs (id, type, status, owner_did, payload, max_attempts, run_after, dedupe_key, "
        "idempotency_key, created_at, updated_at) VALUES ({}, $2, 'pending', $3, {}, $5, $6, $7, $8, $9, $9) "
        "ON CONFLICT DO NOTHING RETURNING {}",
        IdParam(backend, 1), JsonParam(backend, 4), IsPg(backend) ? "id::text AS id" : "id");
    // ON CONFLICT DO NOTHING (instead of catching a unique violation) keeps a PostgreSQL caller's transaction
    // usable. A conflict is the live dedupe_key (or, astronomically rarely, a repeated uuid): look it up; if it
    // finished in between, insert again.
    for (int round = 0; round < 3; ++round) {
        const std::string id = spec.id ? *spec.id : core::RandomUuid();
        auto rows = tx.Query(
            insert, {id, spec.type, Opt(spec.owner_did), *payload, Int(spec.max_attempts),
                     Int(spec.run_after.value_or(now)), Opt(spec.dedupe_key), Opt(spec.idempotency_key), Int(now)});
        if (!rows) return Fail(std::move(rows.error()));
        if (!rows->empty()) return Enqueued{rows->front().Text("id"), false};
        if (spec.id) {
            auto taken = tx.Query(fmt::format("SELECT 1 FROM jobs WHERE id = {}", IdParam(backend, 1)), {*spec.id});
            if (!taken) return Fail(std::move(taken.error()));
            if (!taken->empty()) return Fail(ErrorCode::kAlreadyExists, "a job with this id exists");
        }
        if (!spec.dedupe_key) continue;
        auto live = tx.Query(fmt::format("SELECT {} FROM jobs WHERE dedupe_key = $1 AND status IN ('pending', "
                                         "'running') LIMIT 1",
                                         IsPg(backend) ? "id::text AS id" : "id"),
                             {*spec.dedupe_key});
        if (!live) return Fail(std::move(live.error()));
        if (!live->empty()) return Enqueued{live->front().Text("id"), true};
    }
    return Fail(ErrorCode::kBusy, "could not enqueue the job, try again", "dedupe_key conflict kept changing");
}

Result<Enqueued> Enqueue(db::Db& db, const JobSpec& spec, const core::Clock& clock) {
    return db.WriteValue<Enqueued>([&](db::Connection& tx) { return Enqueue(tx, spec, clock); });
}

Result<std::optional<ClaimedJob>> Claim(db::Db& db, std::string_view worker_id, const std::vector<std::string>& types,
                                        std::chrono::microseconds lease, const core::Clock& clock) {
    if (types.empty()) return Fail(ErrorCode::kInvalidArgument, "claim needs at least one job type");
    for (const auto& t : types) {
        if (!IsValidJobType(t)) return Fail(ErrorCode::kInvalidArgument, "invalid job type", t);
    }
    const Backend backend = db.backend();
    std::string in_list;
    for (std::size_t i = 0; i < types.size(); ++i) {
        if (i > 0) in_list += ", ";
        in_list += fmt::format("${}", i + 4);
    }
    // PostgreSQL: SKIP LOCKED lets concurrent claimers pass over rows another transaction is claiming, and the
    // outer status check re-runs on the locked row's newest version. SQLite: the write transaction is exclusive
    // (one writer), so the sub-select and the update see the same state and one claimer wins each row.
    const std::string sql = fmt::format(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_owner = $1, lease_until = $2, "
        "heartbeat_at = $3, updated_at = $3 "
        "WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_after <= $3 AND type IN ({}) "
        "ORDER BY run_after, created_at LIMIT 1{}) AND status = 'pending' RETURNING {}",
        in_list, IsPg(backend) ? " FOR UPDATE SKIP LOCKED" : "", Columns(backend));

    const std::string lease_owner = fmt::format("{}#{}", worker_id, core::RandomHex(6));
    return db.WriteValue<std::optional<ClaimedJob>>([&](db::Connection& tx) -> Result<std::optional<ClaimedJob>> {
        const std::int64_t now = clock.NowMicros();
        std::vector<Value> params{lease_owner, Int(now + lease.count()), Int(now)};
        for (const auto& t : types) params.emplace_back(t);
        auto rows = tx.Query(sql, db::Params(params.data(), params.size()));
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return std::optional<ClaimedJob>();
        auto view = ToView(rows->front());
        if (!view) return Fail(std::move(view.error()));
        ClaimedJob job;
        job.id = std::move(view->id);
        job.type = std::move(view->type);
        job.payload_json = std::move(view->payload_json);
        job.owner_did = std::move(view->owner_did);
        job.lease_owner = lease_owner;
        job.attempt = view->attempts;
        job.max_attempts = view->max_attempts;
        job.lease_until = view->lease_until.value_or(0);
        return std::optional<ClaimedJob>(std::move(job));
    });
}

Result<std::int64_t> Heartbeat(db::Db& db, std::string_view id, std::string_view lease_owner,
                               std::chrono::microseconds lease, const core::Clock& clock) {
    auto job_id = LeaseId(id);
    if (!job_id) return Fail(std::move(job_id.error()));
    const std::string sql = fmt::format(
        "UPDATE jobs SET lease_until = $3, heartbeat_at = $4 "
        "WHERE id = {} AND status = 'running' AND lease_owner = $2",
        IdParam(db.backend(), 1));
    return db.WriteValue<std::int64_t>([&](db::Connection& tx) -> Result<std::int64_t> {
        const std::int64_t now = clock.NowMicros();
        const std::int64_t until = now + lease.count();
        auto n = tx.Exec(sql, {*job_id, std::string(lease_owner), Int(until), Int(now)});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return LeaseLost(*job_id);
        return until;
    });
}

Status ReportProgress(db::Db& db, std::string_view id, std::string_view lease_owner, const Progress& progress,
                      const core::Clock& clock) {
    auto job_id = LeaseId(id);
    if (!job_id) return Fail(std::move(job_id.error()));
    const Backend backend = db.backend();
    const int pct = std::clamp(progress.pct, 0, 100);
    return db.Write([&](db::Connection& tx) -> Status {
        const std::int64_t now = clock.NowMicros();
        Result<std::int64_t> n;
        if (progress.warnings) {
            n = tx.Exec(fmt::format("UPDATE jobs SET phase = $3, progress_pct = $4, message = $5, heartbeat_at = $6, "
                                    "updated_at = $6, warnings = {} "
                                    "WHERE id = {} AND status = 'running' AND lease_owner = $2",
                                    JsonParam(backend, 7), IdParam(backend, 1)),
                        {*job_id, std::string(lease_owner), progress.phase, Int(pct), progress.message, Int(now),
                         WarningsJson(*progress.warnings)});
        } else {
            n = tx.Exec(fmt::format("UPDATE jobs SET phase = $3, progress_pct = $4, message = $5, heartbeat_at = $6, "
                                    "updated_at = $6 WHERE id = {} AND status = 'running' AND lease_owner = $2",
                                    IdParam(backend, 1)),
                        {*job_id, std::string(lease_owner), progress.phase, Int(pct), progress.message, Int(now)});
        }
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return LeaseLost(*job_id);
        return Ok();
    });
}

Status Complete(db::Db& db, std::string_view id, std::string_view lease_owner, std::string_view result_json,
                const std::vector<std::string>& warnings, const core::Clock& clock) {
    auto job_id = LeaseId(id);
    if (!job_id) return Fail(std::move(job_id.error()));
    Value result = nullptr;
    if (!result_json.empty()) {
        auto norm = NormalizeJson(result_json, "job result");
        if (!norm) return Fail(std::move(norm.error()));
        result = std::move(*norm);
    }
    const Backend backend = db.backend();
    const std::string sql = fmt::format(
        "UPDATE jobs SET status = 'completed', result = {}, warnings = {}, progress_pct = 100, error_code = NULL, "
        "error = NULL, lease_until = NULL, completed_at = $5, updated_at = $5 "
        "WHERE id = {} AND status = 'running' AND lease_owner = $2",
        JsonParam(backend, 3), JsonParam(backend, 4), IdParam(backend, 1));
    return db.Write([&](db::Connection& tx) -> Status {
        const std::int64_t now = clock.NowMicros();
        auto n = tx.Exec(sql, {*job_id, std::string(lease_owner), result, WarningsJson(warnings), Int(now)});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return LeaseLost(*job_id);
        return Ok();
    });
}

Result<FailResult> FailAttempt(db::Db& db, std::string_view id, std::string_view lease_owner,
                               const FailureInfo& failure, const RetryPolicy& policy, const core::Clock& clock) {
    auto job_id = LeaseId(id);
    if (!job_id) return Fail(std::move(job_id.error()));
    const Backend backend = db.backend();
    const std::string select = fmt::format(
        "SELECT attempts, max_attempts FROM jobs WHERE id = {} AND status = 'running' AND lease_owner = $2{}",
        IdParam(backend, 1), IsPg(backend) ? " FOR UPDATE" : "");
    const std::string update = fmt::format(
        "UPDATE jobs SET status = $3, error_code = $4, error = $5, run_after = $6, lease_owner = $7, "
        "lease_until = NULL, completed_at = $8, updated_at = $9 "
        "WHERE id = {} AND status = 'running' AND lease_owner = $2",
        IdParam(backend, 1));
    const std::string error_code = failure.error_code.empty() ? "internal_error" : failure.error_code;

    return db.WriteValue<FailResult>([&](db::Connection& tx) -> Result<FailResult> {
        auto rows = tx.Query(select, {*job_id, std::string(lease_owner)});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return LeaseLost(*job_id);
        const auto attempts = static_cast<int>(rows->front().Int("attempts"));
        const auto max_attempts = static_cast<int>(rows->front().Int("max_attempts"));
        const std::int64_t now = clock.NowMicros();

        FailResult out;
        Value keep_owner = std::string(lease_owner);
        Value completed_at = Int(now);
        std::int64_t run_after = now;
        if (!failure.retryable) {
            out.outcome = FailOutcome::kFailed;
        } else if (attempts >= max_attempts) {
            out.outcome = FailOutcome::kDead;
        } else {
            out.outcome = FailOutcome::kRetryScheduled;
            const std::int64_t ceiling = BackoffCeilingMicros(policy, attempts);
            const std::int64_t pick = policy.jitter ? policy.jitter(ceiling) : DefaultJitter(ceiling);
            run_after = now + std::clamp<std::int64_t>(pick, 0, ceiling);
            keep_owner = nullptr;
            completed_at = nullptr;
        }
        const std::string status(out.outcome == FailOutcome::kRetryScheduled ? "pending"
                                 : out.outcome == FailOutcome::kDead         ? "dead"
                                                                             : "failed");
        auto n = tx.Exec(update, {*job_id, std::string(lease_owner), status, error_code, failure.message,
                                  Int(run_after), keep_owner, completed_at, Int(now)});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return LeaseLost(*job_id);
        out.run_after = run_after;
        return out;
    });
}

Status Release(db::Db& db, std::string_view id, std::string_view lease_owner, const core::Clock& clock) {
    auto job_id = LeaseId(id);
    if (!job_id) return Fail(std::move(job_id.error()));
    const std::string sql = fmt::format(
        "UPDATE jobs SET status = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
        "run_after = $3, lease_owner = NULL, lease_until = NULL, updated_at = $3 "
        "WHERE id = {} AND status = 'running' AND lease_owner = $2",
        IdParam(db.backend(), 1));
    return db.Write([&](db::Connection& tx) -> Status {
        auto n = tx.Exec(sql, {*job_id, std::string(lease_owner), Int(clock.NowMicros())});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return LeaseLost(*job_id);
        return Ok();
    });
}

Result<ReapResult> ReapExpired(db::Db& db, const core::Clock& clock) {
    return db.WriteValue<ReapResult>([&](db::Connection& tx) -> Result<ReapResult> {
        const std::int64_t now = clock.NowMicros();
        // Attempts were counted at claim, so an expired lease on the last attempt means the job is out of tries.
        auto dead = tx.Exec(
            "UPDATE jobs SET status = 'dead', error_code = 'lease_expired', error = 'lease expired', "
            "lease_until = NULL, completed_at = $1, updated_at = $1 "
            "WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts",
            {Int(now)});
        if (!dead) return Fail(std::move(dead.error()));
        auto requeued = tx.Exec(
            "UPDATE jobs SET status = 'pending', run_after = $1, error_code = 'lease_expired', "
            "error = 'lease expired', lease_owner = NULL, lease_until = NULL, updated_at = $1 "
            "WHERE status = 'running' AND lease_until < $1",
            {Int(now)});
        if (!requeued) return Fail(std::move(requeued.error()));
        return ReapResult{static_cast<int>(*requeued), static_cast<int>(*dead)};
    });
}

Result<JobView> Get(db::Connection& conn, std::string_view id) {
    auto job_id = NormalizeId(id);
    if (!job_id) return Fail(ErrorCode::kNotFound, "job not found");
    const Backend backend = conn.backend();
    auto rows =
        conn.Query(fmt::format("SELECT {} FROM jobs WHERE id = {}", Columns(backend), IdParam(backend, 1)), {*job_id});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return Fail(ErrorCode::kNotFound, "job not found");
    return ToView(rows->front());
}

Result<JobView> Get(db::Db& db, std::string_view id) {
    return db.ReadValue<JobView>([&](db::Connection& conn) { return Get(conn, id); });
}

Result<std::vector<JobView>> List(db::Db& db, const ListFilter& filter) {
    std::string where;
    std::vector<Value> params;
    auto add = [&](std::string_view column, std::string value) {
        where += where.empty() ? " WHERE " : " AND ";
        params.emplace_back(std::move(value));
        where += fmt::format("{} = ${}", column, params.size());
    };
    if (filter.status) add("status", std::string(ToString(*filter.status)));
    if (filter.type) add("type", *filter.type);
    if (filter.owner_did) add("owner_did", *filter.owner_did);
    params.emplace_back(Int(std::clamp(filter.limit, 1, 500)));
    const std::string sql = fmt::format("SELECT {} FROM jobs{} ORDER BY created_at DESC, id DESC LIMIT ${}",
                                        Columns(db.backend()), where, params.size());
    return db.ReadValue<std::vector<JobView>>([&](db::Connection& conn) -> Result<std::vector<JobView>> {
        auto rows = conn.Query(sql, db::Params(params.data(), params.size()));
        if (!rows) return Fail(std::move(rows.error()));
        std::vector<JobView> out;
        out.reserve(rows->size());
        for (const auto& row : *rows) {
            auto view = ToView(row);
            if (!view) return Fail(std::move(view.error()));
            out.push_back(std::move(*view));
        }
        return out;
    });
}

Result<JobView> Retry(db::Db& db, std::string_view id, const core::Clock& clock) {
    auto job_id = NormalizeId(id);
    if (!job_id) return Fail(ErrorCode::kNotFound, "job not found");
    const Backend backend = db.backend();
    const std::string sql = fmt::format(
        "UPDATE jobs SET status = 'pending', attempts = 0, run_after = $2, result = NULL, error_code = NULL, "
        "error = NULL, phase = '', progress_pct = 0, message = '', warnings = '[]', lease_owner = NULL, "
        "lease_until = NULL, heartbeat_at = NULL, completed_at = NULL, updated_at = $2 "
        "WHERE id = {} AND status IN ('failed', 'dead') RETURNING {}",
        IdParam(backend, 1), Columns(backend));
    return db.WriteValue<JobView>([&](db::Connection& tx) -> Result<JobView> {
        auto rows = tx.Query(sql, {*job_id, Int(clock.NowMicros())});
        if (!rows) {
            // The partial unique index refuses a second live job with the same dedupe_key.
            if (rows.error().code == ErrorCode::kConflict) {
                return Fail(ErrorCode::kConflict, "not_retryable",
                            "a live job with the same dedupe_key exists: " + rows.error().detail);
            }
            return Fail(std::move(rows.error()));
        }
        if (!rows->empty()) return ToView(rows->front());
        auto current = Get(tx, *job_id);
        if (!current) return Fail(std::move(current.error()));
        return Fail(ErrorCode::kConflict, "not_retryable",
                    fmt::format("job {} is {}", *job_id, ToString(current->status)));
    });
}

Result<std::int64_t> DeleteTerminalBefore(db::Connection& tx, std::int64_t cutoff_micros) {
    return tx.Exec(
        "DELETE FROM jobs WHERE status IN ('completed', 'failed', 'dead') AND COALESCE(completed_at, updated_at) < $1",
        {Int(cutoff_micros)});
}

}  // namespace plyr::jobs
