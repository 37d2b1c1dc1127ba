#include "test_db.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "storage/db/migrator.hpp"

namespace plyr::jobs::testing {

namespace sdb = ::plyr::storage::db;

std::optional<std::string> TestDb::PostgresBaseUrl() {
    const char* url = std::getenv("PLYR_TEST_PG");
    if (url == nullptr || *url == '\0') return std::nullopt;
    return std::string(url);
}

Result<sdb::Options> OptionsFromUrl(const std::string& url) {
    sdb::Options options;
    if (url.rfind("sqlite://", 0) == 0) {
        std::string rest = url.substr(std::string_view("sqlite://").size());
        if (rest.size() < 2 || rest[0] != '/') return Fail(ErrorCode::kConfig, "bad sqlite url", url);
        options.backend = sdb::Backend::kSqlite;
        options.sqlite_path = rest.substr(1);
        return options;
    }
    if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
        options.backend = sdb::Backend::kPostgres;
        options.postgres_url = url;
        options.pool_size = 12;
        return options;
    }
    return Fail(ErrorCode::kConfig, "database url must be sqlite:// or postgres://", url);
}

TestDb::TestDb(sdb::Backend backend) : backend_(backend) {
    core::SystemClock clock;
    if (backend == sdb::Backend::kSqlite) {
        url_ = "sqlite:///" + dir_.str() + "/jobs.db";
    } else {
        auto base = PostgresBaseUrl();
        if (!base) {
            error_ = "PLYR_TEST_PG is not set";
            return;
        }
        auto admin = sdb::Open(*OptionsFromUrl(*base));
        if (!admin) {
            error_ = admin.error().ToString();
            return;
        }
        admin_ = std::move(*admin);
        schema_ = "jobs_t_" + core::RandomHex(8);
        auto st = admin_->Write([&](sdb::Connection& c) { return c.ExecScript("CREATE SCHEMA " + schema_); });
        if (!st) {
            error_ = st.error().ToString();
            return;
        }
        // libpq passes `options` to the server: every connection of this Db lives in the test's schema.
        url_ = *base + (base->find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" + schema_;
    }
    auto opened = sdb::Open(*OptionsFromUrl(url_));
    if (!opened) {
        error_ = opened.error().ToString();
        return;
    }
    auto applied = sdb::migrator::Apply(**opened, false, clock);
    if (!applied) {
        error_ = "migrations: " + applied.error().ToString();
        return;
    }
    db_ = std::move(*opened);
}

TestDb::~TestDb() {
    db_.reset();
    if (admin_ && !schema_.empty()) {
        (void)admin_->Write([&](sdb::Connection& c) { return c.ExecScript("DROP SCHEMA " + schema_ + " CASCADE"); });
    }
}

Result<std::unique_ptr<sdb::Db>> TestDb::OpenAnother() const {
    auto options = OptionsFromUrl(url_);
    if (!options) return Fail(std::move(options.error()));
    return sdb::Open(*options);
}

}  // namespace plyr::jobs::testing
