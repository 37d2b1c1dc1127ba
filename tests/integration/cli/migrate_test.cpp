// `plyr migrate` on both backends: status, dry run, apply, idempotence, concurrent starts.
#include <cstdlib>
#include <future>

#include <gtest/gtest.h>

#include "support/process.hpp"

namespace plyr::testing {
namespace {

ProcessResult Migrate(const TempDir& dir, const std::string& database_url, std::vector<std::string> args = {}) {
    std::vector<std::string> argv{PlyrBinary(), "migrate"};
    argv.insert(argv.end(), args.begin(), args.end());
    Env extra{{"DATA_DIR", dir.str() + "/data"}};
    if (!database_url.empty()) extra["DATABASE_URL"] = database_url;
    return RunProcess(argv, BaseEnv(extra), dir.path());
}

void ExpectMigrateLifecycle(const TempDir& dir, const std::string& url) {
    auto status = Migrate(dir, url, {"--status"});
    ASSERT_EQ(status.exit_code, 0) << status.err;
    EXPECT_NE(status.out.find("pending"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("jobs"), std::string::npos) << status.out;
    EXPECT_EQ(status.out.find("applied "), std::string::npos) << status.out;

    auto dry = Migrate(dir, url, {"--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_NE(dry.out.find("would apply"), std::string::npos) << dry.out;
    auto still_pending = Migrate(dir, url, {"--status"});
    EXPECT_EQ(still_pending.out, status.out) << "--dry-run changed the database";

    auto apply = Migrate(dir, url);
    ASSERT_EQ(apply.exit_code, 0) << apply.err;
    EXPECT_NE(apply.out.find("applied"), std::string::npos) << apply.out;
    EXPECT_NE(apply.out.find("up to date"), std::string::npos) << apply.out;

    auto again = Migrate(dir, url);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(again.out.find("applied "), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("up to date"), std::string::npos) << again.out;

    auto after = Migrate(dir, url, {"--status"});
    EXPECT_EQ(after.out.find("pending"), std::string::npos) << after.out;
}

TEST(Migrate, LifecycleOnSqlite) {
    TempDir dir;
    ExpectMigrateLifecycle(dir, "");
}

TEST(Migrate, LifecycleOnPostgres) {
    auto url = FreshPostgresDatabase("plyr_migrate_lifecycle");
    if (!url) GTEST_SKIP() << "PLYR_TEST_PG not set";
    TempDir dir;
    ExpectMigrateLifecycle(dir, *url);
}

TEST(Migrate, ConcurrentStartsOnPostgresApplyEachMigrationOnce) {
    auto url = FreshPostgresDatabase("plyr_migrate_concurrent");
    if (!url) GTEST_SKIP() << "PLYR_TEST_PG not set";
    TempDir dir;
    std::vector<std::future<ProcessResult>> runs;
    for (int i = 0; i < 3; ++i) runs.push_back(std::async(std::launch::async, [&] { return Migrate(dir, *url); }));
    for (auto& run : runs) {
        auto r = run.get();
        EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    auto count = RunProcess(
        {"/usr/bin/psql", *url, "-tAc", "SELECT count(*) = count(DISTINCT version) FROM schema_migrations"}, BaseEnv());
    EXPECT_EQ(count.out, "t\n") << count.err;
    auto status = Migrate(dir, *url, {"--status"});
    EXPECT_EQ(status.out.find("pending"), std::string::npos) << status.out;
}

TEST(Migrate, UnreachableDatabaseIsARuntimeErrorWithoutThePassword) {
    TempDir dir;
    auto r = Migrate(dir, "postgres://plyr:topsecret@127.0.0.1:" + std::to_string(FreePort()) + "/plyr");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.err.find("topsecret"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace plyr::testing
