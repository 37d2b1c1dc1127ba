#include "tracks/track_service.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <boost/json/array.hpp>

#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"
#include "core/log.hpp"
#include "pds/outbox.hpp"
#include "storage/repos/album_repo.hpp"
#include "storage/repos/image_repo.hpp"
#include "storage/repos/tag_repo.hpp"
#include "storage/repos/track_repo.hpp"
#include "tracks/media_files.hpp"
#include "tracks/track_record.hpp"
#include "tracks/upload_fields.hpp"

namespace plyr::tracks {
namespace {

namespace json = boost::json;
namespace db = storage::db;
namespace repos = storage::repos;

ApiError NotFound() { return ApiError{404, "not_found", "track not found", ""}; }

ApiError FromField(const FieldError& e) { return ApiError{e.status, e.code, e.message, e.field}; }

// Carries an ApiError out of a db transaction (the transaction rolls back on the returned failure).
struct TxAbort {
    std::optional<ApiError> error;
    Status Abort(ApiError e) {
        error = std::move(e);
        return Fail(ErrorCode::kCancelled, "aborted");
    }
};

bool CanSee(const repos::TrackRow& row, const Viewer& viewer) {
    if (row.publish_state == repos::PublishState::kPublished) return true;
    if (viewer.is_admin) return true;
    return viewer.did && *viewer.did == row.artist_did;
}

bool Owns(const repos::TrackRow& row, const Viewer& viewer) { return viewer.did && *viewer.did == row.artist_did; }

std::optional<int> ParseInt(const std::optional<std::string>& text) {
    if (!text || text->empty()) return std::nullopt;
    long long value = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec == std::errc::result_out_of_range) return (*text)[0] == '-' ? INT32_MIN : INT32_MAX;
    if (ec != std::errc() || ptr != text->data() + text->size()) return std::nullopt;
    return static_cast<int>(std::clamp<long long>(value, INT32_MIN, INT32_MAX));
}

int ClampLimit(const std::optional<std::string>& raw, int fallback) {
    int value = ParseInt(raw).value_or(fallback);
    return std::clamp(value, 1, 100);
}

// Feature DIDs → what the artists table knows (one query).
Result<std::unordered_map<std::string, FeatureView>> LoadFeatureArtists(db::Connection& conn,
                                                                        const std::set<std::string>& dids) {
    std::unordered_map<std::string, FeatureView> out;
    if (dids.empty()) return out;
    std::string sql = "SELECT did, handle, display_name, avatar_url FROM artists WHERE did IN (";
    std::vector<db::Value> params;
    for (const auto& did : dids) {
        if (!params.empty()) sql += ", ";
        params.emplace_back(did);
        sql += fmt::format("${}", params.size());
    }
    sql += ")";
    auto rows = conn.Query(sql, db::Params(params.data(), params.size()));
    if (!rows) return Fail(std::move(rows.error()));
    for (const auto& row : *rows) {
        FeatureView f;
        f.did = row.Text(0);
        f.handle = row.OptText(1);
        std::string display = row.Text(2);
        f.display_name = display.empty() ? f.handle : std::optional<std::string>(display);
        f.avatar_url = row.OptText(3);
        out.emplace(f.did, std::move(f));
    }
    return out;
}

TrackViewRow ToViewRow(repos::TrackView&& view, const std::unordered_map<std::string, FeatureView>& artists) {
    auto& t = view.track;
    TrackViewRow row;
    row.id = t.id;
    row.artist_did = t.artist_did;
    row.artist_handle = view.artist.handle;
    row.artist_display_name = view.artist.display_name;
    row.artist_avatar_url = view.artist.avatar_url;
    row.artist_support_url = view.artist.support_url;
    row.title = std::move(t.title);
    row.description = std::move(t.description);
    row.file_id = std::move(t.file_id);
    row.file_type = std::move(t.file_type);
    row.original_file_id = std::move(t.original_file_id);
    row.original_file_type = std::move(t.original_file_type);
    row.duration_ms = t.duration_ms;
    row.loudness_lufs = t.loudness_lufs;
    row.true_peak_dbtp = t.true_peak_dbtp;
    for (const auto& f : t.features) {
        if (!f.is_object()) continue;
        const auto* did = f.as_object().if_contains("did");
        if (did == nullptr || !did->is_string()) continue;
        std::string d(did->as_string());
        auto it = artists.find(d);
        if (it != artists.end()) {
            row.features.push_back(it->second);
        } else {
            row.features.push_back(FeatureView{d, std::nullopt, std::nullopt, std::nullopt});
        }
    }
    row.image_id = t.image_id;
    row.image_ext = view.image_ext;
    if (view.album) {
        row.album =
            AlbumView{view.album->id, view.album->slug, view.album->title, view.album->image_id, view.album->image_ext};
    }
    row.tags = std::move(view.tags);
    row.visibility = std::string(repos::ToString(t.visibility));
    row.atproto_record_uri = std::move(t.atproto_record_uri);
    row.atproto_record_cid = std::move(t.atproto_record_cid);
    row.publish_state = std::string(repos::ToString(t.publish_state));
    row.play_count = t.play_count;
    row.like_count = t.like_count;
    row.comment_count = t.comment_count;
    row.copyright_flagged = t.copyright_flagged;
    row.operator_labels = std::move(t.operator_labels);
    row.created_at = t.created_at;
    return row;
}

Result<std::vector<TrackViewRow>> LoadViews(db::Connection& conn, const std::vector<std::int64_t>& ids) {
    auto views = repos::TrackRepository::GetViews(conn, ids);
    if (!views) return Fail(std::move(views.error()));
    std::set<std::string> dids;
    for (const auto& v : *views) {
        for (const auto& f : v.track.features) {
            if (!f.is_object()) continue;
            const auto* did = f.as_object().if_contains("did");
            if (did != nullptr && did->is_string()) dids.emplace(did->as_string());
        }
    }
    auto artists = LoadFeatureArtists(conn, dids);
    if (!artists) return Fail(std::move(artists.error()));
    std::vector<TrackViewRow> out;
    out.reserve(views->size());
    for (auto& v : *views) out.push_back(ToViewRow(std::move(v), *artists));
    return out;
}

// The views of a page of rows, in the page's order.
Result<std::vector<TrackViewRow>> LoadViews(db::Connection& conn, const std::vector<repos::TrackRow>& page) {
    std::vector<std::int64_t> ids;
    ids.reserve(page.size());
    for (const auto& row : page) ids.push_back(row.id);
    return LoadViews(conn, ids);
}

json::array ToJsonArray(const std::vector<TrackViewRow>& rows, const ViewContext& context) {
    json::array out;
    for (const auto& row : rows) out.push_back(TrackJson(row, context));
    return out;
}

std::optional<std::string> HandleToDid(db::Connection& conn, std::string_view handle) {
    auto rows = conn.Query("SELECT did FROM artists WHERE handle = $1", {std::string(handle)});
    if (!rows || rows->empty()) return std::nullopt;
    return rows->front().Text(0);
}

bool IsLowerHex16(std::string_view id) { return IsValidMediaId(id); }

}  // namespace

ApiError ApiErrorFrom(const Error& error) {
    switch (error.code) {
        case ErrorCode::kBusy:
            return ApiError{503, "database_busy", "the database is busy, retry shortly", ""};
        case ErrorCode::kUnavailable:
            log::Error("tracks.unavailable", {{"error", error.ToString()}});
            return ApiError{503, "service_unavailable", "a dependency is unavailable", ""};
        case ErrorCode::kNotFound:
            return NotFound();
        default:
            log::Error("tracks.internal_error", {{"error", error.ToString()}});
            return ApiError{500, "internal_error", "internal error", ""};
    }
}

ViewSettings ViewSettingsFromConfig(const core::Config& config) {
    ViewSettings s;
    s.public_url = config.public_url;
    while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
    s.s3 = config.storage_kind == core::StorageKind::kS3;
    s.public_bucket_url = config.s3.public_bucket_url;
    s.public_image_bucket_url = config.s3.public_image_bucket_url;
    s.record_viewer_url = config.atproto_record_viewer_url;
    return s;
}

std::optional<std::int64_t> ParseTrackId(std::string_view text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
    }
    if (text[0] == '0') return std::nullopt;
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value <= 0) return std::nullopt;
    return value;
}

std::string_view AudioMimeType(std::string_view ext) {
    if (ext == "mp3") return "audio/mpeg";
    if (ext == "wav") return "audio/wav";
    if (ext == "flac") return "audio/flac";
    if (ext == "m4a" || ext == "mp4" || ext == "aac") return "audio/mp4";
    if (ext == "aiff" || ext == "aif") return "audio/aiff";
    if (ext == "ogg" || ext == "opus") return "audio/ogg";
    if (ext == "webm") return "audio/webm";
    return "application/octet-stream";
}

TrackService::TrackService(TrackServiceDeps deps)
    : deps_(std::move(deps)), settings_(ViewSettingsFromConfig(*deps_.config)) {
    if (deps_.private_store == nullptr) deps_.private_store = deps_.audio_store;
}

storage::blobs::BlobStore& TrackService::AudioStoreFor(const AudioAccess& access) const {
    return access.gated ? *deps_.private_store : *deps_.audio_store;
}

ApiResult<json::object> TrackService::GetTrack(std::int64_t id, const Viewer& viewer) {
    std::optional<TrackViewRow> found;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto views = LoadViews(conn, std::vector<std::int64_t>{id});
        if (!views) return Fail(std::move(views.error()));
        if (!views->empty()) found = std::move(views->front());
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    if (!found) return tl::unexpected(NotFound());
    if (found->publish_state != "published" && !viewer.is_admin && !(viewer.did && *viewer.did == found->artist_did)) {
        return tl::unexpected(NotFound());
    }
    return TrackJson(*found, ViewContext{&settings_, viewer.did, viewer.is_admin});
}

ApiResult<json::object> TrackService::Feed(const FeedParams& params, const Viewer& viewer) {
    repos::FeedQuery query;
    if (params.artist_did && !params.artist_did->empty()) {
        if (!atproto::syntax::IsValidDid(*params.artist_did)) {
            return ApiFail(400, "invalid_did", "artist_did is not a valid did", "artist_did");
        }
        query.artist_did = *params.artist_did;
    }
    if (params.cursor && !params.cursor->empty()) {
        auto cursor = repos::DecodeFeedCursor(*params.cursor);
        if (!cursor) return ApiFail(400, "invalid_cursor", "the cursor is not valid", "cursor");
        query.cursor = *cursor;
    }
    if (params.tags) {
        std::string_view rest = *params.tags;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            std::string_view part = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (part.find_first_not_of(" \t") == std::string_view::npos) continue;
            // A tag that cannot be normalised names no track: keep it verbatim so the filter matches nothing.
            query.tags.push_back(NormaliseTag(part).value_or(std::string(part)));
        }
    }
    bool filter_hidden = !query.artist_did;
    if (params.filter_hidden_tags) {
        if (*params.filter_hidden_tags == "false" || *params.filter_hidden_tags == "0") filter_hidden = false;
        if (*params.filter_hidden_tags == "true" || *params.filter_hidden_tags == "1") filter_hidden = true;
    }
    if (filter_hidden) {
        // Viewer preferences arrive with issue 6: every viewer gets DEFAULT_HIDDEN_TAGS for now.
        for (const auto& tag : deps_.config->default_hidden_tags) {
            if (auto normalised = NormaliseTag(tag)) query.hidden_tags.push_back(*normalised);
        }
    }
    query.limit = ClampLimit(params.limit, deps_.config->default_page_size);

    std::vector<TrackViewRow> rows;
    std::optional<repos::FeedCursor> next;
    bool has_more = false;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto page = repos::TrackRepository::ListFeed(conn, query);
        if (!page) return Fail(std::move(page.error()));
        has_more = page->has_more;
        next = page->next_cursor;
        auto views = LoadViews(conn, page->rows);
        if (!views) return Fail(std::move(views.error()));
        rows = std::move(*views);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    json::object out;
    out["tracks"] = ToJsonArray(rows, ViewContext{&settings_, viewer.did, viewer.is_admin});
    if (has_more && next) {
        out["next_cursor"] = repos::EncodeFeedCursor(*next);
    } else {
        out["next_cursor"] = nullptr;
    }
    out["has_more"] = has_more && next.has_value();
    return out;
}

ApiResult<json::object> TrackService::Mine(const MineParams& params, const Viewer& viewer) {
    if (!viewer.did) return ApiFail(401, "authentication_required", "sign in first");
    repos::OwnerListQuery query;
    query.artist_did = *viewer.did;
    query.limit = ClampLimit(params.limit, deps_.config->default_page_size);
    query.offset = std::max(0, ParseInt(params.offset).value_or(0));
    query.q = params.q.value_or("");
    if (params.sort) query.sort = repos::ParseOwnerSort(*params.sort).value_or(repos::OwnerSort::kRecent);

    std::vector<TrackViewRow> rows;
    std::int64_t total = 0;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto page = repos::TrackRepository::ListByArtistForOwner(conn, query);
        if (!page) return Fail(std::move(page.error()));
        total = page->total;
        auto views = LoadViews(conn, page->rows);
        if (!views) return Fail(std::move(views.error()));
        rows = std::move(*views);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    json::object out;
    std::int64_t shown = static_cast<std::int64_t>(rows.size());
    out["tracks"] = ToJsonArray(rows, ViewContext{&settings_, viewer.did, viewer.is_admin});
    out["total"] = total;
    out["has_more"] = query.offset + shown < total;
    return out;
}

ApiResult<json::object> TrackService::Peaks(std::int64_t id, std::string_view resolution, const Viewer& viewer) {
    auto parsed = repos::ParsePeakResolution(resolution.empty() ? "low" : resolution);
    if (!parsed) return ApiFail(400, "validation_error", "resolution must be low or high", "resolution");
    std::optional<repos::TrackPeaks> peaks;
    bool visible = false;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto track = repos::TrackRepository::Get(conn, id);
        if (!track) return Fail(std::move(track.error()));
        if (!*track || !CanSee(**track, viewer)) return Ok();
        visible = true;
        auto got = repos::TrackRepository::GetPeaks(conn, id, *parsed);
        if (!got) return Fail(std::move(got.error()));
        peaks = std::move(*got);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    if (!visible) return tl::unexpected(NotFound());
    if (!peaks) return ApiFail(404, "not_found", "no peaks for this track");
    json::array pairs;
    const std::string& bytes = peaks->peaks;
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        pairs.push_back(json::array{static_cast<std::int64_t>(static_cast<std::int8_t>(bytes[i])),
                                    static_cast<std::int64_t>(static_cast<std::int8_t>(bytes[i + 1]))});
    }
    json::object out;
    out["resolution"] = repos::ToString(*parsed);
    out["samples_per_peak"] = peaks->samples_per_peak;
    out["peaks"] = std::move(pairs);
    return out;
}

ApiResult<json::object> TrackService::Update(std::int64_t id, const TrackEdit& edit, const Viewer& viewer) {
    // Visibility or existence may change: drop cached public answers once the change is committed (at return).
    CacheInvalidation invalidate_on_exit{*this};
    if (!viewer.did) return ApiFail(401, "authentication_required", "sign in first");

    // Ownership first (403 before any validation message about someone else's track), then validation outside
    // the write transaction (handle resolution may touch the network).
    std::optional<repos::TrackRow> current;
    std::string support_url;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto track = repos::TrackRepository::Get(conn, id);
        if (!track) return Fail(std::move(track.error()));
        current = std::move(*track);
        if (!current) return Ok();
        auto rows = conn.Query("SELECT support_url FROM artists WHERE did = $1", {current->artist_did});
        if (!rows) return Fail(std::move(rows.error()));
        if (!rows->empty()) support_url = rows->front().Text(0);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    if (!current || !CanSee(*current, viewer)) return tl::unexpected(NotFound());
    if (!Owns(*current, viewer)) return ApiFail(403, "forbidden", "not your track");

    repos::TrackPatch patch;
    if (edit.title) {
        auto title = NormaliseTitle(*edit.title);
        if (!title) return tl::unexpected(FromField(title.error()));
        patch.title = *title;
    }
    if (edit.description) {
        auto description = NormaliseDescription(*edit.description);
        if (!description) return tl::unexpected(FromField(description.error()));
        patch.description.emplace(*description);
    }
    std::optional<std::vector<std::string>> tags;
    if (edit.tags) {
        auto parsed = ValidateTags(*edit.tags);
        if (!parsed) return tl::unexpected(FromField(parsed.error()));
        tags = std::move(*parsed);
    }
    std::optional<std::vector<std::string>> feature_names;
    if (edit.features) {
        auto parsed = ValidateFeatures(*edit.features);
        if (!parsed) return tl::unexpected(FromField(parsed.error()));
        feature_names = std::move(*parsed);
    }
    std::optional<std::optional<std::string>> album_title;  // engaged: sent; inner nullopt: leave the album
    if (edit.album) {
        auto album = NormaliseAlbum(*edit.album);
        if (!album) return tl::unexpected(FromField(album.error()));
        album_title = *album;
    }
    std::optional<std::string> album_id;
    if (edit.album_id && !edit.album_id->empty()) {
        auto parsed = NormaliseAlbumId(*edit.album_id);
        if (!parsed) return tl::unexpected(FromField(parsed.error()));
        album_id = *parsed;
    }
    if (album_id && album_title && *album_title) {
        return ApiFail(400, "album_conflict", "send album or album_id, not both", "album_id");
    }
    if (edit.support_gate) {
        auto gate = ValidateSupportGate(*edit.support_gate, support_url);
        if (!gate) return tl::unexpected(FromField(gate.error()));
        if (*gate) {
            patch.support_gate.emplace(json::value(**gate));
            patch.visibility = repos::Visibility::kSupporters;
        } else {
            patch.support_gate.emplace();
            patch.visibility = repos::Visibility::kPublic;
        }
    }
    if (feature_names) {
        json::array features;
        std::set<std::string> seen;
        for (const auto& name : *feature_names) {
            std::string did = name;
            if (!name.starts_with("did:")) {
                std::optional<std::string> known;
                auto looked = deps_.db->ReadValue<std::optional<std::string>>(
                    [&](db::Connection& conn) -> Result<std::optional<std::string>> {
                        return HandleToDid(conn, name);
                    });
                if (looked) known = *looked;
                if (!known && deps_.resolve_handle) {
                    auto resolved = deps_.resolve_handle(name);
                    if (resolved) known = *resolved;
                }
                if (!known) return ApiFail(400, "invalid_features", "unknown handle: " + name, "features");
                did = *known;
            }
            if (did == current->artist_did || !seen.insert(did).second) continue;
            features.push_back(json::object{{"did", did}});
        }
        patch.features = std::move(features);
    }
    if (edit.remove_image) patch.image_id.emplace();
    if (edit.new_image_id) patch.image_id.emplace(*edit.new_image_id);

    const std::int64_t now = deps_.clock->NowMicros();
    std::optional<std::string> released_image;
    TxAbort abort;
    st = deps_.db->Write([&](db::Connection& tx) -> Status {
        auto track = repos::TrackRepository::GetForUpdate(tx, id);
        if (!track) return Fail(std::move(track.error()));
        if (!*track) return abort.Abort(NotFound());
        const auto& row = **track;
        if (!Owns(row, viewer)) return abort.Abort(ApiError{403, "forbidden", "not your track", ""});
        if (album_id) {
            auto album = repos::AlbumRepository::GetOwned(tx, *album_id, row.artist_did);
            if (!album) return Fail(std::move(album.error()));
            if (!*album) return abort.Abort(ApiError{404, "album_not_found", "album not found", "album_id"});
            if (row.album_id != (*album)->id) {
                auto position = repos::AlbumRepository::NextPosition(tx, (*album)->id);
                if (!position) return Fail(std::move(position.error()));
                patch.album_id = std::optional<std::string>((*album)->id);
                patch.album_position = std::optional<std::int64_t>(*position);
            }
        } else if (album_title) {
            if (*album_title) {
                atproto::syntax::TidGenerator tids(*deps_.clock, atproto::syntax::RandomTidClockId());
                auto album = repos::AlbumRepository::GetOrCreateForArtist(tx, row.artist_did, **album_title,
                                                                          tids.NextString(), now);
                if (!album) return Fail(std::move(album.error()));
                if (row.album_id != album->album.id) {
                    auto position = repos::AlbumRepository::NextPosition(tx, album->album.id);
                    if (!position) return Fail(std::move(position.error()));
                    patch.album_id = std::optional<std::string>(album->album.id);
                    patch.album_position = std::optional<std::int64_t>(*position);
                }
            } else {
                patch.album_id.emplace();
                patch.album_position.emplace();
            }
        }
        if (patch.image_id && row.image_id && *patch.image_id != row.image_id) released_image = row.image_id;
        PLYR_TRY_STATUS(repos::TrackRepository::UpdateMetadata(tx, id, patch, now));
        if (tags) PLYR_TRY_STATUS(repos::TagRepository::SetTrackTags(tx, id, *tags, row.artist_did, now));
        // A failed track was never published and has no record to rewrite; pending ones are about to be.
        if (row.publish_state != repos::PublishState::kFailed) {
            auto queued = pds::EnqueueWrite(tx,
                                            TrackOutboxWrite(deps_.config->atproto_app_namespace, row.artist_did,
                                                             row.atproto_rkey, id, pds::WriteOp::kPut),
                                            now);
            if (!queued) return Fail(std::move(queued.error()));
        }
        return Ok();
    });
    if (abort.error) return tl::unexpected(std::move(*abort.error));
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    if (released_image) {
        auto released = ReleaseMedia(*deps_.db, *deps_.audio_store, *deps_.image_store, {}, {*released_image});
        if (!released) {
            log::Warn("tracks.release_failed", {{"image_id", *released_image}, {"error", released.error().ToString()}});
        }
    }
    return GetTrack(id, viewer);
}

ApiResult<void> TrackService::Delete(std::int64_t id, const Viewer& viewer) {
    // Visibility or existence may change: drop cached public answers once the change is committed (at return).
    CacheInvalidation invalidate_on_exit{*this};
    if (!viewer.did) return ApiFail(401, "authentication_required", "sign in first");
    std::optional<repos::TrackRow> deleted;
    const std::int64_t now = deps_.clock->NowMicros();
    TxAbort abort;
    auto st = deps_.db->Write([&](db::Connection& tx) -> Status {
        auto track = repos::TrackRepository::GetForUpdate(tx, id);
        if (!track) return Fail(std::move(track.error()));
        if (!*track || !CanSee(**track, viewer)) return abort.Abort(NotFound());
        if (!Owns(**track, viewer)) return abort.Abort(ApiError{403, "forbidden", "not your track", ""});
        const auto& row = **track;
        // The delete replaces any live put of this record (pds::EnqueueWrite); a record that was never written
        // just has its never-sent put cancelled.
        auto queued =
            pds::EnqueueWrite(tx,
                              TrackOutboxWrite(deps_.config->atproto_app_namespace, row.artist_did, row.atproto_rkey,
                                               id, pds::WriteOp::kDelete, row.atproto_record_uri.has_value()),
                              now);
        if (!queued) return Fail(std::move(queued.error()));
        auto removed = repos::TrackRepository::Delete(tx, id);
        if (!removed) return Fail(std::move(removed.error()));
        deleted = row;
        return Ok();
    });
    if (abort.error) return tl::unexpected(std::move(*abort.error));
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));

    std::vector<AudioObject> audio{{deleted->file_id, deleted->file_type}};
    if (deleted->original_file_id && deleted->original_file_type) {
        audio.push_back({*deleted->original_file_id, *deleted->original_file_type});
    }
    std::vector<std::string> images;
    if (deleted->image_id) images.push_back(*deleted->image_id);
    auto& store = deleted->visibility == repos::Visibility::kSupporters ? *deps_.private_store : *deps_.audio_store;
    auto released = ReleaseMedia(*deps_.db, store, *deps_.image_store, audio, images);
    if (!released) {
        log::Warn("tracks.release_failed", {{"track_id", std::to_string(id)}, {"error", released.error().ToString()}});
    }
    return {};
}

ApiResult<void> TrackService::RestoreRecord(std::int64_t id, const Viewer& viewer) {
    if (!viewer.did) return ApiFail(401, "authentication_required", "sign in first");
    const std::int64_t now = deps_.clock->NowMicros();
    TxAbort abort;
    auto st = deps_.db->Write([&](db::Connection& tx) -> Status {
        auto track = repos::TrackRepository::GetForUpdate(tx, id);
        if (!track) return Fail(std::move(track.error()));
        if (!*track || !CanSee(**track, viewer)) return abort.Abort(NotFound());
        if (!Owns(**track, viewer)) return abort.Abort(ApiError{403, "forbidden", "not your track", ""});
        auto queued = pds::EnqueueWrite(tx,
                                        TrackOutboxWrite(deps_.config->atproto_app_namespace, (*track)->artist_did,
                                                         (*track)->atproto_rkey, id, pds::WriteOp::kPut),
                                        now);
        if (!queued) return Fail(std::move(queued.error()));
        return Ok();
    });
    if (abort.error) return tl::unexpected(std::move(*abort.error));
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    return {};
}

ApiResult<AudioAccess> TrackService::ResolveAudio(std::string_view file_id, const std::optional<std::string>& ext,
                                                  const Viewer& viewer) {
    if (!IsLowerHex16(file_id)) return ApiFail(400, "invalid_file_id", "invalid file id");
    std::vector<repos::TrackRow> rows;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto found = repos::TrackRepository::FindByFile(conn, file_id);
        if (!found) return Fail(std::move(found.error()));
        rows = std::move(*found);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    std::vector<const repos::TrackRow*> visible;
    for (const auto& row : rows) {
        if (row.publish_state == repos::PublishState::kPublished || Owns(row, viewer)) visible.push_back(&row);
    }
    if (visible.empty()) return ApiFail(404, "not_found", "audio not found");
    const repos::TrackRow& first = *visible.front();
    AudioAccess access;
    access.file_id = std::string(file_id);
    access.ext = first.file_id == file_id ? first.file_type : first.original_file_type.value_or(first.file_type);
    if (ext && *ext != access.ext) return ApiFail(400, "invalid_file_id", "the extension does not match the file");
    access.gated = std::none_of(visible.begin(), visible.end(),
                                [](const repos::TrackRow* r) { return r->visibility == repos::Visibility::kPublic; });
    if (access.gated) {
        if (!viewer.did) return ApiFail(401, "authentication_required", "sign in to play this track");
        bool is_artist = std::any_of(visible.begin(), visible.end(),
                                     [&](const repos::TrackRow* r) { return r->artist_did == *viewer.did; });
        // Supporter checks (atprotofans) arrive with issue 10: until then only the artist passes.
        if (!is_artist) return ApiFail(402, "supporter_required", "this track is for supporters of the artist");
    }
    access.key = MediaKey(kAudioPrefix, access.file_id, access.ext);
    access.mime_type = std::string(AudioMimeType(access.ext));
    // Cacheable only when the anonymous answer is the same: a published public track references the file.
    bool public_for_anyone = std::any_of(rows.begin(), rows.end(), [](const repos::TrackRow& r) {
        return r.publish_state == repos::PublishState::kPublished && r.visibility == repos::Visibility::kPublic;
    });
    if (public_for_anyone) RememberPublicAudio(access);
    return access;
}

TrackService::CacheInvalidation::~CacheInvalidation() { service.ForgetCachedAudio(); }

std::optional<AudioAccess> TrackService::CachedPublicAudio(std::string_view file_id,
                                                           const std::optional<std::string>& ext) const {
    std::lock_guard lock(audio_cache_mu_);
    auto found = audio_cache_.find(std::string(file_id));
    if (found == audio_cache_.end()) return std::nullopt;
    if (found->second.expires_at_us <= deps_.clock->NowMicros()) {
        audio_cache_.erase(found);
        return std::nullopt;
    }
    if (ext && *ext != found->second.access.ext) return std::nullopt;  // the full path answers 400
    return found->second.access;
}

void TrackService::RememberPublicAudio(const AudioAccess& access) const {
    std::lock_guard lock(audio_cache_mu_);
    if (audio_cache_.size() >= kPublicAudioCacheMaxEntries) audio_cache_.clear();
    audio_cache_[access.file_id] = CachedAudio{access, deps_.clock->NowMicros() + kPublicAudioCacheTtlUs};
}

void TrackService::ForgetCachedAudio() const {
    std::lock_guard lock(audio_cache_mu_);
    audio_cache_.clear();
}

ApiResult<ImageAccess> TrackService::ResolveImage(std::string_view name) {
    auto invalid = [] { return ApiFail(400, "invalid_id", "invalid image id"); };
    if (name.size() < 17) return invalid();
    std::string_view id = name.substr(0, 16);
    std::string_view rest = name.substr(16);
    if (!IsLowerHex16(id)) return invalid();
    std::optional<std::string> derived;  // a derived webp suffix
    std::optional<std::string> ext;
    if (rest == kImageThumbSuffix || rest == kImage320Suffix || rest == kImage640Suffix) {
        derived = std::string(rest);
    } else if (rest.size() > 1 && rest[0] == '.') {
        ext = std::string(rest.substr(1));
        if (*ext != "jpg" && *ext != "png" && *ext != "webp") return invalid();
    } else {
        return invalid();
    }
    std::optional<repos::ImageRow> image;
    auto st = deps_.db->Read([&](db::Connection& conn) -> Status {
        auto got = repos::ImageRepository::Get(conn, id);
        if (!got) return Fail(std::move(got.error()));
        image = std::move(*got);
        return Ok();
    });
    if (!st) return tl::unexpected(ApiErrorFrom(st.error()));
    if (!image || (ext && *ext != image->ext)) return ApiFail(404, "not_found", "image not found");
    ImageAccess access;
    access.image_id = std::string(id);
    if (derived) {
        access.key = fmt::format("{}/{}{}", kImagesPrefix, id, *derived);
        access.mime_type = "image/webp";
    } else {
        access.key = MediaKey(kImagesPrefix, id, image->ext);
        access.mime_type = image->ext == "jpg" ? "image/jpeg" : "image/" + image->ext;
    }
    return access;
}

}  // namespace plyr::tracks
