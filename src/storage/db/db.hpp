#pragma once
// storage::db — one SQL interface over two engines (SQLite, PostgreSQL).
//
// Contract
// - SQL uses PostgreSQL-style placeholders `$1, $2, …` on both engines (SQLite binds them by name).
// - All calls are BLOCKING. Never call them on an I/O thread: coroutines go through net::Offload().
// - Db is thread-safe. A Connection handed to a callback belongs to that callback only, for its duration.
// - Read(): a consistent snapshot on a reader connection. Write(): one transaction on the writer
//   (SQLite: BEGIN IMMEDIATE on the single writer connection; PostgreSQL: BEGIN on a pooled connection);
//   committed when the callback returns success, rolled back when it returns an error or throws.
// - Errors: kBusy (SQLite busy beyond busy_timeout, PostgreSQL serialization/lock timeouts),
//   kUnavailable (cannot connect / connection lost), kConflict (unique or FK violation),
//   kInvalidArgument (SQL error from a bad statement), kTimeout (statement timeout).
// - Values: see Value. Timestamps are int64 microseconds since the epoch (product.md §5.1); booleans are
//   0/1 integers on SQLite and BOOLEAN on PostgreSQL — Row::Bool() reads both.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace plyr::storage::db {

enum class Backend { kSqlite, kPostgres };

struct Blob {
    std::string bytes;
    bool operator==(const Blob&) const = default;
};

// A bound parameter or a fetched cell.
using Value = std::variant<std::nullptr_t, std::int64_t, double, std::string, Blob, bool>;

// One fetched row. It refers to the column names of the Rows it came from: do not keep a Row (or a copy)
// beyond that Rows. Accessors on a cell of the wrong kind (e.g. Int() on text that is not a number) are a
// programming error and throw std::invalid_argument.
class Row {
  public:
    Row(const std::vector<std::string>* columns, std::vector<Value> cells)
        : columns_(columns), cells_(std::move(cells)) {}

    std::size_t size() const { return cells_.size(); }
    bool IsNull(std::size_t col) const;
    std::int64_t Int(std::size_t col) const;  // int, bool or numeric text; NULL -> 0
    double Real(std::size_t col) const;
    std::string Text(std::size_t col) const;   // NULL -> ""
    std::string Bytes(std::size_t col) const;  // blob/bytea; NULL -> ""
    bool Bool(std::size_t col) const;
    std::optional<std::int64_t> OptInt(std::size_t col) const;
    std::optional<std::string> OptText(std::size_t col) const;
    const Value& at(std::size_t col) const { return cells_.at(col); }

    // By column name (first match). Unknown name is a programming error (throws std::out_of_range).
    std::size_t Index(std::string_view name) const;
    bool IsNull(std::string_view name) const { return IsNull(Index(name)); }
    std::int64_t Int(std::string_view name) const { return Int(Index(name)); }
    double Real(std::string_view name) const { return Real(Index(name)); }
    std::string Text(std::string_view name) const { return Text(Index(name)); }
    std::string Bytes(std::string_view name) const { return Bytes(Index(name)); }
    bool Bool(std::string_view name) const { return Bool(Index(name)); }
    std::optional<std::int64_t> OptInt(std::string_view name) const { return OptInt(Index(name)); }
    std::optional<std::string> OptText(std::string_view name) const { return OptText(Index(name)); }

  private:
    friend class Rows;  // re-points columns_ when a Rows is moved
    const std::vector<std::string>* columns_;
    std::vector<Value> cells_;
};

class Rows {
  public:
    Rows() = default;
    Rows(std::vector<std::string> columns, std::int64_t affected) : columns_(std::move(columns)), affected_(affected) {}
    Rows(Rows&& other) noexcept;
    Rows& operator=(Rows&& other) noexcept;
    Rows(const Rows&) = delete;
    Rows& operator=(const Rows&) = delete;

    void Add(std::vector<Value> cells) { rows_.emplace_back(&columns_, std::move(cells)); }
    std::size_t size() const { return rows_.size(); }
    bool empty() const { return rows_.empty(); }
    const Row& operator[](std::size_t i) const { return rows_[i]; }
    const Row& front() const { return rows_.front(); }
    auto begin() const { return rows_.begin(); }
    auto end() const { return rows_.end(); }
    const std::vector<std::string>& columns() const { return columns_; }
    std::int64_t affected() const { return affected_; }
    void set_affected(std::int64_t n) { affected_ = n; }

  private:
    std::vector<std::string> columns_;
    std::vector<Row> rows_;
    std::int64_t affected_ = 0;
};

using Params = std::span<const Value>;

class Connection {
  public:
    virtual ~Connection() = default;
    virtual Backend backend() const = 0;
    // One statement with parameters. Statements are prepared once per connection and cached.
    virtual Result<Rows> Query(std::string_view sql, Params params) = 0;
    Result<Rows> Query(std::string_view sql, std::initializer_list<Value> params = {}) {
        return Query(sql, Params(params.begin(), params.size()));
    }
    // Returns the number of rows changed.
    Result<std::int64_t> Exec(std::string_view sql, std::initializer_list<Value> params = {}) {
        auto rows = Query(sql, Params(params.begin(), params.size()));
        if (!rows) return Fail(std::move(rows.error()));
        return rows->affected();
    }
    // Several statements without parameters (migrations). Runs inside the current transaction.
    virtual Status ExecScript(std::string_view sql) = 0;
};

using TxFn = std::function<Status(Connection&)>;

struct Options {
    Backend backend = Backend::kSqlite;
    std::string sqlite_path;       // kSqlite: file path (":memory:" is not supported: readers need the file)
    std::string postgres_url;      // kPostgres: postgres://… (libpq URI)
    int pool_size = 10;            // PostgreSQL pool size; SQLite reader connections (writer is extra)
    int busy_timeout_ms = 5000;    // SQLite busy_timeout; PostgreSQL pool wait
    int statement_timeout_s = 10;  // PostgreSQL statement_timeout
};

class Db {
  public:
    virtual ~Db() = default;
    virtual Backend backend() const = 0;
    virtual Status Read(const TxFn& fn) = 0;
    virtual Status Write(const TxFn& fn) = 0;
    // Cheap liveness check (SELECT 1).
    virtual Status Ping() = 0;

    // Typed helpers: run fn and carry its value out.
    template <typename T>
    Result<T> ReadValue(const std::function<Result<T>(Connection&)>& fn) {
        std::optional<T> out;
        auto st = Read([&](Connection& c) -> Status {
            auto r = fn(c);
            if (!r) return Fail(std::move(r.error()));
            out.emplace(std::move(*r));
            return Ok();
        });
        if (!st) return Fail(std::move(st.error()));
        return std::move(*out);
    }
    template <typename T>
    Result<T> WriteValue(const std::function<Result<T>(Connection&)>& fn) {
        std::optional<T> out;
        auto st = Write([&](Connection& c) -> Status {
            auto r = fn(c);
            if (!r) return Fail(std::move(r.error()));
            out.emplace(std::move(*r));
            return Ok();
        });
        if (!st) return Fail(std::move(st.error()));
        return std::move(*out);
    }
};

// Opens the backend named in options (and, for SQLite, creates the file and its directory).
Result<std::unique_ptr<Db>> Open(const Options& options);

std::string_view ToString(Backend backend);

}  // namespace plyr::storage::db
