#include "storage/db/postgres/postgres_db.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"

namespace plyr::storage::db::postgres {

namespace {

// Type OIDs from pg_type (catalog/pg_type_d.h is a server header, not shipped with libpq-dev).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

constexpr std::size_t kMaxCachedStatements = 256;
constexpr std::size_t kMaxSqlInDetail = 300;
constexpr const char* kDefaultConnectTimeoutS = "5";

std::string Shorten(std::string_view sql) {
    if (sql.size() <= kMaxSqlInDetail) return std::string(sql);
    return std::string(sql.substr(0, kMaxSqlInDetail)) + "…";
}

struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// The parsed connection URL: keyword/value pairs for PQconnectdbParams plus what errors may show.
struct ConnInfo {
    std::vector<std::string> keys;
    std::vector<std::string> values;
    std::string description;  // no password
    std::string password;     // scrubbed from every libpq message
};

std::string ScrubSecret(std::string text, const std::string& secret) {
    if (secret.empty()) return text;
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
        text.replace(pos, secret.size(), "***");
        pos += 3;
    }
    return text;
}

std::string TrimTrailing(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

Result<ConnInfo> ParseConnInfo(std::string_view url) {
    char* errmsg = nullptr;
    PQconninfoOption* options = PQconninfoParse(std::string(url).c_str(), &errmsg);
    if (options == nullptr) {
        // The parser's message may quote the URL: it is not passed on.
        if (errmsg != nullptr) PQfreemem(errmsg);
        return Fail(ErrorCode::kConfig, "invalid PostgreSQL connection URL",
                    "libpq could not parse DATABASE_URL (message withheld: it may quote the password)");
    }
    ConnInfo info;
    bool has_connect_timeout = false;
    bool has_application_name = false;
    std::string description;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val == nullptr) continue;
        std::string_view key = o->keyword;
        if (key == "password") info.password = o->val;
        if (key == "connect_timeout") has_connect_timeout = true;
        if (key == "application_name") has_application_name = true;
        if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
            if (!description.empty()) description += ' ';
            description += fmt::format("{}={}", key, o->val);
        }
        info.keys.emplace_back(key);
        info.values.emplace_back(o->val);
    }
    PQconninfoFree(options);
    // Without a connect timeout libpq waits for the kernel's (minutes) on a black-holed host.
    if (!has_connect_timeout) {
        info.keys.emplace_back("connect_timeout");
        info.values.emplace_back(kDefaultConnectTimeoutS);
    }
    if (!has_application_name) {
        info.keys.emplace_back("application_name");
        info.values.emplace_back("plyr");
    }
    info.keys.emplace_back("client_encoding");
    info.values.emplace_back("UTF8");
    info.description = description.empty() ? "(defaults)" : description;
    return info;
}

void NoticeToLog(void*, const char* message) {
    log::Debug("db.postgres.notice", {{"message", TrimTrailing(message != nullptr ? message : "")}});
}

// 08P01 (protocol violation) is excluded: the server reports it for a malformed request on a healthy
// connection; a dead connection shows up as CONNECTION_BAD anyway.
bool IsConnectionClass(std::string_view sqlstate) {
    return (sqlstate.substr(0, 2) == "08" && sqlstate != "08P01") || sqlstate == "57P01" || sqlstate == "57P02" ||
           sqlstate == "57P03";
}

Error MapSqlState(std::string_view sqlstate, std::string detail) {
    if (sqlstate.substr(0, 2) == "23") return Error{ErrorCode::kConflict, "constraint violation", std::move(detail)};
    if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") {
        return Error{ErrorCode::kBusy, "database is busy", std::move(detail)};
    }
    if (sqlstate == "57014") return Error{ErrorCode::kTimeout, "database statement timed out", std::move(detail)};
    if (IsConnectionClass(sqlstate)) return Error{ErrorCode::kUnavailable, "database unavailable", std::move(detail)};
    return Error{ErrorCode::kInvalidArgument, "invalid database statement", std::move(detail)};
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
    std::int64_t out = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return out;
}

std::optional<double> ParseReal(std::string_view text) {
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double out = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return out;
}

std::string FormatReal(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return fmt::format("{}", d);  // shortest text that reads back to the same double
}

Value ConvertCell(Oid type, const char* text, int length) {
    std::string_view view(text, static_cast<std::size_t>(length));
    switch (type) {
        case kInt2Oid:
        case kInt4Oid:
        case kInt8Oid:
            if (auto v = ParseInt(view)) return *v;
            break;
        case kFloat4Oid:
        case kFloat8Oid:
        case kNumericOid:
            // A numeric beyond double's range stays text (Row::Real() reports it).
            if (auto v = ParseReal(view)) return *v;
            break;
        case kBoolOid:
            return view == "t";
        case kByteaOid:
            // bytea_output is pinned to hex at connect time.
            if (view.size() >= 2 && view[0] == '\\' && view[1] == 'x') {
                if (auto bytes = core::HexDecode(view.substr(2))) return Blob{std::move(*bytes)};
            }
            break;
        default:
            break;
    }
    return std::string(view);
}

// One pooled connection and its prepared statements. Owned by the pool; leased to one caller at a time.
struct Slot {
    PGconn* conn = nullptr;
    std::unordered_map<std::string, std::string> statements;  // cache key → server-side statement name
    std::uint64_t next_statement = 0;

    void Drop() {
        if (conn != nullptr) PQfinish(conn);
        conn = nullptr;
        statements.clear();
    }
};

// The Connection handed to one transaction callback. Tracks what the retry rule needs.
class PgConnection final : public Connection {
  public:
    PgConnection(Slot& slot, const ConnInfo& info) : slot_(slot), info_(info) {}

    Backend backend() const override { return Backend::kPostgres; }

    Result<Rows> Query(std::string_view sql, Params params) override {
        if (lost_) return LostError();
        if (failed_) return Aborted();
        auto rows = QueryImpl(sql, params);
        if (!rows) failed_ = true;
        return rows;
    }

    Status ExecScript(std::string_view sql) override {
        if (lost_) return LostError();
        if (failed_) return Aborted();
        ResultPtr res(PQexec(slot_.conn, std::string(sql).c_str()));
        const ExecStatusType status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
            failed_ = true;
            return Fail(Failure(res.get(), "(script)"));
        }
        ++statements_ok_;
        return Ok();
    }

    // Transaction control and connection setup: not counted as the callback's statements.
    Status Command(const char* sql) {
        if (lost_) return LostError();
        ResultPtr res(PQexec(slot_.conn, sql));
        const ExecStatusType status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return Fail(Failure(res.get(), sql));
        return Ok();
    }

    void Rollback() {
        if (lost_ || slot_.conn == nullptr) return;
        if (PQtransactionStatus(slot_.conn) == PQTRANS_IDLE) return;
        auto st = Command("ROLLBACK");
        if (!st) log::Warn("db.postgres.rollback_failed", {{"error", st.error().ToString()}});
    }

    bool lost() const { return lost_; }
    bool failed() const { return failed_; }
    int statements_ok() const { return statements_ok_; }

  private:
    static tl::unexpected<Error> Aborted() {
        return Fail(ErrorCode::kInvalidArgument, "transaction aborted by an earlier failed statement",
                    "a statement failed earlier in this transaction; return its error");
    }

    Result<Rows> QueryImpl(std::string_view sql, Params params) {
        auto prepared = Prepare(sql, params);
        if (!prepared) return Fail(std::move(prepared.error()));

        std::vector<std::string> text(params.size());
        std::vector<const char*> values(params.size(), nullptr);
        std::vector<int> lengths(params.size(), 0);
        std::vector<int> formats(params.size(), 0);
        for (std::size_t i = 0; i < params.size(); ++i) {
            const Value& value = params[i];
            if (std::holds_alternative<std::nullptr_t>(value)) continue;
            if (const auto* n = std::get_if<std::int64_t>(&value)) {
                text[i] = std::to_string(*n);
            } else if (const auto* d = std::get_if<double>(&value)) {
                text[i] = FormatReal(*d);
            } else if (const auto* b = std::get_if<bool>(&value)) {
                text[i] = *b ? "t" : "f";
            } else if (const auto* s = std::get_if<std::string>(&value)) {
                // Text parameters are NUL-terminated on the wire: an embedded NUL would silently truncate.
                if (s->find('\0') != std::string::npos) {
                    return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                                fmt::format("text parameter ${} contains a NUL byte", i + 1));
                }
                values[i] = s->c_str();
                continue;
            } else {
                const auto& bytes = std::get<Blob>(value).bytes;
                if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
                    return Fail(ErrorCode::kTooLarge, "value too large", "bytea parameter over 2 GiB");
                }
                values[i] = bytes.data();
                lengths[i] = static_cast<int>(bytes.size());
                formats[i] = 1;
                continue;
            }
            values[i] = text[i].c_str();
        }
        ResultPtr res(PQexecPrepared(slot_.conn, prepared->c_str(), static_cast<int>(params.size()), values.data(),
                                     lengths.data(), formats.data(), 0));
        const ExecStatusType status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (status == PGRES_EMPTY_QUERY) {
            return Fail(ErrorCode::kInvalidArgument, "invalid database statement", "empty statement");
        }
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return Fail(Failure(res.get(), sql));
        ++statements_ok_;
        return ToRows(res.get());
    }

    tl::unexpected<Error> LostError() const {
        return Fail(ErrorCode::kUnavailable, "database unavailable",
                    fmt::format("connection to {} was lost earlier in this transaction", info_.description));
    }

    Result<std::string> Prepare(std::string_view sql, Params params) {
        // Blob parameters are declared bytea (they travel binary); everything else is left to the server.
        std::string key(sql);
        key.push_back('\0');
        std::vector<Oid> types(params.size(), 0);
        for (std::size_t i = 0; i < params.size(); ++i) {
            const bool blob = std::holds_alternative<Blob>(params[i]);
            types[i] = blob ? kByteaOid : 0;
            key.push_back(blob ? 'b' : '-');
        }
        if (auto it = slot_.statements.find(key); it != slot_.statements.end()) return it->second;
        std::string name = fmt::format("plyr_{}", slot_.next_statement++);
        ResultPtr res(PQprepare(slot_.conn, name.c_str(), std::string(sql).c_str(), static_cast<int>(params.size()),
                                types.data()));
        const ExecStatusType status = res != nullptr ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK) return Fail(Failure(res.get(), sql));
        // A statement that references more $N than were given would fail at bind time with a protocol
        // error; checking once per prepared statement turns that into a plain invalid-statement error.
        ResultPtr described(PQdescribePrepared(slot_.conn, name.c_str()));
        if (described == nullptr || PQresultStatus(described.get()) != PGRES_COMMAND_OK) {
            return Fail(Failure(described.get(), sql));
        }
        const int wanted = PQnparams(described.get());
        if (wanted != static_cast<int>(params.size())) {
            DeallocateQuietly(name);
            return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                        fmt::format("statement uses {} parameter(s) but {} were given [sql: {}]", wanted, params.size(),
                                    Shorten(sql)));
        }
        slot_.statements.emplace(std::move(key), name);
        return name;
    }

    void DeallocateQuietly(const std::string& name) {
        // Protocol-level close would be cleaner, but libpq 15 has no PQclosePrepared; DEALLOCATE is a statement.
        const std::string sql = fmt::format("DEALLOCATE {}", name);
        ResultPtr res(PQexec(slot_.conn, sql.c_str()));
    }

    Error Failure(const PGresult* res, std::string_view sql) {
        const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
        const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
        const char* constraint = res != nullptr ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : nullptr;
        std::string_view sqlstate = state != nullptr ? state : "";
        std::string message = primary != nullptr ? primary : TrimTrailing(PQerrorMessage(slot_.conn));
        // Only the primary message and the constraint name: DETAIL lines quote row values.
        std::string detail = fmt::format("postgres {}: {}", sqlstate.empty() ? "(no sqlstate)" : sqlstate,
                                         ScrubSecret(std::move(message), info_.password));
        if (constraint != nullptr) detail += fmt::format(" (constraint {})", constraint);
        detail += fmt::format(" [sql: {}]", Shorten(sql));
        if (PQstatus(slot_.conn) == CONNECTION_BAD || IsConnectionClass(sqlstate)) {
            lost_ = true;
            return Error{ErrorCode::kUnavailable, "database unavailable", std::move(detail)};
        }
        return MapSqlState(sqlstate, std::move(detail));
    }

    static Rows ToRows(const PGresult* res) {
        const int ncols = PQnfields(res);
        std::vector<std::string> columns;
        std::vector<Oid> types;
        columns.reserve(static_cast<std::size_t>(ncols));
        types.reserve(static_cast<std::size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
            columns.emplace_back(PQfname(res, c));
            types.push_back(PQftype(res, c));
        }
        Rows rows(std::move(columns), 0);
        const int nrows = PQntuples(res);
        for (int r = 0; r < nrows; ++r) {
            std::vector<Value> cells;
            cells.reserve(static_cast<std::size_t>(ncols));
            for (int c = 0; c < ncols; ++c) {
                if (PQgetisnull(res, r, c) != 0) {
                    cells.emplace_back(nullptr);
                } else {
                    cells.push_back(
                        ConvertCell(types[static_cast<std::size_t>(c)], PQgetvalue(res, r, c), PQgetlength(res, r, c)));
                }
            }
            rows.Add(std::move(cells));
        }
        // PQcmdTuples also counts SELECT rows; "affected" means changed rows only (as on SQLite).
        std::string_view command = PQcmdStatus(const_cast<PGresult*>(res));
        if (command.starts_with("INSERT") || command.starts_with("UPDATE") || command.starts_with("DELETE") ||
            command.starts_with("MERGE")) {
            if (auto n = ParseInt(PQcmdTuples(const_cast<PGresult*>(res)))) rows.set_affected(*n);
        }
        return rows;
    }

    Slot& slot_;
    const ConnInfo& info_;
    bool lost_ = false;
    bool failed_ = false;  // a statement failed: the transaction is unusable (PostgreSQL aborts it too)
    int statements_ok_ = 0;
};

class PostgresDb final : public Db {
  public:
    PostgresDb(Options options, ConnInfo info) : options_(std::move(options)), info_(std::move(info)) {
        slots_.resize(static_cast<std::size_t>(options_.pool_size));
        for (auto& slot : slots_) free_.push_back(&slot);
    }
    ~PostgresDb() override {
        for (auto& slot : slots_) slot.Drop();
    }
    PostgresDb(const PostgresDb&) = delete;
    PostgresDb& operator=(const PostgresDb&) = delete;

    Backend backend() const override { return Backend::kPostgres; }

    Status Read(const TxFn& fn) override { return Run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", fn); }
    Status Write(const TxFn& fn) override { return Run("BEGIN", fn); }
    Status Ping() override {
        return Read([](Connection& c) -> Status {
            PLYR_TRY_STATUS(c.Query("SELECT 1"));
            return Ok();
        });
    }

  private:
    class Lease {
      public:
        Lease(PostgresDb& db, Slot* slot) : db_(db), slot_(slot) {}
        ~Lease() { db_.Release(slot_); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Slot& slot() { return *slot_; }

      private:
        PostgresDb& db_;
        Slot* slot_;
    };

    Result<Slot*> Acquire() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
        std::unique_lock lock(mu_);
        if (!cv_.wait_until(lock, deadline, [&] { return !free_.empty(); })) {
            return Fail(ErrorCode::kBusy, "database is busy",
                        fmt::format("all {} pooled connections stayed in use for {} ms", options_.pool_size,
                                    options_.busy_timeout_ms));
        }
        Slot* slot = free_.back();
        free_.pop_back();
        return slot;
    }

    void Release(Slot* slot) {
        if (slot->conn != nullptr && slot->statements.size() > kMaxCachedStatements &&
            PQtransactionStatus(slot->conn) == PQTRANS_IDLE) {
            ResultPtr res(PQexec(slot->conn, "DEALLOCATE ALL"));
            if (res == nullptr || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
                slot->Drop();
            } else {
                slot->statements.clear();
            }
        }
        {
            std::lock_guard lock(mu_);
            free_.push_back(slot);
        }
        cv_.notify_one();
    }

    Status Connect(Slot& slot) {
        slot.Drop();
        std::vector<const char*> keys;
        std::vector<const char*> values;
        for (std::size_t i = 0; i < info_.keys.size(); ++i) {
            keys.push_back(info_.keys[i].c_str());
            values.push_back(info_.values[i].c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        PGconn* conn = PQconnectdbParams(keys.data(), values.data(), 0);
        if (conn == nullptr) {
            return Fail(ErrorCode::kUnavailable, "database unavailable", "libpq could not allocate a connection");
        }
        if (PQstatus(conn) != CONNECTION_OK) {
            std::string message = ScrubSecret(TrimTrailing(PQerrorMessage(conn)), info_.password);
            PQfinish(conn);
            return Fail(ErrorCode::kUnavailable, "database unavailable",
                        fmt::format("connect to {}: {}", info_.description, message));
        }
        PQsetNoticeProcessor(conn, NoticeToLog, nullptr);
        slot.conn = conn;
        PgConnection setup(slot, info_);
        const std::string sql = fmt::format("SET statement_timeout = {}; SET bytea_output = 'hex'",
                                            static_cast<std::int64_t>(options_.statement_timeout_s) * 1000);
        auto st = setup.Command(sql.c_str());
        if (!st) {
            slot.Drop();
            return Fail(ErrorCode::kUnavailable, "database unavailable",
                        fmt::format("session setup on {}: {}", info_.description, st.error().detail));
        }
        return Ok();
    }

    Status Run(const char* begin_sql, const TxFn& fn) {
        auto acquired = Acquire();
        if (!acquired) return Fail(std::move(acquired.error()));
        Lease lease(*this, *acquired);
        Slot& slot = lease.slot();
        for (int attempt = 0;; ++attempt) {
            const bool retry_allowed = attempt == 0;
            if (slot.conn == nullptr || PQstatus(slot.conn) != CONNECTION_OK) PLYR_TRY_STATUS(Connect(slot));
            PgConnection conn(slot, info_);
            auto begun = conn.Command(begin_sql);
            if (!begun) {
                if (conn.lost()) {
                    slot.Drop();
                    if (retry_allowed) {
                        log::Info("db.postgres.reconnect", {{"reason", "connection lost before BEGIN"}});
                        continue;
                    }
                }
                return begun;
            }
            Status result;
            try {
                result = fn(conn);
            } catch (...) {
                if (conn.lost()) {
                    slot.Drop();
                } else {
                    conn.Rollback();
                }
                throw;
            }
            if (conn.lost()) {
                slot.Drop();
                if (conn.statements_ok() == 0 && retry_allowed) {
                    log::Info("db.postgres.reconnect", {{"reason", "connection lost before the first statement"}});
                    continue;
                }
                if (result) {
                    return Fail(ErrorCode::kUnavailable, "database unavailable",
                                "connection lost during the transaction");
                }
                return result;
            }
            if (!result) {
                conn.Rollback();
                return result;
            }
            const PGTransactionStatusType tx = PQtransactionStatus(slot.conn);
            if (conn.failed() || tx == PQTRANS_INERROR) {
                conn.Rollback();
                return Fail(ErrorCode::kInvalidArgument, "transaction aborted by an earlier failed statement",
                            "the callback returned success after a statement failed");
            }
            if (tx != PQTRANS_INTRANS) {
                conn.Rollback();
                return Fail(ErrorCode::kInternal, "transaction ended inside the callback",
                            "the callback ran COMMIT/ROLLBACK itself");
            }
            auto committed = conn.Command("COMMIT");
            if (!committed) {
                if (conn.lost()) {
                    slot.Drop();
                    return Fail(ErrorCode::kUnavailable, "database unavailable",
                                "connection lost during COMMIT: the outcome is unknown");
                }
                conn.Rollback();
            }
            return committed;
        }
    }

    const Options options_;
    const ConnInfo info_;
    std::vector<Slot> slots_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Slot*> free_;
};

}  // namespace

Result<std::unique_ptr<Db>> OpenPostgres(const Options& options) {
    if (options.postgres_url.empty()) return Fail(ErrorCode::kConfig, "no PostgreSQL connection URL configured");
    if (options.pool_size < 1) return Fail(ErrorCode::kConfig, "database pool size must be at least 1");
    if (options.busy_timeout_ms < 0) return Fail(ErrorCode::kConfig, "database busy timeout must not be negative");
    if (options.statement_timeout_s < 0) {
        return Fail(ErrorCode::kConfig, "database statement timeout must not be negative");
    }
    auto info = ParseConnInfo(options.postgres_url);
    if (!info) return Fail(std::move(info.error()));
    return std::unique_ptr<Db>(std::make_unique<PostgresDb>(options, std::move(*info)));
}

std::string DescribeUrl(std::string_view url) {
    auto info = ParseConnInfo(url);
    return info ? info->description : std::string();
}

}  // namespace plyr::storage::db::postgres
