#pragma once
// Test support for `_dbtest` suites: a fresh, empty database per test on either backend.
//
// SQLite: a file in a new temporary directory (removed afterwards).
// PostgreSQL: a new schema `t_<random>` in the database named by env PLYR_TEST_PG (start one with
// scripts/pg.sh), selected through the URL (`options=-csearch_path=…`) and dropped afterwards. Without
// PLYR_TEST_PG the PostgreSQL variant is unavailable and DbBackendTest skips it with a message.
// Not thread-safe; one per test.

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "storage/db/db.hpp"

namespace plyr::storage::db {
// Readable parameter values in test names and ctest output.
inline void PrintTo(Backend backend, std::ostream* os) { *os << ToString(backend); }
}  // namespace plyr::storage::db

namespace plyr::storage::db::testing {

class TempDatabase {
  public:
    explicit TempDatabase(Backend backend);
    ~TempDatabase();
    TempDatabase(const TempDatabase&) = delete;
    TempDatabase& operator=(const TempDatabase&) = delete;

    bool available() const { return skip_reason_.empty(); }
    const std::string& skip_reason() const { return skip_reason_; }
    Backend backend() const { return backend_; }
    // Options that open this database (small timeouts keep failing tests fast).
    Options options() const;
    // Opens it; a failure is recorded as a test failure and yields nullptr.
    std::unique_ptr<Db> Open() const { return Open(options()); }
    std::unique_ptr<Db> Open(const Options& options) const;
    const std::filesystem::path& dir() const { return dir_; }

  private:
    Backend backend_;
    std::string skip_reason_;
    std::filesystem::path dir_;  // SQLite
    std::string base_url_;       // PostgreSQL: PLYR_TEST_PG
    std::string schema_;         // PostgreSQL
};

// Parameterized over the backends: INSTANTIATE_TEST_SUITE_P(Backends, MySuite, BackendValues(), BackendName).
class DbBackendTest : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override;
    void TearDown() override { temp_.reset(); }
    TempDatabase& temp() { return *temp_; }
    Backend backend() const { return GetParam(); }
    bool is_sqlite() const { return GetParam() == Backend::kSqlite; }
    // Picks the statement for the backend under test (DDL differs per dialect).
    const char* Dialect(const char* sqlite, const char* postgres) const { return is_sqlite() ? sqlite : postgres; }

  private:
    std::unique_ptr<TempDatabase> temp_;
};

// A DbBackendTest whose database is open (db_) and migrated to this binary's schema.
class MigratedDbTest : public DbBackendTest {
  protected:
    void SetUp() override;
    void TearDown() override {
        db_.reset();
        DbBackendTest::TearDown();
    }
    std::unique_ptr<Db> db_;
};

::testing::internal::ParamGenerator<Backend> BackendValues();
std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

}  // namespace plyr::storage::db::testing
