#include "tracks/media_files.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "core/encoding.hpp"

namespace plyr::tracks {
namespace {

namespace db = storage::db;

constexpr std::array<std::string_view, 3> kImageExts = {"jpg", "png", "webp"};

bool IsValidSegment(std::string_view s) {
    if (s.empty() || s.size() > 16) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

// SQL fragments that differ between the engines.
std::string JobIdParam(db::Backend backend, int n) {
    return backend == db::Backend::kPostgres ? fmt::format("${}::uuid", n) : fmt::format("${}", n);
}
std::string PayloadAudioSha(db::Backend backend) {
    return backend == db::Backend::kPostgres ? "(payload->'audio'->>'sha256')"
                                             : "json_extract(payload, '$.audio.sha256')";
}

// True when an upload job that is pending or running (other than `exclude`) carries an original whose
// content id is `file_id`: it is about to store (or has just stored, without a row yet) those bytes.
Result<bool> PinnedByUploadJob(db::Connection& tx, std::string_view file_id,
                               const std::optional<std::string>& exclude) {
    const auto backend = tx.backend();
    std::string sql = fmt::format(
        "SELECT 1 FROM jobs WHERE type = 'upload' AND status IN ('pending', 'running') AND substr({}, 1, 16) = $1",
        PayloadAudioSha(backend));
    std::vector<db::Value> params{std::string(file_id)};
    if (exclude) {
        sql += fmt::format(" AND id <> {}", JobIdParam(backend, 2));
        params.emplace_back(*exclude);
    }
    sql += " LIMIT 1";
    auto rows = tx.Query(sql, db::Params(params));
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

// True when an upload job of `owner_did` (other than `exclude`) is pending or running: its artwork id is only
// known once it has normalised the image, so an image of that owner is kept (a possible leak, never a loss).
Result<bool> OwnerHasLiveUpload(db::Connection& tx, std::string_view owner_did,
                                const std::optional<std::string>& exclude) {
    std::string sql =
        "SELECT 1 FROM jobs WHERE type = 'upload' AND status IN ('pending', 'running') AND owner_did = $1";
    std::vector<db::Value> params{std::string(owner_did)};
    if (exclude) {
        sql += fmt::format(" AND id <> {}", JobIdParam(tx.backend(), 2));
        params.emplace_back(*exclude);
    }
    sql += " LIMIT 1";
    auto rows = tx.Query(sql, db::Params(params));
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

Result<bool> AudioReferenced(db::Connection& tx, std::string_view file_id) {
    auto rows =
        tx.Query("SELECT 1 FROM tracks WHERE file_id = $1 OR original_file_id = $1 LIMIT 1", {std::string(file_id)});
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

Result<bool> ImageReferenced(db::Connection& tx, std::string_view image_id) {
    // Playlists (issue 6) and artist avatars add their image columns here when they exist.
    auto rows =
        tx.Query("SELECT 1 FROM tracks WHERE image_id = $1 UNION ALL SELECT 1 FROM albums WHERE image_id = $1 LIMIT 1",
                 {std::string(image_id)});
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

}  // namespace

bool IsValidMediaId(std::string_view id) {
    return id.size() == 16 &&
           std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string MediaKey(std::string_view prefix, std::string_view id, std::string_view ext) {
    return fmt::format("{}/{}.{}", prefix, id, ext);
}

std::vector<std::string> ImageKeys(std::string_view image_id, std::string_view ext) {
    return {MediaKey(kImagesPrefix, image_id, ext), fmt::format("{}/{}{}", kImagesPrefix, image_id, kImageThumbSuffix),
            fmt::format("{}/{}{}", kImagesPrefix, image_id, kImage320Suffix),
            fmt::format("{}/{}{}", kImagesPrefix, image_id, kImage640Suffix)};
}

Result<FileDigest> DigestFile(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kIo, "the file cannot be read", file.string());
    core::Sha256Stream hash;
    std::uint64_t size = 0;
    std::string buffer(1 << 16, '\0');
    while (in) {
        in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        auto n = in.gcount();
        if (n <= 0) break;
        hash.Update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        size += static_cast<std::uint64_t>(n);
    }
    if (in.bad()) return Fail(ErrorCode::kIo, "the file cannot be read", file.string());
    FileDigest out;
    out.sha256_hex = core::HexEncode(core::DigestToString(hash.Finish()));
    out.file_id = out.sha256_hex.substr(0, 16);
    out.size = size;
    return out;
}

Result<StoredFile> StoreContentAddressed(storage::blobs::BlobStore& store, const std::filesystem::path& file,
                                         std::string_view ext, std::string_view prefix) {
    auto digest = DigestFile(file);
    if (!digest) return Fail(std::move(digest.error()));
    return StoreContentAddressed(store, file, *digest, ext, prefix);
}

Result<StoredFile> StoreContentAddressed(storage::blobs::BlobStore& store, const std::filesystem::path& file,
                                         const FileDigest& digest, std::string_view ext, std::string_view prefix) {
    if (!IsValidSegment(ext)) return Fail(ErrorCode::kInvalidArgument, "invalid file extension");
    if (prefix != kAudioPrefix && prefix != kImagesPrefix)
        return Fail(ErrorCode::kInvalidArgument, "invalid media prefix");
    if (!IsValidMediaId(digest.file_id)) return Fail(ErrorCode::kInvalidArgument, "invalid file id");
    StoredFile out;
    out.file_id = digest.file_id;
    out.ext = std::string(ext);
    out.key = MediaKey(prefix, out.file_id, ext);
    out.size = digest.size;
    out.sha256_hex = digest.sha256_hex;
    auto head = store.Head(out.key);
    if (head && head->size == out.size) {
        out.already_stored = true;
        return out;
    }
    if (!head && head.error().code != ErrorCode::kNotFound) return Fail(std::move(head.error()));
    // Absent (or a different size under our name: a damaged object) → write; the store's put is atomic.
    PLYR_TRY_STATUS(store.PutFile(out.key, file, storage::blobs::ContentTypeForKey(out.key)));
    return out;
}

Result<ReleaseResult> ReleaseMedia(storage::db::Db& db, storage::blobs::BlobStore& audio_store,
                                   storage::blobs::BlobStore& image_store, const std::vector<AudioObject>& audio,
                                   const std::vector<std::string>& image_ids, const ReleaseOptions& options) {
    std::set<std::pair<std::string, std::string>> audio_set;
    for (const auto& a : audio)
        if (IsValidMediaId(a.file_id) && IsValidSegment(a.ext)) audio_set.emplace(a.file_id, a.ext);
    std::set<std::string> image_set;
    for (const auto& id : image_ids)
        if (IsValidMediaId(id)) image_set.insert(id);

    ReleaseResult result;
    std::vector<std::string> audio_keys;
    std::vector<std::string> image_keys;
    auto st = db.Write([&](db::Connection& tx) -> Status {
        result = {};
        audio_keys.clear();
        image_keys.clear();
        // The original of a track pins its rendition too: a running upload of the same original will reference
        // the same (deterministic) rendition.
        bool pinned_call = false;
        for (const auto& [id, ext] : audio_set) {
            auto pinned = PinnedByUploadJob(tx, id, options.exclude_job_id);
            if (!pinned) return Fail(std::move(pinned.error()));
            pinned_call = pinned_call || *pinned;
        }
        for (const auto& [id, ext] : audio_set) {
            auto referenced = AudioReferenced(tx, id);
            if (!referenced) return Fail(std::move(referenced.error()));
            if (*referenced || pinned_call) {
                result.kept_ids.push_back(id);
                continue;
            }
            audio_keys.push_back(MediaKey(kAudioPrefix, id, ext));
        }
        for (const auto& id : image_set) {
            auto referenced = ImageReferenced(tx, id);
            if (!referenced) return Fail(std::move(referenced.error()));
            auto row = tx.Query("SELECT ext, owner_did FROM images WHERE image_id = $1", {id});
            if (!row) return Fail(std::move(row.error()));
            bool keep = *referenced;
            if (!keep && !row->empty()) {
                auto live = OwnerHasLiveUpload(tx, row->front().Text(1), options.exclude_job_id);
                if (!live) return Fail(std::move(live.error()));
                keep = *live;
            }
            if (keep) {
                result.kept_ids.push_back(id);
                continue;
            }
            if (!row->empty()) {
                for (auto& k : ImageKeys(id, row->front().Text(0))) image_keys.push_back(std::move(k));
                PLYR_TRY_STATUS(tx.Exec("DELETE FROM images WHERE image_id = $1", {id}));
            } else {
                for (auto ext : kImageExts) image_keys.push_back(MediaKey(kImagesPrefix, id, ext));
                for (auto& k : ImageKeys(id, "jpg"))
                    if (k.ends_with(".webp")) image_keys.push_back(std::move(k));
            }
        }
        return Ok();
    });
    if (!st) return Fail(std::move(st.error()));

    std::optional<Error> first_error;
    auto remove = [&](storage::blobs::BlobStore& store, const std::string& key) {
        if (auto d = store.Delete(key); !d) {
            if (!first_error) first_error = d.error();
            return;
        }
        result.deleted_keys.push_back(key);
    };
    for (const auto& key : audio_keys) remove(audio_store, key);
    for (const auto& key : image_keys) remove(image_store, key);
    if (first_error) return Fail(std::move(*first_error));
    return result;
}

}  // namespace plyr::tracks
