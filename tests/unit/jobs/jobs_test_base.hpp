#pragma once
// Shared fixture of the jobs_dbtest suites: one migrated database per test, parameterised by engine
// (SQLite always; PostgreSQL when PLYR_TEST_PG is set, else skipped).

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <thread>

#include "core/clock.hpp"
#include "jobs/queue.hpp"
#include "test_db.hpp"

namespace plyr::jobs::testing {

using namespace std::chrono_literals;

// The engine a test runs on (a type of our own so gtest and ctest print a readable name).
enum class Engine { kSqlite, kPostgres };
inline void PrintTo(Engine engine, std::ostream* os) { *os << (engine == Engine::kSqlite ? "Sqlite" : "Postgres"); }

class JobsDbTest : public ::testing::TestWithParam<Engine> {
  protected:
    void SetUp() override {
        if (GetParam() == Engine::kPostgres && !TestDb::PostgresBaseUrl()) {
            GTEST_SKIP() << "PLYR_TEST_PG is not set";
        }
        tdb_ = std::make_unique<TestDb>(backend());
        ASSERT_TRUE(tdb_->ok()) << tdb_->error();
    }

    storage::db::Db& db() { return tdb_->db(); }
    storage::db::Backend backend() const {
        return GetParam() == Engine::kSqlite ? storage::db::Backend::kSqlite : storage::db::Backend::kPostgres;
    }

    static JobSpec Spec(std::string type = "t", std::string payload = "{}") {
        JobSpec spec;
        spec.type = std::move(type);
        spec.payload_json = std::move(payload);
        return spec;
    }

    std::string MustEnqueue(const JobSpec& spec, const core::Clock& clock) {
        auto r = Enqueue(db(), spec, clock);
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? r->id : std::string();
    }

    JobView MustGet(const std::string& id) {
        auto r = Get(db(), id);
        EXPECT_TRUE(r) << r.error().ToString();
        return r ? *r : JobView{};
    }

    // Polls an observable condition (database state written by other threads/processes).
    static bool WaitUntil(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            if (pred()) return true;
            std::this_thread::sleep_for(10ms);
        }
        return pred();
    }

    std::unique_ptr<TestDb> tdb_;
};

inline std::string EngineName(const ::testing::TestParamInfo<Engine>& info) {
    return info.param == Engine::kSqlite ? "Sqlite" : "Postgres";
}

#define PLYR_JOBS_INSTANTIATE(Suite)                                                                         \
    INSTANTIATE_TEST_SUITE_P(                                                                                \
        Engines, Suite,                                                                                      \
        ::testing::Values(::plyr::jobs::testing::Engine::kSqlite, ::plyr::jobs::testing::Engine::kPostgres), \
        ::plyr::jobs::testing::EngineName)

}  // namespace plyr::jobs::testing
