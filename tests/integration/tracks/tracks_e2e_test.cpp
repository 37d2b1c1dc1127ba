// Issue 5, "Done when": a signed-in user uploads each accepted format and plays it back with seeking; the record
// lives in their PDS and validates; edits and deletes reach the PDS; hostile files are refused cleanly and leave
// nothing behind. Everything runs through the real `plyr serve` against the local reference PDS.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/embedded.hpp"
#include "atproto/lexicon/validate.hpp"
#include "auth_e2e.hpp"
#include "support/process.hpp"

namespace plyr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The tools (ffmpeg) run with the test's PATH.
Env ToolEnv() {
    const char* path = std::getenv("PATH");
    return {{"PATH", path != nullptr ? path : "/usr/bin:/bin"}};
}

std::string Str(const boost::json::value& v, const char* key) {
    if (!v.is_object()) return {};
    const auto* found = v.as_object().if_contains(key);
    return found != nullptr && found->is_string() ? std::string(found->as_string()) : std::string();
}

std::int64_t Int(const boost::json::value& v, const char* key) {
    if (!v.is_object()) return -1;
    const auto* found = v.as_object().if_contains(key);
    return found != nullptr && found->is_int64() ? found->as_int64() : -1;
}

std::string ReadFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void WriteFile(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

struct Part {
    std::string name;
    std::string value;
    std::string filename;  // set for file parts
    std::string content_type = "application/octet-stream";
};

std::string MultipartBody(const std::vector<Part>& parts, const std::string& boundary) {
    std::string body;
    for (const Part& part : parts) {
        body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + part.name + "\"";
        if (!part.filename.empty()) {
            body += "; filename=\"" + part.filename + "\"\r\nContent-Type: " + part.content_type;
        }
        body += "\r\n\r\n" + part.value + "\r\n";
    }
    body += "--" + boundary + "--\r\n";
    return body;
}

// A few seconds of a generated signal in each accepted container (product.md §6.4 step 3), and the playable type
// plyr must serve for it (web renditions for aiff, ALAC, ogg and webm).
struct FormatCase {
    std::string name;
    std::string extension;
    std::vector<std::string> codec_args;
    std::string playable_type;
    bool transcoded;
};

const std::vector<FormatCase>& Formats() {
    static const std::vector<FormatCase> formats = {
        {"mp3", "mp3", {"-c:a", "libmp3lame", "-b:a", "192k"}, "mp3", false},
        {"wav", "wav", {"-c:a", "pcm_s16le"}, "wav", false},
        {"flac", "flac", {"-c:a", "flac"}, "flac", false},
        {"m4a_aac", "m4a", {"-c:a", "aac", "-b:a", "128k"}, "m4a", false},
        {"m4a_alac", "m4a", {"-c:a", "alac"}, "mp3", true},
        {"aiff", "aiff", {"-c:a", "pcm_s16be"}, "mp3", true},
        {"ogg_vorbis", "ogg", {"-c:a", "libvorbis"}, "mp3", true},
        {"opus", "ogg", {"-c:a", "libopus", "-b:a", "96k"}, "mp3", true},
        {"webm", "webm", {"-c:a", "libopus", "-b:a", "96k"}, "mp3", true},
    };
    return formats;
}

// Each upload gets a different signal (the frequency), so no two uploads of one artist share bytes.
fs::path MakeAudio(const fs::path& dir, const FormatCase& format, int frequency, double seconds = 4.0) {
    fs::path out = dir / (format.name + "_" + std::to_string(frequency) + "." + format.extension);
    std::vector<std::string> argv = {
        "/usr/bin/ffmpeg",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=" + std::to_string(frequency) + ":sample_rate=44100:duration=" + std::to_string(seconds),
        "-ac",
        "2"};
    argv.insert(argv.end(), format.codec_args.begin(), format.codec_args.end());
    if (format.name == "webm") argv.insert(argv.end(), {"-f", "webm"});
    argv.push_back(out.string());
    auto result = RunProcess(argv, ToolEnv(), {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
}

fs::path MakeJpeg(const fs::path& dir) {
    fs::path out = dir / "cover.jpg";
    auto result = RunProcess({"/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                              "testsrc=size=640x480:rate=1", "-frames:v", "1", out.string()},
                             ToolEnv(), {}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return out;
}

class TracksE2E : public AuthE2E {
  protected:
    void SetUp() override {
        AuthE2E::SetUp();
        if (skipped_) return;
        auto which = RunProcess({"/usr/bin/ffmpeg", "-version"}, ToolEnv(), {}, 10s);
        ASSERT_EQ(which.exit_code, 0) << "ffmpeg is missing (scripts/bootstrap.sh --test installs it)";
        // A short job lease so a killed worker's job is re-run within seconds (the heartbeat keeps live jobs).
        Env env = BackendEnv();
        if (IsSkipped()) return;
        env["MAX_UPLOAD_SIZE_MB"] = "20";
        env["JOB_LEASE_SECONDS"] = "5";
        ASSERT_NO_FATAL_FAILURE(StartPlyr(ClientKind::kLoopback, env));
        fixtures_ = dir_.path() / "fixtures";
        fs::create_directories(fixtures_);
        account_ = NewAccount("art");
        browser_ = std::make_unique<WebClient>(Url());
        auto signed_in = SignIn(*browser_, account_);
        ASSERT_TRUE(signed_in);
        catalog_ = std::make_unique<atproto::lexicon::Catalog>(atproto::lexicon::EmbeddedCatalog().value());
    }

    // Settings of the database and blob store under test (the embedded default: none).
    virtual Env BackendEnv() { return {}; }

    // POST /tracks/ as the web app sends it (cookie + Origin).
    std::optional<WebResponse> Upload(const fs::path& file, const std::string& title, std::vector<Part> extra = {},
                                      const std::string& filename = {}) {
        std::vector<Part> parts = {{"title", title, "", ""}};
        for (auto& part : extra) parts.push_back(std::move(part));
        parts.push_back({"file", ReadFile(file), filename.empty() ? file.filename().string() : filename});
        const std::string boundary = "plyr-e2e-boundary-7f3a";
        return browser_->Request("POST", "/tracks/",
                                 {{"Origin", Url()}, {"Content-Type", "multipart/form-data; boundary=" + boundary}},
                                 MultipartBody(parts, boundary), 60s);
    }

    // Follows the SSE progress stream until it closes; returns every event's JSON in order.
    std::vector<boost::json::value> Progress(const std::string& upload_id) {
        std::vector<boost::json::value> events;
        auto stream = browser_->Request("GET", "/tracks/uploads/" + upload_id + "/progress",
                                        {{"Accept", "text/event-stream"}}, {}, 180s);
        EXPECT_TRUE(stream);
        if (!stream) return events;
        EXPECT_EQ(stream->status, 200) << stream->body;
        std::istringstream lines(stream->body);
        std::string line;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.rfind("data:", 0) != 0) continue;
            boost::system::error_code ec;
            auto json = boost::json::parse(line.substr(5), ec);
            EXPECT_FALSE(ec) << line;
            if (!ec) events.push_back(json);
        }
        return events;
    }

    // Uploads and waits for the terminal progress event; returns it.
    boost::json::value UploadAndFinish(const fs::path& file, const std::string& title, std::vector<Part> extra = {}) {
        auto accepted = Upload(file, title, std::move(extra));
        EXPECT_TRUE(accepted);
        if (!accepted) return {};
        EXPECT_EQ(accepted->status, 202) << accepted->body;
        std::string upload_id = Str(accepted->Json(), "upload_id");
        EXPECT_FALSE(upload_id.empty()) << accepted->body;
        auto events = Progress(upload_id);
        EXPECT_FALSE(events.empty());
        return events.empty() ? boost::json::value() : events.back();
    }

    // getRecord on the PDS for an at:// URI of this account.
    std::optional<WebResponse> PdsRecord(const std::string& uri) {
        std::string prefix = "at://" + account_.did + "/";
        EXPECT_EQ(uri.rfind(prefix, 0), 0u) << uri;
        std::string rest = uri.substr(prefix.size());
        auto slash = rest.find('/');
        return GetTestnetRecord(pds_url_, account_.did, rest.substr(0, slash), rest.substr(slash + 1));
    }

    // Polls the PDS until `done` holds for the record (or its absence), up to `timeout`.
    template <typename Pred>
    bool WaitForRecord(const std::string& uri, Pred done, std::chrono::seconds timeout = 30s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto record = PdsRecord(uri);
            if (record && done(*record)) return true;
            std::this_thread::sleep_for(250ms);
        }
        return false;
    }

    std::size_t StagingEntries() const {
        fs::path staging = fs::path(server_->data_dir()) / "staging";
        if (!fs::exists(staging)) return 0;
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(staging), fs::directory_iterator()));
    }

    fs::path fixtures_;
    TestnetAccount account_;
    std::unique_ptr<WebClient> browser_;
    std::unique_ptr<atproto::lexicon::Catalog> catalog_;
};

TEST_F(TracksE2E, EveryFormatUploadsPublishesAValidRecordAndStreamsWithRange) {
    int frequency = 300;
    for (const FormatCase& format : Formats()) {
        SCOPED_TRACE(format.name);
        fs::path file = MakeAudio(fixtures_, format, frequency += 37);
        auto done = UploadAndFinish(file, "tone " + format.name);
        ASSERT_EQ(Str(done, "status"), "completed") << boost::json::serialize(done);
        EXPECT_EQ(Int(done, "progress_pct"), 100);
        std::int64_t track_id = Int(done, "track_id");
        ASSERT_GT(track_id, 0) << boost::json::serialize(done);

        auto track = browser_->Get("/tracks/" + std::to_string(track_id));
        ASSERT_TRUE(track);
        ASSERT_EQ(track->status, 200) << track->body;
        auto json = track->Json();
        EXPECT_EQ(Str(json, "title"), "tone " + format.name);
        EXPECT_EQ(Str(json, "file_type"), format.playable_type);
        if (format.transcoded) {
            EXPECT_EQ(Str(json, "original_file_type"), format.extension) << track->body;
            EXPECT_FALSE(Str(json, "original_file_id").empty());
        }
        EXPECT_EQ(Str(json, "publish_state"), "published") << track->body;
        EXPECT_NEAR(static_cast<double>(Int(json, "duration")), 4.0, 1.0) << track->body;
        EXPECT_TRUE(json.as_object().at("loudness_lufs").is_number()) << track->body;

        // The record is in the artist's repo, validates against the lexicon and matches the stored CID.
        std::string uri = Str(json, "atproto_record_uri");
        auto record = PdsRecord(uri);
        ASSERT_TRUE(record);
        ASSERT_EQ(record->status, 200) << record->body;
        auto record_json = record->Json();
        EXPECT_EQ(Str(record_json, "cid"), Str(json, "atproto_record_cid"));
        auto value = atproto::ValueFromJson(record_json.at("value"));
        ASSERT_TRUE(value);
        auto valid = atproto::lexicon::ValidateRecord(*catalog_, "fm.plyr.track", *value);
        EXPECT_TRUE(valid) << (valid ? "" : valid.error().ToString()) << record->body;
        const auto& fields = record_json.at("value").as_object();
        EXPECT_EQ(fields.at("fileType").as_string(), format.playable_type);
        EXPECT_EQ(fields.at("title").as_string(), "tone " + format.name);

        // Streaming with seeking: a Range answer is exactly the bytes of the full body.
        std::string file_id = Str(json, "file_id");
        auto full = browser_->Get("/audio/" + file_id);
        ASSERT_TRUE(full);
        ASSERT_EQ(full->status, 200);
        ASSERT_GT(full->body.size(), 300u);
        EXPECT_EQ(full->Header("etag"), "\"" + file_id + "\"");
        auto part = browser_->Get("/audio/" + file_id, {{"Range", "bytes=100-299"}});
        ASSERT_TRUE(part);
        EXPECT_EQ(part->status, 206);
        EXPECT_EQ(part->body, full->body.substr(100, 200));
        EXPECT_EQ(part->Header("content-range"), "bytes 100-299/" + std::to_string(full->body.size()));
        auto not_modified = browser_->Get("/audio/" + file_id, {{"If-None-Match", "\"" + file_id + "\""}});
        ASSERT_TRUE(not_modified);
        EXPECT_EQ(not_modified->status, 304);
    }
    EXPECT_EQ(StagingEntries(), 0u) << "every staged upload is removed when its job ends";
}

TEST_F(TracksE2E, EditRewritesTheRecordKeepingForeignFieldsAndDeleteRemovesIt) {
    fs::path audio = MakeAudio(fixtures_, Formats()[0], 523);
    fs::path cover = MakeJpeg(fixtures_);
    auto done = UploadAndFinish(
        audio, "first light",
        {{"tags", R"(["ambient", "Field Recording"])", "", ""}, {"image", ReadFile(cover), "cover.jpg", "image/jpeg"}});
    ASSERT_EQ(Str(done, "status"), "completed") << boost::json::serialize(done);
    std::int64_t track_id = Int(done, "track_id");
    auto track = browser_->Get("/tracks/" + std::to_string(track_id));
    ASSERT_TRUE(track);
    auto json = track->Json();
    std::string uri = Str(json, "atproto_record_uri");
    ASSERT_FALSE(uri.empty()) << track->body;
    EXPECT_FALSE(Str(json, "image_url").empty()) << track->body;
    EXPECT_FALSE(Str(json, "thumbnail_url").empty()) << track->body;
    std::vector<std::string> tags;
    for (const auto& tag : json.at("tags").as_array()) tags.emplace_back(tag.as_string());
    std::sort(tags.begin(), tags.end());
    EXPECT_EQ(tags, (std::vector<std::string>{"ambient", "field recording"}));
    auto record = PdsRecord(uri);
    ASSERT_TRUE(record);
    EXPECT_TRUE(record->Json().at("value").as_object().contains("imageUrl")) << record->body;
    ASSERT_TRUE(record->Json().at("value").as_object().contains("audioBlob"))
        << "the playable file is uploaded to the PDS as the record's blob (§3.2)" << record->body;
    boost::json::value audio_blob = record->Json().at("value").at("audioBlob");

    // Another client adds a field plyr does not know, directly on the PDS (with the account's password).
    WebClient pds(pds_url_);
    auto login = pds.PostJson(
        "/xrpc/com.atproto.server.createSession",
        boost::json::serialize(boost::json::object{{"identifier", account_.handle}, {"password", account_.password}}));
    ASSERT_TRUE(login);
    ASSERT_EQ(login->status, 200) << login->body;
    boost::json::object foreign = record->Json().at("value").as_object();
    foreign["extraNote"] = "kept";
    std::string rkey = uri.substr(uri.rfind('/') + 1);
    auto put =
        pds.PostJson("/xrpc/com.atproto.repo.putRecord",
                     boost::json::serialize(boost::json::object{
                         {"repo", account_.did}, {"collection", "fm.plyr.track"}, {"rkey", rkey}, {"record", foreign}}),
                     {{"Authorization", "Bearer " + Str(login->Json(), "accessJwt")}});
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 200) << put->body;

    // Edit: the record is rebuilt from the DB through the outbox.
    auto patched = browser_->Request("PATCH", "/tracks/" + std::to_string(track_id),
                                     {{"Origin", Url()}, {"Content-Type", "application/json"}},
                                     R"j({"title":"first light (edit)"})j");
    ASSERT_TRUE(patched);
    ASSERT_EQ(patched->status, 200) << patched->body;
    EXPECT_EQ(Str(patched->Json(), "title"), "first light (edit)");
    EXPECT_TRUE(WaitForRecord(uri, [](const WebResponse& r) {
        return r.status == 200 && Str(r.Json().at("value"), "title") == "first light (edit)";
    })) << "the edited title never reached the PDS";
    auto rebuilt = PdsRecord(uri);
    ASSERT_TRUE(rebuilt);
    const boost::json::value rebuilt_json = rebuilt->Json();
    const auto& rebuilt_value = rebuilt_json.at("value").as_object();
    EXPECT_EQ(Str(rebuilt_value, "extraNote"), "kept") << "a rebuild keeps fields plyr does not own";
    ASSERT_TRUE(rebuilt_value.contains("audioBlob")) << rebuilt->body;
    EXPECT_EQ(rebuilt_value.at("audioBlob"), audio_blob) << "a rebuild never drops or changes audioBlob";
    EXPECT_EQ(Str(rebuilt->Json(), "cid"),
              Str(browser_->Get("/tracks/" + std::to_string(track_id))->Json(), "atproto_record_cid"))
        << "atproto_record_cid holds the CID of the last write";

    // Delete: the row, the record and the now-unreferenced audio go.
    std::string file_id = Str(json, "file_id");
    auto deleted = browser_->Request("DELETE", "/tracks/" + std::to_string(track_id), {{"Origin", Url()}});
    ASSERT_TRUE(deleted);
    EXPECT_EQ(deleted->status, 204) << deleted->body;
    EXPECT_TRUE(WaitForRecord(uri, [](const WebResponse& r) { return r.status == 400 || r.status == 404; }))
        << "the record is still on the PDS";
    auto gone = browser_->Get("/tracks/" + std::to_string(track_id));
    ASSERT_TRUE(gone);
    EXPECT_EQ(gone->status, 404);
    auto audio_gone = browser_->Get("/audio/" + file_id);
    ASSERT_TRUE(audio_gone);
    EXPECT_EQ(audio_gone->status, 404);
}

TEST_F(TracksE2E, HostileUploadsAreRefusedAndLeaveNothingBehind) {
    long long tracks_before = Db().Int("SELECT COUNT(*) FROM tracks");
    long long jobs_before = Db().Int("SELECT COUNT(*) FROM jobs WHERE type = 'upload'");

    // A PNG renamed .mp3 (§9 row 3).
    fs::path png = fixtures_ / "x.png";
    auto made = RunProcess({"/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            "color=red:size=64x64", "-frames:v", "1", png.string()},
                           ToolEnv(), {}, 30s);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    auto renamed = Upload(png, "not audio", {}, "x.mp3");
    ASSERT_TRUE(renamed);
    EXPECT_EQ(renamed->status, 415) << renamed->body;
    EXPECT_EQ(renamed->ErrorCode(), "unsupported_audio_format");

    // A 0-byte file (§9 row 1).
    fs::path empty = fixtures_ / "empty.mp3";
    WriteFile(empty, "");
    auto zero = Upload(empty, "empty");
    ASSERT_TRUE(zero);
    EXPECT_EQ(zero->status, 400) << zero->body;
    EXPECT_EQ(zero->ErrorCode(), "empty_file");

    // Random bytes named song.mp3 (§9 row 2).
    fs::path random = fixtures_ / "song.mp3";
    std::string noise(64 * 1024, '\0');
    for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<char>((i * 2654435761u) >> 13);
    WriteFile(random, noise);
    auto junk = Upload(random, "noise");
    ASSERT_TRUE(junk);
    EXPECT_EQ(junk->status, 415) << junk->body;

    // A body one byte over the cap (§9 rows 12-13; MAX_UPLOAD_SIZE_MB=20 here).
    fs::path big = fixtures_ / "big.wav";
    WriteFile(big, std::string(20 * 1024 * 1024 + 2 * 1024 * 1024, 'x'));
    auto too_big = Upload(big, "too big");
    ASSERT_TRUE(too_big);
    EXPECT_EQ(too_big->status, 413) << too_big->body;
    EXPECT_EQ(too_big->ErrorCode(), "file_too_large");

    // Polyglots: a PNG signature in front of a WAV is no audio at all (415); an ID3 tag in front of a WAV is
    // sniffed as mp3, and the mp3 demuxer — pinned by the sniffed type — finds no frame, so the job fails instead
    // of letting the decoder pick the WAV inside (product.md §6.4 step 3, §6.17).
    fs::path silent = fixtures_ / "silent.wav";
    made = RunProcess({"/usr/bin/ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                       "anullsrc=r=44100:cl=stereo", "-t", "3", "-c:a", "pcm_s16le", silent.string()},
                      ToolEnv(), {}, 30s);
    ASSERT_EQ(made.exit_code, 0) << made.err;
    const std::string wav_bytes = ReadFile(silent);
    fs::path png_wav = fixtures_ / "png_then_wav.wav";
    WriteFile(png_wav, std::string("\x89PNG\r\n\x1a\n", 8) + std::string(24, '\0') + wav_bytes);
    auto png_polyglot = Upload(png_wav, "png polyglot");
    ASSERT_TRUE(png_polyglot);
    EXPECT_EQ(png_polyglot->status, 415) << png_polyglot->body;
    EXPECT_EQ(png_polyglot->ErrorCode(), "unsupported_audio_format");

    EXPECT_EQ(Db().Int("SELECT COUNT(*) FROM tracks"), tracks_before);
    EXPECT_EQ(Db().Int("SELECT COUNT(*) FROM jobs WHERE type = 'upload'"), jobs_before);
    EXPECT_EQ(StagingEntries(), 0u);

    fs::path id3_wav = fixtures_ / "id3_then_wav.mp3";
    WriteFile(id3_wav, std::string("ID3\x04\x00\x00\x00\x00\x00\x0a", 10) + std::string(10, '\0') + wav_bytes);
    auto id3_polyglot = UploadAndFinish(id3_wav, "id3 polyglot");
    EXPECT_EQ(Str(id3_polyglot, "status"), "failed") << boost::json::serialize(id3_polyglot);
    EXPECT_EQ(Str(id3_polyglot, "error_code"), "audio_unreadable");
    EXPECT_EQ(Db().Int("SELECT COUNT(*) FROM tracks"), tracks_before);
    EXPECT_EQ(StagingEntries(), 0u);

    // The same bytes twice (§9 row 20): the second job fails duplicate_upload naming the first track.
    fs::path audio = MakeAudio(fixtures_, Formats()[2], 777);
    auto first = UploadAndFinish(audio, "once");
    ASSERT_EQ(Str(first, "status"), "completed") << boost::json::serialize(first);
    auto second = UploadAndFinish(audio, "twice");
    EXPECT_EQ(Str(second, "status"), "failed") << boost::json::serialize(second);
    EXPECT_EQ(Str(second, "error_code"), "duplicate_upload");
    EXPECT_NE(Str(second, "error").find(std::to_string(Int(first, "track_id"))), std::string::npos)
        << boost::json::serialize(second);
    EXPECT_EQ(Db().Int("SELECT COUNT(*) FROM tracks"), tracks_before + 1);
    EXPECT_EQ(StagingEntries(), 0u);
}

// The scale-out deployment: PostgreSQL + an S3-compatible store (s3rver), audio answered with 307 to the public
// bucket (AUDIO_DELIVERY=redirect, product.md §6.6 step 5).
class TracksE2EScaleOut : public TracksE2E {
  protected:
    Env BackendEnv() override {
        const char* s3 = std::getenv("PLYR_TEST_S3");
        auto pg = FreshPostgresDatabase("tracks_e2e");
        if (s3 == nullptr || *s3 == '\0' || !pg) {
            []() { GTEST_SKIP() << "PLYR_TEST_S3 / PLYR_TEST_PG not set (scripts/test.sh starts them)"; }();
            return {};
        }
        s3_ = s3;
        backend_env_ = {{"DATABASE_URL", *pg},
                        {"STORAGE_BACKEND", "s3"},
                        {"R2_ENDPOINT_URL", s3_},
                        {"S3_FORCE_PATH_STYLE", "true"},
                        {"S3_REGION", "us-east-1"},
                        {"AWS_ACCESS_KEY_ID", "S3RVER"},
                        {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
                        {"R2_BUCKET", "plyr-audio"},
                        {"R2_PRIVATE_BUCKET", "plyr-private"},
                        {"R2_IMAGE_BUCKET", "plyr-images"},
                        {"R2_PUBLIC_BUCKET_URL", s3_ + "/plyr-audio"},
                        {"R2_PUBLIC_IMAGE_BUCKET_URL", s3_ + "/plyr-images"}};
        return backend_env_;
    }
    std::string s3_;
    Env backend_env_;
};

// `plyr serve` without in-process workers and a `plyr worker` with its own DATA_DIR (another machine): the upload is
// handed over through the private bucket (staging/<job id>, product.md §6.4 step 6) and published by the worker.
class TracksE2ESeparateWorker : public TracksE2EScaleOut {
  protected:
    Env BackendEnv() override {
        Env env = TracksE2EScaleOut::BackendEnv();
        if (IsSkipped()) return env;
        auto key = RunProcess({PlyrBinary(), "keygen", "encryption-key"}, ToolEnv(), {}, 30s);
        EXPECT_EQ(key.exit_code, 0) << key.err;
        std::string value = key.out;
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        env["OAUTH_ENCRYPTION_KEY"] = value;  // both processes decrypt the same sessions
        env["WORKER_IN_PROCESS"] = "false";
        worker_env_ = env;
        return env;
    }
    Env worker_env_;
};

TEST_F(TracksE2ESeparateWorker, AnUploadIsPublishedByAWorkerOnAnotherMachine) {
    Env env = testnet_env_;
    for (const auto& [k, v] : worker_env_) env[k] = v;
    env["DATA_DIR"] = dir_.str() + "/worker-data";
    env["WORKER_IN_PROCESS"] = "true";
    env["JOB_LEASE_SECONDS"] = "5";
    env["PUBLIC_URL"] = Url();
    env["LOG_FORMAT"] = "json";
    env["PATH"] = ToolEnv().at("PATH");
    ChildProcess worker;
    ASSERT_TRUE(worker.Start({PlyrBinary(), "worker"}, env));
    ASSERT_TRUE(worker.WaitForStderr("worker.started", 30s)) << worker.stderr_text();

    fs::path file = MakeAudio(fixtures_, Formats()[5], 1234);  // aiff: the worker also makes the rendition
    auto done = UploadAndFinish(file, "handed over");
    ASSERT_EQ(Str(done, "status"), "completed") << boost::json::serialize(done) << worker.stderr_text();
    auto track = browser_->Get("/tracks/" + std::to_string(Int(done, "track_id")));
    ASSERT_TRUE(track);
    auto json = track->Json();
    EXPECT_EQ(Str(json, "publish_state"), "published") << track->body;
    EXPECT_EQ(Str(json, "file_type"), "mp3");
    auto record = PdsRecord(Str(json, "atproto_record_uri"));
    ASSERT_TRUE(record);
    EXPECT_EQ(record->status, 200) << record->body;
    // The hand-off object is gone once the job ended; the serving machine's staging directory too (its sweep), and
    // nothing of the upload stays in the worker's.
    WebClient bucket;
    auto handoff = bucket.Get(s3_ + "/plyr-private/staging/" + Str(done, "id"));
    ASSERT_TRUE(handoff);
    EXPECT_EQ(handoff->status, 404);
    fs::path worker_staging = fs::path(dir_.str()) / "worker-data" / "staging";
    std::size_t leftovers = fs::exists(worker_staging)
                                ? static_cast<std::size_t>(std::distance(fs::directory_iterator(worker_staging), {}))
                                : 0;
    EXPECT_EQ(leftovers, 0u);
    worker.Signal(SIGTERM);
    EXPECT_TRUE(worker.Wait(30s));
}

TEST_F(TracksE2EScaleOut, UploadsPublishAndAudioRedirectsToTheBucketOnPostgresAndS3) {
    std::vector<std::string> uris;
    int frequency = 900;
    for (const FormatCase& format : {Formats()[2], Formats()[5]}) {  // flac as uploaded, aiff with a rendition
        SCOPED_TRACE(format.name);
        fs::path file = MakeAudio(fixtures_, format, frequency += 41);
        auto done = UploadAndFinish(file, "scale " + format.name);
        ASSERT_EQ(Str(done, "status"), "completed") << boost::json::serialize(done);
        auto track = browser_->Get("/tracks/" + std::to_string(Int(done, "track_id")));
        ASSERT_TRUE(track);
        ASSERT_EQ(track->status, 200) << track->body;
        auto json = track->Json();
        EXPECT_EQ(Str(json, "file_type"), format.playable_type);
        std::string uri = Str(json, "atproto_record_uri");
        auto record = PdsRecord(uri);
        ASSERT_TRUE(record);
        ASSERT_EQ(record->status, 200) << record->body;
        auto value = atproto::ValueFromJson(record->Json().at("value"));
        ASSERT_TRUE(value);
        EXPECT_TRUE(atproto::lexicon::ValidateRecord(*catalog_, "fm.plyr.track", *value));
        std::string file_id = Str(json, "file_id");
        std::string object_url = s3_ + "/plyr-audio/audio/" + file_id + "." + format.playable_type;
        EXPECT_EQ(Str(record->Json().at("value"), "audioUrl"), object_url) << record->body;

        auto redirect = browser_->Get("/audio/" + file_id);
        ASSERT_TRUE(redirect);
        EXPECT_EQ(redirect->status, 307) << redirect->body;
        EXPECT_EQ(redirect->Header("location"), object_url);
        // The object behind the redirect is the playable file, served by the bucket with Range.
        WebClient bucket;
        auto bytes = bucket.Get(object_url, {{"Range", "bytes=0-15"}});
        ASSERT_TRUE(bytes);
        EXPECT_EQ(bytes->status, 206) << bytes->body;
        EXPECT_EQ(bytes->body.size(), 16u);
        uris.push_back(uri);

        auto deleted =
            browser_->Request("DELETE", "/tracks/" + std::to_string(Int(done, "track_id")), {{"Origin", Url()}});
        ASSERT_TRUE(deleted);
        EXPECT_EQ(deleted->status, 204) << deleted->body;
        EXPECT_TRUE(WaitForRecord(uri, [](const WebResponse& r) { return r.status == 400 || r.status == 404; }));
        auto gone = bucket.Get(object_url);
        ASSERT_TRUE(gone);
        EXPECT_EQ(gone->status, 404) << "the unreferenced object is deleted from the bucket";
    }
    EXPECT_EQ(StagingEntries(), 0u);
}

TEST_F(TracksE2E, AProcessKilledMidAnalysisRunsTheJobAgainWithoutADuplicateRecord) {
    // Long enough that the sandboxed analysis and transcode are still running when plyr is killed.
    fs::path aiff = MakeAudio(fixtures_, Formats()[5], 440, 90.0);
    auto accepted = Upload(aiff, "survivor");
    ASSERT_TRUE(accepted);
    ASSERT_EQ(accepted->status, 202) << accepted->body;
    std::string upload_id = Str(accepted->Json(), "upload_id");

    // Wait until the worker has claimed the job and started the media phases, then kill -9 the whole process.
    auto deadline = std::chrono::steady_clock::now() + 60s;
    std::string phase;
    while (std::chrono::steady_clock::now() < deadline) {
        auto state = browser_->Get("/tracks/uploads/" + upload_id);
        ASSERT_TRUE(state);
        phase = Str(state->Json(), "phase");
        if (Str(state->Json(), "status") == "processing" && (phase == "validating" || phase == "transcoding")) break;
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(phase == "validating" || phase == "transcoding") << "the job never reached the media phases";
    ASSERT_TRUE(server_->Kill());
    ASSERT_TRUE(server_->Start()) << server_->Log();

    // The lease expires, the job runs again and completes; the session cookie survived the restart.
    auto events = Progress(upload_id);
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(Str(events.back(), "status"), "completed") << boost::json::serialize(events.back());
    EXPECT_EQ(Db().Int("SELECT attempts FROM jobs WHERE id = '" + upload_id + "'"), 2);
    EXPECT_EQ(Db().Int("SELECT COUNT(*) FROM tracks WHERE title = 'survivor'"), 1);
    WebClient pds(pds_url_);
    auto listed =
        pds.Get("/xrpc/com.atproto.repo.listRecords?collection=fm.plyr.track&repo=" + UrlEncode(account_.did));
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->status, 200) << listed->body;
    EXPECT_EQ(listed->Json().at("records").as_array().size(), 1u) << listed->body;
    EXPECT_EQ(StagingEntries(), 0u);
}

}  // namespace
}  // namespace plyr::testing
