// The `upload` job (product.md §6.4) with a real WorkerPool, the real media sandbox (the plyr binary), local
// blob stores and a SessionProvider without sessions (so every publish is handed to the outbox with warning
// pds_auth_required; the PDS path is covered by tests/integration/tracks and tests/pds). Both backends.

#include "tracks/upload_job.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "atproto/lexicon/embedded.hpp"
#include "atproto/syntax/tid.hpp"
#include "core/encoding.hpp"
#include "jobs/queue.hpp"
#include "media/sandbox.hpp"
#include "pds/session_provider.hpp"
#include "storage/blobs/local/local_blob_store.hpp"
#include "storage/repos/track_repo.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "test_db.hpp"
#include "tracks/media_files.hpp"
#include "unit/media/audio_fixtures.hpp"

namespace plyr::tracks {
namespace {

using storage::db::testing::BackendName;
using storage::db::testing::BackendValues;
using namespace std::chrono_literals;
namespace db = storage::db;
namespace fs = std::filesystem;
namespace json = boost::json;
namespace repos = storage::repos;

constexpr const char* kAlice = "did:plc:alice";

class NoSessions final : public pds::SessionProvider {
  public:
    Result<std::unique_ptr<pds::SessionHandle>> OpenForDid(std::string_view did) override {
        return Fail(pds::NoSessionError(did));
    }
};

media::Sandbox& TestSandbox() {
    static media::Sandbox sandbox([] {
        media::SandboxOptions o;
        o.executable = plyr::testing::PlyrBinary();
        o.max_procs = 2;
        return o;
    }());
    return sandbox;
}

const atproto::lexicon::Catalog& Catalog() {
    static const atproto::lexicon::Catalog catalog = [] {
        auto c = atproto::lexicon::EmbeddedCatalog("fm.plyr");
        if (!c) throw std::runtime_error(c.error().ToString());
        return std::move(*c);
    }();
    return catalog;
}

std::string Fixture(const std::string& name) { return plyr::testing::AudioFixtures::Get().Path(name); }

// An mp3 carrying an embedded front cover (PNG), made with ffmpeg.
std::string Mp3WithCover(const plyr::testing::TempDir& dir) {
    const std::string cover = (dir.path() / "cover.png").string();
    const std::string out = (dir.path() / "cover.mp3").string();
    auto r = plyr::testing::RunProcess({"/usr/bin/ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                                        "color=c=red:s=64x48", "-frames:v", "1", cover},
                                       plyr::testing::BaseEnv());
    if (r.exit_code != 0) throw std::runtime_error("ffmpeg cover: " + r.err);
    r = plyr::testing::RunProcess({"/usr/bin/ffmpeg",
                                   "-nostdin",
                                   "-v",
                                   "error",
                                   "-y",
                                   "-i",
                                   Fixture("sine.mp3"),
                                   "-i",
                                   cover,
                                   "-map",
                                   "0:a",
                                   "-map",
                                   "1:v",
                                   "-c",
                                   "copy",
                                   "-id3v2_version",
                                   "3",
                                   "-metadata:s:v",
                                   "title=Album cover",
                                   "-metadata:s:v",
                                   "comment=Cover (front)",
                                   out},
                                  plyr::testing::BaseEnv());
    if (r.exit_code != 0) throw std::runtime_error("ffmpeg mp3 with cover: " + r.err);
    return out;
}

struct Outcome {
    jobs::JobView job;
    std::optional<json::object> result;
};

class UploadJobTest : public storage::db::testing::MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        config_.data_dir = dir_.path() / "data";
        config_.public_url = "http://127.0.0.1:8001";
        config_.pds_audio_uploads_enabled = true;
        config_.transcoder_enabled = true;
        config_.transcoder_timeout_seconds = 60;
        auto store = storage::blobs::LocalBlobStore::Open({config_.data_dir / "media"});
        ASSERT_TRUE(store) << store.error().ToString();
        store_ = std::move(*store);
        auto st = db_->Write([&](db::Connection& c) -> Status {
            auto r = c.Query(
                "INSERT INTO artists (did, handle, display_name, created_at, updated_at) VALUES ($1, "
                "'alice.test', 'Alice', 1, 1)",
                {std::string(kAlice)});
            if (!r) return Fail(std::move(r.error()));
            return Ok();
        });
        ASSERT_TRUE(st) << st.error().ToString();

        deps_.db = db_.get();
        deps_.config = &config_;
        deps_.audio_store = store_.get();
        deps_.image_store = store_.get();
        deps_.sandbox = &TestSandbox();
        deps_.sessions = &sessions_;
        deps_.resolve_identity = [](const std::string& who) -> Result<ResolvedIdentity> {
            if (who == "bob.test" || who == "did:plc:bob") return ResolvedIdentity{"did:plc:bob", "bob.test", "Bob"};
            if (who == "alice.test") return ResolvedIdentity{kAlice, "alice.test", "Alice"};
            return Fail(ErrorCode::kNotFound, "no such identity");
        };
        deps_.catalog = &Catalog();
        deps_.clock = &clock_;
        deps_.notify_outbox = [this] { ++outbox_notified_; };
        deps_.publish_retry_base = 10ms;
    }

    void TearDown() override {
        if (pool_) pool_->Stop(5s);
        pool_.reset();
        MigratedDbTest::TearDown();
    }

    // Starts the pool; `wrap` (when set) runs instead of the plain handler, for crash simulations.
    void StartPool(std::function<Status(jobs::JobContext&)> wrap = {}) {
        jobs::WorkerPool::Options o;
        o.concurrency = 1;
        o.poll_interval = 20ms;
        o.heartbeat_interval = 1s;
        o.lease = 30s;
        pool_ = std::make_unique<jobs::WorkerPool>(*db_, clock_, o);
        if (wrap) {
            jobs::TypeOptions type;
            type.retry.base = std::chrono::milliseconds(1);
            type.retry.cap = std::chrono::milliseconds(1);
            ASSERT_TRUE(pool_->Register("upload", std::move(wrap), type));
        } else {
            ASSERT_TRUE(RegisterUploadJob(*pool_, deps_));
        }
        ASSERT_TRUE(pool_->Start());
    }

    struct Upload {
        std::string job_id;
        fs::path staging;
    };

    // Stages `source` like POST /tracks/ does and enqueues the job.
    Upload Enqueue(const std::string& source, const std::string& format, json::object fields = {},
                   std::optional<std::string> image = std::nullopt, int max_attempts = 1) {
        const std::string stage_id = core::RandomHex(16);
        fs::path staging = config_.data_dir / "staging" / stage_id;
        fs::create_directories(staging);
        fs::path audio = staging / "audio";
        fs::copy_file(source, audio);
        std::ifstream in(audio, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        if (!fields.contains("title")) fields["title"] = "Test Track";
        for (const char* k : {"description", "album", "album_id", "support_gate"})
            if (!fields.contains(k)) fields[k] = nullptr;
        if (!fields.contains("tags")) fields["tags"] = json::array{};
        if (!fields.contains("features")) fields["features"] = json::array{};
        json::value image_json = nullptr;
        if (image) {
            fs::path ipath = staging / "image";
            fs::copy_file(*image, ipath);
            image_json =
                json::object{{"path", ipath.string()}, {"format", "png"}, {"size", 1}, {"width", 64}, {"height", 48}};
        }
        json::object payload{{"staging_dir", staging.string()},
                             {"audio", json::object{{"path", audio.string()},
                                                    {"format", format},
                                                    {"size", bytes.size()},
                                                    {"sha256", core::Sha256Hex(bytes)},
                                                    {"filename", "x." + format}}},
                             {"image", image_json},
                             {"fields", fields},
                             {"warnings", json::array{}},
                             {"uploaded_at_us", clock_.NowMicros()}};
        jobs::JobSpec spec;
        spec.type = "upload";
        spec.payload_json = json::serialize(payload);
        spec.owner_did = kAlice;
        spec.max_attempts = max_attempts;
        auto job = jobs::Enqueue(*db_, spec, clock_);
        EXPECT_TRUE(job) << job.error().ToString();
        if (pool_) pool_->Notify();
        return {job ? job->id : "", staging};
    }

    Outcome Wait(const std::string& id) {
        auto deadline = std::chrono::steady_clock::now() + 120s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto view = jobs::Get(*db_, id);
            if (view && jobs::IsTerminal(view->status)) {
                Outcome out{*view, std::nullopt};
                if (view->result_json) out.result = json::parse(*view->result_json).as_object();
                return out;
            }
            std::this_thread::sleep_for(20ms);
        }
        ADD_FAILURE() << "job " << id << " did not finish";
        return {};
    }

    std::int64_t Count(const std::string& sql) {
        auto n = db_->ReadValue<std::int64_t>([&](db::Connection& c) -> Result<std::int64_t> {
            auto r = c.Query(sql);
            if (!r) return Fail(std::move(r.error()));
            return r->front().Int(0);
        });
        EXPECT_TRUE(n) << (n ? "" : n.error().ToString());
        return n ? *n : -1;
    }

    std::optional<repos::TrackRow> Track(std::int64_t id) {
        auto row = db_->ReadValue<std::optional<repos::TrackRow>>(
            [&](db::Connection& c) { return repos::TrackRepository::Get(c, id); });
        EXPECT_TRUE(row);
        return row ? *row : std::nullopt;
    }

    bool Exists(const std::string& key) { return static_cast<bool>(store_->Head(key)); }

    // Every object under media/<prefix>/ (the local store's layout).
    std::vector<std::string> Objects(const std::string& prefix) {
        std::vector<std::string> out;
        std::error_code ec;
        fs::path root = config_.data_dir / "media" / prefix;
        if (!fs::exists(root, ec)) return out;
        for (const auto& e : fs::directory_iterator(root)) out.push_back(prefix + "/" + e.path().filename().string());
        return out;
    }

    // A completed job: one row, pending (no session), handed to the outbox with pds_auth_required.
    repos::TrackRow ExpectDeferred(const Outcome& out) {
        EXPECT_EQ(out.job.status, jobs::JobStatus::kCompleted)
            << out.job.error_code.value_or("") << ": " << out.job.error.value_or("");
        EXPECT_NE(std::find(out.job.warnings.begin(), out.job.warnings.end(), "pds_auth_required"),
                  out.job.warnings.end());
        EXPECT_TRUE(out.result.has_value());
        if (!out.result) return {};
        EXPECT_TRUE(out.result->at("atproto_uri").is_null());
        auto row = Track(out.result->at("track_id").as_int64());
        EXPECT_TRUE(row.has_value());
        if (!row) return {};
        EXPECT_EQ(row->publish_state, repos::PublishState::kPending);
        EXPECT_EQ(row->upload_job_id, out.job.id);
        EXPECT_EQ(row->atproto_rkey,
                  UploadRecordKey(json::parse(out.job.payload_json).at("uploaded_at_us").as_int64(), out.job.id));
        EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox WHERE entity_type = 'track' AND op = 'put' AND status = "
                        "'pending' AND entity_id = '" +
                        std::to_string(row->id) + "'"),
                  1);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM track_peaks WHERE track_id = " + std::to_string(row->id)), 2);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM track_fingerprints WHERE track_id = " + std::to_string(row->id)), 1);
        EXPECT_EQ(out.job.progress_pct, 100);
        return *row;
    }

    void ExpectNothingLeft(const Upload& up) {
        EXPECT_EQ(Count("SELECT COUNT(*) FROM tracks"), 0);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM images"), 0);
        EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox"), 0);
        EXPECT_TRUE(Objects("audio").empty());
        EXPECT_TRUE(Objects("images").empty());
        EXPECT_FALSE(fs::exists(up.staging));
    }

    plyr::testing::TempDir dir_;
    core::Config config_;
    core::SystemClock clock_;
    std::unique_ptr<storage::blobs::BlobStore> store_;
    NoSessions sessions_;
    UploadJobDeps deps_;
    std::unique_ptr<jobs::WorkerPool> pool_;
    std::atomic<int> outbox_notified_{0};
};

TEST_P(UploadJobTest, WavMp3AndFlacArePlayedAsUploadedAndDeferredWithoutASession) {
    StartPool();
    for (auto [fixture, format] : {std::pair{"sine.wav", "wav"}, {"sine.mp3", "mp3"}, {"noise.flac", "flac"}}) {
        SCOPED_TRACE(fixture);
        auto up = Enqueue(Fixture(fixture), format);
        auto out = Wait(up.job_id);
        auto row = ExpectDeferred(out);
        EXPECT_EQ(row.file_type, format);
        EXPECT_FALSE(row.original_file_id.has_value());
        EXPECT_EQ(row.title, "Test Track");
        std::ifstream in(Fixture(fixture), std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        EXPECT_EQ(row.file_id, core::Sha256Hex(bytes).substr(0, 16));
        EXPECT_EQ(row.file_size, static_cast<std::int64_t>(bytes.size()));
        EXPECT_TRUE(Exists("audio/" + row.file_id + "." + format));
        ASSERT_TRUE(row.duration_ms.has_value());
        EXPECT_NEAR(static_cast<double>(*row.duration_ms), 3000.0, 100.0);
        EXPECT_GT(row.sample_rate, 0);
        EXPECT_FALSE(fs::exists(up.staging));
    }
    EXPECT_GE(outbox_notified_.load(), 3);
}

TEST_P(UploadJobTest, AiffGetsAnMp3RenditionAndKeepsTheOriginal) {
    StartPool();
    auto up = Enqueue(Fixture("sine.aiff"), "aiff");
    auto row = ExpectDeferred(Wait(up.job_id));
    EXPECT_EQ(row.file_type, "mp3");
    EXPECT_EQ(row.codec, "mp3");
    ASSERT_TRUE(row.original_file_id.has_value());
    EXPECT_EQ(row.original_file_type, "aiff");
    EXPECT_NE(row.file_id, *row.original_file_id);
    EXPECT_TRUE(Exists("audio/" + row.file_id + ".mp3"));
    EXPECT_TRUE(Exists("audio/" + *row.original_file_id + ".aiff"));
    EXPECT_EQ(Objects("audio").size(), 2u);
}

TEST_P(UploadJobTest, HostileFilesFailWithTheirCodeAndLeaveNothing) {
    StartPool();
    plyr::testing::TempDir tmp;
    const auto header_only =
        tmp.Write("header.wav", plyr::testing::AudioFixtures::WavBytes(1, 44100, 88200, std::string()));
    struct Case {
        std::string file;
        std::string format;
        std::string code;
    };
    for (const Case& c : {Case{Fixture("random.mp3"), "mp3", "unsupported_audio_format"},
                          Case{Fixture("id3noise.mp3"), "mp3", "audio_unreadable"},
                          Case{Fixture("ch64.wav"), "wav", "unsupported_audio_format"},
                          Case{header_only.string(), "wav", "audio_unreadable"}}) {
        SCOPED_TRACE(c.file);
        auto up = Enqueue(c.file, c.format);
        auto out = Wait(up.job_id);
        EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
        EXPECT_EQ(out.job.error_code.value_or(""), c.code);
        ASSERT_TRUE(out.job.error.has_value());
        EXPECT_EQ(*out.job.error, [&] {
            std::string lower = *out.job.error;
            for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            return lower;
        }());
        ExpectNothingLeft(up);
    }
}

TEST_P(UploadJobTest, ASecondUploadOfTheSameFileIsADuplicate) {
    StartPool();
    auto first = Enqueue(Fixture("sine.mp3"), "mp3");
    auto row = ExpectDeferred(Wait(first.job_id));
    auto second = Enqueue(Fixture("sine.mp3"), "mp3");
    auto out = Wait(second.job_id);
    EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
    EXPECT_EQ(out.job.error_code.value_or(""), "duplicate_upload");
    EXPECT_EQ(out.job.error.value_or(""), "already uploaded as track " + std::to_string(row.id));
    EXPECT_EQ(Count("SELECT COUNT(*) FROM tracks"), 1);
    EXPECT_TRUE(Exists("audio/" + row.file_id + ".mp3"));  // the first track's file is untouched
    EXPECT_FALSE(fs::exists(second.staging));
}

TEST_P(UploadJobTest, EmbeddedCoverIsUsedWhenNoImageWasUploaded) {
    StartPool();
    plyr::testing::TempDir tmp;
    auto up = Enqueue(Mp3WithCover(tmp), "mp3");
    auto row = ExpectDeferred(Wait(up.job_id));
    ASSERT_TRUE(row.image_id.has_value());
    EXPECT_TRUE(IsValidMediaId(*row.image_id));
    for (const auto& key : ImageKeys(*row.image_id, "png")) EXPECT_TRUE(Exists(key)) << key;
    EXPECT_EQ(Count("SELECT COUNT(*) FROM images WHERE width = 64 AND height = 48 AND ext = 'png'"), 1);
}

TEST_P(UploadJobTest, FieldsTagsFeaturesAndAlbumAreStored) {
    StartPool();
    json::object fields{{"title", "With Friends"},
                        {"description", "notes"},
                        {"tags", json::array{"ambient", "live"}},
                        {"features", json::array{"bob.test", "nobody.test", "alice.test"}},
                        {"album", "First Album"}};
    auto up = Enqueue(Fixture("sine.wav"), "wav", fields);
    auto out = Wait(up.job_id);
    auto row = ExpectDeferred(out);
    EXPECT_EQ(row.title, "With Friends");
    EXPECT_EQ(row.description, "notes");
    ASSERT_EQ(row.features.size(), 1u);  // unresolvable and self are dropped
    EXPECT_EQ(row.features[0].as_object().at("did").as_string(), "did:plc:bob");
    EXPECT_NE(std::find(out.job.warnings.begin(), out.job.warnings.end(), "feature_unresolved"),
              out.job.warnings.end());
    EXPECT_EQ(Count("SELECT COUNT(*) FROM track_tags WHERE track_id = " + std::to_string(row.id)), 2);
    ASSERT_TRUE(row.album_id.has_value());
    EXPECT_EQ(row.album_position, 0);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM albums WHERE title = 'First Album'"), 1);
}

TEST_P(UploadJobTest, AnUnreadableUploadedImageFailsTheJobAndLeavesNothing) {
    StartPool();
    plyr::testing::TempDir tmp;
    auto bad = tmp.Write("bad.png", std::string("\x89PNG\r\n\x1a\n", 8) + std::string(200, 'x'));
    auto up = Enqueue(Fixture("sine.mp3"), "mp3", {}, bad.string());
    auto out = Wait(up.job_id);
    EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
    EXPECT_EQ(out.job.error_code.value_or(""), "image_unreadable");
    ExpectNothingLeft(up);
}

TEST_P(UploadJobTest, ARerunAfterACrashDuplicatesNothing) {
    // Attempt 1 does all its work and then "crashes" (its staging is put back and the attempt fails
    // retryably, as an expired lease would); attempt 2 must find the same row, rkey and objects.
    std::atomic<int> runs{0};
    StartPool([&](jobs::JobContext& ctx) -> Status {
        const int run = ++runs;
        fs::path staging = json::parse(ctx.payload_json()).at("staging_dir").as_string().c_str();
        fs::path backup = dir_.path() / "backup";
        if (run == 1) fs::copy(staging, backup, fs::copy_options::recursive);
        auto st = RunUploadJob(deps_, ctx);
        if (run == 1) {
            fs::remove_all(staging);
            fs::rename(backup, staging);
            return ctx.FailWith("lease_expired", "simulated crash", true);
        }
        return st;
    });
    auto up = Enqueue(Fixture("sine.aiff"), "aiff", {{"tags", json::array{"x"}}}, std::nullopt, 2);
    auto out = Wait(up.job_id);
    EXPECT_EQ(runs.load(), 2);
    auto row = ExpectDeferred(out);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM tracks"), 1);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox"), 1);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM track_peaks"), 2);
    EXPECT_EQ(Objects("audio").size(), 2u);
    EXPECT_FALSE(fs::exists(up.staging));
}

TEST_P(UploadJobTest, AMissingStagingWithoutARowFailsAsStalled) {
    auto up = Enqueue(Fixture("sine.mp3"), "mp3");  // the pool is not running yet
    fs::remove_all(up.staging);
    StartPool();
    auto out = Wait(up.job_id);
    EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
    EXPECT_EQ(out.job.error_code.value_or(""), "stalled");
    ExpectNothingLeft(up);
}

TEST(UploadRecordKey, IsAStableTidOfTheUploadTime) {
    auto a = UploadRecordKey(1'764'000'000'123'456, "job-1");
    EXPECT_EQ(a, UploadRecordKey(1'764'000'000'123'456, "job-1"));
    EXPECT_EQ(a.size(), 13u);
    auto tid = atproto::syntax::ParseTid(a);
    ASSERT_TRUE(tid);
    EXPECT_EQ(tid->TimestampMicros(), 1'764'000'000'123'456);
}

INSTANTIATE_TEST_SUITE_P(Backends, UploadJobTest, BackendValues(), BackendName);

}  // namespace
}  // namespace plyr::tracks
