#include "tracks/upload_job.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"
#include "atproto/xrpc/repo.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "media/analyse.hpp"
#include "media/image.hpp"
#include "media/sandbox.hpp"
#include "media/tags.hpp"
#include "pds/outbox.hpp"
#include "pds/record_writer.hpp"
#include "pds/session_provider.hpp"
#include "storage/repos/album_repo.hpp"
#include "storage/repos/artist_repo.hpp"
#include "storage/repos/image_repo.hpp"
#include "storage/repos/tag_repo.hpp"
#include "storage/repos/track_repo.hpp"
#include "tracks/media_files.hpp"
#include "tracks/track_record.hpp"

namespace plyr::tracks {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace db = storage::db;
namespace repos = storage::repos;

// Phase weights of product.md §6.4 (validating 5, transcoding 25, storing 5, artwork 5, publishing 8,
// finalizing 2 of the bar's upper half), scaled to the job's own 0-100.
struct PhaseSpan {
    const char* name;
    int start;
    int span;
};
constexpr PhaseSpan kValidating{"validating", 0, 10};
constexpr PhaseSpan kTranscoding{"transcoding", 10, 50};
constexpr PhaseSpan kStoring{"storing", 60, 10};
constexpr PhaseSpan kArtwork{"artwork", 70, 10};
constexpr PhaseSpan kPublishing{"publishing", 80, 16};
constexpr PhaseSpan kFinalizing{"finalizing", 96, 4};

constexpr std::int64_t kMaxPdsBlobBytes = 104'857'600;  // the lexicon's audioBlob maxSize
constexpr int kPublishAttempts = 4;

struct AudioInput {
    fs::path path;
    std::string format;
    std::int64_t size = 0;
    std::string sha256;
};
struct ImageInput {
    fs::path path;
    std::string format;
};
struct Fields {
    std::string title;
    std::optional<std::string> description;
    std::vector<std::string> tags;
    std::vector<std::string> features;
    std::optional<std::string> album;
    std::optional<std::string> album_id;
    bool support_gate = false;
};
struct Payload {
    fs::path staging_dir;
    AudioInput audio;
    std::optional<ImageInput> image;
    Fields fields;
    std::vector<std::string> warnings;
    std::int64_t uploaded_at_us = 0;
};

const json::string* Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v ? v->if_string() : nullptr;
}
std::optional<std::string> OptStr(const json::object& o, std::string_view key) {
    const auto* s = Str(o, key);
    if (!s) return std::nullopt;
    return std::string(*s);
}
std::optional<std::int64_t> Int(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
        return static_cast<std::int64_t>(v->as_uint64());
    return std::nullopt;
}
std::vector<std::string> StrArray(const json::object& o, std::string_view key) {
    std::vector<std::string> out;
    const auto* v = o.if_contains(key);
    if (!v || !v->is_array()) return out;
    for (const auto& item : v->as_array())
        if (item.is_string()) out.emplace_back(item.as_string());
    return out;
}

Result<Payload> ParsePayload(const json::value& value) {
    auto bad = [](std::string what) { return Fail(ErrorCode::kInvalidArgument, "the upload could not be read", what); };
    if (!value.is_object()) return bad("payload is not an object");
    const auto& o = value.as_object();
    Payload p;
    auto dir = OptStr(o, "staging_dir");
    if (!dir || dir->empty()) return bad("staging_dir");
    p.staging_dir = *dir;
    const auto* audio = o.if_contains("audio");
    if (!audio || !audio->is_object()) return bad("audio");
    const auto& a = audio->as_object();
    auto path = OptStr(a, "path");
    auto format = OptStr(a, "format");
    auto sha = OptStr(a, "sha256");
    if (!path || !format || !sha) return bad("audio fields");
    p.audio.path = *path;
    p.audio.format = *format;
    p.audio.sha256 = *sha;
    p.audio.size = Int(a, "size").value_or(0);
    if (const auto* image = o.if_contains("image"); image && image->is_object()) {
        auto ipath = OptStr(image->as_object(), "path");
        if (!ipath) return bad("image.path");
        p.image = ImageInput{*ipath, OptStr(image->as_object(), "format").value_or("")};
    }
    const auto* fields = o.if_contains("fields");
    if (!fields || !fields->is_object()) return bad("fields");
    const auto& f = fields->as_object();
    auto title = OptStr(f, "title");
    if (!title || title->empty()) return bad("fields.title");
    p.fields.title = *title;
    p.fields.description = OptStr(f, "description");
    p.fields.tags = StrArray(f, "tags");
    p.fields.features = StrArray(f, "features");
    p.fields.album = OptStr(f, "album");
    p.fields.album_id = OptStr(f, "album_id");
    if (const auto* gate = f.if_contains("support_gate"); gate && gate->is_object()) p.fields.support_gate = true;
    p.warnings = StrArray(o, "warnings");
    p.uploaded_at_us = Int(o, "uploaded_at_us").value_or(0);
    if (p.uploaded_at_us <= 0) return bad("uploaded_at_us");
    return p;
}

std::string MimeForExt(std::string_view ext) {
    if (ext == "mp3") return "audio/mpeg";
    if (ext == "wav") return "audio/wav";
    if (ext == "flac") return "audio/flac";
    if (ext == "m4a") return "audio/mp4";
    if (ext == "aiff") return "audio/aiff";
    if (ext == "ogg") return "audio/ogg";
    if (ext == "webm") return "audio/webm";
    return "application/octet-stream";
}

// Why a job ends: the code and message of §6.4/§9, retry decision, and the underlying error for logs.
struct JobFailure {
    std::string code;
    std::string message;
    bool retryable = false;
    std::string detail;
};

JobFailure FromError(const Error& error, std::string_view default_code, std::string_view message) {
    JobFailure f;
    switch (error.code) {
        case ErrorCode::kStorageFull:
            f.code = "storage_full";
            f.message = "storage is full";
            f.retryable = true;
            break;
        case ErrorCode::kBusy:
        case ErrorCode::kUnavailable:
        case ErrorCode::kTimeout:
        case ErrorCode::kIo:
            f.code = std::string(default_code);
            f.message = std::string(message);
            f.retryable = true;
            break;
        default:
            f.code = std::string(default_code);
            f.message = std::string(message);
            break;
    }
    f.detail = error.ToString();
    return f;
}

class UploadRun {
  public:
    UploadRun(const UploadJobDeps& deps, jobs::JobContext& ctx) : deps_(deps), ctx_(ctx), db_(*deps.db) {}

    Status Run();

  private:
    Status Report(const PhaseSpan& phase, double fraction, std::string message = {}) {
        fraction = std::clamp(fraction, 0.0, 1.0);
        int pct = phase.start + static_cast<int>(std::floor(fraction * phase.span));
        auto st = ctx_.Progress(phase.name, pct, std::move(message));
        if (!st && ctx_.Cancelled()) return Fail(ErrorCode::kCancelled, "the job was taken over");
        return Ok();
    }
    bool Cancelled() const { return ctx_.Cancelled(); }
    void Warn(const std::string& code) {
        if (warned_.insert(code).second) ctx_.AddWarning(code);
    }
    std::int64_t Now() const { return deps_.clock->NowMicros(); }

    std::optional<JobFailure> Prepare();
    std::optional<JobFailure> Analyse();
    std::optional<JobFailure> Store();
    std::optional<JobFailure> Artwork();
    std::optional<JobFailure> Reserve();
    std::optional<JobFailure> Publish();
    std::optional<JobFailure> Finalize();
    std::optional<JobFailure> ResumeWithoutStaging();
    std::optional<JobFailure> StoreImage(const media::NormalisedImage& image);
    std::optional<JobFailure> EnsureObjects();
    Status Defer(const std::string& warning);
    Status End(const std::optional<JobFailure>& failure);
    void CleanupAfterFailure();
    void RemoveStaging();
    storage::blobs::BlobStore& AudioStore() const {
        return (fields_gated() && deps_.private_store) ? *deps_.private_store : *deps_.audio_store;
    }
    bool fields_gated() const { return payload_.fields.support_gate; }
    fs::path StagingRoot() const {
        std::error_code ec;
        return fs::weakly_canonical(fs::absolute(deps_.config->data_dir / "staging"), ec);
    }

    const UploadJobDeps& deps_;
    jobs::JobContext& ctx_;
    db::Db& db_;
    Payload payload_;
    std::string did_;
    std::set<std::string> warned_;
    bool staging_present_ = false;

    media::AnalysisResult analysis_;
    std::optional<FileDigest> original_;
    std::optional<FileDigest> rendition_;
    fs::path rendition_path_;
    std::vector<AudioObject> stored_audio_;
    std::optional<std::string> image_id_;
    std::optional<repos::ImageRow> image_row_;
    media::NormalisedImage image_files_;
    bool image_stored_ = false;
    std::optional<FileDigest> image_digest_;

    std::optional<repos::Artist> artist_;
    std::vector<FeatureSnapshot> features_;
    std::string rkey_;
    std::int64_t track_id_ = 0;
    bool row_created_ = false;
    std::optional<std::string> album_id_;
    std::optional<std::string> album_title_;
    bool album_created_ = false;
    std::optional<std::string> atproto_uri_;
    std::optional<std::string> atproto_cid_;
    bool handed_to_outbox_ = false;
};

Status UploadRun::Run() {
    if (!ctx_.owner_did() || ctx_.owner_did()->empty())
        return End(JobFailure{"invalid_payload", "the upload could not be read", false, "no owner_did"});
    did_ = *ctx_.owner_did();
    auto parsed = ParsePayload(ctx_.payload());
    if (!parsed)
        return End(JobFailure{"invalid_payload", "the upload could not be read", false, parsed.error().detail});
    payload_ = std::move(*parsed);
    for (const auto& w : payload_.warnings) Warn(w);
    rkey_ = UploadRecordKey(payload_.uploaded_at_us, ctx_.id());

    if (auto f = Prepare()) return End(f);
    if (!staging_present_) return End(ResumeWithoutStaging());
    for (auto step : {&UploadRun::Analyse, &UploadRun::Store, &UploadRun::Artwork, &UploadRun::Reserve,
                      &UploadRun::Publish, &UploadRun::Finalize}) {
        if (Cancelled()) return Fail(ErrorCode::kCancelled, "the job was cancelled");
        if (auto f = (this->*step)()) return End(f);
    }
    return End(std::nullopt);
}

std::optional<JobFailure> UploadRun::Prepare() {
    auto artist = repos::ArtistRepository(db_).Get(did_);
    if (!artist) return FromError(artist.error(), "storage_error", "the upload could not be processed");
    if (!*artist) return JobFailure{"artist_not_found", "the uploading account no longer exists", false, did_};
    artist_ = std::move(**artist);

    // Every path of the payload must lie in a directory directly inside DATA_DIR/staging: the payload is data, and
    // the job creates, writes and finally deletes that directory.
    std::error_code ec;
    const fs::path root = StagingRoot();
    const fs::path dir = fs::weakly_canonical(fs::absolute(payload_.staging_dir), ec);
    const bool local_dir = !ec && !dir.empty() && dir.parent_path() == root;
    auto inside = [&](const fs::path& file) {
        std::error_code e;
        return fs::weakly_canonical(fs::absolute(file), e).parent_path() == dir && !e;
    };
    if (local_dir) {
        payload_.staging_dir = dir;
        if (!inside(payload_.audio.path) || (payload_.image && !inside(payload_.image->path)))
            return JobFailure{"invalid_payload", "the upload could not be read", false, "file outside staging_dir"};
    } else if (deps_.private_store) {
        // S3 mode: the upload handler ran on a machine with another DATA_DIR; work in a directory of our own.
        payload_.staging_dir = root / fmt::format("job-{}", ctx_.id());
        payload_.audio.path = payload_.staging_dir / "audio";
        if (payload_.image) Warn("image_unavailable");  // an uploaded image only exists on the handler's disk
        payload_.image.reset();
    } else {
        return JobFailure{"invalid_payload", "the upload could not be read", false, "staging_dir outside the root"};
    }
    staging_present_ = fs::is_regular_file(payload_.audio.path, ec);
    if (!staging_present_ && deps_.private_store) {
        // S3 mode: the upload handler may have run on another machine; its copy is in the private bucket.
        fs::create_directories(payload_.staging_dir, ec);
        auto got = deps_.private_store->GetToFile(fmt::format("staging/{}", ctx_.id()), payload_.audio.path);
        if (got) {
            staging_present_ = true;
        } else if (got.error().code != ErrorCode::kNotFound) {
            return FromError(got.error(), "storage_error", "the upload could not be fetched from storage");
        }
    }
    return std::nullopt;
}

// The staged file is gone (an earlier attempt finished with it and crashed before completing): what the DB holds
// decides. A row that reached the PDS or the outbox completes the job; anything else cannot be redone.
std::optional<JobFailure> UploadRun::ResumeWithoutStaging() {
    auto row = db_.ReadValue<std::optional<repos::TrackRow>>(
        [&](db::Connection& c) { return repos::TrackRepository::GetByUploadJob(c, ctx_.id()); });
    if (!row) return FromError(row.error(), "storage_error", "the upload could not be processed");
    if (!*row)
        return JobFailure{"stalled", "the upload was interrupted and its file is gone; please upload again", false,
                          "staging missing, no reserved row"};
    track_id_ = (*row)->id;
    atproto_uri_ = (*row)->atproto_record_uri;
    atproto_cid_ = (*row)->atproto_record_cid;
    if ((*row)->publish_state != repos::PublishState::kPublished) {
        if (auto st = Defer("pds_publish_deferred"); !st)
            return FromError(st.error(), "storage_error", "the upload could not be processed");
    }
    return Finalize();
}

std::optional<JobFailure> UploadRun::Analyse() {
    if (auto st = Report(kValidating, 0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    const bool transcoder = deps_.config->transcoder_enabled;
    const fs::path out_dir = payload_.staging_dir / "analysis";
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) return JobFailure{"storage_error", "the upload could not be processed", true, ec.message()};

    auto run = [&](bool rendition) -> Result<media::AnalysisResult> {
        media::AnalyseOptions options;
        options.limits.max_duration_seconds = deps_.config->max_audio_duration_seconds;
        // TRANSCODER_TARGET_FORMAT mp3 or aac; opus is no web-safe target (Opus needs a rendition itself), so mp3.
        // The child decides from the opened stream's codec whether a rendition is needed (AAC vs ALAC in m4a).
        if (rendition) {
            options.rendition_format = deps_.config->transcoder_target_format == "aac" ? "aac" : "mp3";
            options.rendition_when_needed = true;
        }
        options.out_dir = out_dir.string();
        auto limits = media::AnalyseSandboxLimits(*deps_.config, std::nullopt);
        return media::Analyse(*deps_.sandbox, payload_.audio.path.string(), options, limits, [&](double fraction) {
            // One pass: the probe's share of the bar first, the rest counts as transcoding.
            double pos = fraction * (kValidating.span + kTranscoding.span);
            if (pos < kValidating.span) {
                (void)Report(kValidating, pos / kValidating.span);
            } else {
                (void)Report(kTranscoding, (pos - kValidating.span) / kTranscoding.span);
            }
        });
    };
    auto result = run(transcoder);
    if (!result) {
        std::string code(media::AnalyseErrorCode(result.error()));
        std::string message = code == "audio_too_long"             ? "the audio is longer than allowed"
                              : code == "unsupported_audio_format" ? "this audio format or codec is not supported"
                              : code == "transcode_failed"         ? "the audio could not be converted for playback"
                                                                   : "the audio file could not be read";
        return JobFailure{code, message, false, result.error().ToString()};
    }
    analysis_ = std::move(*result);
    if (analysis_.rendition && !media::NeedsWebRendition(analysis_.probe)) {
        fs::remove(analysis_.rendition->path, ec);  // played as uploaded (AAC m4a, PCM wav)
        analysis_.rendition.reset();
    }
    if (analysis_.rendition) rendition_path_ = analysis_.rendition->path;
    if (auto st = Report(kTranscoding, 1.0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    return std::nullopt;
}

std::optional<JobFailure> UploadRun::Store() {
    if (auto st = Report(kStoring, 0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    auto original = DigestFile(payload_.audio.path);
    if (!original) return FromError(original.error(), "storage_error", "the upload could not be stored");
    original_ = std::move(*original);
    if (!rendition_path_.empty()) {
        auto rendition = DigestFile(rendition_path_);
        if (!rendition) return FromError(rendition.error(), "storage_error", "the upload could not be stored");
        rendition_ = std::move(*rendition);
    }
    std::vector<std::string> ids{original_->file_id};
    if (rendition_) ids.push_back(rendition_->file_id);
    auto duplicate = db_.ReadValue<std::optional<std::int64_t>>(
        [&](db::Connection& c) { return repos::TrackRepository::FindArtistDuplicate(c, did_, ids, ctx_.id()); });
    if (!duplicate) return FromError(duplicate.error(), "storage_error", "the upload could not be stored");
    if (*duplicate) {
        return JobFailure{"duplicate_upload", fmt::format("already uploaded as track {}", **duplicate), false, ""};
    }
    auto store = [&](const fs::path& file, const FileDigest& digest,
                     const std::string& ext) -> std::optional<JobFailure> {
        auto stored = StoreContentAddressed(AudioStore(), file, digest, ext, kAudioPrefix);
        if (!stored) return FromError(stored.error(), "storage_error", "the upload could not be stored");
        stored_audio_.push_back(AudioObject{stored->file_id, ext});
        return std::nullopt;
    };
    if (auto f = store(payload_.audio.path, *original_, payload_.audio.format)) return f;
    if (rendition_) {
        if (auto f = store(rendition_path_, *rendition_, analysis_.rendition->format)) return f;
    }
    return std::nullopt;
}

std::optional<JobFailure> UploadRun::StoreImage(const media::NormalisedImage& image) {
    auto stored = StoreContentAddressed(*deps_.image_store, image.full, image.ext, kImagesPrefix);
    if (!stored) return FromError(stored.error(), "storage_error", "the artwork could not be stored");
    image_id_ = stored->file_id;
    image_files_ = image;
    image_stored_ = true;
    image_digest_ = FileDigest{stored->file_id, stored->sha256_hex, stored->size};
    auto keys = ImageKeys(*image_id_, image.ext);
    const std::string* sources[] = {&image.thumb, &image.w320, &image.w640};
    for (std::size_t i = 0; i < 3; ++i) {
        if (deps_.image_store->Head(keys[i + 1])) continue;  // content-addressed: same id, same derived images
        if (auto st = deps_.image_store->PutFile(keys[i + 1], *sources[i], "image/webp"); !st)
            return FromError(st.error(), "storage_error", "the artwork could not be stored");
    }
    repos::ImageRow row;
    row.image_id = *image_id_;
    row.ext = image.ext;
    row.width = image.width;
    row.height = image.height;
    row.bytes = static_cast<std::int64_t>(stored->size);
    row.owner_did = did_;
    row.created_at = Now();
    image_row_ = std::move(row);
    return std::nullopt;
}

std::optional<JobFailure> UploadRun::Artwork() {
    if (auto st = Report(kArtwork, 0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    const fs::path out_dir = payload_.staging_dir / "artwork";
    std::error_code ec;
    fs::create_directories(out_dir, ec);
    if (ec) return JobFailure{"storage_error", "the upload could not be processed", true, ec.message()};
    media::ImageOptions image_options;
    if (payload_.image) {
        auto image = media::NormaliseImage(*deps_.sandbox, payload_.image->path.string(), out_dir.string(),
                                           media::ImageSandboxLimits(*deps_.config), image_options);
        if (!image) {
            return JobFailure{"image_unreadable", "the artwork could not be read", false, image.error().ToString()};
        }
        return StoreImage(*image);
    }
    // No uploaded image: the embedded cover, if any. Tags are optional metadata: a failure here is a warning.
    const fs::path art = payload_.staging_dir / "embedded_art";
    auto tags = media::ReadTags(*deps_.sandbox, payload_.audio.path.string(), art.string(),
                                media::TagsSandboxLimits(*deps_.config));
    if (!tags) {
        plyr::log::Warn("upload.tags_unreadable", {{"job_id", ctx_.id()}, {"error", tags.error().ToString()}});
        return std::nullopt;
    }
    if (!tags->art) return std::nullopt;
    auto image = media::NormaliseImage(*deps_.sandbox, art.string(), out_dir.string(),
                                       media::ImageSandboxLimits(*deps_.config), image_options);
    if (!image) {
        Warn("artwork_unreadable");
        return std::nullopt;
    }
    return StoreImage(*image);
}

std::optional<JobFailure> UploadRun::Reserve() {
    if (auto st = Report(kPublishing, 0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    // Features: resolved now; unresolvable ones and the uploader themself are dropped.
    std::set<std::string> seen;
    for (const auto& f : payload_.fields.features) {
        Result<ResolvedIdentity> id = deps_.resolve_identity
                                          ? deps_.resolve_identity(f)
                                          : Result<ResolvedIdentity>(Fail(ErrorCode::kUnavailable, "no resolver"));
        if (!id || id->did == did_ || !seen.insert(id->did).second) {
            Warn("feature_unresolved");
            continue;
        }
        FeatureSnapshot snap{id->did, std::nullopt, std::nullopt};
        if (!id->handle.empty() && id->handle != "handle.invalid") snap.handle = id->handle;
        if (!id->display_name.empty()) snap.display_name = id->display_name;
        features_.push_back(std::move(snap));
    }

    const bool rendition = rendition_.has_value();
    repos::NewTrack t;
    t.artist_did = did_;
    t.title = payload_.fields.title;
    t.description = payload_.fields.description;
    t.file_id = rendition ? rendition_->file_id : original_->file_id;
    t.file_type = rendition ? analysis_.rendition->format : payload_.audio.format;
    if (rendition) {
        t.original_file_id = original_->file_id;
        t.original_file_type = payload_.audio.format;
    }
    t.file_size = static_cast<std::int64_t>(rendition ? rendition_->size : original_->size);
    const media::ProbeInfo& playable = rendition ? analysis_.rendition->info : analysis_.probe;
    t.codec = playable.codec;
    t.sample_rate = playable.sample_rate;
    t.channels = playable.channels;
    t.duration_ms = analysis_.probe.duration_ms;
    t.loudness_lufs = analysis_.loudness_lufs;
    t.true_peak_dbtp = analysis_.true_peak_dbtp;
    for (const auto& f : features_) {
        json::object o{{"did", f.did}};
        if (f.handle) o["handle"] = *f.handle;
        if (f.display_name) o["display_name"] = *f.display_name;
        t.features.push_back(std::move(o));
    }
    t.image_id = image_id_;
    if (payload_.fields.support_gate) {
        t.visibility = repos::Visibility::kSupporters;
        t.support_gate = json::object{{"type", "any"}};
    }
    t.atproto_rkey = rkey_;
    t.upload_job_id = ctx_.id();
    t.now = Now();

    auto st = db_.Write([&](db::Connection& tx) -> Status {
        row_created_ = false;
        album_created_ = false;
        album_id_.reset();
        album_title_.reset();
        // A re-run finds the row of its first attempt and keeps it as it is.
        auto existing = repos::TrackRepository::GetByUploadJob(tx, ctx_.id());
        if (!existing) return Fail(std::move(existing.error()));
        if (!*existing) {
            if (payload_.fields.album_id) {
                auto album = repos::AlbumRepository::GetOwned(tx, *payload_.fields.album_id, did_);
                if (!album) return Fail(std::move(album.error()));
                if (*album) {
                    album_id_ = (*album)->id;
                    album_title_ = (*album)->title;
                } else {
                    Warn("album_not_found");
                }
            } else if (payload_.fields.album && !payload_.fields.album->empty()) {
                auto album_rkey = atproto::syntax::Tid::FromParts(Now(), atproto::syntax::RandomTidClockId());
                if (!album_rkey) return Fail(std::move(album_rkey.error()));
                auto album = repos::AlbumRepository::GetOrCreateForArtist(tx, did_, *payload_.fields.album,
                                                                          album_rkey->ToString(), Now());
                if (!album) return Fail(std::move(album.error()));
                album_id_ = album->album.id;
                album_title_ = album->album.title;
                album_created_ = album->created;
            }
            if (album_id_) {
                auto position = repos::AlbumRepository::NextPosition(tx, *album_id_);
                if (!position) return Fail(std::move(position.error()));
                t.album_id = album_id_;
                t.album_position = *position;
            }
            if (image_row_) {
                auto inserted = repos::ImageRepository::Insert(tx, *image_row_);
                if (!inserted) return Fail(std::move(inserted.error()));
            }
        }
        auto reserved = repos::TrackRepository::ReserveTrack(tx, t);
        if (!reserved) return Fail(std::move(reserved.error()));
        track_id_ = reserved->id;
        row_created_ = reserved->created;
        if (!reserved->created) {
            auto row = repos::TrackRepository::Get(tx, track_id_);
            if (!row) return Fail(std::move(row.error()));
            if (*row) {
                atproto_uri_ = (*row)->atproto_record_uri;
                atproto_cid_ = (*row)->atproto_record_cid;
                album_id_ = (*row)->album_id;
                if (album_id_) {
                    auto album = repos::AlbumRepository::Get(tx, *album_id_);
                    if (!album) return Fail(std::move(album.error()));
                    if (*album) album_title_ = (*album)->title;
                }
                if ((*row)->image_id && image_row_) {
                    auto inserted = repos::ImageRepository::Insert(tx, *image_row_);
                    if (!inserted) return Fail(std::move(inserted.error()));
                }
            }
        }
        PLYR_TRY_STATUS(repos::TrackRepository::PutPeaks(tx, track_id_, repos::PeakResolution::kLow,
                                                         std::max(1, analysis_.low.samples_per_peak),
                                                         analysis_.low.peaks));
        PLYR_TRY_STATUS(repos::TrackRepository::PutPeaks(tx, track_id_, repos::PeakResolution::kHigh,
                                                         std::max(1, analysis_.high.samples_per_peak),
                                                         analysis_.high.peaks));
        std::string fp;
        fp.reserve(analysis_.fingerprint.raw.size() * 4);
        for (std::uint32_t v : analysis_.fingerprint.raw)
            for (int i = 0; i < 4; ++i) fp.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
        PLYR_TRY_STATUS(repos::TrackRepository::PutFingerprint(tx, track_id_, analysis_.fingerprint.algorithm,
                                                               analysis_.fingerprint.duration_ms, fp, "[]", Now()));
        return Ok();
    });
    if (!st) return FromError(st.error(), "storage_error", "the track could not be saved");
    return EnsureObjects();
}

// Between storing and the reservation, a concurrent ReleaseMedia (another track's delete) may have removed an
// object it saw unreferenced. Now that the row references them, put back whatever is missing.
std::optional<JobFailure> UploadRun::EnsureObjects() {
    auto ensure = [&](storage::blobs::BlobStore& store, const fs::path& file, const FileDigest& digest,
                      std::string_view ext, std::string_view prefix) -> std::optional<JobFailure> {
        auto stored = StoreContentAddressed(store, file, digest, ext, prefix);
        if (!stored) return FromError(stored.error(), "storage_error", "the upload could not be stored");
        return std::nullopt;
    };
    if (auto f = ensure(AudioStore(), payload_.audio.path, *original_, payload_.audio.format, kAudioPrefix)) return f;
    if (rendition_) {
        if (auto f = ensure(AudioStore(), rendition_path_, *rendition_, analysis_.rendition->format, kAudioPrefix))
            return f;
    }
    if (image_stored_ && image_digest_) {
        if (auto f = ensure(*deps_.image_store, image_files_.full, *image_digest_, image_files_.ext, kImagesPrefix))
            return f;
    }
    return std::nullopt;
}

Status UploadRun::Defer(const std::string& warning) {
    auto st = db_.Write([&](db::Connection& tx) -> Status {
        auto enqueued = pds::EnqueueWrite(
            tx, TrackOutboxWrite(deps_.config->atproto_app_namespace, did_, rkey_, track_id_, pds::WriteOp::kPut),
            Now());
        if (!enqueued) return Fail(std::move(enqueued.error()));
        return Ok();
    });
    if (!st) return st;
    handed_to_outbox_ = true;
    Warn(warning);
    if (deps_.notify_outbox) deps_.notify_outbox();
    return Ok();
}

std::optional<JobFailure> UploadRun::Publish() {
    if (atproto_uri_ && atproto_cid_) return std::nullopt;  // a re-run after the record went out
    if (auto st = Report(kPublishing, 0.25); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    auto defer = [&](const std::string& warning) -> std::optional<JobFailure> {
        if (auto st = Defer(warning); !st)
            return FromError(st.error(), "storage_error", "the track could not be queued for publishing");
        return std::nullopt;
    };
    auto session = deps_.sessions->OpenForDid(did_);
    if (!session) {
        plyr::log::Info("upload.publish_deferred",
                        {{"job_id", ctx_.id()}, {"track_id", track_id_}, {"error", session.error().ToString()}});
        return defer(pds::IsNoSession(session.error()) ? "pds_auth_required" : "pds_publish_deferred");
    }
    const auto& pds_session = (*session)->session();
    const bool rendition = rendition_.has_value();
    const fs::path playable = rendition ? rendition_path_ : payload_.audio.path;
    const std::string playable_ext = rendition ? analysis_.rendition->format : payload_.audio.format;
    const std::string playable_id = rendition ? rendition_->file_id : original_->file_id;
    const std::int64_t playable_size = static_cast<std::int64_t>(rendition ? rendition_->size : original_->size);

    std::optional<atproto::BlobRef> blob;
    if (deps_.config->pds_audio_uploads_enabled) {
        if (playable_size > kMaxPdsBlobBytes) {
            Warn("pds_blob_failed");
        } else {
            auto uploaded = pds_session.Run([&](const atproto::xrpc::XrpcClient& client) {
                return atproto::xrpc::UploadBlob(client, playable, MimeForExt(playable_ext));
            });
            if (uploaded) {
                blob = std::move(*uploaded);
            } else {
                plyr::log::Info("upload.blob_failed", {{"job_id", ctx_.id()}, {"error", uploaded.error().ToString()}});
                Warn("pds_blob_failed");
            }
        }
    }
    if (auto st = Report(kPublishing, 0.5); !st) return JobFailure{"cancelled", "cancelled", true, ""};

    TrackRecordInput input;
    input.app_namespace = deps_.config->atproto_app_namespace;
    input.title = payload_.fields.title;
    input.artist_display_name = artist_->display_name;
    input.artist_handle = artist_->handle.value_or("");
    input.file_type = playable_ext;
    input.created_at_us = payload_.uploaded_at_us;
    input.audio_url = AudioUrl(*deps_.config, playable_id, playable_ext, payload_.fields.support_gate);
    input.audio_blob = blob;
    input.album_title = album_title_;
    input.duration_ms = analysis_.probe.duration_ms;
    input.features = features_;
    if (image_row_) input.image_url = ImageUrl(*deps_.config, image_row_->image_id, image_row_->ext);
    input.support_gate = payload_.fields.support_gate;
    input.description = payload_.fields.description;

    const std::string collection = TrackCollection(deps_.config->atproto_app_namespace);
    std::optional<atproto::Value> written;
    std::optional<atproto::xrpc::XrpcError> last_error;
    for (int attempt = 0; attempt < kPublishAttempts; ++attempt) {
        if (attempt > 0) {
            auto delay = deps_.publish_retry_base * (1 << (attempt - 1));
            auto until = std::chrono::steady_clock::now() + delay;
            while (std::chrono::steady_clock::now() < until) {
                if (Cancelled()) return JobFailure{"cancelled", "cancelled", true, ""};
                std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                    std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
            }
        }
        auto result = pds::WriteRecordRmw(pds_session, did_, collection, rkey_,
                                          [&](const std::optional<atproto::Value>& current) -> Result<atproto::Value> {
                                              auto record = BuildTrackRecord(*deps_.catalog, input, current);
                                              if (record) written = *record;
                                              return record;
                                          });
        if (result) {
            atproto_uri_ = result->write.uri;
            atproto_cid_ = result->write.cid.ToString();
            last_error.reset();
            break;
        }
        last_error = result.error();
        auto cls = pds::ClassifyPdsError(result.error());
        plyr::log::Info("upload.publish_failed", {{"job_id", ctx_.id()},
                                                  {"attempt", attempt + 1},
                                                  {"class", std::string(pds::ToString(cls))},
                                                  {"error", result.error().ToString()}});
        if (cls == pds::PdsErrorClass::kAuthBlocked) return defer("pds_auth_required");
        if (cls == pds::PdsErrorClass::kRejected) {
            if (result.error().status == 0 && result.error().code == ErrorCode::kInternal) {
                // Our own record failed the lexicon: a bug, never sent.
                return JobFailure{"internal_error", "the track record could not be built", false,
                                  result.error().ToString()};
            }
            return JobFailure{"pds_rejected", "your pds refused the track record", false, result.error().ToString()};
        }
    }
    if (last_error) return defer("pds_publish_deferred");

    json::object extra;
    if (written) {
        auto unmanaged = atproto::ValueToJson(UnmanagedFields(*written));
        if (unmanaged.is_object()) extra = std::move(unmanaged.as_object());
    }
    auto st = db_.Write([&](db::Connection& tx) {
        return repos::TrackRepository::MarkPublished(tx, track_id_, *atproto_uri_, *atproto_cid_, extra);
    });
    if (!st) {
        // The record is on the PDS; the outbox rewrites it (same rkey) and stores uri/cid when the DB is back.
        atproto_uri_.reset();
        atproto_cid_.reset();
        return defer("pds_publish_deferred");
    }
    return std::nullopt;
}

std::optional<JobFailure> UploadRun::Finalize() {
    if (auto st = Report(kFinalizing, 0); !st) return JobFailure{"cancelled", "cancelled", true, ""};
    // The album's list record is issue 6; the copyright_scan job is issue 9.
    if (!payload_.fields.tags.empty()) {
        auto st = db_.Write([&](db::Connection& tx) {
            return repos::TagRepository::SetTrackTags(tx, track_id_, payload_.fields.tags, did_, Now());
        });
        if (!st) return FromError(st.error(), "storage_error", "the tags could not be saved");
    }
    json::object result{{"track_id", track_id_}};
    result["atproto_uri"] = atproto_uri_ ? json::value(*atproto_uri_) : json::value(nullptr);
    result["atproto_cid"] = atproto_cid_ ? json::value(*atproto_cid_) : json::value(nullptr);
    ctx_.SetResult(json::value(std::move(result)));
    (void)Report(kFinalizing, 1.0);
    return std::nullopt;
}

void UploadRun::RemoveStaging() {
    // Only a directory directly inside DATA_DIR/staging is ever removed: the payload is data, not a command.
    std::error_code ec;
    const fs::path dir = fs::weakly_canonical(fs::absolute(payload_.staging_dir), ec);
    if (!ec && !dir.empty() && dir.parent_path() == StagingRoot()) {
        fs::remove_all(dir, ec);
        if (ec) plyr::log::Warn("upload.staging_remove_failed", {{"job_id", ctx_.id()}, {"error", ec.message()}});
    } else {
        plyr::log::Warn("upload.staging_outside_root", {{"job_id", ctx_.id()}});
    }
    if (deps_.private_store) (void)deps_.private_store->Delete(fmt::format("staging/{}", ctx_.id()));
}

void UploadRun::CleanupAfterFailure() {
    // A reserved row that never reached the PDS (nor the outbox) goes, and with it what only it referenced.
    if (track_id_ != 0 && !handed_to_outbox_ && !atproto_uri_) {
        auto st = db_.Write([&](db::Connection& tx) -> Status {
            auto row = repos::TrackRepository::Get(tx, track_id_);
            if (!row) return Fail(std::move(row.error()));
            if (!*row || (*row)->atproto_record_uri) return Ok();
            auto live = pds::GetLive(tx, did_, TrackCollection(deps_.config->atproto_app_namespace), rkey_);
            if (!live) return Fail(std::move(live.error()));
            if (*live) return Ok();
            auto deleted = repos::TrackRepository::Delete(tx, track_id_);
            if (!deleted) return Fail(std::move(deleted.error()));
            if (album_created_ && album_id_) {
                PLYR_TRY_STATUS(tx.Exec(
                    tx.backend() == db::Backend::kPostgres
                        ? "DELETE FROM albums WHERE id = $1::uuid AND NOT EXISTS (SELECT 1 FROM tracks WHERE album_id "
                          "= $1::uuid)"
                        : "DELETE FROM albums WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM tracks WHERE album_id = $1)",
                    {*album_id_}));
            }
            return Ok();
        });
        if (!st) {
            plyr::log::Warn("upload.cleanup_failed", {{"job_id", ctx_.id()}, {"error", st.error().ToString()}});
            return;  // keep the media: the row may still reference it
        }
    }
    std::vector<std::string> images;
    if (image_id_) images.push_back(*image_id_);
    if (!stored_audio_.empty() || !images.empty()) {
        ReleaseOptions options;
        options.exclude_job_id = ctx_.id();
        auto released = ReleaseMedia(db_, AudioStore(), *deps_.image_store, stored_audio_, images, options);
        if (!released)
            plyr::log::Warn("upload.release_failed", {{"job_id", ctx_.id()}, {"error", released.error().ToString()}});
    }
}

Status UploadRun::End(const std::optional<JobFailure>& failure) {
    if (!failure) {
        RemoveStaging();
        return Ok();
    }
    if (failure->code == "cancelled") return Fail(ErrorCode::kCancelled, "the job was cancelled");
    const bool final = !failure->retryable || ctx_.attempt() >= ctx_.max_attempts();
    plyr::log::Info("upload.failed", {{"job_id", ctx_.id()},
                                      {"code", failure->code},
                                      {"final", final},
                                      {"attempt", ctx_.attempt()},
                                      {"detail", failure->detail}});
    if (final) {
        // The artist's upload_failed notification is issue 9.
        CleanupAfterFailure();
        RemoveStaging();
    }
    return ctx_.FailWith(failure->code, failure->message, failure->retryable && !final);
}

}  // namespace

std::string UploadRecordKey(std::int64_t uploaded_at_us, std::string_view job_id) {
    auto digest = core::Sha256(job_id);
    std::uint32_t clock_id = (static_cast<std::uint32_t>(digest[0]) << 8 | digest[1]) & atproto::syntax::kMaxTidClockId;
    auto micros = std::clamp<std::int64_t>(uploaded_at_us, 0, atproto::syntax::kMaxTidMicros);
    auto tid = atproto::syntax::Tid::FromParts(micros, clock_id);
    return tid ? tid->ToString() : std::string();
}

Status RunUploadJob(const UploadJobDeps& deps, jobs::JobContext& ctx) {
    UploadRun run(deps, ctx);
    return run.Run();
}

Status RegisterUploadJob(jobs::WorkerPool& pool, UploadJobDeps deps) {
    if (!deps.db || !deps.config || !deps.audio_store || !deps.image_store || !deps.sandbox || !deps.sessions ||
        !deps.catalog || !deps.clock) {
        return Fail(ErrorCode::kInvalidArgument, "the upload job is missing a dependency");
    }
    return pool.Register(std::string(kUploadJobType),
                         [deps = std::move(deps)](jobs::JobContext& ctx) { return RunUploadJob(deps, ctx); });
}

}  // namespace plyr::tracks
