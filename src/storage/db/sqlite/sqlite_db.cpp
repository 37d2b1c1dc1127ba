#include "storage/db/sqlite/sqlite_db.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <limits>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "core/log.hpp"

namespace plyr::storage::db::sqlite {

namespace {

// Bounded so a caller that builds SQL dynamically cannot grow a connection without limit; the cache is
// dropped wholesale (outside any transaction) when it grows past this.
constexpr std::size_t kMaxCachedStatements = 256;
constexpr std::size_t kMaxSqlInDetail = 300;

std::string Shorten(std::string_view sql) {
    if (sql.size() <= kMaxSqlInDetail) return std::string(sql);
    return std::string(sql.substr(0, kMaxSqlInDetail)) + "…";
}

Error MapError(int rc, std::string_view engine_message, std::string_view sql, bool reader) {
    std::string detail = fmt::format("sqlite {} ({}): {}", sqlite3_errstr(rc), rc, engine_message);
    if (!sql.empty()) detail += fmt::format(" [sql: {}]", Shorten(sql));
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return Error{ErrorCode::kBusy, "database is busy", std::move(detail)};
        case SQLITE_CONSTRAINT:
            return Error{ErrorCode::kConflict, "constraint violation", std::move(detail)};
        case SQLITE_ERROR:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_TOOBIG:
            return Error{ErrorCode::kInvalidArgument, "invalid database statement", std::move(detail)};
        case SQLITE_READONLY:
            // Readers run with query_only=ON: a write there is a caller bug, not an I/O problem.
            if (reader) return Error{ErrorCode::kInvalidArgument, "write in a read transaction", std::move(detail)};
            return Error{ErrorCode::kIo, "database is read-only", std::move(detail)};
        case SQLITE_FULL:
            return Error{ErrorCode::kStorageFull, "database disk is full", std::move(detail)};
        case SQLITE_IOERR:
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
        case SQLITE_PROTOCOL:
            return Error{ErrorCode::kIo, "database i/o error", std::move(detail)};
        case SQLITE_CANTOPEN:
            return Error{ErrorCode::kUnavailable, "cannot open the database", std::move(detail)};
        case SQLITE_INTERRUPT:
            return Error{ErrorCode::kCancelled, "database operation interrupted", std::move(detail)};
        default:
            return Error{ErrorCode::kInternal, "database error", std::move(detail)};
    }
}

// Resets a cached statement and drops its bindings (which point into the caller's Params) on every exit path.
class StmtReset {
  public:
    explicit StmtReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
    ~StmtReset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    StmtReset(const StmtReset&) = delete;
    StmtReset& operator=(const StmtReset&) = delete;

  private:
    sqlite3_stmt* stmt_;
};

bool OnlyWhitespace(const char* begin, const char* end) {
    for (const char* p = begin; p < end; ++p) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';') return false;
    }
    return true;
}

class SqliteConnection final : public Connection {
  public:
    SqliteConnection(sqlite3* db, bool reader) : db_(db), reader_(reader) {}
    ~SqliteConnection() override {
        DropCache();
        sqlite3_close_v2(db_);
    }
    SqliteConnection(const SqliteConnection&) = delete;
    SqliteConnection& operator=(const SqliteConnection&) = delete;

    static Result<std::unique_ptr<SqliteConnection>> Open(const std::string& path, int busy_timeout_ms, bool reader) {
        sqlite3* raw = nullptr;
        const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
        const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
        if (rc != SQLITE_OK) {
            std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
            sqlite3_close_v2(raw);
            return Fail(ErrorCode::kUnavailable, "cannot open the database",
                        fmt::format("sqlite open {}: {}", path, message));
        }
        auto conn = std::make_unique<SqliteConnection>(raw, reader);
        sqlite3_extended_result_codes(raw, 1);
        sqlite3_busy_timeout(raw, busy_timeout_ms);
        auto setup = conn->Setup();
        if (!setup) {
            return Fail(ErrorCode::kUnavailable, "cannot open the database",
                        fmt::format("sqlite setup {}: {}", path, setup.error().ToString()));
        }
        return conn;
    }

    Backend backend() const override { return Backend::kSqlite; }

    Result<Rows> Query(std::string_view sql, Params params) override {
        if (failed_) return Aborted();
        auto rows = QueryImpl(sql, params);
        if (!rows && in_tx_) failed_ = true;
        return rows;
    }

    Status ExecScript(std::string_view sql) override {
        if (failed_) return Aborted();
        const std::string text(sql);
        char* message = nullptr;
        const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
        if (rc == SQLITE_OK) return Ok();
        std::string engine_message = message != nullptr ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        if (in_tx_) failed_ = true;
        return Fail(MapError(rc, engine_message, "(script)", reader_));
    }

    Status Begin(const char* sql) {
        const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) return Fail(MapError(rc, sqlite3_errmsg(db_), sql, reader_));
        in_tx_ = true;
        failed_ = false;
        return Ok();
    }

    Status Commit() {
        in_tx_ = false;
        const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
        if (rc == SQLITE_OK) return Ok();
        Error error = MapError(rc, sqlite3_errmsg(db_), "COMMIT", reader_);
        RollbackIfActive();
        return Fail(std::move(error));
    }

    void Rollback() {
        in_tx_ = false;
        RollbackIfActive();
    }

    // The busy handler's budget for the next lock wait (Write spends what the writer mutex wait left over).
    void SetBusyTimeout(int ms) { sqlite3_busy_timeout(db_, ms); }

    bool failed() const { return failed_; }
    bool InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

    // Called between transactions only: no cached statement is in use then.
    void TrimCache() {
        if (cache_.size() > kMaxCachedStatements) DropCache();
    }

  private:
    static tl::unexpected<Error> Aborted() {
        return Fail(ErrorCode::kInvalidArgument, "transaction aborted by an earlier failed statement",
                    "a statement failed earlier in this transaction; return its error");
    }

    Status Setup() {
        if (!reader_) {
            // journal_mode is persistent in the file: the writer sets it, readers find it in the header.
            auto mode = QueryImpl("PRAGMA journal_mode=WAL", {});
            if (!mode) return Fail(std::move(mode.error()));
            if (mode->empty() || (*mode)[0].Text(0) != "wal") {
                return Fail(ErrorCode::kUnavailable, "cannot enable WAL mode",
                            mode->empty() ? "no result" : (*mode)[0].Text(0));
            }
        }
        const char* pragmas = reader_ ? "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA query_only=ON;"
                                      : "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
        const int rc = sqlite3_exec(db_, pragmas, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) return Fail(MapError(rc, sqlite3_errmsg(db_), pragmas, reader_));
        return Ok();
    }

    void RollbackIfActive() {
        // SQLite rolls back by itself after some errors (SQLITE_FULL, IOERR, NOMEM, BUSY during commit).
        if (sqlite3_get_autocommit(db_) != 0) return;
        const int rc = sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) {
            log::Error("db.sqlite.rollback_failed", {{"code", rc}, {"message", sqlite3_errmsg(db_)}});
        }
    }

    void DropCache() {
        for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
        cache_.clear();
    }

    Result<sqlite3_stmt*> Prepare(std::string_view sql) {
        std::string key(sql);
        if (auto it = cache_.find(key); it != cache_.end()) return it->second;
        if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
            return Fail(ErrorCode::kInvalidArgument, "invalid database statement", "statement too long");
        }
        sqlite3_stmt* stmt = nullptr;
        const char* tail = nullptr;
        int rc =
            sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
        if (rc != SQLITE_OK) return Fail(MapError(rc, sqlite3_errmsg(db_), sql, reader_));
        if (stmt == nullptr) {
            return Fail(ErrorCode::kInvalidArgument, "invalid database statement", "empty statement");
        }
        const char* end = sql.data() + sql.size();
        if (tail != nullptr && !OnlyWhitespace(tail, end)) {
            // Anything after the first statement must be comments only (a second statement would be ignored).
            sqlite3_stmt* next = nullptr;
            rc = sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &next, nullptr);
            sqlite3_finalize(next);
            if (rc != SQLITE_OK || next != nullptr) {
                sqlite3_finalize(stmt);
                return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                            fmt::format("Query() takes exactly one statement [sql: {}]", Shorten(sql)));
            }
        }
        cache_.emplace(std::move(key), stmt);
        return stmt;
    }

    Status Bind(sqlite3_stmt* stmt, std::string_view sql, Params params) {
        const int count = sqlite3_bind_parameter_count(stmt);
        for (int j = 1; j <= count; ++j) {
            const char* name = sqlite3_bind_parameter_name(stmt, j);
            std::string_view text = name != nullptr ? name : "?";
            std::size_t number = 0;
            bool valid = text.size() >= 2 && text[0] == '$';
            if (valid) {
                auto [ptr, ec] = std::from_chars(text.data() + 1, text.data() + text.size(), number);
                valid = ec == std::errc() && ptr == text.data() + text.size() && number >= 1;
            }
            if (!valid) {
                return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                            fmt::format("placeholder '{}' is not of the form $N [sql: {}]", text, Shorten(sql)));
            }
            if (number > params.size()) {
                return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                            fmt::format("statement uses ${} but {} parameter(s) were given [sql: {}]", number,
                                        params.size(), Shorten(sql)));
            }
        }
        for (std::size_t i = 0; i < params.size(); ++i) {
            const std::string name = fmt::format("${}", i + 1);
            const int index = sqlite3_bind_parameter_index(stmt, name.c_str());
            if (index == 0) {
                // PostgreSQL rejects parameters it cannot place, so SQLite does too.
                return Fail(ErrorCode::kInvalidArgument, "invalid database statement",
                            fmt::format("parameter {} is not used by the statement [sql: {}]", name, Shorten(sql)));
            }
            const Value& value = params[i];
            int rc = SQLITE_OK;
            if (std::holds_alternative<std::nullptr_t>(value)) {
                rc = sqlite3_bind_null(stmt, index);
            } else if (const auto* n = std::get_if<std::int64_t>(&value)) {
                rc = sqlite3_bind_int64(stmt, index, *n);
            } else if (const auto* d = std::get_if<double>(&value)) {
                rc = sqlite3_bind_double(stmt, index, *d);
            } else if (const auto* s = std::get_if<std::string>(&value)) {
                // SQLITE_STATIC: the caller's Params outlive the statement run; StmtReset clears the bindings.
                rc = sqlite3_bind_text64(stmt, index, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
            } else if (const auto* b = std::get_if<Blob>(&value)) {
                // data() is never null, so an empty Blob binds a zero-length blob rather than NULL.
                rc = sqlite3_bind_blob64(stmt, index, b->bytes.data(), b->bytes.size(), SQLITE_STATIC);
            } else {
                rc = sqlite3_bind_int64(stmt, index, std::get<bool>(value) ? 1 : 0);
            }
            if (rc != SQLITE_OK) return Fail(MapError(rc, sqlite3_errmsg(db_), sql, reader_));
        }
        return Ok();
    }

    Result<Rows> QueryImpl(std::string_view sql, Params params) {
        auto prepared = Prepare(sql);
        if (!prepared) return Fail(std::move(prepared.error()));
        sqlite3_stmt* stmt = *prepared;
        StmtReset reset(stmt);
        PLYR_TRY_STATUS(Bind(stmt, sql, params));

        const int ncols = sqlite3_column_count(stmt);
        std::vector<std::string> columns;
        columns.reserve(static_cast<std::size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
            const char* name = sqlite3_column_name(stmt, c);
            columns.emplace_back(name != nullptr ? name : "");
        }
        Rows rows(std::move(columns), 0);

        const sqlite3_int64 changes_before = sqlite3_total_changes64(db_);
        int rc = SQLITE_OK;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            std::vector<Value> cells;
            cells.reserve(static_cast<std::size_t>(ncols));
            for (int c = 0; c < ncols; ++c) {
                switch (sqlite3_column_type(stmt, c)) {
                    case SQLITE_INTEGER:
                        cells.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(stmt, c)));
                        break;
                    case SQLITE_FLOAT:
                        cells.emplace_back(sqlite3_column_double(stmt, c));
                        break;
                    case SQLITE_TEXT: {
                        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
                        const int size = sqlite3_column_bytes(stmt, c);
                        cells.emplace_back(std::string(text != nullptr ? text : "", static_cast<std::size_t>(size)));
                        break;
                    }
                    case SQLITE_BLOB: {
                        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt, c));
                        const int size = sqlite3_column_bytes(stmt, c);
                        cells.emplace_back(
                            Blob{data != nullptr ? std::string(data, static_cast<std::size_t>(size)) : std::string()});
                        break;
                    }
                    default:
                        cells.emplace_back(nullptr);
                        break;
                }
            }
            rows.Add(std::move(cells));
        }
        if (rc != SQLITE_DONE) return Fail(MapError(rc, sqlite3_errmsg(db_), sql, reader_));
        // changes64() reports the last completed INSERT/UPDATE/DELETE, which may be an earlier statement;
        // the total counter tells whether this one changed anything.
        if (sqlite3_total_changes64(db_) != changes_before) rows.set_affected(sqlite3_changes64(db_));
        return rows;
    }

    sqlite3* db_;
    bool reader_;
    bool in_tx_ = false;
    bool failed_ = false;
    std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Runs fn inside begin_sql … COMMIT; rolls back on error or exception (which is rethrown: it is the caller's).
// restore_busy_ms >= 0: the busy timeout to put back once BEGIN has its lock.
Status RunTransaction(SqliteConnection& conn, const char* begin_sql, const TxFn& fn, int restore_busy_ms = -1) {
    auto begun = conn.Begin(begin_sql);
    if (restore_busy_ms >= 0) conn.SetBusyTimeout(restore_busy_ms);
    if (!begun) return begun;
    Status result;
    try {
        result = fn(conn);
    } catch (...) {
        conn.Rollback();
        throw;
    }
    if (!result) {
        conn.Rollback();
        return result;
    }
    if (conn.failed()) {
        conn.Rollback();
        return Fail(ErrorCode::kInvalidArgument, "transaction aborted by an earlier failed statement",
                    "the callback returned success after a statement failed");
    }
    if (!conn.InTransaction()) {
        conn.Rollback();
        return Fail(ErrorCode::kInternal, "transaction ended inside the callback",
                    "the callback ran COMMIT/ROLLBACK itself");
    }
    return conn.Commit();
}

thread_local const void* tls_writing_db = nullptr;

class SqliteDb final : public Db {
  public:
    SqliteDb(Options options, std::unique_ptr<SqliteConnection> writer)
        : options_(std::move(options)), writer_(std::move(writer)) {}

    Backend backend() const override { return Backend::kSqlite; }

    Status Read(const TxFn& fn) override {
        auto reader = AcquireReader();
        if (!reader) return Fail(std::move(reader.error()));
        ReaderLease lease(*this, std::move(*reader));
        return RunTransaction(*lease.conn, "BEGIN", fn);
    }

    Status Write(const TxFn& fn) override {
        if (tls_writing_db == this) {
            return Fail(ErrorCode::kInternal, "nested write transaction", "Write() called inside Write() on one Db");
        }
        // One budget for both waits (this process's writer, then another process's write lock), so a Write
        // gives up after busy_timeout_ms, not twice that.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
        std::unique_lock lock(writer_mu_, std::defer_lock);
        if (!lock.try_lock_until(deadline)) {
            return Fail(ErrorCode::kBusy, "database is busy",
                        fmt::format("waited {} ms for the writer connection", options_.busy_timeout_ms));
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        writer_->SetBusyTimeout(static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
        struct WritingMark {
            explicit WritingMark(const void* db) { tls_writing_db = db; }
            ~WritingMark() { tls_writing_db = nullptr; }
            WritingMark(const WritingMark&) = delete;
            WritingMark& operator=(const WritingMark&) = delete;
        } mark(this);
        auto result = RunTransaction(*writer_, "BEGIN IMMEDIATE", fn, options_.busy_timeout_ms);
        writer_->TrimCache();
        return result;
    }

    Status Ping() override {
        return Read([](Connection& c) -> Status {
            PLYR_TRY_STATUS(c.Query("SELECT 1"));
            return Ok();
        });
    }

  private:
    struct ReaderLease {
        ReaderLease(SqliteDb& db, std::unique_ptr<SqliteConnection> c) : owner(db), conn(std::move(c)) {}
        ~ReaderLease() { owner.ReleaseReader(std::move(conn)); }
        ReaderLease(const ReaderLease&) = delete;
        ReaderLease& operator=(const ReaderLease&) = delete;
        SqliteDb& owner;
        std::unique_ptr<SqliteConnection> conn;
    };

    Result<std::unique_ptr<SqliteConnection>> AcquireReader() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
        std::unique_lock lock(readers_mu_);
        const bool ready = readers_cv_.wait_until(
            lock, deadline, [&] { return !idle_readers_.empty() || readers_open_ < options_.pool_size; });
        if (!ready) {
            return Fail(ErrorCode::kBusy, "database is busy",
                        fmt::format("all {} reader connections stayed in use for {} ms", options_.pool_size,
                                    options_.busy_timeout_ms));
        }
        if (!idle_readers_.empty()) {
            auto conn = std::move(idle_readers_.back());
            idle_readers_.pop_back();
            return conn;
        }
        ++readers_open_;
        lock.unlock();
        auto conn = SqliteConnection::Open(options_.sqlite_path, options_.busy_timeout_ms, /*reader=*/true);
        if (!conn) {
            lock.lock();
            --readers_open_;
            readers_cv_.notify_one();
        }
        return conn;
    }

    void ReleaseReader(std::unique_ptr<SqliteConnection> conn) {
        conn->TrimCache();
        {
            std::lock_guard lock(readers_mu_);
            idle_readers_.push_back(std::move(conn));
        }
        readers_cv_.notify_one();
    }

    const Options options_;
    std::timed_mutex writer_mu_;
    std::unique_ptr<SqliteConnection> writer_;
    std::mutex readers_mu_;
    std::condition_variable readers_cv_;
    std::vector<std::unique_ptr<SqliteConnection>> idle_readers_;
    int readers_open_ = 0;
};

}  // namespace

Result<std::unique_ptr<Db>> OpenSqlite(const Options& options) {
    const std::string& path = options.sqlite_path;
    if (path.empty()) return Fail(ErrorCode::kConfig, "no SQLite database path configured");
    if (path == ":memory:" || path.rfind("file:", 0) == 0) {
        return Fail(ErrorCode::kConfig, "the SQLite database must be a plain file path",
                    "readers need a shared file: ':memory:' and URI paths are not supported");
    }
    if (options.pool_size < 1) return Fail(ErrorCode::kConfig, "database pool size must be at least 1");
    if (options.busy_timeout_ms < 0) return Fail(ErrorCode::kConfig, "database busy timeout must not be negative");

    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(parent, ec);
        if (ec) {
            return Fail(ErrorCode::kUnavailable, "cannot create the database directory",
                        fmt::format("{}: {}", parent.string(), ec.message()));
        }
    }
    auto writer = SqliteConnection::Open(path, options.busy_timeout_ms, /*reader=*/false);
    if (!writer) return Fail(std::move(writer.error()));
    return std::unique_ptr<Db>(std::make_unique<SqliteDb>(options, std::move(*writer)));
}

}  // namespace plyr::storage::db::sqlite
