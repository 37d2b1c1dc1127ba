#include "storage/repos/artist_repo.hpp"

#include <utility>

namespace plyr::storage::repos {
namespace {

constexpr const char* kArtistColumns =
    "did, handle, display_name, bio, avatar_url, pds_url, support_url, profile_completed, deactivated, "
    "display_name_from_bsky, created_at, updated_at";

Artist ArtistFromRow(const db::Row& row) {
    Artist a;
    a.did = row.Text("did");
    a.handle = row.OptText("handle");
    a.display_name = row.Text("display_name");
    a.bio = row.Text("bio");
    a.avatar_url = row.OptText("avatar_url");
    a.pds_url = row.Text("pds_url");
    a.support_url = row.Text("support_url");
    a.profile_completed = row.Bool("profile_completed");
    a.deactivated = row.Bool("deactivated");
    a.display_name_from_bsky = row.Bool("display_name_from_bsky");
    a.created_at = row.Int("created_at");
    a.updated_at = row.Int("updated_at");
    return a;
}

db::Value OptTextValue(const std::optional<std::string>& v) {
    if (!v) return nullptr;
    return *v;
}

constexpr const char* kProbeColumns = "session_hash, did, group_id, is_developer_token, expires_at, refresh_expires_at";

SessionProbe ProbeFromRow(const db::Row& row) {
    SessionProbe p;
    p.session_hash = row.Text("session_hash");
    p.did = row.Text("did");
    p.group_id = row.OptText("group_id");
    p.is_developer_token = row.Bool("is_developer_token");
    p.expires_at = row.Int("expires_at");
    p.refresh_expires_at = row.OptInt("refresh_expires_at");
    return p;
}

}  // namespace

Result<ArtistUpsert> ArtistRepository::UpsertOnSignIn(std::string_view did, std::string_view handle,
                                                      std::string_view pds_url, std::int64_t now) {
    std::string d(did);
    // An unverified handle (`handle.invalid`) is no claim at all: stored as NULL, it takes nobody's handle.
    bool verified = !handle.empty() && handle != "handle.invalid";
    db::Value h = verified ? db::Value(std::string(handle)) : db::Value(nullptr);
    std::string display(verified ? handle : did);
    std::string p(pds_url);
    return db_.WriteValue<ArtistUpsert>([&](db::Connection& c) -> Result<ArtistUpsert> {
        if (verified) {
            auto cleared = c.Exec("UPDATE artists SET handle = NULL, updated_at = $1 WHERE handle = $2 AND did <> $3",
                                  {now, h, d});
            if (!cleared) return Fail(std::move(cleared.error()));
        }
        auto existing = c.Query(std::string("SELECT ") + kArtistColumns + " FROM artists WHERE did = $1", {d});
        if (!existing) return Fail(std::move(existing.error()));
        ArtistUpsert out;
        out.created = existing->empty();
        if (out.created) {
            auto n = c.Exec(
                "INSERT INTO artists (did, handle, display_name, pds_url, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                {d, h, display, p, now, now});
            if (!n) return Fail(std::move(n.error()));
        } else {
            auto n =
                c.Exec("UPDATE artists SET handle = $1, pds_url = $2, deactivated = $3, updated_at = $4 WHERE did = $5",
                       {h, p, false, now, d});
            if (!n) return Fail(std::move(n.error()));
        }
        auto rows = c.Query(std::string("SELECT ") + kArtistColumns + " FROM artists WHERE did = $1", {d});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return Fail(ErrorCode::kInternal, "artist row vanished");
        out.artist = ArtistFromRow(rows->front());
        return out;
    });
}

Status ArtistRepository::SetProfileFromBsky(std::string_view did, std::string_view display_name,
                                            const std::optional<std::string>& avatar_url, std::int64_t now) {
    std::string d(did);
    std::string name(display_name);
    return db_.Write([&](db::Connection& c) -> Status {
        auto n = c.Exec(
            "UPDATE artists SET display_name = $1, display_name_from_bsky = $2, avatar_url = $3, updated_at = $4 "
            "WHERE did = $5",
            {name, true, OptTextValue(avatar_url), now, d});
        if (!n) return Fail(std::move(n.error()));
        return Ok();
    });
}

Result<std::optional<Artist>> ArtistRepository::Get(std::string_view did) {
    std::string d(did);
    return db_.ReadValue<std::optional<Artist>>([&](db::Connection& c) -> Result<std::optional<Artist>> {
        auto rows = c.Query(std::string("SELECT ") + kArtistColumns + " FROM artists WHERE did = $1", {d});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return std::optional<Artist>{};
        return std::optional<Artist>(ArtistFromRow(rows->front()));
    });
}

Result<std::optional<SessionProbe>> ProbeSession(db::Db& db, std::string_view session_hash) {
    std::string h(session_hash);
    return db.ReadValue<std::optional<SessionProbe>>([&](db::Connection& c) -> Result<std::optional<SessionProbe>> {
        auto rows =
            c.Query(std::string("SELECT ") + kProbeColumns + " FROM user_sessions WHERE session_hash = $1", {h});
        if (!rows) return Fail(std::move(rows.error()));
        if (rows->empty()) return std::optional<SessionProbe>{};
        return std::optional<SessionProbe>(ProbeFromRow(rows->front()));
    });
}

Result<std::vector<SessionProbe>> ProbeGroup(db::Db& db, std::string_view group_id) {
    std::string g(group_id);
    return db.ReadValue<std::vector<SessionProbe>>([&](db::Connection& c) -> Result<std::vector<SessionProbe>> {
        auto rows = c.Query(std::string("SELECT ") + kProbeColumns +
                                " FROM user_sessions WHERE group_id = $1 ORDER BY created_at, session_hash",
                            {g});
        if (!rows) return Fail(std::move(rows.error()));
        std::vector<SessionProbe> out;
        for (std::size_t i = 0; i < rows->size(); ++i) out.push_back(ProbeFromRow((*rows)[i]));
        return out;
    });
}

}  // namespace plyr::storage::repos
