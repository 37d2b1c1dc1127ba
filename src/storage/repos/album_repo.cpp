#include "storage/repos/album_repo.hpp"

#include <cctype>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "core/encoding.hpp"

namespace plyr::storage::repos {
namespace {

using core::CanonicalUuid;

constexpr std::size_t kMaxSlug = 64;
// Bounds the retry loop when concurrent creators keep taking the slug we picked (each round re-reads).
constexpr int kMaxCreateRounds = 8;

bool IsPg(const db::Connection& c) { return c.backend() == db::Backend::kPostgres; }

std::string Uuid(const db::Connection& c, int n) {
    return IsPg(c) ? fmt::format("${}::uuid", n) : fmt::format("${}", n);
}

constexpr const char* kAlbumColumns =
    "id, artist_did, slug, title, image_id, atproto_rkey, atproto_record_uri, atproto_record_cid, created_at, "
    "updated_at";

Album AlbumFromRow(const db::Row& r) {
    Album a;
    a.id = r.Text("id");
    a.artist_did = r.Text("artist_did");
    a.slug = r.Text("slug");
    a.title = r.Text("title");
    a.image_id = r.OptText("image_id");
    a.atproto_rkey = r.Text("atproto_rkey");
    a.atproto_record_uri = r.OptText("atproto_record_uri");
    a.atproto_record_cid = r.OptText("atproto_record_cid");
    a.created_at = r.Int("created_at");
    a.updated_at = r.Int("updated_at");
    return a;
}

Result<std::optional<Album>> QueryAlbum(db::Connection& c, const std::string& sql, std::initializer_list<db::Value> p) {
    auto rows = c.Query(sql, p);
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<Album>{};
    return std::optional<Album>(AlbumFromRow(rows->front()));
}

std::string TrimDashes(std::string s) {
    while (!s.empty() && s.back() == '-') s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && s[start] == '-') ++start;
    return s.substr(start);
}

// base, base-2, base-3, … each ≤ kMaxSlug (the base is cut to make room for the suffix).
std::string SlugCandidate(const std::string& base, int n) {
    if (n <= 1) return base;
    std::string suffix = fmt::format("-{}", n);
    std::string stem = TrimDashes(base.substr(0, kMaxSlug - suffix.size()));
    return stem + suffix;
}

}  // namespace

std::string AlbumSlug(std::string_view title) {
    std::string out;
    bool pending_dash = false;
    for (char raw : title) {
        auto ch = static_cast<unsigned char>(raw);
        if (ch < 0x80 && std::isalnum(ch)) {
            if (pending_dash && !out.empty()) out.push_back('-');
            pending_dash = false;
            out.push_back(static_cast<char>(std::tolower(ch)));
        } else {
            pending_dash = true;
        }
    }
    if (out.size() > kMaxSlug) out = TrimDashes(out.substr(0, kMaxSlug));
    if (out.empty()) return "album";
    return out;
}

Result<AlbumUpsert> AlbumRepository::GetOrCreateForArtist(db::Connection& tx, std::string_view artist_did,
                                                          std::string_view title, std::string_view rkey_for_new,
                                                          std::int64_t now) {
    const std::string did(artist_did);
    const std::string t(title);
    const std::string base = AlbumSlug(title);
    for (int round = 0; round < kMaxCreateRounds; ++round) {
        auto existing = QueryAlbum(tx,
                                   fmt::format("SELECT {} FROM albums WHERE artist_did = $1 AND title = $2 "
                                               "ORDER BY created_at, id LIMIT 1",
                                               kAlbumColumns),
                                   {did, t});
        if (!existing) return Fail(std::move(existing.error()));
        if (*existing) return AlbumUpsert{std::move(**existing), false};

        auto slugs = tx.Query("SELECT slug FROM albums WHERE artist_did = $1", {did});
        if (!slugs) return Fail(std::move(slugs.error()));
        std::set<std::string> taken;
        for (const auto& r : *slugs) taken.insert(r.Text(0));
        int n = 1;
        while (taken.count(SlugCandidate(base, n)) > 0) ++n;

        Album a;
        a.id = *CanonicalUuid(core::RandomUuid());
        a.artist_did = did;
        a.slug = SlugCandidate(base, n);
        a.title = t;
        a.atproto_rkey = std::string(rkey_for_new);
        a.created_at = now;
        a.updated_at = now;
        // DO NOTHING: a concurrent creator took the slug (PostgreSQL waited for its commit) — re-read and retry.
        auto inserted = tx.Query(
            fmt::format("INSERT INTO albums (id, artist_did, slug, title, atproto_rkey, created_at, updated_at) "
                        "VALUES ({}, $2, $3, $4, $5, $6, $6) ON CONFLICT (artist_did, slug) DO NOTHING RETURNING id",
                        Uuid(tx, 1)),
            {a.id, did, a.slug, t, a.atproto_rkey, now});
        if (!inserted) return Fail(std::move(inserted.error()));
        if (!inserted->empty()) return AlbumUpsert{std::move(a), true};
    }
    return Fail(ErrorCode::kBusy, "album slug contention", "could not pick a free album slug");
}

Result<std::optional<Album>> AlbumRepository::Get(db::Connection& conn, std::string_view album_id) {
    auto id = CanonicalUuid(album_id);
    if (!id) return std::optional<Album>{};
    return QueryAlbum(conn, fmt::format("SELECT {} FROM albums WHERE id = {}", kAlbumColumns, Uuid(conn, 1)), {*id});
}

Result<std::optional<Album>> AlbumRepository::GetOwned(db::Connection& conn, std::string_view album_id,
                                                       std::string_view artist_did) {
    auto id = CanonicalUuid(album_id);
    if (!id) return std::optional<Album>{};
    return QueryAlbum(
        conn, fmt::format("SELECT {} FROM albums WHERE id = {} AND artist_did = $2", kAlbumColumns, Uuid(conn, 1)),
        {*id, std::string(artist_did)});
}

Result<std::int64_t> AlbumRepository::NextPosition(db::Connection& tx, std::string_view album_id) {
    auto id = CanonicalUuid(album_id);
    if (!id) return Fail(ErrorCode::kInvalidArgument, "album id is not a uuid");
    auto rows = tx.Query(
        fmt::format("SELECT COALESCE(MAX(album_position) + 1, 0) FROM tracks WHERE album_id = {}", Uuid(tx, 1)), {*id});
    if (!rows) return Fail(std::move(rows.error()));
    return rows->front().Int(0);
}

}  // namespace plyr::storage::repos
