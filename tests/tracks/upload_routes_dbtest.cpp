// POST /tracks/ and the upload progress endpoints (product.md §4.4, §6.4 steps 1-6, §4.1 SSE/idempotency, §9 rows
// 1-4, 12-19, 21-23) through a real http::Server on 127.0.0.1:0, a migrated database (both backends), a real
// AuthService session and audio generated with ffmpeg. Every refusal asserts its status and code, and that nothing
// is left behind: the staging root is empty and no job row exists.
#include "api/upload_routes.hpp"

#include <sys/socket.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "auth/auth_fakes.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/server.hpp"
#include "jobs/queue.hpp"
#include "storage/repos/album_repo.hpp"
#include "storage/repos/artist_repo.hpp"
#include "support/temp_dir.hpp"
#include "test_db.hpp"
#include "unit/http/test_client.hpp"

namespace plyr::api {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using namespace plyr::auth::fakes;
using http::testing::RawResponse;
using http::testing::RequestText;
using http::testing::TestConnection;
using storage::db::testing::MigratedDbTest;

constexpr std::string_view kBoundary = "plyrTestBoundary0123";
constexpr std::uint64_t kMaxUpload = 1 << 20;  // 1 MiB audio cap: the body may be 2 MiB
constexpr std::uint64_t kMaxImage = 64 << 10;
const std::string kAliceSession = "alice-session-id-0123456789abcdef";
const std::string kBobSession = "bob-session-id-0123456789abcdefgh";
const std::string kOrigin = "http://127.0.0.1:8001";

// ---- generated media (once per process) ----

struct Media {
    std::string wav, flac, mp3, png;
};

std::string ReadFile(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const Media& TestMedia() {
    static const Media media = [] {
        static plyr::testing::TempDir dir;
        auto gen = [&](const std::string& args, const std::string& name) {
            std::string out = (dir.path() / name).string();
            std::string cmd = "ffmpeg -hide_banner -loglevel error -y " + args + " '" + out + "' </dev/null";
            EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
            return ReadFile(out);
        };
        Media m;
        std::string tone = "-f lavfi -i sine=frequency=440:duration=0.5 -ac 1 -ar 22050";
        m.wav = gen(tone, "tone.wav");
        m.flac = gen(tone, "tone.flac");
        m.mp3 = gen(tone + " -b:a 64k", "tone.mp3");
        m.png = gen("-f lavfi -i color=c=red:s=16x16 -frames:v 1", "cover.png");
        return m;
    }();
    return media;
}

// A PNG signature and IHDR claiming width × height (a few bytes; §9 row 22).
std::string PngHeader(std::uint32_t width, std::uint32_t height) {
    std::string s("\x89PNG\r\n\x1a\n", 8);
    s += std::string("\0\0\0\x0dIHDR", 8);
    for (std::uint32_t v : {width, height}) {
        for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
    }
    s += std::string("\x08\x06\0\0\0", 5);
    s += std::string("\0\0\0\0", 4);  // CRC (not checked by a header sniff)
    return s;
}

// ---- multipart bodies ----

struct Part {
    std::string name;
    std::string data;
    std::optional<std::string> filename;
    std::string content_type;
};

Part Field(std::string name, std::string value) { return Part{std::move(name), std::move(value), std::nullopt, ""}; }
Part File(std::string name, std::string data, std::string filename, std::string type = "application/octet-stream") {
    return Part{std::move(name), std::move(data), std::move(filename), std::move(type)};
}

std::string Multipart(const std::vector<Part>& parts) {
    std::string body;
    for (const auto& p : parts) {
        body += "--" + std::string(kBoundary) + "\r\n";
        body += "Content-Disposition: form-data; name=\"" + p.name + "\"";
        if (p.filename) body += "; filename=\"" + *p.filename + "\"";
        body += "\r\n";
        if (!p.content_type.empty()) body += "Content-Type: " + p.content_type + "\r\n";
        body += "\r\n" + p.data + "\r\n";
    }
    body += "--" + std::string(kBoundary) + "--\r\n";
    return body;
}

std::string ContentType() { return "Content-Type: multipart/form-data; boundary=" + std::string(kBoundary); }

json::object Json(const RawResponse& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object()) return {};
    return v.as_object();
}

class UploadRoutesTest : public MigratedDbTest {
  protected:
    void SetUp() override {
        MigratedDbTest::SetUp();
        if (!db_) return;
        log::Init(log::Level::kWarn, log::Format::kJson);
        (void)TestMedia();
        auth::AuthSettings settings;
        settings.public_url = kOrigin;
        settings.development_mode = true;
        service_ = std::make_unique<auth::AuthService>(std::move(settings), *db_, box_, http_, identity_, backend_,
                                                       clock_, blocking_);
        staging_ = std::make_unique<tracks::Staging>(data_.path());
        AddUser(kAlice, "alice.test", kAliceSession, true);
        AddUser(kBob, "bob.test", kBobSession, true);
    }

    void TearDown() override {
        if (server_) server_->Stop();
        if (io_) io_->Join();
        // An Offload job finishing on the blocking pool still holds a copy of the connection's strand executor;
        // the pool must be drained before the io_context that owns the strand service is destroyed.
        blocking_.Join();
        server_.reset();
        io_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
        MigratedDbTest::TearDown();
    }

    void AddUser(const std::string& did, const std::string& handle, const std::string& session_id, bool artist) {
        if (artist) {
            storage::repos::ArtistRepository artists(*db_);
            ASSERT_TRUE(artists.UpsertOnSignIn(did, handle, kPds, clock_.NowMicros()));
        }
        storage::repos::SessionRepository sessions(*db_, box_);
        storage::repos::NewSession ns;
        ns.session_id = session_id;
        ns.did = did;
        ns.handle = handle;
        ns.oauth = "{}";
        ns.granted_scope = GrantedBase();
        ns.expires_at = clock_.NowMicros() + kDay;
        ns.now = clock_.NowMicros();
        ASSERT_TRUE(sessions.Create(ns));
    }

    void Start(UploadRoutesOptions options = {}) {
        options.credentialed_origins = {kOrigin};
        options.max_upload_bytes = kMaxUpload;
        options.max_image_bytes = kMaxImage;
        options.poll_interval = 20ms;
        options.notify_workers = [this] { ++notified_; };
        http::Router router;
        auto added = AddUploadRoutes(router, UploadRoutesDeps{*service_, *db_, blocking_, clock_, *staging_, options});
        ASSERT_TRUE(added) << added.error().ToString();
        http::ServerOptions so;
        so.header_timeout = 3000ms;
        so.idle_timeout = 3000ms;
        so.body_timeout = 3000ms;
        so.write_timeout = 3000ms;
        so.shutdown_grace = 2000ms;
        so.access_log = false;
        so.metrics = &metrics_;
        io_ = std::make_unique<net::IoPool>(2);
        server_ = std::make_unique<http::Server>(*io_, std::move(router), std::move(so));
        auto port = server_->Start();
        ASSERT_TRUE(port) << port.error().ToString();
        port_ = *port;
        io_->Start();
    }

    RawResponse Post(const std::string& body, std::vector<std::string> headers = {},
                     const std::string& session = kAliceSession) {
        headers.push_back(ContentType());
        if (!session.empty()) headers.push_back("Authorization: Bearer " + session);
        TestConnection c(port_);
        EXPECT_TRUE(c.connected());
        EXPECT_TRUE(c.Send(RequestText("POST", "/tracks/", headers, body)));
        auto r = c.ReadResponse(false, 10s);
        EXPECT_TRUE(r.has_value());
        return r.value_or(RawResponse{});
    }

    RawResponse Get(const std::string& target, const std::string& session = kAliceSession) {
        TestConnection c(port_);
        EXPECT_TRUE(c.Send(RequestText("GET", target, {"Authorization: Bearer " + session})));
        auto r = c.ReadResponse(false, 10s);
        EXPECT_TRUE(r.has_value());
        return r.value_or(RawResponse{});
    }

    // The minimal valid upload with `audio`.
    std::string Upload(const std::string& audio, const std::string& filename = "tone.wav",
                       std::vector<Part> extra = {}) {
        std::vector<Part> parts{Field("title", "Tone"), File("file", audio, filename, "audio/wav")};
        parts.insert(parts.end(), extra.begin(), extra.end());
        return Multipart(parts);
    }

    std::int64_t JobCount() {
        auto n = db_->ReadValue<std::int64_t>([](storage::db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query("SELECT COUNT(*) FROM jobs");
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        EXPECT_TRUE(n);
        return n.value_or(-1);
    }

    std::size_t StagingEntries() {
        std::error_code ec;
        if (!fs::exists(staging_->root(), ec)) return 0;
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(staging_->root()), {}));
    }

    // Refused with `status` / `code`, and nothing left behind.
    void ExpectRefused(const RawResponse& r, int status, std::string_view code,
                       std::optional<std::string_view> field = std::nullopt) {
        EXPECT_EQ(r.status, status) << r.body;
        auto body = Json(r);
        EXPECT_EQ(body.contains("error") ? body.at("error").as_string() : "", code) << r.body;
        EXPECT_EQ(body.contains("detail") ? body.at("detail").as_string() : "", code);
        if (field) {
            EXPECT_EQ(body.contains("field") ? body.at("field").as_string() : "", *field) << r.body;
        }
        EXPECT_EQ(StagingEntries(), 0u) << "staging must be empty after a refusal";
        EXPECT_EQ(JobCount(), 0) << "no job after a refusal";
    }

    std::string Accepted(const RawResponse& r) {
        EXPECT_EQ(r.status, 202) << r.body;
        auto body = Json(r);
        EXPECT_EQ(body.contains("status") ? body.at("status").as_string() : "", "pending");
        return body.contains("upload_id") ? std::string(body.at("upload_id").as_string()) : "";
    }

    plyr::testing::TempDir data_;
    core::SecretBox box_ = *core::SecretBox::FromKeys(std::string(32, 'k'));
    OfflineHttp http_;
    FakeIdentity identity_;
    FakeBackend backend_;
    core::ManualClock clock_;
    net::BlockingPool blocking_{2};
    std::unique_ptr<auth::AuthService> service_;
    std::unique_ptr<tracks::Staging> staging_;
    core::metrics::Registry metrics_;
    std::unique_ptr<net::IoPool> io_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;
    std::atomic<int> notified_{0};
};

// ---- accepted uploads ----

TEST_P(UploadRoutesTest, AcceptedUploadEnqueuesTheJobWithTheExactPayload) {
    Start();
    const auto& media = TestMedia();
    auto r = Post(Multipart({Field("title", "  My Tone "), Field("description", "liner notes"),
                             Field("tags", R"(["Ambient", "#drone"])"), Field("features", R"(["Bob.Test"])"),
                             Field("album", "First"), File("file", media.wav, "tone.wav", "audio/wav"),
                             File("image", media.png, "cover.png", "image/png")}),
                  {"Idempotency-Key: key-1"});
    std::string id = Accepted(r);
    ASSERT_FALSE(id.empty());
    EXPECT_EQ(notified_.load(), 1) << "the in-process worker is woken";

    auto job = jobs::Get(*db_, id);
    ASSERT_TRUE(job) << job.error().ToString();
    EXPECT_EQ(job->type, "upload");
    EXPECT_EQ(job->status, jobs::JobStatus::kPending);
    EXPECT_EQ(job->owner_did, kAlice);
    EXPECT_EQ(job->idempotency_key, "key-1");

    auto payload = json::parse(job->payload_json).as_object();
    std::string dir(payload.at("staging_dir").as_string());
    EXPECT_EQ(fs::path(dir).parent_path(), staging_->root());
    EXPECT_EQ(StagingEntries(), 1u);
    json::value expected = json::object{
        {"staging_dir", dir},
        {"audio",
         {{"path", dir + "/audio"},
          {"format", "wav"},
          {"size", media.wav.size()},
          {"sha256", core::Sha256Hex(media.wav)},
          {"filename", "tone.wav"}}},
        {"image",
         {{"path", dir + "/image"}, {"format", "png"}, {"size", media.png.size()}, {"width", 16}, {"height", 16}}},
        {"fields",
         {{"title", "My Tone"},
          {"description", "liner notes"},
          {"tags", json::array{"ambient", "drone"}},
          {"features", json::array{"bob.test"}},
          {"album", "First"},
          {"album_id", nullptr},
          {"support_gate", nullptr}}},
        {"warnings", json::array{}},
        {"uploaded_at_us", clock_.NowMicros()}};
    EXPECT_EQ(json::value(payload), expected) << json::serialize(payload);
    EXPECT_EQ(ReadFile(dir + "/audio"), media.wav);
    EXPECT_EQ(ReadFile(dir + "/image"), media.png);
}

TEST_P(UploadRoutesTest, FlacNamedMp3IsStoredAsFlacWithAWarning) {  // §9 row 4
    Start();
    auto id = Accepted(Post(Upload(TestMedia().flac, "song.mp3")));
    auto job = jobs::Get(*db_, id);
    ASSERT_TRUE(job);
    auto payload = json::parse(job->payload_json).as_object();
    EXPECT_EQ(payload.at("audio").at("format").as_string(), "flac");
    EXPECT_EQ(payload.at("warnings"), (json::array{"extension_mismatch"}));
    EXPECT_TRUE(payload.at("image").is_null());
}

TEST_P(UploadRoutesTest, Mp3WithItsOwnNameHasNoWarning) {
    Start();
    auto id = Accepted(Post(Upload(TestMedia().mp3, "tone.MP3")));
    auto payload = json::parse(jobs::Get(*db_, id)->payload_json).as_object();
    EXPECT_EQ(payload.at("audio").at("format").as_string(), "mp3");
    EXPECT_TRUE(payload.at("warnings").as_array().empty());
}

TEST_P(UploadRoutesTest, EmptyImagePartFromABrowserFormMeansNoImage) {
    Start();
    auto id = Accepted(Post(Upload(TestMedia().wav, "tone.wav", {File("image", "", "")})));
    auto payload = json::parse(jobs::Get(*db_, id)->payload_json).as_object();
    EXPECT_TRUE(payload.at("image").is_null());
}

TEST_P(UploadRoutesTest, IdempotentReplayReturnsTheOriginalUpload) {
    Start();
    auto first = Accepted(Post(Upload(TestMedia().wav), {"Idempotency-Key: same"}));
    auto second = Accepted(Post(Upload(TestMedia().wav), {"Idempotency-Key: same"}));
    EXPECT_EQ(first, second);
    EXPECT_EQ(JobCount(), 1);
    EXPECT_EQ(StagingEntries(), 1u) << "the replay's staging directory is deleted";
    EXPECT_EQ(notified_.load(), 1);
    // Another user's identical key is another upload.
    auto bob = Accepted(Post(Upload(TestMedia().wav), {"Idempotency-Key: same"}, kBobSession));
    EXPECT_NE(bob, first);
}

TEST_P(UploadRoutesTest, InvalidIdempotencyKeyIsRefused) {
    Start();
    ExpectRefused(Post(Upload(TestMedia().wav), {"Idempotency-Key: " + std::string(65, 'k')}), 400,
                  "invalid_idempotency_key");
}

TEST_P(UploadRoutesTest, FourthConcurrentUploadIsRefused) {
    Start();
    for (int i = 0; i < 3; ++i) Accepted(Post(Upload(TestMedia().wav)));
    auto r = Post(Upload(TestMedia().wav));
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(Json(r)["error"].as_string(), "too_many_uploads");
    EXPECT_EQ(JobCount(), 3);
    EXPECT_EQ(StagingEntries(), 3u);
    // A replay of an existing upload is still answered.
    auto replayed = Post(Upload(TestMedia().wav), {"Idempotency-Key: k"});
    EXPECT_EQ(replayed.status, 429) << "a new key is a new upload";
}

TEST_P(UploadRoutesTest, UploadBucketRateLimitsUploads) {
    auto limiter = std::make_shared<http::RateLimiter>(clock_, http::RateLimiter::Options{});
    ASSERT_TRUE(limiter->AddBucket(http::kRateBucketUpload, http::RateLimitRule{1, std::chrono::minutes(1)}));
    UploadRoutesOptions options;
    options.limiter = limiter;
    Start(options);
    auto first = Post(Upload(TestMedia().wav));
    Accepted(first);
    EXPECT_EQ(first.Header("RateLimit-Limit"), "1");
    auto second = Post(Upload(TestMedia().wav));
    EXPECT_EQ(second.status, 429);
    EXPECT_EQ(Json(second)["error"].as_string(), "rate_limited");
    EXPECT_TRUE(second.Header("Retry-After").has_value());
    EXPECT_EQ(JobCount(), 1);
    EXPECT_EQ(StagingEntries(), 1u);
}

// ---- auth ----

TEST_P(UploadRoutesTest, UnauthenticatedUploadIsRefused) {
    Start();
    ExpectRefused(Post(Upload(TestMedia().wav), {}, ""), 401, "authentication_required");
}

TEST_P(UploadRoutesTest, CrossSiteCookieUploadIsRefused) {
    Start();
    ExpectRefused(
        Post(Upload(TestMedia().wav), {"Cookie: session_id=" + kAliceSession, "Origin: https://evil.example"}, ""), 403,
        "csrf_rejected");
    // The same cookie from the app's own origin is accepted.
    Accepted(Post(Upload(TestMedia().wav), {"Cookie: session_id=" + kAliceSession, "Origin: " + kOrigin}, ""));
}

TEST_P(UploadRoutesTest, UserWithoutArtistRowIsRefused) {
    AddUser("did:plc:carolcccccccccccccccccccc", "carol.test", "carol-session-0123456789abcdefgh", false);
    Start();
    ExpectRefused(Post(Upload(TestMedia().wav), {}, "carol-session-0123456789abcdefgh"), 403,
                  "artist_profile_required");
}

// ---- §9 rows ----

TEST_P(UploadRoutesTest, Row1ZeroByteFile) {
    Start();
    ExpectRefused(Post(Upload("", "empty.mp3")), 400, "empty_file", "file");
}

TEST_P(UploadRoutesTest, Row2RandomBytesNamedMp3) {
    Start();
    ExpectRefused(Post(Upload(core::RandomBytes(200'000), "song.mp3")), 415, "unsupported_audio_format");
}

TEST_P(UploadRoutesTest, Row3PngOrElfRenamedMp3) {
    Start();
    ExpectRefused(Post(Upload(TestMedia().png, "song.mp3")), 415, "unsupported_audio_format");
    std::string elf = ReadFile("/bin/true").substr(0, 100'000);
    ASSERT_TRUE(
        elf.starts_with("\x7f"
                        "ELF"));
    ExpectRefused(Post(Upload(elf, "song.mp3")), 415, "unsupported_audio_format");
}

TEST_P(UploadRoutesTest, MissingFilePartIsRefused) {
    Start();
    ExpectRefused(Post(Multipart({Field("title", "t")})), 400, "validation_error", "file");
}

TEST_P(UploadRoutesTest, Row12HugeContentLengthIsRefusedBeforeTheBodyIsRead) {
    Start();
    TestConnection c(port_);
    ASSERT_TRUE(c.Send("POST /tracks/ HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + kAliceSession + "\r\n" +
                       ContentType() + "\r\nContent-Length: 5000000000\r\n\r\n"));
    auto r = c.ReadResponse(false, 5s);
    ASSERT_TRUE(r);
    ExpectRefused(*r, 413, "file_too_large");
}

TEST_P(UploadRoutesTest, Row13ChunkedBodyGrowingPastTheCap) {
    Start();
    TestConnection c(port_);
    ASSERT_TRUE(c.Send("POST /tracks/ HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + kAliceSession + "\r\n" +
                       ContentType() + "\r\nTransfer-Encoding: chunked\r\n\r\n"));
    std::string head = "--" + std::string(kBoundary) +
                       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wav\"\r\n\r\n" +
                       TestMedia().wav;
    auto chunk = [](std::string_view data) {
        char size[32];
        std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
        return std::string(size) + std::string(data) + "\r\n";
    };
    bool sending = c.Send(chunk(head));
    std::string filler(64 * 1024, 'x');
    for (std::uint64_t sent = head.size(); sending && sent <= kMaxUpload + 128 * 1024; sent += filler.size()) {
        sending = c.Send(chunk(filler));
    }
    auto r = c.ReadResponse(false, 5s);
    ASSERT_TRUE(r);
    ExpectRefused(*r, 413, "file_too_large");
    EXPECT_TRUE(c.WaitClosed(3s)) << "the connection is closed";
}

TEST_P(UploadRoutesTest, Row14ClientDisconnectLeavesNothing) {
    Start();
    {
        TestConnection c(port_);
        std::string body = Upload(TestMedia().wav);
        ASSERT_TRUE(c.Send("POST /tracks/ HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + kAliceSession + "\r\n" +
                           ContentType() + "\r\nContent-Length: " + std::to_string(body.size() + 500'000) + "\r\n\r\n" +
                           body.substr(0, body.size() / 2)));
        // Give the handler time to create its staging directory, then go away.
        for (int i = 0; i < 200 && StagingEntries() == 0; ++i) std::this_thread::sleep_for(10ms);
        EXPECT_EQ(StagingEntries(), 1u);
    }
    for (int i = 0; i < 300 && StagingEntries() != 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(StagingEntries(), 0u);
    EXPECT_EQ(JobCount(), 0);
}

TEST_P(UploadRoutesTest, Row15MultipartWithoutBoundaryOrUnterminated) {
    Start();
    TestConnection c(port_);
    ASSERT_TRUE(c.Send(RequestText(
        "POST", "/tracks/", {"Authorization: Bearer " + kAliceSession, "Content-Type: multipart/form-data"}, "x")));
    auto r = c.ReadResponse(false, 5s);
    ASSERT_TRUE(r);
    ExpectRefused(*r, 400, "malformed_multipart");
    std::string body = Upload(TestMedia().wav);
    body.resize(body.size() - 10);  // the close delimiter is cut off
    ExpectRefused(Post(body), 400, "malformed_multipart");
}

TEST_P(UploadRoutesTest, Row16TooManyPartsOrAHugeField) {
    Start();
    std::vector<Part> parts;
    for (int i = 0; i < 10'000; ++i) parts.push_back(Field("x" + std::to_string(i), "v"));
    ExpectRefused(Post(Multipart(parts)), 400, "too_many_parts");
    ExpectRefused(Post(Upload(TestMedia().wav, "tone.wav", {Field("description", std::string(1'000'000, 'd'))})), 413,
                  "field_too_large");
}

TEST_P(UploadRoutesTest, Row17BadTitles) {
    Start();
    const auto& wav = TestMedia().wav;
    ExpectRefused(Post(Multipart({File("file", wav, "a.wav")})), 400, "invalid_title", "title");
    for (std::string title : {std::string("   "), std::string(257, 't'), std::string("a\x01z")}) {
        ExpectRefused(Post(Multipart({Field("title", title), File("file", wav, "a.wav")})), 400, "invalid_title",
                      "title");
    }
}

TEST_P(UploadRoutesTest, Row18BadTags) {
    Start();
    const auto& wav = TestMedia().wav;
    ExpectRefused(Post(Upload(wav, "a.wav", {Field("tags", R"(["1","2","3","4","5","6","7","8","9","10","11"])")})),
                  400, "too_many_tags", "tags");
    ExpectRefused(Post(Upload(wav, "a.wav", {Field("tags", "[\"" + std::string(51, 'x') + "\"]")})), 400,
                  "invalid_tags", "tags");
    ExpectRefused(Post(Upload(wav, "a.wav", {Field("tags", "rock, pop")})), 400, "invalid_tags", "tags");
}

TEST_P(UploadRoutesTest, Row19AlbumConflictAndAnotherArtistsAlbum) {
    Start();
    const auto& wav = TestMedia().wav;
    ExpectRefused(
        Post(Upload(wav, "a.wav", {Field("album", "A"), Field("album_id", "0f8fad5b-d9cb-469f-a165-70867728950e")})),
        400, "album_conflict", "album_id");
    std::string bobs_album;
    ASSERT_TRUE(db_->Write([&](storage::db::Connection& tx) -> Status {
        auto album = storage::repos::AlbumRepository::GetOrCreateForArtist(tx, kBob, "Bob's", "3kabcdefghij2",
                                                                           clock_.NowMicros());
        if (!album) return Fail(std::move(album.error()));
        bobs_album = album->album.id;
        return Ok();
    }));
    ExpectRefused(Post(Upload(wav, "a.wav", {Field("album_id", bobs_album)})), 404, "album_not_found", "album_id");
    ExpectRefused(Post(Upload(wav, "a.wav", {Field("album_id", "0f8fad5b-d9cb-469f-a165-70867728950e")})), 404,
                  "album_not_found", "album_id");
    // Bob's own album is accepted.
    auto id = Accepted(Post(Upload(wav, "a.wav", {Field("album_id", bobs_album)}), {}, kBobSession));
    auto payload = json::parse(jobs::Get(*db_, id)->payload_json).as_object();
    EXPECT_EQ(payload.at("fields").at("album_id").as_string(), bobs_album);
}

TEST_P(UploadRoutesTest, Row21OversizedArtwork) {
    Start();
    std::string big = TestMedia().png + std::string(kMaxImage, '\0');
    ExpectRefused(Post(Upload(TestMedia().wav, "a.wav", {File("image", big, "big.png", "image/png")})), 413,
                  "image_too_large");
}

TEST_P(UploadRoutesTest, Row22HugeDimensionsInATinyPng) {
    Start();
    ExpectRefused(
        Post(Upload(TestMedia().wav, "a.wav", {File("image", PngHeader(60'000, 60'000), "bomb.png", "image/png")})),
        422, "image_dimensions_too_large");
}

TEST_P(UploadRoutesTest, Row23SvgOrHtmlArtwork) {
    Start();
    const auto& wav = TestMedia().wav;
    ExpectRefused(Post(Upload(wav, "a.wav",
                              {File("image", R"(<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>)",
                                    "a.svg", "image/svg+xml")})),
                  415, "unsupported_image_format");
    ExpectRefused(Post(Upload(wav, "a.wav", {File("image", "<html><body>hi</body></html>", "a.png", "image/png")})),
                  415, "unsupported_image_format");
}

TEST_P(UploadRoutesTest, SupportGateNeedsAtprotofans) {
    Start();
    ExpectRefused(Post(Upload(TestMedia().wav, "a.wav", {Field("support_gate", R"({"type":"any"})")})), 400,
                  "support_not_configured", "support_gate");
}

// Row 25 (receiving): the staging filesystem fills up mid-file. Needs a small tmpfs, so it runs only where the test
// may mount one (root in a container); elsewhere it is skipped with a message.
TEST_P(UploadRoutesTest, Row25DiskFullWhileReceiving) {
    fs::path root = staging_->root();
    fs::create_directories(root);
    std::string mount = "mount -t tmpfs -o size=256k,mode=0700 tmpfs '" + root.string() + "' 2>/dev/null";
    if (std::system(mount.c_str()) != 0) GTEST_SKIP() << "cannot mount a tmpfs here (not root)";
    struct Unmount {
        fs::path root;
        ~Unmount() { std::system(("umount '" + root.string() + "'").c_str()); }
    } unmount{root};
    Start();
    std::string audio = TestMedia().wav + core::RandomBytes(600'000);
    ExpectRefused(Post(Upload(audio)), 507, "insufficient_storage");
}

// ---- progress ----

// Reads an SSE response until the server closes; returns the raw bytes after the head.
struct SseReader {
    TestConnection connection;
    explicit SseReader(std::uint16_t port) : connection(port) {}

    // The `data:` payloads (and ids) seen so far, waiting until `count` arrived or the timeout.
    std::vector<std::pair<std::string, json::object>> Events(std::size_t count, std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            auto events = Parse();
            if (events.size() >= count || std::chrono::steady_clock::now() > deadline) return events;
            connection.WaitClosed(20ms);  // appends whatever arrives meanwhile
        }
    }

    std::vector<std::pair<std::string, json::object>> Parse() {
        std::vector<std::pair<std::string, json::object>> out;
        std::istringstream in(connection.buffered());
        std::string line, id;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.starts_with("id: ")) id = line.substr(4);
            if (line.starts_with("data: ")) out.emplace_back(id, json::parse(line.substr(6)).as_object());
        }
        return out;
    }
};

TEST_P(UploadRoutesTest, ProgressStreamFollowsTheJobToItsEnd) {
    Start();
    std::string id = Accepted(Post(Upload(TestMedia().wav)));

    SseReader sse(port_);
    ASSERT_TRUE(sse.connection.Send(RequestText("GET", "/tracks/uploads/" + id + "/progress",
                                                {"Authorization: Bearer " + kAliceSession, "Connection: close"})));
    auto first = sse.Events(1, 5s);
    ASSERT_EQ(first.size(), 1u) << sse.connection.buffered();
    EXPECT_NE(sse.connection.buffered().find("text/event-stream"), std::string::npos);
    EXPECT_NE(sse.connection.buffered().find("X-Accel-Buffering: no"), std::string::npos);
    EXPECT_EQ(first[0].first, "0");
    EXPECT_EQ(first[0].second.at("id").as_string(), id);
    EXPECT_EQ(first[0].second.at("status").as_string(), "pending");
    EXPECT_EQ(first[0].second.at("progress_pct").as_int64(), 0);

    auto claimed = jobs::Claim(*db_, "w", {"upload"}, 60s, clock_);
    ASSERT_TRUE(claimed && *claimed);
    const auto& lease = (*claimed)->lease_owner;
    ASSERT_TRUE(jobs::ReportProgress(*db_, id, lease, {"validating", 5, "checking the audio", std::nullopt}, clock_));
    auto second = sse.Events(2, 5s);
    ASSERT_GE(second.size(), 2u);
    // The claim itself may show up as its own event; the last one seen carries the reported progress.
    EXPECT_EQ(second.back().second.at("status").as_string(), "processing");
    EXPECT_EQ(second.back().second.at("phase").as_string(), "validating");
    EXPECT_EQ(second.back().second.at("progress_pct").as_int64(), 5);

    ASSERT_TRUE(jobs::Complete(
        *db_, id, lease, R"({"track_id": 42, "atproto_uri": "at://did:plc:x/fm.plyr.track/3k", "atproto_cid": "bafy"})",
        {"pds_blob_failed"}, clock_));
    EXPECT_TRUE(sse.connection.WaitClosed(5s)) << "the stream ends after the terminal event";
    auto all = sse.Parse();
    ASSERT_GE(all.size(), 3u);
    const auto& last = all.back().second;
    EXPECT_EQ(last.at("status").as_string(), "completed");
    EXPECT_EQ(last.at("progress_pct").as_int64(), 100);
    EXPECT_EQ(last.at("track_id").as_int64(), 42);
    EXPECT_EQ(last.at("atproto_uri").as_string(), "at://did:plc:x/fm.plyr.track/3k");
    EXPECT_EQ(last.at("atproto_cid").as_string(), "bafy");
    EXPECT_EQ(last.at("warnings"), (json::array{"pds_blob_failed"}));
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].first, std::to_string(i)) << "ids count up";
}

TEST_P(UploadRoutesTest, ProgressOfAFailedJobEndsWithItsError) {
    Start();
    std::string id = Accepted(Post(Upload(TestMedia().wav)));
    auto claimed = jobs::Claim(*db_, "w", {"upload"}, 60s, clock_);
    ASSERT_TRUE(claimed && *claimed);
    ASSERT_TRUE(jobs::FailAttempt(*db_, id, (*claimed)->lease_owner,
                                  {"audio_unreadable", "the audio could not be decoded", false}, {}, clock_));
    SseReader sse(port_);
    ASSERT_TRUE(sse.connection.Send(
        RequestText("GET", "/tracks/uploads/" + id + "/progress",
                    {"Authorization: Bearer " + kAliceSession, "Connection: close", "Last-Event-ID: 7"})));
    EXPECT_TRUE(sse.connection.WaitClosed(5s));
    auto events = sse.Parse();
    ASSERT_EQ(events.size(), 1u) << "a terminal state is sent once and the stream ends";
    EXPECT_EQ(events[0].first, "8") << "Last-Event-ID resumes the counter";
    EXPECT_EQ(events[0].second.at("status").as_string(), "failed");
    EXPECT_EQ(events[0].second.at("error_code").as_string(), "audio_unreadable");
    EXPECT_EQ(events[0].second.at("error").as_string(), "the audio could not be decoded");
}

TEST_P(UploadRoutesTest, ProgressIsOwnerOnly) {
    Start();
    std::string id = Accepted(Post(Upload(TestMedia().wav)));
    auto other = Get("/tracks/uploads/" + id + "/progress", kBobSession);
    EXPECT_EQ(other.status, 404);
    EXPECT_EQ(Json(other)["error"].as_string(), "not_found");
    EXPECT_EQ(Get("/tracks/uploads/0f8fad5b-d9cb-469f-a165-70867728950e/progress").status, 404);
    EXPECT_EQ(Get("/tracks/uploads/0f8fad5b-d9cb-469f-a165-70867728950e").status, 404);
    auto bad = Get("/tracks/uploads/nope/progress");
    EXPECT_EQ(bad.status, 400);
    EXPECT_EQ(Json(bad)["error"].as_string(), "invalid_id");
    auto anonymous = Get("/tracks/uploads/" + id + "/progress", "");
    EXPECT_EQ(anonymous.status, 401);
}

TEST_P(UploadRoutesTest, ProgressAsJson) {
    Start();
    std::string id = Accepted(Post(Upload(TestMedia().wav)));
    auto r = Get("/tracks/uploads/" + id);
    ASSERT_EQ(r.status, 200) << r.body;
    auto body = Json(r);
    EXPECT_EQ(body.at("id").as_string(), id);
    EXPECT_EQ(body.at("status").as_string(), "pending");
    EXPECT_TRUE(body.at("warnings").as_array().empty());
    EXPECT_FALSE(body.contains("error_code"));
}

INSTANTIATE_TEST_SUITE_P(Backends, UploadRoutesTest, storage::db::testing::BackendValues(),
                         storage::db::testing::BackendName);

}  // namespace
}  // namespace plyr::api
