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

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "atproto/crypto/keys.hpp"
#include "atproto/data/cid.hpp"
#include "atproto/data/json.hpp"
#include "atproto/lexicon/embedded.hpp"
#include "atproto/lexicon/validate.hpp"
#include "atproto/oauth/nonce_cache.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/syntax/tid.hpp"
#include "core/encoding.hpp"
#include "jobs/queue.hpp"
#include "media/sandbox.hpp"
#include "net/http_client.hpp"
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

// A minimal HTTP/1.1 server on loopback standing in for a PDS: one request per connection, answered by `route`.
// Requests are recorded (method, path without query, body).
class FakePds {
  public:
    struct Request {
        std::string method;
        std::string path;
        std::string body;
    };
    using Route = std::function<std::pair<int, std::string>(const Request&)>;

    explicit FakePds(Route route) : route_(std::move(route)) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 16) != 0)
            throw std::runtime_error("fake pds: cannot listen");
        socklen_t len = sizeof(addr);
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Loop(); });
    }
    ~FakePds() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<Request> requests() {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    int Count(const std::string& path) {
        std::lock_guard lock(mutex_);
        return static_cast<int>(
            std::count_if(requests_.begin(), requests_.end(), [&](const Request& r) { return r.path == path; }));
    }

  private:
    void Loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) continue;
            Serve(c);
            ::close(c);
        }
    }
    static bool ReadMore(int c, std::string& buf) {
        char chunk[65536];
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) return false;
        auto n = ::read(c, chunk, sizeof(chunk));
        if (n <= 0) return false;
        buf.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    static void WriteAll(int c, const std::string& s) {
        std::size_t off = 0;
        while (off < s.size()) {
            auto n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return;
            off += static_cast<std::size_t>(n);
        }
    }
    void Serve(int c) {
        std::string buf;
        std::size_t end;
        while ((end = buf.find("\r\n\r\n")) == std::string::npos)
            if (!ReadMore(c, buf)) return;
        std::string head = buf.substr(0, end);
        std::string rest = buf.substr(end + 4);
        std::string lower = head;
        for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        Request req;
        req.method = head.substr(0, head.find(' '));
        std::string target = head.substr(head.find(' ') + 1);
        target = target.substr(0, target.find(' '));
        req.path = target.substr(0, target.find('?'));
        if (lower.find("expect: 100-continue") != std::string::npos) WriteAll(c, "HTTP/1.1 100 Continue\r\n\r\n");
        if (auto at = lower.find("content-length:"); at != std::string::npos) {
            std::size_t length = std::stoul(lower.substr(at + 15));
            while (rest.size() < length)
                if (!ReadMore(c, rest)) return;
            req.body = rest.substr(0, length);
        } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
            std::size_t pos = 0;
            for (;;) {
                std::size_t eol;
                while ((eol = rest.find("\r\n", pos)) == std::string::npos)
                    if (!ReadMore(c, rest)) return;
                std::size_t size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
                while (rest.size() < eol + 2 + size + 2)
                    if (!ReadMore(c, rest)) return;
                req.body += rest.substr(eol + 2, size);
                pos = eol + 2 + size + 2;
                if (size == 0) break;
            }
        }
        auto [status, body] = route_(req);
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(req);
        }
        WriteAll(c, "HTTP/1.1 " + std::to_string(status) +
                        " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
    }

    Route route_;
    int fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::vector<Request> requests_;
};

// Sessions whose PDS is the fake one (static credentials: the fake never checks them).
class FakePdsSessions final : public pds::SessionProvider {
  public:
    FakePdsSessions(const FakePds& fake, const core::Clock& clock) : url_(fake.url()), clock_(clock) {
        auto policy = net::PrivateNetworkPolicy::Parse("127.0.0.1:" + std::to_string(fake.port()));
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
        key_ = *atproto::crypto::PrivateKey::Generate(atproto::crypto::Curve::kP256);
    }
    Result<std::unique_ptr<pds::SessionHandle>> OpenForDid(std::string_view did) override {
        return std::unique_ptr<pds::SessionHandle>(
            std::make_unique<Handle>(std::string(did), *http_, url_, nonces_, clock_, *key_));
    }

  private:
    class Credentials final : public atproto::oauth::CredentialSource {
      public:
        explicit Credentials(atproto::crypto::PrivateKey key) : key_(std::move(key)) {}
        Result<atproto::oauth::Credentials> Current() override {
            return atproto::oauth::Credentials{"access-token", key_, 0};
        }
        Result<atproto::oauth::Credentials> Refresh(const atproto::oauth::Credentials&) override { return Current(); }

      private:
        atproto::crypto::PrivateKey key_;
    };
    class Handle final : public pds::SessionHandle {
      public:
        Handle(std::string did, net::HttpClient& http, const std::string& url, atproto::oauth::DpopNonceCache& nonces,
               const core::Clock& clock, atproto::crypto::PrivateKey key)
            : did_(std::move(did)),
              credentials_(std::move(key)),
              session_(http, url, credentials_, nonces, clock, Fast()) {}
        const std::string& did() const override { return did_; }
        const atproto::oauth::PdsSession& session() const override { return session_; }

      private:
        static atproto::xrpc::XrpcOptions Fast() {
            atproto::xrpc::XrpcOptions o;
            o.max_retries = 0;
            o.timeout = 5000ms;
            o.sleep = [](std::chrono::milliseconds) {};
            return o;
        }
        std::string did_;
        Credentials credentials_;
        atproto::oauth::PdsSession session_;
    };

    std::string url_;
    const core::Clock& clock_;
    std::unique_ptr<net::CurlHttpClient> http_;
    atproto::oauth::DpopNonceCache nonces_;
    std::optional<atproto::crypto::PrivateKey> key_;
};

constexpr const char* kGetRecord = "/xrpc/com.atproto.repo.getRecord";
constexpr const char* kPutRecord = "/xrpc/com.atproto.repo.putRecord";
constexpr const char* kUploadBlob = "/xrpc/com.atproto.repo.uploadBlob";

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

std::pair<int, std::string> RecordNotFound() {
    return {400, R"({"error":"RecordNotFound","message":"Could not locate record"})"};
}

TEST_P(UploadJobTest, PublishesBlobAndRecordStraightToThePds) {
    const std::string cid = atproto::CidForDagCbor("record").ToString();
    const std::string blob_cid = atproto::CidForRaw("blob").ToString();
    FakePds fake([&](const FakePds::Request& r) -> std::pair<int, std::string> {
        if (r.path == kUploadBlob) {
            return {200, R"({"blob":{"$type":"blob","ref":{"$link":")" + blob_cid +
                             R"("},"mimeType":"audio/mpeg","size":)" + std::to_string(r.body.size()) + "}}"};
        }
        if (r.path == kGetRecord) return RecordNotFound();
        if (r.path == kPutRecord) {
            auto in = json::parse(r.body).as_object();
            return {200, R"({"uri":"at://)" + std::string(in.at("repo").as_string()) + "/" +
                             std::string(in.at("collection").as_string()) + "/" +
                             std::string(in.at("rkey").as_string()) + R"(","cid":")" + cid + R"("})"};
        }
        return {404, R"({"error":"MethodNotImplemented"})"};
    });
    FakePdsSessions sessions(fake, clock_);
    deps_.sessions = &sessions;
    StartPool();
    auto up = Enqueue(Fixture("sine.mp3"), "mp3", {{"description", "notes"}});
    auto out = Wait(up.job_id);
    ASSERT_EQ(out.job.status, jobs::JobStatus::kCompleted) << out.job.error.value_or("");
    EXPECT_TRUE(out.job.warnings.empty()) << out.job.warnings.size();
    ASSERT_TRUE(out.result.has_value());
    auto row = Track(out.result->at("track_id").as_int64());
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->publish_state, repos::PublishState::kPublished);
    const std::string uri = "at://" + std::string(kAlice) + "/fm.plyr.track/" + row->atproto_rkey;
    EXPECT_EQ(row->atproto_record_uri, uri);
    EXPECT_EQ(row->atproto_record_cid, cid);
    EXPECT_EQ(out.result->at("atproto_uri").as_string(), uri);
    EXPECT_EQ(out.result->at("atproto_cid").as_string(), cid);
    EXPECT_TRUE(row->record_extra.contains("audioBlob"));  // kept for every later rebuild
    EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox"), 0);

    // What went to the PDS: the playable file as the blob, then one lexicon-valid record at the fixed rkey.
    EXPECT_EQ(fake.Count(kUploadBlob), 1);
    ASSERT_EQ(fake.Count(kPutRecord), 1);
    for (const auto& r : fake.requests()) {
        if (r.path != kPutRecord) continue;
        auto in = json::parse(r.body).as_object();
        EXPECT_EQ(in.at("repo").as_string(), kAlice);
        EXPECT_EQ(in.at("rkey").as_string(), row->atproto_rkey);
        EXPECT_FALSE(in.contains("validate"));
        const auto& record = in.at("record").as_object();
        EXPECT_EQ(record.at("$type").as_string(), "fm.plyr.track");
        EXPECT_EQ(record.at("title").as_string(), "Test Track");
        EXPECT_EQ(record.at("artist").as_string(), "Alice");
        EXPECT_EQ(record.at("fileType").as_string(), "mp3");
        EXPECT_EQ(record.at("audioUrl").as_string(), "http://127.0.0.1:8001/audio/" + row->file_id + ".mp3");
        EXPECT_EQ(record.at("audioBlob").at("ref").at("$link").as_string(), blob_cid);
        EXPECT_EQ(record.at("duration").as_int64(), 3);
        EXPECT_EQ(record.at("description").as_string(), "notes");
        auto value = atproto::ValueFromJson(json::value(record));
        ASSERT_TRUE(value);
        EXPECT_TRUE(atproto::lexicon::ValidateRecord(Catalog(), "fm.plyr.track", *value));
    }
}

TEST_P(UploadJobTest, ARecordThePdsRejectsFailsTheJobAndLeavesNothing) {
    FakePds fake([&](const FakePds::Request& r) -> std::pair<int, std::string> {
        if (r.path == kGetRecord) return RecordNotFound();
        return {400, R"({"error":"InvalidRequest","message":"record too large"})"};
    });
    FakePdsSessions sessions(fake, clock_);
    deps_.sessions = &sessions;
    StartPool();
    auto up = Enqueue(Fixture("sine.aiff"), "aiff");
    auto out = Wait(up.job_id);
    EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
    EXPECT_EQ(out.job.error_code.value_or(""), "pds_rejected");
    EXPECT_EQ(fake.Count(kPutRecord), 1);  // a rejection is not retried
    ExpectNothingLeft(up);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM track_peaks"), 0);
}

TEST_P(UploadJobTest, AnUnavailablePdsHandsThePublishToTheOutbox) {
    FakePds fake([&](const FakePds::Request& r) -> std::pair<int, std::string> {
        if (r.path == kGetRecord) return RecordNotFound();
        return {503, R"({"error":"ServiceUnavailable"})"};
    });
    FakePdsSessions sessions(fake, clock_);
    deps_.sessions = &sessions;
    StartPool();
    auto up = Enqueue(Fixture("sine.mp3"), "mp3");
    auto out = Wait(up.job_id);
    ASSERT_EQ(out.job.status, jobs::JobStatus::kCompleted) << out.job.error.value_or("");
    auto has = [&](const char* w) {
        return std::find(out.job.warnings.begin(), out.job.warnings.end(), w) != out.job.warnings.end();
    };
    EXPECT_TRUE(has("pds_blob_failed"));
    EXPECT_TRUE(has("pds_publish_deferred"));
    EXPECT_FALSE(has("pds_auth_required"));
    EXPECT_EQ(fake.Count(kPutRecord), 4);  // 4 attempts with back-off, then the outbox takes over
    auto row = Track(out.result->at("track_id").as_int64());
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->publish_state, repos::PublishState::kPending);
    EXPECT_EQ(Count("SELECT COUNT(*) FROM pds_outbox WHERE status = 'pending' AND entity_type = 'track'"), 1);
    EXPECT_TRUE(Exists("audio/" + row->file_id + ".mp3"));
    EXPECT_FALSE(fs::exists(up.staging));
}

TEST_P(UploadJobTest, AnExpiredGrantHandsThePublishToTheOutboxAsAuthRequired) {
    FakePds fake([&](const FakePds::Request&) -> std::pair<int, std::string> {
        return {401, R"({"error":"InvalidToken","message":"token expired"})"};
    });
    FakePdsSessions sessions(fake, clock_);
    deps_.sessions = &sessions;
    StartPool();
    auto up = Enqueue(Fixture("noise.flac"), "flac");
    auto out = Wait(up.job_id);
    auto row = ExpectDeferred(out);  // completed, pending row, outbox put, pds_auth_required
    EXPECT_EQ(row.file_type, "flac");
    EXPECT_EQ(fake.Count(kPutRecord), 0);  // the read before the write already failed: nothing was retried
}

TEST_P(UploadJobTest, AStagingDirOutsideTheStagingRootIsRefusedAndLeftAlone) {
    auto up = Enqueue(Fixture("sine.mp3"), "mp3");  // the pool is not running yet
    // Point the payload at a directory elsewhere: the job must neither read it as its upload nor delete it.
    plyr::testing::TempDir elsewhere;
    fs::copy_file(up.staging / "audio", elsewhere.path() / "audio");
    auto st = db_->Write([&](db::Connection& c) -> Status {
        auto view = jobs::Get(c, up.job_id);
        if (!view) return Fail(std::move(view.error()));
        auto payload = json::parse(view->payload_json).as_object();
        payload["staging_dir"] = elsewhere.str();
        payload["audio"].as_object()["path"] = (elsewhere.path() / "audio").string();
        auto r = c.Query(is_sqlite() ? "UPDATE jobs SET payload = $1 WHERE id = $2"
                                     : "UPDATE jobs SET payload = $1::jsonb WHERE id = $2::uuid",
                         {json::serialize(payload), up.job_id});
        if (!r) return Fail(std::move(r.error()));
        return Ok();
    });
    ASSERT_TRUE(st) << st.error().ToString();
    StartPool();
    auto out = Wait(up.job_id);
    EXPECT_EQ(out.job.status, jobs::JobStatus::kFailed);
    EXPECT_EQ(out.job.error_code.value_or(""), "invalid_payload");
    EXPECT_TRUE(fs::exists(elsewhere.path() / "audio"));
    EXPECT_EQ(Count("SELECT COUNT(*) FROM tracks"), 0);
    EXPECT_TRUE(Objects("audio").empty());
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
