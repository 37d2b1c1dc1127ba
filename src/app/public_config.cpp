#include "app/public_config.hpp"

#include <boost/json/array.hpp>

#include "app/build_info.hpp"

namespace plyr::app {

boost::json::object PublicConfigJson(const core::Config& config) {
    boost::json::object out;
    out["version"] = kVersion;
    out["namespace"] = config.atproto_app_namespace;
    out["max_upload_size_mb"] = config.max_upload_size_mb;
    out["max_image_size_mb"] = config.max_image_size_mb;
    out["max_tags"] = kMaxTags;
    out["max_tag_length"] = kMaxTagLength;
    out["comment_max_bytes"] = kCommentMaxBytes;
    out["comments_max_per_track"] = config.comments_max_per_track;
    boost::json::array hidden;
    for (const auto& tag : config.default_hidden_tags) hidden.emplace_back(tag);
    out["default_hidden_tags"] = std::move(hidden);
    // The containers the upload pipeline accepts (product.md §6.4); web-unsafe ones are transcoded.
    out["audio_formats"] = boost::json::array{"mp3", "wav", "flac", "m4a", "aiff", "ogg", "webm"};
    out["labeler_did"] =
        config.labeler_did.empty() ? boost::json::value(nullptr) : boost::json::value(config.labeler_did);
    boost::json::object features;
    features["teal"] = config.teal_enabled;
    // Reported as off until those integrations exist in this build (they arrive with later issues).
    features["share_to_bluesky"] = false;
    features["atprotofans"] = false;
    features["transcoding"] = config.transcoder_enabled;
    features["permission_sets"] = config.atproto_use_permission_sets;
    out["features"] = std::move(features);
    return out;
}

}  // namespace plyr::app
