#include "api/upload_routes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "http/cookies.hpp"
#include "http/csrf.hpp"
#include "http/json.hpp"
#include "http/multipart.hpp"
#include "http/sse.hpp"
#include "jobs/queue.hpp"
#include "media/image_header.hpp"
#include "media/sniff.hpp"
#include "storage/repos/album_repo.hpp"
#include "storage/repos/artist_repo.hpp"
#include "tracks/upload_fields.hpp"

namespace plyr::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;
using http::Request;
using http::Response;

constexpr std::string_view kUploadJobType = "upload";
constexpr std::uint64_t kBodyOverheadBytes = 1 << 20;  // multipart framing and text parts beyond the audio cap

struct Context {
    auth::AuthService& auth;
    storage::db::Db& db;
    net::BlockingPool& pool;
    const core::Clock& clock;
    const tracks::Staging& staging;
    UploadRoutesOptions options;
    http::CsrfPolicy csrf;
    bool secure_cookies = true;
};

// ---- helpers ----

Error ErrnoError(int err, std::string_view what) {
    bool full = err == ENOSPC || err == EDQUOT;
    return Error{full ? ErrorCode::kStorageFull : ErrorCode::kIo,
                 full ? "the server is out of storage" : "staging storage failed",
                 fmt::format("{}: {}", what, std::strerror(err))};
}

Response InternalError(const Request& request, const Error& error, std::string_view event) {
    log::Error(event, {{"request_id", request.request_id}, {"error", error.ToString()}});
    return http::ErrorResponse(500, "internal_error", "internal error");
}

Response StorageError(const Request& request, const Error& error) {
    if (error.code == ErrorCode::kStorageFull) {
        log::Warn("upload.storage_full", {{"request_id", request.request_id}, {"detail", error.detail}});
        return http::ErrorResponse(507, "insufficient_storage", "the server is out of storage");
    }
    return InternalError(request, error, "upload.staging_failed");
}

Response FieldErrorResponse(const tracks::FieldError& error) {
    return http::ErrorResponse(error.status, error.code, error.message, error.field);
}

std::optional<std::string> BearerToken(const Request& request) {
    auto header = request.Header("Authorization");
    if (!header) return std::nullopt;
    std::string_view value = *header;
    if (value.size() > 7 && http::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
        return std::string(value.substr(7));
    }
    return std::nullopt;
}

// Authenticates on the blocking pool; a cookie-authenticated mutation passes CSRF first (before the lookup, which
// writes). The error is a ready response.
asio::awaitable<tl::expected<auth::AuthenticatedSession, Response>> Authenticate(Context& ctx, Request& request) {
    auto cookie = http::FindCookie(request, auth::kSessionCookie);
    auto bearer = BearerToken(request);
    bool has_cookie = cookie && !cookie->empty();
    if (has_cookie && http::IsStateChangingMethod(request.method)) {
        if (auto rejected = ctx.csrf.Reject(request)) co_return tl::unexpected(std::move(*rejected));
    }
    auto session = co_await net::Offload(ctx.pool, [&] {
        return ctx.auth.Authenticate(has_cookie ? std::optional<std::string_view>(*cookie) : std::nullopt,
                                     bearer ? std::optional<std::string_view>(*bearer) : std::nullopt);
    });
    if (!session) {
        const auto& e = session.error();
        if (e.status >= 500) log::Error("upload.auth_error", {{"code", e.code}, {"detail", e.detail}});
        Response r = http::ErrorResponse(e.status, e.code, e.message);
        if (e.code == "session_expired" && has_cookie) {
            http::CookieOptions o;
            o.secure = ctx.secure_cookies;
            o.max_age_seconds = 0;
            r.headers.Add("Set-Cookie", http::BuildClearCookie(auth::kSessionCookie, o));
        }
        co_return tl::unexpected(std::move(r));
    }
    co_return std::move(*session);
}

// Idempotency-Key: 1–64 visible ASCII characters.
bool IsValidIdempotencyKey(std::string_view key) {
    if (key.empty() || key.size() > kMaxIdempotencyKeyChars) return false;
    for (char c : key) {
        if (c < 0x21 || c > 0x7e) return false;
    }
    return true;
}

bool IsUuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-') return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}

// File-name extensions that agree with each sniffed container.
bool ExtensionMatches(media::AudioFormat format, std::string_view filename) {
    auto dot = filename.rfind('.');
    if (dot == std::string_view::npos || dot + 1 == filename.size()) return true;  // no extension: nothing to disagree
    std::string ext(filename.substr(dot + 1));
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto any = [&](std::initializer_list<std::string_view> names) {
        for (auto n : names) {
            if (ext == n) return true;
        }
        return false;
    };
    switch (format) {
        case media::AudioFormat::kMp3:
            return any({"mp3", "mpga", "mp2"});
        case media::AudioFormat::kWav:
            return any({"wav", "wave"});
        case media::AudioFormat::kAiff:
            return any({"aif", "aiff", "aifc"});
        case media::AudioFormat::kFlac:
            return any({"flac", "fla"});
        case media::AudioFormat::kOgg:
            return any({"ogg", "oga", "opus", "spx"});
        case media::AudioFormat::kM4a:
            return any({"m4a", "mp4", "m4b", "aac", "alac", "3gp"});
        case media::AudioFormat::kWebm:
            return any({"webm", "weba", "mka", "mkv"});
        case media::AudioFormat::kUnknown:
            return true;
    }
    return true;
}

// ---- the multipart sink: stages `file` and `image`, buffers the text fields ----

struct StagedFile {
    bool present = false;
    fs::path path;
    int fd = -1;
    std::uint64_t bytes = 0;
    std::optional<core::Sha256Stream> sha;
    std::string head;  // the first head_cap bytes, for sniffing
    std::size_t head_cap = 0;
    std::string filename;
    std::string sha256_hex;
};

class UploadSink final : public http::MultipartSink {
  public:
    UploadSink(Context& ctx, fs::path dir) : ctx_(ctx), dir_(std::move(dir)) {
        audio.head_cap = media::kSniffBytes;
        image.head_cap = media::kImageHeaderBytes;
    }
    ~UploadSink() override { CloseAll(); }
    UploadSink(const UploadSink&) = delete;
    UploadSink& operator=(const UploadSink&) = delete;

    StagedFile audio;
    StagedFile image;
    tracks::RawUploadFields fields;

    // Closes any file left open by a failed upload (before its directory is removed).
    void CloseAll() {
        for (StagedFile* f : {&audio, &image}) {
            if (f->fd >= 0) ::close(f->fd);
            f->fd = -1;
        }
    }

    http::MultipartResult<http::PartKind> Classify(const http::PartInfo& part) override {
        const std::string& name = part.name;
        bool known_file = name == "file" || name == "image";
        bool known_field = name == "title" || name == "description" || name == "tags" || name == "features" ||
                           name == "album" || name == "album_id" || name == "support_gate";
        if (!known_file && !known_field) return http::PartKind::kSkip;  // unknown parts are ignored (plyr.fm clients)
        if (!seen_.insert(name).second) {
            return http::MultipartFail(400, "malformed_multipart", fmt::format("the {} part appears twice", name));
        }
        return known_file ? http::PartKind::kFile : http::PartKind::kField;
    }

    asio::awaitable<http::MultipartStatus> OnFileBegin(const http::PartInfo& part) override {
        current_ = part.name == "file" ? &audio : &image;
        current_->present = true;
        current_->path = dir_ / (part.name == "file" ? "audio" : "image");
        current_->filename = part.filename.value_or("");
        current_->sha.emplace();
        StagedFile* f = current_;
        auto opened = co_await net::Offload(ctx_.pool, [f]() -> Status {
            f->fd = ::open(f->path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            if (f->fd < 0) return Fail(ErrnoError(errno, "open staged file"));
            return Ok();
        });
        if (!opened) co_return tl::unexpected(http::MultipartErrorFrom(opened.error()));
        co_return http::MultipartStatus{};
    }

    asio::awaitable<http::MultipartStatus> OnFileChunk(std::span<const char> chunk) override {
        StagedFile* f = current_;
        f->bytes += chunk.size();
        if (f == &image && f->bytes > ctx_.options.max_image_bytes) {
            co_return http::MultipartFail(
                413, "image_too_large",
                fmt::format("the image is larger than {} MB", ctx_.options.max_image_bytes >> 20));
        }
        std::string_view data(chunk.data(), chunk.size());
        if (f->head.size() < f->head_cap) f->head.append(data.substr(0, f->head_cap - f->head.size()));
        f->sha->Update(data);
        auto written = co_await net::Offload(ctx_.pool, [f, data]() -> Status {
            std::string_view rest = data;
            while (!rest.empty()) {
                ssize_t n = ::write(f->fd, rest.data(), rest.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) return Fail(ErrnoError(errno, "write staged file"));
                rest.remove_prefix(static_cast<std::size_t>(n));
            }
            return Ok();
        });
        if (!written) co_return tl::unexpected(http::MultipartErrorFrom(written.error()));
        co_return http::MultipartStatus{};
    }

    asio::awaitable<http::MultipartStatus> OnFileEnd(const http::PartInfo&) override {
        StagedFile* f = current_;
        current_ = nullptr;
        auto digest = f->sha->Finish();
        f->sha256_hex = core::HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
        // The job is durable once enqueued, so the bytes it will read must be too.
        auto closed = co_await net::Offload(ctx_.pool, [f]() -> Status {
            if (::fsync(f->fd) != 0) {
                int err = errno;
                ::close(f->fd);
                f->fd = -1;
                return Fail(ErrnoError(err, "fsync staged file"));
            }
            int rc = ::close(f->fd);
            f->fd = -1;
            if (rc != 0) return Fail(ErrnoError(errno, "close staged file"));
            return Ok();
        });
        if (!closed) co_return tl::unexpected(http::MultipartErrorFrom(closed.error()));
        co_return http::MultipartStatus{};
    }

    asio::awaitable<http::MultipartStatus> OnField(const http::PartInfo& part, std::string value) override {
        const std::string& n = part.name;
        if (n == "title") fields.title = std::move(value);
        if (n == "description") fields.description = std::move(value);
        if (n == "tags") fields.tags = std::move(value);
        if (n == "features") fields.features = std::move(value);
        if (n == "album") fields.album = std::move(value);
        if (n == "album_id") fields.album_id = std::move(value);
        if (n == "support_gate") fields.support_gate = std::move(value);
        co_return http::MultipartStatus{};
    }

  private:
    Context& ctx_;
    fs::path dir_;
    StagedFile* current_ = nullptr;
    std::set<std::string> seen_;
};

// ---- POST /tracks/ ----

struct PreCheck {
    std::optional<storage::repos::Artist> artist;
    std::int64_t live_uploads = 0;
    bool replay = false;  // a job with this Idempotency-Key exists already
};

Result<std::int64_t> CountLiveUploads(storage::db::Connection& conn, std::string_view did) {
    auto rows = conn.Query(
        "SELECT COUNT(*) FROM jobs WHERE owner_did = $1 AND type = 'upload' AND status IN ('pending', 'running')",
        {std::string(did)});
    if (!rows) return Fail(std::move(rows.error()));
    return rows->front().Int(0);
}

Result<bool> IdempotentJobExists(storage::db::Connection& conn, std::string_view did,
                                 const std::optional<std::string>& key) {
    if (!key) return false;
    auto rows = conn.Query("SELECT id FROM jobs WHERE owner_did = $1 AND idempotency_key = $2 LIMIT 1",
                           {std::string(did), *key});
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

// The outcome of the enqueue transaction: the job, or a client error decided inside it.
struct EnqueueOutcome {
    std::optional<jobs::Enqueued> enqueued;
    std::optional<Response> refused;
};

asio::awaitable<Response> HandleUpload(std::shared_ptr<Context> ctx, Request& request) {
    // Idempotency-Key first: it is pure header syntax.
    std::optional<std::string> idempotency_key;
    if (auto key = request.Header("Idempotency-Key")) {
        if (!IsValidIdempotencyKey(*key)) {
            co_return http::ErrorResponse(400, "invalid_idempotency_key",
                                          "idempotency-key must be 1-64 visible ascii characters");
        }
        idempotency_key = std::string(*key);
    }

    auto session = co_await Authenticate(*ctx, request);
    if (!session) co_return std::move(session.error());
    const std::string did = session->session.did;

    auto pre = co_await net::Offload(ctx->pool, [&]() -> Result<PreCheck> {
        PreCheck out;
        storage::repos::ArtistRepository artists(ctx->db);
        auto artist = artists.Get(did);
        if (!artist) return Fail(std::move(artist.error()));
        out.artist = std::move(*artist);
        auto st = ctx->db.Read([&](storage::db::Connection& conn) -> Status {
            auto live = CountLiveUploads(conn, did);
            if (!live) return Fail(std::move(live.error()));
            out.live_uploads = *live;
            auto replay = IdempotentJobExists(conn, did, idempotency_key);
            if (!replay) return Fail(std::move(replay.error()));
            out.replay = *replay;
            return Ok();
        });
        if (!st) return Fail(std::move(st.error()));
        return out;
    });
    if (!pre) co_return InternalError(request, pre.error(), "upload.precheck_failed");
    // Deliberate deviation (docs/tracks.md): an artists row is enough until issue 6 lets users complete profiles.
    if (!pre->artist) {
        co_return http::ErrorResponse(403, "artist_profile_required", "set up your artist profile before uploading");
    }
    if (pre->live_uploads >= kMaxLiveUploadsPerArtist && !pre->replay) {
        co_return http::ErrorResponse(429, "too_many_uploads",
                                      fmt::format("at most {} uploads can be processing at once; wait for one to "
                                                  "finish",
                                                  kMaxLiveUploadsPerArtist));
    }

    const std::uint64_t body_cap = ctx->options.max_upload_bytes + kBodyOverheadBytes;
    if (request.body_reader != nullptr) {
        if (auto declared = request.body_reader->content_length(); declared && *declared > body_cap) {
            Response r = http::ErrorResponse(
                413, "file_too_large",
                fmt::format("the upload is larger than {} MB", ctx->options.max_upload_bytes >> 20));
            r.close_connection = true;
            co_return r;
        }
    }

    auto staged = co_await net::Offload(ctx->pool, [&] { return ctx->staging.Create(); });
    if (!staged) co_return StorageError(request, staged.error());
    const fs::path dir = staged->path;

    // From here every early return must delete `dir`.
    std::optional<Response> failure;
    UploadSink sink(*ctx, dir);
    http::MultipartLimits limits;
    limits.max_body_bytes = body_cap;
    limits.max_file_bytes = ctx->options.max_upload_bytes;
    auto read = co_await http::ReadMultipart(request, limits, sink);
    if (!read) {
        const auto& e = read.error();
        if (e.cause == ErrorCode::kIo) {
            log::Info("upload.client_gone", {{"request_id", request.request_id}});
        } else if (e.status == 507) {
            // Operational, not a bug: the operator needs to know, the request is answered properly.
            log::Warn("upload.storage_full", {{"request_id", request.request_id}, {"detail", e.detail}});
        } else if (e.status >= 500) {
            log::Error("upload.multipart_failed", {{"request_id", request.request_id}, {"detail", e.detail}});
        }
        failure = http::MultipartErrorResponse(e);
        if (e.status == 413) failure->close_connection = true;
    }

    std::vector<std::string> warnings;
    media::AudioFormat audio_format = media::AudioFormat::kUnknown;
    media::ImageHeader image_header;
    bool has_image = false;
    std::optional<tracks::UploadFields> fields;
    if (!failure) {
        // A browser form with no file chosen sends an empty part with an empty filename: that is "no image".
        has_image = sink.image.present && !(sink.image.bytes == 0 && sink.image.filename.empty());
        if (!sink.audio.present) {
            failure = http::ErrorResponse(400, "validation_error", "the audio file is required", "file");
        } else if (sink.audio.bytes == 0) {
            failure = http::ErrorResponse(400, "empty_file", "the audio file is empty", "file");
        } else if ((audio_format = media::SniffAudio(sink.audio.head)) == media::AudioFormat::kUnknown) {
            failure = http::ErrorResponse(415, "unsupported_audio_format",
                                          "the file is not audio in a supported format (mp3, wav, m4a, flac, aiff, "
                                          "ogg, webm)",
                                          "file");
        }
    }
    if (!failure) {
        if (!ExtensionMatches(audio_format, sink.audio.filename)) warnings.emplace_back("extension_mismatch");
        if (has_image) {
            image_header = media::SniffImage(sink.image.head);
            auto check = media::CheckImageLimits(image_header);
            if (!check.ok()) failure = http::ErrorResponse(check.status, check.error_code, check.message, "image");
        }
    }
    if (!failure) {
        auto validated = tracks::ValidateUploadFields(sink.fields, pre->artist->support_url);
        if (!validated) {
            failure = FieldErrorResponse(validated.error());
        } else {
            fields = std::move(*validated);
        }
    }

    std::optional<EnqueueOutcome> outcome;
    std::string handoff_key;  // S3 mode: the private-bucket copy of the staged audio
    jobs::JobSpec spec;
    if (!failure) {
        json::object audio{{"path", sink.audio.path.string()},
                           {"format", media::AudioFormatName(audio_format)},
                           {"size", sink.audio.bytes},
                           {"sha256", sink.audio.sha256_hex},
                           {"filename", sink.audio.filename}};
        json::value image = nullptr;
        if (has_image) {
            image = json::object{{"path", sink.image.path.string()},
                                 {"format", media::ImageFormatName(image_header.format)},
                                 {"size", sink.image.bytes},
                                 {"width", image_header.width},
                                 {"height", image_header.height}};
        }
        json::array warning_array;
        for (const auto& w : warnings) warning_array.emplace_back(w);
        json::object payload{{"staging_dir", dir.string()},
                             {"audio", std::move(audio)},
                             {"image", std::move(image)},
                             {"fields", fields->ToJson()},
                             {"warnings", std::move(warning_array)},
                             {"uploaded_at_us", ctx->clock.NowMicros()}};
        spec.type = std::string(kUploadJobType);
        spec.payload_json = json::serialize(payload);
        spec.owner_did = did;
        spec.idempotency_key = idempotency_key;
        spec.max_attempts = 2;  // product.md §6.16: an upload is resumed once (a crash), never retried in a loop
        if (storage::blobs::BlobStore* handoff = ctx->options.handoff_store) {
            // The object exists before the job can be claimed anywhere; it is removed again unless a new job owns it.
            spec.id = core::RandomUuid();
            handoff_key = "staging/" + *spec.id;
            auto put = co_await net::Offload(
                ctx->pool, [&] { return handoff->PutFile(handoff_key, sink.audio.path, "application/octet-stream"); });
            if (!put) {
                log::Error("upload.handoff_failed",
                           {{"request_id", request.request_id}, {"error", put.error().ToString()}});
                failure = put.error().code == ErrorCode::kStorageFull
                              ? http::ErrorResponse(507, "insufficient_storage", "the server is out of storage")
                              : http::ErrorResponse(503, "service_unavailable", "storage is unavailable, try again");
            }
        }
    }
    if (!failure) {
        auto done = co_await net::Offload(ctx->pool, [&]() -> Result<EnqueueOutcome> {
            EnqueueOutcome out;
            auto st = ctx->db.Write([&](storage::db::Connection& tx) -> Status {
                if (fields->album_id) {
                    auto album = storage::repos::AlbumRepository::GetOwned(tx, *fields->album_id, did);
                    if (!album) return Fail(std::move(album.error()));
                    if (!*album) {
                        out.refused = http::ErrorResponse(404, "album_not_found", "no such album of yours", "album_id");
                        return Ok();
                    }
                }
                // The authoritative limit check, in the transaction that inserts (SQLite serialises writers).
                auto replay = IdempotentJobExists(tx, did, idempotency_key);
                if (!replay) return Fail(std::move(replay.error()));
                if (!*replay) {
                    auto live = CountLiveUploads(tx, did);
                    if (!live) return Fail(std::move(live.error()));
                    if (*live >= kMaxLiveUploadsPerArtist) {
                        out.refused = http::ErrorResponse(
                            429, "too_many_uploads",
                            fmt::format("at most {} uploads can be processing at once; wait for one to finish",
                                        kMaxLiveUploadsPerArtist));
                        return Ok();
                    }
                }
                auto enqueued = jobs::Enqueue(tx, spec, ctx->clock);
                if (!enqueued) return Fail(std::move(enqueued.error()));
                out.enqueued = std::move(*enqueued);
                return Ok();
            });
            if (!st) return Fail(std::move(st.error()));
            return out;
        });
        if (!done) {
            failure = InternalError(request, done.error(), "upload.enqueue_failed");
        } else if (done->refused) {
            failure = std::move(done->refused);
        } else {
            outcome = std::move(*done);
        }
    }

    // A new job owns the staging directory; every other outcome (failure, idempotent replay) removes it.
    bool keep = outcome && outcome->enqueued && !outcome->enqueued->existing;
    if (!keep && !handoff_key.empty()) {
        auto removed =
            co_await net::Offload(ctx->pool, [&] { return ctx->options.handoff_store->Delete(handoff_key); });
        if (!removed) log::Error("upload.handoff_cleanup_failed", {{"error", removed.error().ToString()}});
    }
    if (!keep) {
        sink.CloseAll();
        auto removed = co_await net::Offload(ctx->pool, [&] { return ctx->staging.Remove(dir); });
        if (!removed) log::Error("upload.staging_cleanup_failed", {{"error", removed.error().ToString()}});
    }
    if (failure) co_return std::move(*failure);

    const jobs::Enqueued& job = *outcome->enqueued;
    std::string status = "pending";
    if (job.existing) {
        auto view = co_await net::Offload(ctx->pool, [&] { return jobs::Get(ctx->db, job.id); });
        if (view) status = std::string(jobs::PublicStatus(view->status));
        log::Info("upload.replayed", {{"request_id", request.request_id}, {"upload_id", job.id}});
    } else {
        log::Info("upload.accepted", {{"request_id", request.request_id},
                                      {"upload_id", job.id},
                                      {"format", media::AudioFormatName(audio_format)},
                                      {"bytes", sink.audio.bytes}});
        if (ctx->options.notify_workers) ctx->options.notify_workers();
    }
    Response r = http::JsonResponse(202, json::object{{"upload_id", job.id}, {"status", status}});
    co_return r;
}

// ---- progress ----

// The Progress event of product.md §4.2 for an upload job.
json::object ProgressEvent(const jobs::JobView& job) {
    json::object o;
    o["id"] = job.id;
    o["status"] = jobs::PublicStatus(job.status);
    o["phase"] = job.phase;
    o["progress_pct"] = job.progress_pct;
    o["message"] = job.message;
    json::array warnings;
    for (const auto& w : job.warnings) warnings.emplace_back(w);
    o["warnings"] = std::move(warnings);
    bool failed = job.status == jobs::JobStatus::kFailed || job.status == jobs::JobStatus::kDead;
    if (failed && job.error_code) o["error_code"] = *job.error_code;
    if (failed && job.error) o["error"] = *job.error;
    if (job.result_json && !job.result_json->empty()) {
        boost::system::error_code ec;
        json::value result = json::parse(*job.result_json, ec);
        if (!ec && result.is_object()) {
            for (std::string_view key : {"track_id", "atproto_uri", "atproto_cid"}) {
                if (const auto* v = result.as_object().if_contains(key); v != nullptr && !v->is_null()) o[key] = *v;
            }
        }
    }
    return o;
}

// The caller's upload job, or a ready error response (400 invalid_id, 404 not_found, 500).
asio::awaitable<tl::expected<jobs::JobView, Response>> OwnedUpload(Context& ctx, const Request& request,
                                                                   const std::string& did) {
    std::string id(request.PathParam("upload_id").value_or(""));
    if (!IsUuid(id)) co_return tl::unexpected(http::ErrorResponse(400, "invalid_id", "upload ids are uuids"));
    auto job = co_await net::Offload(ctx.pool, [&] { return jobs::Get(ctx.db, id); });
    if (!job && job.error().code != ErrorCode::kNotFound) {
        co_return tl::unexpected(InternalError(request, job.error(), "upload.progress_lookup_failed"));
    }
    // Another user's upload is indistinguishable from an unknown one.
    if (!job || job->type != kUploadJobType || job->owner_did != did) {
        co_return tl::unexpected(http::ErrorResponse(404, "not_found", "no such upload"));
    }
    co_return std::move(*job);
}

// State of one SSE stream; owned by the StreamBody's `next` closure.
struct ProgressStream {
    std::shared_ptr<Context> ctx;
    std::string upload_id;
    std::uint64_t next_id = 0;
    std::optional<jobs::JobView> initial;  // sent first, at once
    std::string last_data;
    std::chrono::steady_clock::time_point last_event{};
    std::chrono::steady_clock::time_point last_write{};
    bool done = false;

    std::string Event(const jobs::JobView& job) {
        http::SseEvent event;
        event.id = std::to_string(next_id++);
        event.data = json::serialize(ProgressEvent(job));
        last_data = event.data;
        last_event = last_write = std::chrono::steady_clock::now();
        if (jobs::IsTerminal(job.status)) done = true;
        return http::FormatSseEvent(event);
    }
};

asio::awaitable<Result<std::optional<std::string>>> NextProgress(std::shared_ptr<ProgressStream> s) {
    if (s->done) co_return std::optional<std::string>();
    if (s->initial) {
        std::string first = s->Event(*s->initial);
        s->initial.reset();
        co_return std::optional<std::string>(std::move(first));
    }
    const auto& opts = s->ctx->options;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (true) {
        timer.expires_after(opts.poll_interval);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return Fail(ErrorCode::kCancelled, "stream ended", ec.message());
        Context& ctx = *s->ctx;
        auto job = co_await net::Offload(ctx.pool, [&] { return jobs::Get(ctx.db, s->upload_id); });
        auto now = std::chrono::steady_clock::now();
        if (!job) {
            // The job row is gone (cleanup) — nothing more will happen; a transient database error just waits.
            if (job.error().code == ErrorCode::kNotFound) co_return std::optional<std::string>();
            log::Warn("upload.progress_poll_failed", {{"upload_id", s->upload_id}, {"error", job.error().ToString()}});
        } else {
            std::string data = json::serialize(ProgressEvent(*job));
            bool changed = data != s->last_data;
            bool due = !jobs::IsTerminal(job->status) && now - s->last_event >= opts.resend_interval;
            if (changed || due) co_return std::optional<std::string>(s->Event(*job));
        }
        if (now - s->last_write >= opts.ping_interval) {
            s->last_write = now;
            co_return std::optional<std::string>(std::string(http::kSsePing));
        }
    }
}

asio::awaitable<Response> HandleProgressStream(std::shared_ptr<Context> ctx, Request& request) {
    auto session = co_await Authenticate(*ctx, request);
    if (!session) co_return std::move(session.error());
    auto job = co_await OwnedUpload(*ctx, request, session->session.did);
    if (!job) co_return std::move(job.error());
    auto stream = std::make_shared<ProgressStream>();
    stream->ctx = ctx;
    stream->upload_id = job->id;
    // Last-Event-ID resumes with the current state; the counter continues after the client's last id.
    if (auto last = http::LastEventId(request)) stream->next_id = *last + 1;
    stream->initial = std::move(*job);
    co_return http::SseResponse([stream]() { return NextProgress(stream); });
}

asio::awaitable<Response> HandleProgressJson(std::shared_ptr<Context> ctx, Request& request) {
    auto session = co_await Authenticate(*ctx, request);
    if (!session) co_return std::move(session.error());
    auto job = co_await OwnedUpload(*ctx, request, session->session.did);
    if (!job) co_return std::move(job.error());
    co_return http::JsonResponse(200, ProgressEvent(*job));
}

http::RouteDoc Doc(std::string summary, std::string description, std::vector<http::ResponseDoc> responses) {
    http::RouteDoc doc;
    doc.summary = std::move(summary);
    doc.description = std::move(description);
    doc.tag = "tracks";
    doc.responses = std::move(responses);
    return doc;
}

}  // namespace

UploadRoutesOptions UploadRoutesOptionsFromConfig(const core::Config& config) {
    UploadRoutesOptions o;
    o.credentialed_origins.push_back(config.PublicOrigin());
    o.credentialed_origins.insert(o.credentialed_origins.end(), config.cors_allowed_origins.begin(),
                                  config.cors_allowed_origins.end());
    o.max_upload_bytes = static_cast<std::uint64_t>(config.max_upload_size_mb) << 20;
    o.max_image_bytes = static_cast<std::uint64_t>(config.max_image_size_mb) << 20;
    return o;
}

Status AddUploadRoutes(http::Router& router, UploadRoutesDeps deps) {
    http::CsrfPolicy csrf(deps.options.credentialed_origins);
    bool secure =
        deps.options.credentialed_origins.empty() || http::SecureCookiesFor(deps.options.credentialed_origins.front());
    auto ctx = std::make_shared<Context>(Context{deps.auth, deps.db, deps.pool, deps.clock, deps.staging,
                                                 std::move(deps.options), std::move(csrf), secure});

    {
        http::RouteSpec spec;
        spec.method = "POST";
        spec.pattern = "/tracks/";
        http::Handler handler = [ctx](Request& request) { return HandleUpload(ctx, request); };
        if (ctx->options.limiter) {
            handler = http::RateLimited(std::move(handler), ctx->options.limiter, std::string(http::kRateBucketUpload));
        }
        spec.handler = std::move(handler);
        spec.stream_body = true;
        // The handler answers 413 file_too_large itself (declared Content-Length and bytes actually read); the
        // server-level limit only has to stay out of its way.
        spec.body_limit = std::numeric_limits<std::uint64_t>::max();
        spec.default_rate_limit = false;
        spec.doc = Doc("upload a track",
                       "multipart/form-data: file (audio, required), title (required), image, description, tags "
                       "(json array), features (json array of handles/dids), album xor album_id, support_gate "
                       "({\"type\":\"any\"}). Header Idempotency-Key (≤ 64 chars) returns the original upload for a "
                       "repeated request. The format is sniffed from the bytes. Follow "
                       "/tracks/uploads/{upload_id}/progress for the processing.",
                       {{202, "{upload_id, status: \"pending\"}"},
                        {400,
                         "empty_file, malformed_multipart, too_many_parts, invalid_title, invalid_description, "
                         "too_many_tags, invalid_tags, invalid_features, invalid_album, invalid_id, album_conflict, "
                         "invalid_support_gate, support_not_configured, invalid_idempotency_key, validation_error"},
                        {401, "authentication_required, session_expired"},
                        {403, "csrf_rejected, artist_profile_required, scope_upgrade_required"},
                        {404, "album_not_found"},
                        {413, "file_too_large, image_too_large, field_too_large"},
                        {415, "unsupported_audio_format, unsupported_image_format, unsupported_media_type"},
                        {422, "image_dimensions_too_large"},
                        {429, "rate_limited, too_many_uploads"},
                        {507, "insufficient_storage"}});
        spec.doc.request_content_type = "multipart/form-data";
        spec.doc.params = {{"Idempotency-Key", "header", "repeat-safe key, ≤ 64 visible ascii characters", false}};
        PLYR_TRY_STATUS(router.Add(std::move(spec)));
    }
    {
        auto doc = Doc("upload progress (server-sent events)",
                       "text/event-stream of Progress events {id, status, phase, progress_pct, message, warnings, "
                       "error_code?, error?, track_id?, atproto_uri?, atproto_cid?}: the current state at once, then "
                       "every change (≤ 4/s, at least every 2 s while processing), `: ping` every 15 s; the stream "
                       "ends after completed/failed. Last-Event-ID resumes with the current state. Owner only.",
                       {{200, "event stream", "text/event-stream"},
                        {400, "invalid_id"},
                        {401, "authentication_required"},
                        {404, "not_found"}});
        doc.params = {{"upload_id", "path", "the upload id (uuid)", true},
                      {"Last-Event-ID", "header", "the last event id seen", false}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/tracks/uploads/{upload_id}/progress",
            [ctx](Request& request) { return HandleProgressStream(ctx, request); }, std::move(doc)));
    }
    {
        auto doc =
            Doc("upload progress (json)",
                "the current Progress event of an upload as one json object, for api clients that poll "
                "instead of reading the event stream. Owner only.",
                {{200, "Progress event"}, {400, "invalid_id"}, {401, "authentication_required"}, {404, "not_found"}});
        doc.params = {{"upload_id", "path", "the upload id (uuid)", true}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/tracks/uploads/{upload_id}", [ctx](Request& request) { return HandleProgressJson(ctx, request); },
            std::move(doc)));
    }
    return Ok();
}

}  // namespace plyr::api
