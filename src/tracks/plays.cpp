#include "tracks/plays.hpp"

#include <algorithm>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "storage/repos/play_repo.hpp"
#include "storage/repos/track_repo.hpp"

namespace plyr::tracks {
namespace {

namespace db = storage::db;
namespace repos = storage::repos;

constexpr std::int64_t kCountCapMs = 30'000;
constexpr std::int64_t kMinTtlUs = 30LL * 1'000'000;
constexpr std::int64_t kMaxTtlUs = 3600LL * 1'000'000;
constexpr std::int64_t kUnknownTtlUs = 300LL * 1'000'000;

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsUuid(std::string_view text) {
    if (text.size() != 36) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return false;
        } else if (!IsHex(text[i])) {
            return false;
        }
    }
    return true;
}

}  // namespace

std::int64_t CountThresholdMs(std::optional<std::int64_t> duration_ms) {
    if (!duration_ms || *duration_ms <= 0) return kCountCapMs;
    return std::min(kCountCapMs, *duration_ms / 2);
}

std::int64_t DedupeTtlUs(std::optional<std::int64_t> duration_ms) {
    if (!duration_ms || *duration_ms <= 0) return kUnknownTtlUs;
    return std::clamp(*duration_ms * 1000, kMinTtlUs, kMaxTtlUs);
}

bool IsValidPlayId(std::string_view value) {
    return value.size() == 32 && std::all_of(value.begin(), value.end(),
                                             [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string NewPlayId() { return core::RandomHex(16); }

std::string ListenerKey(const std::optional<std::string>& viewer_did, const std::optional<std::string>& play_id_cookie,
                        std::string_view client_ip) {
    if (viewer_did) return *viewer_did;
    if (play_id_cookie && IsValidPlayId(*play_id_cookie)) return "anon:" + *play_id_cookie;
    return std::string(client_ip);
}

ApiResult<PlayResult> RecordPlay(db::Db& db, const core::Clock& clock, const PlayRequest& request,
                                 const Viewer& viewer) {
    if (request.listen_id && !IsUuid(*request.listen_id)) {
        return ApiFail(400, "validation_error", "listen_id must be a uuid", "listen_id");
    }
    if (request.listened_ms && *request.listened_ms < 0) {
        return ApiFail(400, "validation_error", "listened_ms must not be negative", "listened_ms");
    }
    const std::int64_t now = clock.NowMicros();
    std::optional<ApiError> refused;
    PlayResult result;
    auto st = db.Write([&](db::Connection& tx) -> Status {
        auto track = repos::TrackRepository::Get(tx, request.track_id);
        if (!track) return Fail(std::move(track.error()));
        const bool visible = *track && ((*track)->publish_state == repos::PublishState::kPublished ||
                                        (viewer.did && *viewer.did == (*track)->artist_did));
        if (!visible) {
            refused = ApiError{404, "not_found", "track not found", ""};
            return Fail(ErrorCode::kCancelled, "refused");
        }
        if (request.listened_ms && *request.listened_ms < CountThresholdMs((*track)->duration_ms)) {
            refused = ApiError{422, "below_threshold", "not listened long enough to count", ""};
            return Fail(ErrorCode::kCancelled, "refused");
        }
        repos::PlayInput input;
        input.listener_key = request.listener_key;
        input.track_id = request.track_id;
        input.listen_id = request.listen_id;
        input.ttl_us = DedupeTtlUs((*track)->duration_ms);
        input.now = now;
        auto outcome = repos::PlayRepository::RecordPlay(tx, input);
        if (!outcome) return Fail(std::move(outcome.error()));
        result.counted = outcome->counted;
        result.play_count = outcome->play_count;
        return Ok();
    });
    if (refused) return tl::unexpected(std::move(*refused));
    if (!st) {
        log::Error("tracks.play_failed",
                   {{"track_id", std::to_string(request.track_id)}, {"error", st.error().ToString()}});
        return tl::unexpected(ApiErrorFrom(st.error()));
    }
    return result;
}

}  // namespace plyr::tracks
