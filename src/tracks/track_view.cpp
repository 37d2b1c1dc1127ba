#include "tracks/track_view.hpp"

#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <boost/json/array.hpp>

namespace plyr::tracks {
namespace {

namespace json = boost::json;

std::string TrimSlash(std::string_view url) {
    while (!url.empty() && url.back() == '/') url.remove_suffix(1);
    return std::string(url);
}

json::value OptString(const std::optional<std::string>& value) {
    if (!value) return nullptr;
    return json::value(*value);
}

json::value OptDouble(const std::optional<double>& value) {
    if (!value || !std::isfinite(*value)) return nullptr;
    return json::value(*value);
}

std::string ImageBase(const ViewSettings& settings) {
    if (settings.s3) {
        std::string base =
            !settings.public_image_bucket_url.empty() ? settings.public_image_bucket_url : settings.public_bucket_url;
        if (!base.empty()) return TrimSlash(base);
    }
    return TrimSlash(settings.public_url);
}

}  // namespace

bool ViewerIsOwnerOrAdmin(const TrackViewRow& row, const ViewContext& context) {
    if (context.viewer_is_admin) return true;
    return context.viewer_did && *context.viewer_did == row.artist_did;
}

bool ViewerIsGated(const TrackViewRow& row, const ViewContext& context) {
    if (row.visibility != "supporters") return false;
    // Supporter checks arrive with issue 10: until then only the artist has access to gated audio.
    return !(context.viewer_did && *context.viewer_did == row.artist_did);
}

std::string AudioUrl(const ViewSettings& settings, std::string_view file_id) {
    return fmt::format("{}/audio/{}", TrimSlash(settings.public_url), file_id);
}

std::string ImageUrl(const ViewSettings& settings, std::string_view image_id, std::string_view ext) {
    return fmt::format("{}/images/{}.{}", ImageBase(settings), image_id, ext);
}

std::string ThumbnailUrl(const ViewSettings& settings, std::string_view image_id) {
    return fmt::format("{}/images/{}_thumb.webp", ImageBase(settings), image_id);
}

std::optional<std::string> RecordViewerUrl(const ViewSettings& settings, std::string_view uri) {
    if (settings.record_viewer_url.empty()) return std::nullopt;
    std::string out = settings.record_viewer_url;
    auto pos = out.find("{uri}");
    if (pos == std::string::npos) return out + std::string(uri);
    out.replace(pos, 5, uri);
    return out;
}

std::optional<std::string> ArtistSupportUrl(std::string_view support_url, std::string_view did) {
    if (support_url == "atprotofans") return fmt::format("https://atprotofans.com/support/{}", did);
    if (support_url.starts_with("https://")) return std::string(support_url);
    return std::nullopt;
}

std::string IsoTimestamp(std::int64_t micros) {
    std::int64_t seconds = micros / 1'000'000;
    std::int64_t fraction = micros % 1'000'000;
    if (fraction < 0) {
        fraction += 1'000'000;
        --seconds;
    }
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
}

json::object TrackJson(const TrackViewRow& row, const ViewContext& context) {
    const ViewSettings& settings = *context.settings;
    const bool owner_view = ViewerIsOwnerOrAdmin(row, context);
    const bool gated_track = row.visibility == "supporters";

    json::object out;
    out["id"] = row.id;
    out["title"] = row.title;
    // `artist` is the display name; an artist without one is shown by handle (then DID), as the record does.
    std::string artist_name = row.artist_display_name;
    if (artist_name.empty()) artist_name = row.artist_handle.value_or(row.artist_did);
    out["artist"] = artist_name;
    out["artist_handle"] = row.artist_handle.value_or("");
    out["artist_did"] = row.artist_did;
    out["artist_avatar_url"] = OptString(row.artist_avatar_url);
    out["file_id"] = row.file_id;
    out["file_type"] = row.file_type;
    out["original_file_id"] = OptString(row.original_file_id);
    out["original_file_type"] = OptString(row.original_file_type);
    if (row.duration_ms) {
        out["duration"] = static_cast<std::int64_t>(std::llround(static_cast<double>(*row.duration_ms) / 1000.0));
    } else {
        out["duration"] = nullptr;
    }
    out["description"] = OptString(row.description);
    out["loudness_lufs"] = OptDouble(row.loudness_lufs);
    out["true_peak_dbtp"] = OptDouble(row.true_peak_dbtp);

    json::array features;
    for (const auto& feature : row.features) {
        json::object f;
        f["did"] = feature.did;
        if (feature.handle) f["handle"] = *feature.handle;
        if (feature.display_name) f["display_name"] = *feature.display_name;
        if (feature.handle || feature.display_name) f["avatar_url"] = OptString(feature.avatar_url);
        features.push_back(std::move(f));
    }
    out["features"] = std::move(features);

    std::string audio_url = AudioUrl(settings, row.file_id);
    out["audio_url"] = audio_url;
    if (gated_track) {
        out["r2_url"] = nullptr;
    } else if (settings.s3 && !settings.public_bucket_url.empty()) {
        out["r2_url"] =
            fmt::format("{}/audio/{}.{}", TrimSlash(settings.public_bucket_url), row.file_id, row.file_type);
    } else {
        out["r2_url"] = audio_url;
    }
    out["atproto_record_uri"] = OptString(row.atproto_record_uri);
    out["atproto_record_cid"] = OptString(row.atproto_record_cid);
    if (row.atproto_record_uri) {
        out["atproto_record_url"] = OptString(RecordViewerUrl(settings, *row.atproto_record_uri));
    } else {
        out["atproto_record_url"] = nullptr;
    }
    out["play_count"] = row.play_count;
    out["like_count"] = row.like_count;
    out["comment_count"] = row.comment_count;
    out["is_liked"] = false;
    out["created_at"] = IsoTimestamp(row.created_at);
    if (row.image_id && row.image_ext) {
        out["image_url"] = ImageUrl(settings, *row.image_id, *row.image_ext);
        out["thumbnail_url"] = ThumbnailUrl(settings, *row.image_id);
    } else {
        out["image_url"] = nullptr;
        out["thumbnail_url"] = nullptr;
    }
    if (row.album) {
        json::object album;
        album["id"] = row.album->id;
        album["slug"] = row.album->slug;
        album["title"] = row.album->title;
        if (row.album->image_id && row.album->image_ext) {
            album["image_url"] = ImageUrl(settings, *row.album->image_id, *row.album->image_ext);
            album["thumbnail_url"] = ThumbnailUrl(settings, *row.album->image_id);
        } else {
            album["image_url"] = nullptr;
            album["thumbnail_url"] = nullptr;
        }
        out["album"] = std::move(album);
    } else {
        out["album"] = nullptr;
    }
    json::array tags;
    for (const auto& tag : row.tags) tags.emplace_back(tag);
    out["tags"] = std::move(tags);
    if (gated_track) {
        out["support_gate"] = json::object{{"type", "any"}};
    } else {
        out["support_gate"] = nullptr;
    }
    out["gated"] = ViewerIsGated(row, context);
    out["artist_support_url"] = OptString(ArtistSupportUrl(row.artist_support_url, row.artist_did));
    out["visibility"] = row.visibility;
    if (owner_view) {
        out["publish_state"] = row.publish_state;
        if (row.copyright_flagged) {
            out["copyright_flagged"] = *row.copyright_flagged;
        } else {
            out["copyright_flagged"] = nullptr;
        }
        out["copyright_match"] = nullptr;
    }
    json::array labels;
    for (const auto& label : row.operator_labels) labels.emplace_back(label);
    out["labels"] = std::move(labels);
    out["comments_enabled"] = false;
    return out;
}

}  // namespace plyr::tracks
