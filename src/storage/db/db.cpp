#include "storage/db/db.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "storage/db/postgres/postgres_db.hpp"
#include "storage/db/sqlite/sqlite_db.hpp"

namespace plyr::storage::db {

namespace {

[[noreturn]] void WrongKind(std::size_t col, std::string_view wanted) {
    throw std::invalid_argument(fmt::format("column {} cannot be read as {}", col, wanted));
}

std::optional<std::int64_t> ParseInt(std::string_view text) {
    std::int64_t out = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return out;
}

std::optional<double> ParseReal(std::string_view text) {
    // PostgreSQL spells the special values out; from_chars only knows "inf"/"nan".
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    double out = 0;
    const auto* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return out;
}

}  // namespace

bool Row::IsNull(std::size_t col) const { return std::holds_alternative<std::nullptr_t>(cells_.at(col)); }

std::int64_t Row::Int(std::size_t col) const {
    const Value& v = cells_.at(col);
    if (std::holds_alternative<std::nullptr_t>(v)) return 0;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
    if (const auto* b = std::get_if<bool>(&v)) return *b ? 1 : 0;
    if (const auto* d = std::get_if<double>(&v)) {
        // PostgreSQL returns numeric for e.g. sum(bigint); truncation matches a C cast.
        if (!std::isfinite(*d) || *d < -9.2233720368547758e18 || *d >= 9.2233720368547758e18) {
            WrongKind(col, "an integer");
        }
        return static_cast<std::int64_t>(*d);
    }
    if (const auto* s = std::get_if<std::string>(&v)) {
        if (auto parsed = ParseInt(*s)) return *parsed;
    }
    WrongKind(col, "an integer");
}

double Row::Real(std::size_t col) const {
    const Value& v = cells_.at(col);
    if (std::holds_alternative<std::nullptr_t>(v)) return 0.0;
    if (const auto* d = std::get_if<double>(&v)) return *d;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
    if (const auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
    if (const auto* s = std::get_if<std::string>(&v)) {
        if (auto parsed = ParseReal(*s)) return *parsed;
    }
    WrongKind(col, "a real");
}

std::string Row::Text(std::size_t col) const {
    const Value& v = cells_.at(col);
    if (std::holds_alternative<std::nullptr_t>(v)) return {};
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    if (const auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
    if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    return std::get<Blob>(v).bytes;
}

std::string Row::Bytes(std::size_t col) const {
    const Value& v = cells_.at(col);
    if (std::holds_alternative<std::nullptr_t>(v)) return {};
    if (const auto* b = std::get_if<Blob>(&v)) return b->bytes;
    // SQLite keeps the storage class of what was inserted: text written into a BLOB column reads back as text.
    if (const auto* s = std::get_if<std::string>(&v)) return *s;
    WrongKind(col, "bytes");
}

bool Row::Bool(std::size_t col) const {
    const Value& v = cells_.at(col);
    if (std::holds_alternative<std::nullptr_t>(v)) return false;
    if (const auto* b = std::get_if<bool>(&v)) return *b;
    if (const auto* i = std::get_if<std::int64_t>(&v)) return *i != 0;
    if (const auto* s = std::get_if<std::string>(&v)) {
        if (*s == "t" || *s == "true" || *s == "1") return true;
        if (*s == "f" || *s == "false" || *s == "0") return false;
    }
    WrongKind(col, "a boolean");
}

std::optional<std::int64_t> Row::OptInt(std::size_t col) const {
    if (IsNull(col)) return std::nullopt;
    return Int(col);
}

std::optional<std::string> Row::OptText(std::size_t col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
}

std::size_t Row::Index(std::string_view name) const {
    if (columns_ != nullptr) {
        for (std::size_t i = 0; i < columns_->size(); ++i) {
            if ((*columns_)[i] == name) return i;
        }
    }
    throw std::out_of_range(fmt::format("no column named '{}'", name));
}

Rows::Rows(Rows&& other) noexcept
    : columns_(std::move(other.columns_)), rows_(std::move(other.rows_)), affected_(other.affected_) {
    for (auto& row : rows_) row.columns_ = &columns_;
    other.affected_ = 0;
}

Rows& Rows::operator=(Rows&& other) noexcept {
    if (this != &other) {
        columns_ = std::move(other.columns_);
        rows_ = std::move(other.rows_);
        affected_ = other.affected_;
        for (auto& row : rows_) row.columns_ = &columns_;
        other.affected_ = 0;
    }
    return *this;
}

Result<std::unique_ptr<Db>> Open(const Options& options) {
    switch (options.backend) {
        case Backend::kSqlite:
            return sqlite::OpenSqlite(options);
        case Backend::kPostgres:
            return postgres::OpenPostgres(options);
    }
    return Fail(ErrorCode::kConfig, "unknown database backend");
}

std::string_view ToString(Backend backend) {
    switch (backend) {
        case Backend::kSqlite:
            return "sqlite";
        case Backend::kPostgres:
            return "postgres";
    }
    return "unknown";
}

}  // namespace plyr::storage::db
