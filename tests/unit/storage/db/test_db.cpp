#include "test_db.hpp"

#include <cstdlib>
#include <system_error>

#include "core/encoding.hpp"
#include "storage/db/migrator.hpp"

namespace plyr::storage::db::testing {

namespace {

std::string AppendOption(const std::string& url, const std::string& option) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + option;
}

// Runs one statement on the base PostgreSQL database (outside the test's schema).
Status AdminExec(const std::string& url, const std::string& sql) {
    Options o;
    o.backend = Backend::kPostgres;
    o.postgres_url = url;
    o.pool_size = 1;
    auto db = db::Open(o);
    if (!db) return Fail(std::move(db.error()));
    return (*db)->Write([&](Connection& c) -> Status { return c.ExecScript(sql); });
}

}  // namespace

TempDatabase::TempDatabase(Backend backend) : backend_(backend) {
    if (backend == Backend::kSqlite) {
        dir_ = std::filesystem::temp_directory_path() / ("plyr-dbtest-" + core::RandomHex(8));
        std::filesystem::create_directories(dir_);
        return;
    }
    const char* url = std::getenv("PLYR_TEST_PG");
    if (url == nullptr || *url == '\0') {
        skip_reason_ = "PLYR_TEST_PG is not set (start a server: export \"$(scripts/pg.sh start /tmp/plyr-pg)\")";
        return;
    }
    base_url_ = url;
    schema_ = "t_" + core::RandomHex(8);
    auto st = AdminExec(base_url_, "CREATE SCHEMA " + schema_);
    if (!st) {
        ADD_FAILURE() << "cannot create test schema on PLYR_TEST_PG: " << st.error().ToString();
        schema_.clear();
    }
}

TempDatabase::~TempDatabase() {
    if (backend_ == Backend::kSqlite) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        return;
    }
    if (!schema_.empty()) {
        auto st = AdminExec(base_url_, "DROP SCHEMA " + schema_ + " CASCADE");
        if (!st) ADD_FAILURE() << "cannot drop test schema " << schema_ << ": " << st.error().ToString();
    }
}

Options TempDatabase::options() const {
    Options o;
    o.backend = backend_;
    o.pool_size = 4;
    o.busy_timeout_ms = 2000;
    o.statement_timeout_s = 10;
    if (backend_ == Backend::kSqlite) {
        o.sqlite_path = (dir_ / "data" / "plyr.db").string();
    } else {
        o.postgres_url = AppendOption(base_url_, "options=-csearch_path%3D" + schema_);
    }
    return o;
}

std::unique_ptr<Db> TempDatabase::Open(const Options& options) const {
    auto db = db::Open(options);
    if (!db) {
        ADD_FAILURE() << "Open failed: " << db.error().ToString();
        return nullptr;
    }
    return std::move(*db);
}

void DbBackendTest::SetUp() {
    temp_ = std::make_unique<TempDatabase>(GetParam());
    if (!temp_->available()) GTEST_SKIP() << temp_->skip_reason();
}

void MigratedDbTest::SetUp() {
    DbBackendTest::SetUp();
    if (IsSkipped()) return;
    db_ = temp().Open();
    ASSERT_NE(db_, nullptr);
    auto applied = migrator::Apply(*db_, false);
    ASSERT_TRUE(applied) << applied.error().ToString();
}

::testing::internal::ParamGenerator<Backend> BackendValues() {
    return ::testing::Values(Backend::kSqlite, Backend::kPostgres);
}

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
    return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

}  // namespace plyr::storage::db::testing
