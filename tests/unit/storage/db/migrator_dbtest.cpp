// The embedded forward-only migrator on both backends (PostgreSQL variants need PLYR_TEST_PG).

#include <algorithm>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "storage/db/migrator.hpp"
#include "test_db.hpp"

namespace plyr::storage::db::migrator {
namespace {

using testing::BackendName;
using testing::BackendValues;
using testing::DbBackendTest;

TEST(MigrationFilesTest, BothDialectsHaveTheSameVersionsAndNames) {
    const auto sqlite = ListMigrations(Backend::kSqlite);
    const auto postgres = ListMigrations(Backend::kPostgres);
    ASSERT_FALSE(sqlite.empty());
    ASSERT_EQ(sqlite.size(), postgres.size());
    for (std::size_t i = 0; i < sqlite.size(); ++i) {
        EXPECT_EQ(sqlite[i].version, postgres[i].version);
        EXPECT_EQ(sqlite[i].name, postgres[i].name) << "version " << sqlite[i].version;
    }
    EXPECT_EQ(sqlite.front().version, 1);
    EXPECT_EQ(sqlite.front().name, "init");
}

TEST(MigrationFilesTest, VersionsAscendAndChecksumsAreSha256OfTheFile) {
    for (Backend backend : {Backend::kSqlite, Backend::kPostgres}) {
        const auto list = ListMigrations(backend);
        for (std::size_t i = 0; i < list.size(); ++i) {
            if (i > 0) {
                EXPECT_GT(list[i].version, list[i - 1].version);
            }
            EXPECT_EQ(list[i].checksum.size(), 64u);
            EXPECT_EQ(list[i].checksum, MakeMigration(1, "x", list[i].sql).checksum);
            EXPECT_FALSE(list[i].sql.empty());
        }
    }
}

class MigratorTest : public DbBackendTest {
  protected:
    void SetUp() override {
        DbBackendTest::SetUp();
        if (IsSkipped()) return;
        db_ = temp().Open();
        ASSERT_NE(db_, nullptr);
    }

    // Three small migrations: a table, then one row per later version (so double application shows).
    std::vector<Migration> Fake(int count = 3) const {
        std::vector<Migration> out;
        out.push_back(MakeMigration(1, "hits", "CREATE TABLE hits (v INTEGER NOT NULL);"));
        for (int v = 2; v <= count; ++v) {
            out.push_back(MakeMigration(v, "hit_" + std::to_string(v),
                                        "INSERT INTO hits (v) VALUES (" + std::to_string(v) + ");"));
        }
        return out;
    }

    Result<bool> TableExists(const std::string& name) {
        return db_->ReadValue<bool>([&](Connection& c) -> Result<bool> {
            auto rows = is_sqlite()
                            ? c.Query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1", {name})
                            : c.Query(
                                  "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND "
                                  "tablename = $1",
                                  {name});
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0) > 0;
        });
    }

    std::vector<std::int64_t> HitVersions() {
        auto rows = db_->ReadValue<Rows>([](Connection& c) { return c.Query("SELECT v FROM hits ORDER BY v"); });
        EXPECT_TRUE(rows) << rows.error().ToString();
        std::vector<std::int64_t> out;
        if (rows) {
            for (const Row& r : *rows) out.push_back(r.Int(0));
        }
        return out;
    }

    core::ManualClock clock_{1'700'000'000'000'000};
    std::unique_ptr<Db> db_;
};

TEST_P(MigratorTest, AppliesEmbeddedMigrationsToAnEmptyDatabase) {
    const auto expected = ListMigrations(backend());
    auto applied = Apply(*db_, /*dry_run=*/false, clock_);
    ASSERT_TRUE(applied) << applied.error().ToString();
    ASSERT_EQ(applied->size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ((*applied)[i], expected[i].version);

    auto status = GetStatus(*db_);
    ASSERT_TRUE(status) << status.error().ToString();
    EXPECT_TRUE(status->pending.empty());
    ASSERT_EQ(status->applied.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& a = status->applied[i];
        EXPECT_EQ(a.version, expected[i].version);
        EXPECT_EQ(a.name, expected[i].name);
        EXPECT_EQ(a.checksum, expected[i].checksum);
        EXPECT_EQ(a.applied_at, clock_.NowMicros());
        EXPECT_TRUE(a.known);
        EXPECT_TRUE(a.checksum_matches);
    }
    EXPECT_TRUE(Check(*status));
}

TEST_P(MigratorTest, SecondApplyIsANoOp) {
    ASSERT_TRUE(Apply(*db_, false, clock_, Fake()));
    clock_.Advance(1'000'000);
    auto again = Apply(*db_, false, clock_, Fake());
    ASSERT_TRUE(again) << again.error().ToString();
    EXPECT_TRUE(again->empty());
    EXPECT_EQ(HitVersions(), (std::vector<std::int64_t>{2, 3}));
    auto status = GetStatus(*db_, Fake());
    ASSERT_TRUE(status);
    for (const auto& a : status->applied) EXPECT_EQ(a.applied_at, clock_.NowMicros() - 1'000'000);
}

TEST_P(MigratorTest, StatusListsAppliedAndPending) {
    const auto all = Fake(3);
    auto empty = GetStatus(*db_, all);
    ASSERT_TRUE(empty) << empty.error().ToString();
    EXPECT_TRUE(empty->applied.empty());
    EXPECT_EQ(empty->pending.size(), 3u);

    const std::vector<Migration> first_two(all.begin(), all.begin() + 2);
    auto applied = Apply(*db_, false, clock_, first_two);
    ASSERT_TRUE(applied) << applied.error().ToString();
    EXPECT_EQ(*applied, (std::vector<std::int64_t>{1, 2}));

    auto status = GetStatus(*db_, all);
    ASSERT_TRUE(status) << status.error().ToString();
    ASSERT_EQ(status->applied.size(), 2u);
    EXPECT_EQ(status->applied[0].version, 1);
    EXPECT_EQ(status->applied[0].name, "hits");
    EXPECT_EQ(status->applied[1].version, 2);
    ASSERT_EQ(status->pending.size(), 1u);
    EXPECT_EQ(status->pending[0].version, 3);
    EXPECT_EQ(status->pending[0].name, "hit_3");
}

TEST_P(MigratorTest, DryRunReportsPendingAndChangesNothing) {
    auto planned = Apply(*db_, /*dry_run=*/true, clock_, Fake());
    ASSERT_TRUE(planned) << planned.error().ToString();
    EXPECT_EQ(*planned, (std::vector<std::int64_t>{1, 2, 3}));
    auto migrations_table = TableExists("schema_migrations");
    ASSERT_TRUE(migrations_table) << migrations_table.error().ToString();
    EXPECT_FALSE(*migrations_table);
    EXPECT_FALSE(*TableExists("hits"));

    ASSERT_TRUE(Apply(*db_, false, clock_, std::vector<Migration>{Fake().front()}));
    planned = Apply(*db_, true, clock_, Fake());
    ASSERT_TRUE(planned);
    EXPECT_EQ(*planned, (std::vector<std::int64_t>{2, 3}));
    EXPECT_TRUE(HitVersions().empty());
}

TEST_P(MigratorTest, RefusesWhenAnAppliedMigrationChanged) {
    ASSERT_TRUE(Apply(*db_, false, clock_, Fake(2)));
    auto edited = Fake(3);
    edited[1] = MakeMigration(2, "hit_2", "INSERT INTO hits (v) VALUES (22);");
    auto applied = Apply(*db_, false, clock_, edited);
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::kConfig);
    EXPECT_NE(applied.error().message.find("checksum"), std::string::npos) << applied.error().message;
    EXPECT_NE(applied.error().message.find("0002_hit_2"), std::string::npos) << applied.error().message;
    EXPECT_EQ(HitVersions(), (std::vector<std::int64_t>{2}));  // migration 3 was not applied either

    auto status = GetStatus(*db_, edited);
    ASSERT_TRUE(status);
    ASSERT_EQ(status->applied.size(), 2u);
    EXPECT_TRUE(status->applied[0].checksum_matches);
    EXPECT_FALSE(status->applied[1].checksum_matches);
    EXPECT_FALSE(Check(*status));
}

TEST_P(MigratorTest, RefusesWhenDatabaseIsNewerThanBinary) {
    ASSERT_TRUE(Apply(*db_, false, clock_, Fake(3)));
    auto applied = Apply(*db_, false, clock_, Fake(2));
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::kConfig);
    EXPECT_NE(applied.error().message.find("database is newer than this binary"), std::string::npos)
        << applied.error().message;
    auto status = GetStatus(*db_, Fake(2));
    ASSERT_TRUE(status);
    ASSERT_EQ(status->applied.size(), 3u);
    EXPECT_FALSE(status->applied[2].known);
}

TEST_P(MigratorTest, FailedMigrationLeavesNothingBehind) {
    auto migrations = Fake(1);
    migrations.push_back(
        MakeMigration(2, "broken", "CREATE TABLE partial (a INTEGER); INSERT INTO nowhere VALUES (1);"));
    migrations.push_back(MakeMigration(3, "after", "INSERT INTO hits (v) VALUES (3);"));
    auto applied = Apply(*db_, false, clock_, migrations);
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(applied.error().message.find("0002_broken"), std::string::npos) << applied.error().message;

    EXPECT_FALSE(*TableExists("partial"));
    auto status = GetStatus(*db_, migrations);
    ASSERT_TRUE(status);
    ASSERT_EQ(status->applied.size(), 1u);
    ASSERT_EQ(status->pending.size(), 2u);
    EXPECT_EQ(status->pending[0].version, 2);
    EXPECT_TRUE(HitVersions().empty());
}

// Two independent Db instances (two "processes") migrate the same database at once.
TEST_P(MigratorTest, ConcurrentApplyAppliesEachMigrationOnce) {
    const auto migrations = Fake(8);
    auto other = temp().Open();
    ASSERT_NE(other, nullptr);
    Result<std::vector<std::int64_t>> a = std::vector<std::int64_t>{};
    Result<std::vector<std::int64_t>> b = std::vector<std::int64_t>{};
    std::thread ta([&] { a = Apply(*db_, false, clock_, migrations); });
    std::thread tb([&] { b = Apply(*other, false, clock_, migrations); });
    ta.join();
    tb.join();
    ASSERT_TRUE(a) << a.error().ToString();
    ASSERT_TRUE(b) << b.error().ToString();

    std::multiset<std::int64_t> all(a->begin(), a->end());
    all.insert(b->begin(), b->end());
    EXPECT_EQ(all, (std::multiset<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(HitVersions(), (std::vector<std::int64_t>{2, 3, 4, 5, 6, 7, 8}));
    auto status = GetStatus(*db_, migrations);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->applied.size(), 8u);
    EXPECT_TRUE(status->pending.empty());
}

TEST_P(MigratorTest, ConcurrentApplyOnOneDbAppliesEachMigrationOnce) {
    const auto migrations = Fake(6);
    Result<std::vector<std::int64_t>> a = std::vector<std::int64_t>{};
    Result<std::vector<std::int64_t>> b = std::vector<std::int64_t>{};
    std::thread ta([&] { a = Apply(*db_, false, clock_, migrations); });
    std::thread tb([&] { b = Apply(*db_, false, clock_, migrations); });
    ta.join();
    tb.join();
    ASSERT_TRUE(a) << a.error().ToString();
    ASSERT_TRUE(b) << b.error().ToString();
    std::multiset<std::int64_t> all(a->begin(), a->end());
    all.insert(b->begin(), b->end());
    EXPECT_EQ(all, (std::multiset<std::int64_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(HitVersions(), (std::vector<std::int64_t>{2, 3, 4, 5, 6}));
}

TEST_P(MigratorTest, RejectsMigrationListOutOfOrder) {
    auto migrations = Fake(3);
    std::swap(migrations[1], migrations[2]);
    auto applied = Apply(*db_, false, clock_, migrations);
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::kInternal);
}

INSTANTIATE_TEST_SUITE_P(Backends, MigratorTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::storage::db::migrator
