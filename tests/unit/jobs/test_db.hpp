#pragma once
// A migrated, isolated database for one jobs test: a SQLite file in a temp dir, or (when PLYR_TEST_PG is set)
// a fresh schema in the PLYR_TEST_PG database selected through search_path, dropped afterwards.

#include <memory>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "core/result.hpp"
#include "storage/db/db.hpp"
#include "support/process.hpp"

namespace plyr::jobs::testing {

class TestDb {
  public:
    // nullopt when PostgreSQL is requested but PLYR_TEST_PG is not set.
    static std::optional<std::string> PostgresBaseUrl();

    // Opens and migrates. Check ok() / error() afterwards.
    explicit TestDb(storage::db::Backend backend);
    ~TestDb();
    TestDb(const TestDb&) = delete;
    TestDb& operator=(const TestDb&) = delete;

    bool ok() const { return db_ != nullptr; }
    const std::string& error() const { return error_; }
    storage::db::Db& db() { return *db_; }
    storage::db::Backend backend() const { return backend_; }
    // DATABASE_URL-style address of the same database for a child process (sqlite:////abs or postgres://…).
    const std::string& url() const { return url_; }
    // Opens another handle on the same database (another "process" in-process).
    Result<std::unique_ptr<storage::db::Db>> OpenAnother() const;

  private:
    storage::db::Backend backend_;
    plyr::testing::TempDir dir_;
    std::string url_;
    std::string schema_;
    std::unique_ptr<storage::db::Db> admin_;  // PostgreSQL: the base database, to create/drop the schema
    std::unique_ptr<storage::db::Db> db_;
    std::string error_;
};

// Parses sqlite:////abs/path.db, sqlite:///rel.db, postgres://… or postgresql://… into db::Options.
Result<storage::db::Options> OptionsFromUrl(const std::string& url);

}  // namespace plyr::jobs::testing
