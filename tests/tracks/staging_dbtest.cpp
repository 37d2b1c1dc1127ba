// tracks::Staging and SweepStaging (product.md §5.3 "staging"): private per-upload directories, removal confined to
// the staging root, and the sweep that keeps what live upload jobs still reference.
#include "tracks/staging.hpp"

#include <sys/stat.h>
#include <utime.h>

#include <gtest/gtest.h>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "jobs/queue.hpp"
#include "support/temp_dir.hpp"
#include "test_db.hpp"

namespace plyr::tracks {
namespace {

namespace fs = std::filesystem;
using storage::db::testing::MigratedDbTest;

constexpr std::int64_t kHourUs = 3600LL * 1'000'000;

int Mode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0);
    return static_cast<int>(st.st_mode & 0777);
}

// Sets the modification time of `p` to `micros` (µs since the epoch).
void SetMtime(const fs::path& p, std::int64_t micros) {
    struct timeval times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(micros / 1'000'000);
    times[0].tv_usec = times[1].tv_usec = static_cast<suseconds_t>(micros % 1'000'000);
    ASSERT_EQ(::lutimes(p.c_str(), times), 0);
}

TEST(StagingTest, CreateMakesPrivateDirectoriesUnderDataDir) {
    plyr::testing::TempDir data;
    Staging staging(data.path());
    EXPECT_EQ(staging.root(), data.path() / "staging");
    auto a = staging.Create();
    ASSERT_TRUE(a) << a.error().ToString();
    auto b = staging.Create();
    ASSERT_TRUE(b);
    EXPECT_NE(a->id, b->id);
    EXPECT_EQ(a->id.size(), 32u);
    EXPECT_TRUE(a->path.is_absolute());
    EXPECT_EQ(a->path.parent_path(), staging.root());
    EXPECT_TRUE(fs::is_directory(a->path));
    EXPECT_EQ(Mode(a->path), 0700);
    EXPECT_EQ(Mode(staging.root()), 0700);
}

TEST(StagingTest, RelativeDataDirBecomesAbsolute) {
    Staging staging("relative-data");
    EXPECT_TRUE(staging.root().is_absolute());
    EXPECT_EQ(staging.root().filename(), "staging");
}

TEST(StagingTest, RemoveDeletesTheDirectoryAndItsFiles) {
    plyr::testing::TempDir data;
    Staging staging(data.path());
    auto dir = staging.Create();
    ASSERT_TRUE(dir);
    { std::ofstream(dir->path / "audio") << "bytes"; }
    ASSERT_TRUE(staging.Remove(dir->path));
    EXPECT_FALSE(fs::exists(dir->path));
    EXPECT_TRUE(staging.Remove(dir->path)) << "removing a missing directory is fine";
}

TEST(StagingTest, RemoveRefusesPathsOutsideTheStagingRoot) {
    plyr::testing::TempDir data;
    Staging staging(data.path());
    auto dir = staging.Create();
    ASSERT_TRUE(dir);
    fs::create_directories(data.path() / "media");
    for (const fs::path& p :
         {data.path() / "media", staging.root(), staging.root() / "..", data.path(), dir->path / "audio",
          fs::path("/tmp"), staging.root() / ".." / "media", fs::path("relative")}) {
        auto r = staging.Remove(p);
        ASSERT_FALSE(r) << p;
        EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << p;
    }
    EXPECT_TRUE(fs::exists(data.path() / "media"));
    EXPECT_TRUE(fs::exists(dir->path));
}

class StagingSweepTest : public MigratedDbTest {
  protected:
    // An upload job in `status` whose payload references `dir`.
    void AddUploadJob(const fs::path& dir, jobs::JobStatus status) {
        jobs::JobSpec spec;
        spec.type = "upload";
        spec.payload_json = boost::json::serialize(boost::json::object{{"staging_dir", dir.string()}});
        spec.owner_did = "did:plc:aliceaaaaaaaaaaaaaaaaaaa";
        auto job = jobs::Enqueue(*db_, spec, clock_);
        ASSERT_TRUE(job) << job.error().ToString();
        if (status == jobs::JobStatus::kPending) return;
        auto claimed = jobs::Claim(*db_, "w", {"upload"}, std::chrono::seconds(60), clock_);
        ASSERT_TRUE(claimed && *claimed);
        if (status == jobs::JobStatus::kRunning) return;
        ASSERT_TRUE(jobs::Complete(*db_, (*claimed)->id, (*claimed)->lease_owner, "", {}, clock_));
    }

    plyr::testing::TempDir data_;
    core::ManualClock clock_{1'800'000'000'000'000};
};

TEST_P(StagingSweepTest, RemovesOldUnreferencedEntriesOnly) {
    Staging staging(data_.path());
    auto fresh = staging.Create();
    auto old_orphan = staging.Create();
    auto old_pending = staging.Create();
    auto old_running = staging.Create();
    auto old_finished = staging.Create();
    ASSERT_TRUE(fresh && old_orphan && old_pending && old_running && old_finished);
    std::ofstream(old_orphan->path / "audio") << "x";
    fs::path stray = staging.root() / "stray.tmp";
    std::ofstream(stray) << "x";

    const std::int64_t now = clock_.NowMicros();
    SetMtime(fresh->path, now - kHourUs / 2);
    for (const auto* d : {&*old_orphan, &*old_pending, &*old_running, &*old_finished}) {
        SetMtime(d->path, now - 2 * kHourUs);
    }
    SetMtime(stray, now - 2 * kHourUs);
    // Claim() takes the oldest pending job: each job is claimed (or left pending) before the next is added.
    AddUploadJob(old_finished->path, jobs::JobStatus::kCompleted);
    AddUploadJob(old_running->path, jobs::JobStatus::kRunning);
    AddUploadJob(old_pending->path, jobs::JobStatus::kPending);

    auto swept = SweepStaging(*db_, staging, clock_);
    ASSERT_TRUE(swept) << swept.error().ToString();
    EXPECT_EQ(swept->removed, 3);  // orphan, finished job's leftover, stray file
    EXPECT_EQ(swept->kept_referenced, 2);
    EXPECT_TRUE(fs::exists(fresh->path));
    EXPECT_FALSE(fs::exists(old_orphan->path));
    EXPECT_TRUE(fs::exists(old_pending->path));
    EXPECT_TRUE(fs::exists(old_running->path));
    EXPECT_FALSE(fs::exists(old_finished->path));
    EXPECT_FALSE(fs::exists(stray));
}

TEST_P(StagingSweepTest, MissingRootIsNothingToDo) {
    Staging staging(data_.path() / "never-created");
    auto swept = SweepStaging(*db_, staging, clock_);
    ASSERT_TRUE(swept);
    EXPECT_EQ(swept->removed, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, StagingSweepTest, storage::db::testing::BackendValues(),
                         storage::db::testing::BackendName);

}  // namespace
}  // namespace plyr::tracks
