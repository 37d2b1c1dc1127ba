#include "storage/repos/tag_repo.hpp"

#include <set>
#include <utility>

#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace plyr::storage::repos {
namespace {

bool IsPg(const db::Connection& c) { return c.backend() == db::Backend::kPostgres; }

// See track_repo.cpp: a list travels as one JSON array parameter.
std::string InJsonList(const db::Connection& c, int n, std::string_view cast = {}) {
    if (!IsPg(c)) return fmt::format("IN (SELECT value FROM json_each(${}))", n);
    if (!cast.empty()) return fmt::format("IN (SELECT jsonb_array_elements_text(${}::jsonb)::{})", n, cast);
    return fmt::format("IN (SELECT jsonb_array_elements_text(${}::jsonb))", n);
}

}  // namespace

Status TagRepository::SetTrackTags(db::Connection& tx, std::int64_t track_id, const std::vector<std::string>& names,
                                   std::string_view creator_did, std::int64_t now) {
    const std::set<std::string> wanted(names.begin(), names.end());
    boost::json::array list;
    for (const auto& name : wanted) {
        list.emplace_back(name);
        // An existing tag keeps its first creator.
        auto n = tx.Exec(
            "INSERT INTO tags (name, created_by_did, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (name) DO NOTHING",
            {name, std::string(creator_did), now});
        if (!n) return Fail(std::move(n.error()));
    }
    const std::string json = boost::json::serialize(list);

    auto removed = tx.Exec(fmt::format("DELETE FROM track_tags WHERE track_id = $1 AND tag_id NOT IN "
                                       "(SELECT id FROM tags WHERE name {})",
                                       InJsonList(tx, 2)),
                           {track_id, json});
    if (!removed) return Fail(std::move(removed.error()));
    if (wanted.empty()) return Ok();

    auto added = tx.Exec(fmt::format("INSERT INTO track_tags (track_id, tag_id) SELECT $1, id FROM tags WHERE name {} "
                                     "ON CONFLICT (track_id, tag_id) DO NOTHING",
                                     InJsonList(tx, 2)),
                         {track_id, json});
    if (!added) return Fail(std::move(added.error()));
    return Ok();
}

Result<std::unordered_map<std::int64_t, std::vector<std::string>>> TagRepository::TagsForTracks(
    db::Connection& conn, const std::vector<std::int64_t>& track_ids) {
    std::unordered_map<std::int64_t, std::vector<std::string>> out;
    if (track_ids.empty()) return out;
    boost::json::array list;
    for (auto id : track_ids) list.emplace_back(id);
    // Bytewise name order on both engines (PostgreSQL's default collation is locale-aware).
    auto rows = conn.Query(fmt::format("SELECT tt.track_id, g.name FROM track_tags tt JOIN tags g ON g.id = tt.tag_id "
                                       "WHERE tt.track_id {} ORDER BY tt.track_id, g.name{}",
                                       InJsonList(conn, 1, "bigint"), IsPg(conn) ? " COLLATE \"C\"" : ""),
                           {boost::json::serialize(list)});
    if (!rows) return Fail(std::move(rows.error()));
    for (const auto& r : *rows) out[r.Int(0)].push_back(r.Text(1));
    return out;
}

}  // namespace plyr::storage::repos
