#include "storage/repos/play_repo.hpp"

#include <cctype>
#include <utility>

#include <fmt/format.h>

#include "core/encoding.hpp"

namespace plyr::storage::repos {
namespace {

using core::CanonicalUuid;

bool IsPg(const db::Connection& c) { return c.backend() == db::Backend::kPostgres; }

std::string Uuid(const db::Connection& c, int n) {
    return IsPg(c) ? fmt::format("${}::uuid", n) : fmt::format("${}", n);
}

}  // namespace

Result<PlayOutcome> PlayRepository::RecordPlay(db::Connection& tx, const PlayInput& input) {
    std::optional<std::string> listen_id;
    if (input.listen_id) {
        listen_id = CanonicalUuid(*input.listen_id);
        if (!listen_id) return Fail(ErrorCode::kInvalidArgument, "listen_id is not a uuid");
    }
    auto track = tx.Query("SELECT play_count FROM tracks WHERE id = $1", {input.track_id});
    if (!track) return Fail(std::move(track.error()));
    if (track->empty()) return Fail(ErrorCode::kNotFound, "track not found");
    PlayOutcome out;
    out.play_count = track->front().Int(0);

    if (listen_id) {
        auto n = tx.Exec(fmt::format("INSERT INTO listens (listen_id, listener_key, track_id, counted, scrobbled, "
                                     "created_at) VALUES ({}, $2, $3, $4, $4, $5) ON CONFLICT (listen_id) DO NOTHING",
                                     Uuid(tx, 1)),
                         {*listen_id, input.listener_key, input.track_id, false, input.now});
        if (!n) return Fail(std::move(n.error()));
        if (*n == 0) return out;  // this listen was seen before: at most its first call counts
    }

    // Insert, or take over an expired window; an unexpired row is left alone and changes nothing.
    auto window = tx.Exec(
        "INSERT INTO play_dedupe (listener_key, track_id, expires_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (listener_key, track_id) DO UPDATE SET expires_at = excluded.expires_at "
        "WHERE play_dedupe.expires_at <= $4",
        {input.listener_key, input.track_id, input.now + input.ttl_us, input.now});
    if (!window) return Fail(std::move(window.error()));
    if (*window == 0) return out;

    auto counted =
        tx.Query("UPDATE tracks SET play_count = play_count + 1 WHERE id = $1 RETURNING play_count", {input.track_id});
    if (!counted) return Fail(std::move(counted.error()));
    if (counted->empty()) return Fail(ErrorCode::kNotFound, "track not found");
    out.play_count = counted->front().Int(0);
    out.counted = true;
    if (listen_id) {
        auto n = tx.Exec(fmt::format("UPDATE listens SET counted = $2 WHERE listen_id = {}", Uuid(tx, 1)),
                         {*listen_id, true});
        if (!n) return Fail(std::move(n.error()));
    }
    return out;
}

Result<bool> PlayRepository::MarkScrobbled(db::Connection& tx, std::string_view listen_id) {
    auto id = CanonicalUuid(listen_id);
    if (!id) return false;
    auto n =
        tx.Exec(fmt::format("UPDATE listens SET scrobbled = $2 WHERE listen_id = {} AND NOT scrobbled", Uuid(tx, 1)),
                {*id, true});
    if (!n) return Fail(std::move(n.error()));
    return *n > 0;
}

Result<PurgeCounts> PlayRepository::PurgeExpired(db::Connection& tx, std::int64_t now) {
    PurgeCounts counts;
    auto dedupe = tx.Exec("DELETE FROM play_dedupe WHERE expires_at <= $1", {now});
    if (!dedupe) return Fail(std::move(dedupe.error()));
    counts.dedupe_rows = *dedupe;
    auto listens = tx.Exec("DELETE FROM listens WHERE created_at < $1", {now - kListenRetentionUs});
    if (!listens) return Fail(std::move(listens.error()));
    counts.listens = *listens;
    return counts;
}

}  // namespace plyr::storage::repos
