#include "storage/repos/track_repo.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/encoding.hpp"
#include "storage/repos/tag_repo.hpp"

namespace plyr::storage::repos {
namespace {

using core::CanonicalUuid;

using db::Backend;

constexpr int kMaxPageSize = 100;

bool IsPg(const db::Connection& c) { return c.backend() == Backend::kPostgres; }

// PostgreSQL infers untyped parameters from context; uuid and jsonb columns need an explicit cast (as in
// jobs/queue.cpp). SQLite stores both as TEXT.
std::string Ph(const db::Connection& c, int n, std::string_view cast = {}) {
    if (IsPg(c) && !cast.empty()) return fmt::format("${}::{}", n, cast);
    return fmt::format("${}", n);
}

// `<expr> IN <list given as a JSON array parameter>`: one statement text whatever the list length, so the
// prepared-statement caches stay small. PostgreSQL yields the elements as text: `cast` types them back
// ("bigint", "uuid"; empty for text).
std::string InJsonList(const db::Connection& c, int n, std::string_view cast = {}) {
    if (!IsPg(c)) return fmt::format("IN (SELECT value FROM json_each(${}))", n);
    if (!cast.empty()) return fmt::format("IN (SELECT jsonb_array_elements_text(${}::jsonb)::{})", n, cast);
    return fmt::format("IN (SELECT jsonb_array_elements_text(${}::jsonb))", n);
}

std::string JsonIntList(const std::vector<std::int64_t>& ids) {
    boost::json::array a;
    for (auto id : ids) a.emplace_back(id);
    return boost::json::serialize(a);
}

std::string JsonTextList(const std::vector<std::string>& items) {
    boost::json::array a;
    for (const auto& s : items) a.emplace_back(s);
    return boost::json::serialize(a);
}

Result<db::Value> UuidValue(const std::optional<std::string>& v, std::string_view what) {
    if (!v) return db::Value(nullptr);
    auto canonical = CanonicalUuid(*v);
    if (!canonical) return Fail(ErrorCode::kInvalidArgument, fmt::format("{} is not a uuid", what));
    return db::Value(std::move(*canonical));
}

db::Value OptText(const std::optional<std::string>& v) {
    if (!v) return nullptr;
    return *v;
}
db::Value OptInt(const std::optional<std::int64_t>& v) {
    if (!v) return nullptr;
    return *v;
}
db::Value OptReal(const std::optional<double>& v) {
    if (!v) return nullptr;
    return *v;
}
db::Value OptJson(const std::optional<boost::json::value>& v) {
    if (!v) return nullptr;
    return boost::json::serialize(*v);
}

// The columns are valid JSON by construction (SQLite json_valid checks, PostgreSQL jsonb), so a parse failure
// cannot happen short of manual tampering with the database; the empty value is then the safest reading.
boost::json::value ParseJson(const std::string& text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec) return nullptr;
    return v;
}

constexpr const char* kTrackColumns =
    "t.id, t.artist_did, t.title, t.description, t.file_id, t.file_type, t.original_file_id, "
    "t.original_file_type, t.file_size, t.codec, t.sample_rate, t.channels, t.duration_ms, t.loudness_lufs, "
    "t.true_peak_dbtp, t.album_id, t.album_position, t.features, t.image_id, t.visibility, t.support_gate, "
    "t.atproto_rkey, t.atproto_record_uri, t.atproto_record_cid, t.record_extra, t.publish_state, "
    "t.upload_job_id, t.play_count, t.like_count, t.comment_count, t.copyright_flagged, t.operator_labels, "
    "t.created_at, t.updated_at";

std::optional<double> OptRealCell(const db::Row& row, std::string_view name) {
    if (row.IsNull(name)) return std::nullopt;
    return row.Real(name);
}

TrackRow TrackFromRow(const db::Row& row) {
    TrackRow t;
    t.id = row.Int("id");
    t.artist_did = row.Text("artist_did");
    t.title = row.Text("title");
    t.description = row.OptText("description");
    t.file_id = row.Text("file_id");
    t.file_type = row.Text("file_type");
    t.original_file_id = row.OptText("original_file_id");
    t.original_file_type = row.OptText("original_file_type");
    t.file_size = row.Int("file_size");
    t.codec = row.Text("codec");
    t.sample_rate = row.Int("sample_rate");
    t.channels = row.Int("channels");
    t.duration_ms = row.OptInt("duration_ms");
    t.loudness_lufs = OptRealCell(row, "loudness_lufs");
    t.true_peak_dbtp = OptRealCell(row, "true_peak_dbtp");
    t.album_id = row.OptText("album_id");
    t.album_position = row.OptInt("album_position");
    if (auto f = ParseJson(row.Text("features")); f.is_array()) t.features = std::move(f.as_array());
    t.image_id = row.OptText("image_id");
    t.visibility = ParseVisibility(row.Text("visibility")).value_or(Visibility::kPublic);
    if (!row.IsNull("support_gate")) t.support_gate = ParseJson(row.Text("support_gate"));
    t.atproto_rkey = row.Text("atproto_rkey");
    t.atproto_record_uri = row.OptText("atproto_record_uri");
    t.atproto_record_cid = row.OptText("atproto_record_cid");
    if (auto e = ParseJson(row.Text("record_extra")); e.is_object()) t.record_extra = std::move(e.as_object());
    t.publish_state = ParsePublishState(row.Text("publish_state")).value_or(PublishState::kPending);
    t.upload_job_id = row.OptText("upload_job_id");
    t.play_count = row.Int("play_count");
    t.like_count = row.Int("like_count");
    t.comment_count = row.Int("comment_count");
    if (!row.IsNull("copyright_flagged")) t.copyright_flagged = row.Bool("copyright_flagged");
    if (auto labels = ParseJson(row.Text("operator_labels")); labels.is_array()) {
        for (const auto& l : labels.as_array()) {
            if (l.is_string()) t.operator_labels.emplace_back(l.as_string());
        }
    }
    t.created_at = row.Int("created_at");
    t.updated_at = row.Int("updated_at");
    return t;
}

Result<std::vector<TrackRow>> QueryTracks(db::Connection& c, const std::string& sql, db::Params params) {
    auto rows = c.Query(sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    std::vector<TrackRow> out;
    out.reserve(rows->size());
    for (const auto& r : *rows) out.push_back(TrackFromRow(r));
    return out;
}

Result<std::optional<TrackRow>> QueryOne(db::Connection& c, const std::string& sql, db::Params params) {
    auto rows = QueryTracks(c, sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<TrackRow>{};
    return std::optional<TrackRow>(std::move(rows->front()));
}

int ClampLimit(int limit) { return std::clamp(limit, 1, kMaxPageSize); }

void PutBigEndian(std::string& out, std::uint64_t v) {
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint64_t GetBigEndian(std::string_view in) {
    std::uint64_t v = 0;
    for (char ch : in) v = (v << 8) | static_cast<unsigned char>(ch);
    return v;
}

std::vector<std::string> Dedupe(const std::vector<std::string>& items) {
    std::set<std::string> seen(items.begin(), items.end());
    return {seen.begin(), seen.end()};
}

// `%`, `_` and the escape character itself are literal in the user's query.
std::string LikeContains(std::string_view q) {
    std::string out = "%";
    for (char ch : q) {
        if (ch == '%' || ch == '_' || ch == '\\') out.push_back('\\');
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    }
    out.push_back('%');
    return out;
}

}  // namespace

std::string_view ToString(PublishState state) {
    switch (state) {
        case PublishState::kPending:
            return "pending";
        case PublishState::kPublished:
            return "published";
        case PublishState::kFailed:
            return "failed";
    }
    return "pending";
}

std::string_view ToString(Visibility visibility) {
    switch (visibility) {
        case Visibility::kPublic:
            return "public";
        case Visibility::kSupporters:
            return "supporters";
    }
    return "public";
}

std::optional<PublishState> ParsePublishState(std::string_view text) {
    if (text == "pending") return PublishState::kPending;
    if (text == "published") return PublishState::kPublished;
    if (text == "failed") return PublishState::kFailed;
    return std::nullopt;
}

std::optional<Visibility> ParseVisibility(std::string_view text) {
    if (text == "public") return Visibility::kPublic;
    if (text == "supporters") return Visibility::kSupporters;
    return std::nullopt;
}

std::string_view ToString(PeakResolution resolution) { return resolution == PeakResolution::kLow ? "low" : "high"; }

std::optional<PeakResolution> ParsePeakResolution(std::string_view text) {
    if (text == "low") return PeakResolution::kLow;
    if (text == "high") return PeakResolution::kHigh;
    return std::nullopt;
}

std::optional<OwnerSort> ParseOwnerSort(std::string_view text) {
    if (text == "recent") return OwnerSort::kRecent;
    if (text == "title") return OwnerSort::kTitle;
    if (text == "plays") return OwnerSort::kPlays;
    return std::nullopt;
}

bool TrackRow::HasLabel(std::string_view value) const {
    return std::find(operator_labels.begin(), operator_labels.end(), value) != operator_labels.end();
}

std::string EncodeFeedCursor(const FeedCursor& cursor) {
    std::string raw;
    raw.reserve(16);
    PutBigEndian(raw, static_cast<std::uint64_t>(cursor.created_at));
    PutBigEndian(raw, static_cast<std::uint64_t>(cursor.id));
    return core::Base64UrlEncode(raw);
}

std::string EncodeFeedCursor(std::int64_t created_at, std::int64_t id) {
    return EncodeFeedCursor(FeedCursor{created_at, id});
}

Result<FeedCursor> DecodeFeedCursor(std::string_view text) {
    auto bad = [] { return Fail(ErrorCode::kInvalidArgument, "invalid cursor", "invalid_cursor"); };
    // 16 bytes are exactly 22 base64url characters without padding.
    if (text.size() != 22) return bad();
    auto raw = core::Base64UrlDecode(text);
    if (!raw || raw->size() != 16) return bad();
    FeedCursor c;
    c.created_at = static_cast<std::int64_t>(GetBigEndian(std::string_view(*raw).substr(0, 8)));
    c.id = static_cast<std::int64_t>(GetBigEndian(std::string_view(*raw).substr(8, 8)));
    if (c.created_at < 0 || c.id <= 0) return bad();
    // The last character carries 2 unused bits: only the canonical spelling is accepted.
    if (EncodeFeedCursor(c) != text) return bad();
    return c;
}

Result<ReservedTrack> TrackRepository::ReserveTrack(db::Connection& tx, const NewTrack& t) {
    auto album_id = UuidValue(t.album_id, "album_id");
    if (!album_id) return Fail(std::move(album_id.error()));
    auto job_id = UuidValue(t.upload_job_id, "upload_job_id");
    if (!job_id) return Fail(std::move(job_id.error()));
    if (t.support_gate && !t.support_gate->is_object()) {
        return Fail(ErrorCode::kInvalidArgument, "support_gate must be an object");
    }

    const std::string sql = fmt::format(
        "INSERT INTO tracks (artist_did, title, description, file_id, file_type, original_file_id, "
        "original_file_type, file_size, codec, sample_rate, channels, duration_ms, loudness_lufs, true_peak_dbtp, "
        "album_id, album_position, features, image_id, visibility, support_gate, atproto_rkey, record_extra, "
        "publish_state, upload_job_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
        "$11, $12, $13, $14, {}, $16, {}, $18, $19, {}, $21, {}, 'pending', {}, $24, $24) "
        "ON CONFLICT (upload_job_id) WHERE upload_job_id IS NOT NULL DO NOTHING RETURNING id",
        Ph(tx, 15, "uuid"), Ph(tx, 17, "jsonb"), Ph(tx, 20, "jsonb"), Ph(tx, 22, "jsonb"), Ph(tx, 23, "uuid"));
    const std::array<db::Value, 24> params{
        t.artist_did,
        t.title,
        OptText(t.description),
        t.file_id,
        t.file_type,
        OptText(t.original_file_id),
        OptText(t.original_file_type),
        t.file_size,
        t.codec,
        t.sample_rate,
        t.channels,
        OptInt(t.duration_ms),
        OptReal(t.loudness_lufs),
        OptReal(t.true_peak_dbtp),
        *album_id,
        OptInt(t.album_position),
        boost::json::serialize(t.features),
        OptText(t.image_id),
        std::string(ToString(t.visibility)),
        OptJson(t.support_gate),
        t.atproto_rkey,
        boost::json::serialize(t.record_extra),
        *job_id,
        t.now,
    };
    auto rows = tx.Query(sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    if (!rows->empty()) return ReservedTrack{rows->front().Int(0), true};

    // The conflict can only be on upload_job_id: the job's row exists (a re-run, or a concurrent duplicate that
    // committed first — PostgreSQL waited for it).
    auto existing =
        tx.Query(fmt::format("SELECT id FROM tracks WHERE upload_job_id = {}", Ph(tx, 1, "uuid")), {*job_id});
    if (!existing) return Fail(std::move(existing.error()));
    if (existing->empty()) return Fail(ErrorCode::kInternal, "reserved track row vanished");
    return ReservedTrack{existing->front().Int(0), false};
}

Result<std::optional<TrackRow>> TrackRepository::Get(db::Connection& conn, std::int64_t id) {
    const std::array<db::Value, 1> params{id};
    return QueryOne(conn, fmt::format("SELECT {} FROM tracks t WHERE t.id = $1", kTrackColumns), params);
}

Result<std::optional<TrackRow>> TrackRepository::GetForUpdate(db::Connection& tx, std::int64_t id) {
    const std::array<db::Value, 1> params{id};
    return QueryOne(
        tx, fmt::format("SELECT {} FROM tracks t WHERE t.id = $1{}", kTrackColumns, IsPg(tx) ? " FOR UPDATE" : ""),
        params);
}

Result<std::optional<TrackRow>> TrackRepository::GetByUploadJob(db::Connection& conn, std::string_view upload_job_id) {
    auto id = CanonicalUuid(upload_job_id);
    if (!id) return std::optional<TrackRow>{};
    const std::array<db::Value, 1> params{*id};
    return QueryOne(
        conn, fmt::format("SELECT {} FROM tracks t WHERE t.upload_job_id = {}", kTrackColumns, Ph(conn, 1, "uuid")),
        params);
}

Result<std::optional<TrackRow>> TrackRepository::GetByRecordUri(db::Connection& conn, std::string_view record_uri) {
    const std::array<db::Value, 1> params{std::string(record_uri)};
    return QueryOne(conn, fmt::format("SELECT {} FROM tracks t WHERE t.atproto_record_uri = $1", kTrackColumns),
                    params);
}

Result<std::vector<TrackRow>> TrackRepository::FindByFile(db::Connection& conn, std::string_view file_id) {
    const std::array<db::Value, 1> params{std::string(file_id)};
    return QueryTracks(
        conn,
        fmt::format("SELECT {} FROM tracks t WHERE t.file_id = $1 OR t.original_file_id = $1 ORDER BY t.id",
                    kTrackColumns),
        params);
}

Result<std::optional<std::int64_t>> TrackRepository::FindArtistDuplicate(
    db::Connection& tx, std::string_view artist_did, const std::vector<std::string>& file_ids,
    const std::optional<std::string>& exclude_upload_job_id) {
    if (file_ids.empty()) return std::optional<std::int64_t>{};
    std::string sql = fmt::format(
        "SELECT MIN(t.id) FROM tracks t WHERE t.artist_did = $1 AND (t.file_id {} OR t.original_file_id {})",
        InJsonList(tx, 2), InJsonList(tx, 2));
    std::vector<db::Value> params{std::string(artist_did), JsonTextList(file_ids)};
    if (exclude_upload_job_id) {
        // A malformed job id cannot be any row's: nothing to exclude.
        if (auto job = CanonicalUuid(*exclude_upload_job_id)) {
            sql += fmt::format(" AND (t.upload_job_id IS NULL OR t.upload_job_id <> {})", Ph(tx, 3, "uuid"));
            params.emplace_back(std::move(*job));
        }
    }
    auto rows = tx.Query(sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty() || rows->front().IsNull(0)) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(rows->front().Int(0));
}

Status TrackRepository::MarkPublished(db::Connection& tx, std::int64_t id, std::string_view record_uri,
                                      std::string_view record_cid,
                                      const std::optional<boost::json::object>& record_extra) {
    Result<std::int64_t> n = 0;
    if (record_extra) {
        n = tx.Exec(fmt::format("UPDATE tracks SET publish_state = 'published', atproto_record_uri = $1, "
                                "atproto_record_cid = $2, record_extra = {} WHERE id = $4",
                                Ph(tx, 3, "jsonb")),
                    {std::string(record_uri), std::string(record_cid), boost::json::serialize(*record_extra), id});
    } else {
        n = tx.Exec(
            "UPDATE tracks SET publish_state = 'published', atproto_record_uri = $1, atproto_record_cid = $2 "
            "WHERE id = $3",
            {std::string(record_uri), std::string(record_cid), id});
    }
    if (!n) return Fail(std::move(n.error()));
    if (*n == 0) return Fail(ErrorCode::kNotFound, "track not found");
    return Ok();
}

Status TrackRepository::SetPublishState(db::Connection& tx, std::int64_t id, PublishState state) {
    auto n = tx.Exec("UPDATE tracks SET publish_state = $1 WHERE id = $2", {std::string(ToString(state)), id});
    if (!n) return Fail(std::move(n.error()));
    if (*n == 0) return Fail(ErrorCode::kNotFound, "track not found");
    return Ok();
}

Status TrackRepository::UpdateMetadata(db::Connection& tx, std::int64_t id, const TrackPatch& patch, std::int64_t now) {
    std::vector<std::string> sets;
    std::vector<db::Value> params;
    auto add = [&](std::string_view column, db::Value value, std::string_view cast = {}) {
        params.push_back(std::move(value));
        sets.push_back(fmt::format("{} = {}", column, Ph(tx, static_cast<int>(params.size()), cast)));
    };
    if (patch.title) add("title", *patch.title);
    if (patch.description) add("description", OptText(*patch.description));
    if (patch.features) add("features", boost::json::serialize(*patch.features), "jsonb");
    if (patch.album_id) {
        auto album = UuidValue(*patch.album_id, "album_id");
        if (!album) return Fail(std::move(album.error()));
        add("album_id", *album, "uuid");
    }
    if (patch.album_position) add("album_position", OptInt(*patch.album_position));
    if (patch.image_id) add("image_id", OptText(*patch.image_id));
    if (patch.support_gate) {
        if (*patch.support_gate && !(*patch.support_gate)->is_object()) {
            return Fail(ErrorCode::kInvalidArgument, "support_gate must be an object");
        }
        add("support_gate", OptJson(*patch.support_gate), "jsonb");
    }
    if (patch.visibility) add("visibility", std::string(ToString(*patch.visibility)));
    add("updated_at", now);
    params.emplace_back(id);
    std::string sql = "UPDATE tracks SET ";
    for (std::size_t i = 0; i < sets.size(); ++i) {
        if (i > 0) sql += ", ";
        sql += sets[i];
    }
    sql += fmt::format(" WHERE id = ${}", params.size());
    auto rows = tx.Query(sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->affected() == 0) return Fail(ErrorCode::kNotFound, "track not found");
    return Ok();
}

Result<bool> TrackRepository::Delete(db::Connection& tx, std::int64_t id) {
    auto n = tx.Exec("DELETE FROM tracks WHERE id = $1", {id});
    if (!n) return Fail(std::move(n.error()));
    return *n > 0;
}

Result<bool> TrackRepository::IsFileReferenced(db::Connection& tx, std::string_view file_id) {
    auto rows =
        tx.Query("SELECT 1 FROM tracks WHERE file_id = $1 OR original_file_id = $1 LIMIT 1", {std::string(file_id)});
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

Result<bool> TrackRepository::IsImageReferenced(db::Connection& tx, std::string_view image_id) {
    auto rows =
        tx.Query("SELECT 1 FROM tracks WHERE image_id = $1 UNION ALL SELECT 1 FROM albums WHERE image_id = $1 LIMIT 1",
                 {std::string(image_id)});
    if (!rows) return Fail(std::move(rows.error()));
    return !rows->empty();
}

Result<FeedPage> TrackRepository::ListFeed(db::Connection& conn, const FeedQuery& query) {
    const int limit = ClampLimit(query.limit);
    std::vector<db::Value> params;
    auto next = [&](db::Value v) {
        params.push_back(std::move(v));
        return static_cast<int>(params.size());
    };
    std::string sql = fmt::format(
        "SELECT {} FROM tracks t JOIN artists a ON a.did = t.artist_did "
        "WHERE t.publish_state = 'published' AND NOT a.deactivated",
        kTrackColumns);
    if (IsPg(conn)) {
        sql += " AND NOT (t.operator_labels @> '[\"copyright-violation\"]'::jsonb)";
    } else {
        sql += " AND NOT EXISTS (SELECT 1 FROM json_each(t.operator_labels) WHERE value = 'copyright-violation')";
    }
    if (query.artist_did) sql += fmt::format(" AND t.artist_did = ${}", next(*query.artist_did));
    if (auto tags = Dedupe(query.tags); !tags.empty()) {
        int list = next(JsonTextList(tags));
        int count = next(static_cast<std::int64_t>(tags.size()));
        sql += fmt::format(
            " AND (SELECT COUNT(*) FROM track_tags tt JOIN tags g ON g.id = tt.tag_id "
            "WHERE tt.track_id = t.id AND g.name {}) = ${}",
            InJsonList(conn, list), count);
    }
    if (auto hidden = Dedupe(query.hidden_tags); !hidden.empty()) {
        int list = next(JsonTextList(hidden));
        sql += fmt::format(
            " AND NOT EXISTS (SELECT 1 FROM track_tags tt JOIN tags g ON g.id = tt.tag_id "
            "WHERE tt.track_id = t.id AND g.name {})",
            InJsonList(conn, list));
    }
    if (query.cursor) {
        int created = next(query.cursor->created_at);
        int id = next(query.cursor->id);
        sql += fmt::format(" AND (t.created_at < ${0} OR (t.created_at = ${0} AND t.id < ${1}))", created, id);
    }
    sql += fmt::format(" ORDER BY t.created_at DESC, t.id DESC LIMIT ${}", next(std::int64_t{limit} + 1));

    auto rows = QueryTracks(conn, sql, params);
    if (!rows) return Fail(std::move(rows.error()));
    FeedPage page;
    page.rows = std::move(*rows);
    if (page.rows.size() > static_cast<std::size_t>(limit)) {
        page.rows.resize(static_cast<std::size_t>(limit));
        page.has_more = true;
        page.next_cursor = FeedCursor{page.rows.back().created_at, page.rows.back().id};
    }
    return page;
}

Result<OwnerPage> TrackRepository::ListByArtistForOwner(db::Connection& conn, const OwnerListQuery& query) {
    // ASCII-only case folding on both engines: SQLite's lower() folds ASCII only, PostgreSQL's folds by locale.
    const std::string folded_title =
        IsPg(conn) ? "translate(t.title, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
                   : "lower(t.title)";
    std::string where = "t.artist_did = $1";
    std::vector<db::Value> params{query.artist_did};
    if (!query.q.empty()) {
        params.emplace_back(LikeContains(query.q));
        where += fmt::format(" AND {} LIKE $2 ESCAPE '\\'", folded_title);
    }

    auto count = conn.Query(fmt::format("SELECT COUNT(*) FROM tracks t WHERE {}", where), params);
    if (!count) return Fail(std::move(count.error()));

    // PostgreSQL's default collation is locale-aware; "C" orders bytewise like SQLite's BINARY.
    std::string order;
    switch (query.sort) {
        case OwnerSort::kRecent:
            order = "t.created_at DESC, t.id DESC";
            break;
        case OwnerSort::kTitle:
            order = fmt::format("{}{} ASC, t.id DESC", folded_title, IsPg(conn) ? " COLLATE \"C\"" : "");
            break;
        case OwnerSort::kPlays:
            order = "t.play_count DESC, t.id DESC";
            break;
    }
    const int limit = ClampLimit(query.limit);
    const int offset = std::max(query.offset, 0);
    params.emplace_back(std::int64_t{limit});
    params.emplace_back(std::int64_t{offset});
    auto rows = QueryTracks(conn,
                            fmt::format("SELECT {} FROM tracks t WHERE {} ORDER BY {} LIMIT ${} OFFSET ${}",
                                        kTrackColumns, where, order, params.size() - 1, params.size()),
                            params);
    if (!rows) return Fail(std::move(rows.error()));
    OwnerPage page;
    page.rows = std::move(*rows);
    page.total = count->front().Int(0);
    return page;
}

Status TrackRepository::PutPeaks(db::Connection& tx, std::int64_t track_id, PeakResolution resolution,
                                 std::int64_t samples_per_peak, std::string_view peaks) {
    auto n = tx.Exec(
        "INSERT INTO track_peaks (track_id, resolution, samples_per_peak, peaks) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (track_id, resolution) DO UPDATE SET samples_per_peak = excluded.samples_per_peak, "
        "peaks = excluded.peaks",
        {track_id, std::string(ToString(resolution)), samples_per_peak, db::Blob{std::string(peaks)}});
    if (!n) return Fail(std::move(n.error()));
    return Ok();
}

Result<std::optional<TrackPeaks>> TrackRepository::GetPeaks(db::Connection& conn, std::int64_t track_id,
                                                            PeakResolution resolution) {
    auto rows = conn.Query("SELECT samples_per_peak, peaks FROM track_peaks WHERE track_id = $1 AND resolution = $2",
                           {track_id, std::string(ToString(resolution))});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<TrackPeaks>{};
    const auto& r = rows->front();
    return std::optional<TrackPeaks>(TrackPeaks{r.Int(0), r.Bytes(1)});
}

Status TrackRepository::PutFingerprint(db::Connection& tx, std::int64_t track_id, std::int64_t algorithm,
                                       std::int64_t duration_ms, std::string_view fingerprint,
                                       std::string_view silent_windows_json, std::int64_t now) {
    boost::system::error_code ec;
    auto windows = boost::json::parse(silent_windows_json, ec);
    if (ec || !windows.is_array()) {
        return Fail(ErrorCode::kInvalidArgument, "silent_windows must be a json array");
    }
    auto n = tx.Exec(
        fmt::format("INSERT INTO track_fingerprints (track_id, algorithm, duration_ms, fingerprint, silent_windows, "
                    "created_at) VALUES ($1, $2, $3, $4, {}, $6) ON CONFLICT (track_id) DO UPDATE SET "
                    "algorithm = excluded.algorithm, duration_ms = excluded.duration_ms, "
                    "fingerprint = excluded.fingerprint, silent_windows = excluded.silent_windows, "
                    "created_at = excluded.created_at",
                    Ph(tx, 5, "jsonb")),
        {track_id, algorithm, duration_ms, db::Blob{std::string(fingerprint)}, boost::json::serialize(windows), now});
    if (!n) return Fail(std::move(n.error()));
    return Ok();
}

Result<std::optional<TrackFingerprint>> TrackRepository::GetFingerprint(db::Connection& conn, std::int64_t track_id) {
    auto rows = conn.Query(
        "SELECT algorithm, duration_ms, fingerprint, silent_windows, created_at FROM track_fingerprints "
        "WHERE track_id = $1",
        {track_id});
    if (!rows) return Fail(std::move(rows.error()));
    if (rows->empty()) return std::optional<TrackFingerprint>{};
    const auto& r = rows->front();
    TrackFingerprint f;
    f.algorithm = r.Int(0);
    f.duration_ms = r.Int(1);
    f.fingerprint = r.Bytes(2);
    f.silent_windows = ParseJson(r.Text(3));
    f.created_at = r.Int(4);
    return std::optional<TrackFingerprint>(std::move(f));
}

Result<std::vector<TrackView>> TrackRepository::GetViews(db::Connection& conn, const std::vector<std::int64_t>& ids) {
    std::vector<std::int64_t> unique_ids;
    {
        std::unordered_set<std::int64_t> seen;
        for (auto id : ids) {
            if (seen.insert(id).second) unique_ids.push_back(id);
        }
    }
    if (unique_ids.empty()) return std::vector<TrackView>{};
    const std::array<db::Value, 1> id_params{JsonIntList(unique_ids)};

    auto rows = conn.Query(fmt::format("SELECT {}, a.did AS artist_did_join, a.handle AS artist_handle, "
                                       "a.display_name AS artist_display_name, a.avatar_url AS artist_avatar_url, "
                                       "a.support_url AS artist_support_url, a.deactivated AS artist_deactivated, "
                                       "i.ext AS image_ext FROM tracks t JOIN artists a ON a.did = t.artist_did "
                                       "LEFT JOIN images i ON i.image_id = t.image_id WHERE t.id {}",
                                       kTrackColumns, InJsonList(conn, 1, "bigint")),
                           id_params);
    if (!rows) return Fail(std::move(rows.error()));

    std::unordered_map<std::int64_t, TrackView> by_id;
    std::vector<std::string> album_ids;
    for (const auto& r : *rows) {
        TrackView v;
        v.track = TrackFromRow(r);
        v.image_ext = r.OptText("image_ext");
        v.artist.did = r.Text("artist_did_join");
        v.artist.handle = r.OptText("artist_handle");
        v.artist.display_name = r.Text("artist_display_name");
        v.artist.avatar_url = r.OptText("artist_avatar_url");
        v.artist.support_url = r.Text("artist_support_url");
        v.artist.deactivated = r.Bool("artist_deactivated");
        if (v.track.album_id) album_ids.push_back(*v.track.album_id);
        by_id.emplace(v.track.id, std::move(v));
    }

    std::unordered_map<std::string, TrackAlbumBrief> albums;
    if (!album_ids.empty()) {
        const std::array<db::Value, 1> album_params{JsonTextList(Dedupe(album_ids))};
        auto album_rows = conn.Query(fmt::format("SELECT al.id, al.slug, al.title, al.image_id, i.ext FROM albums al "
                                                 "LEFT JOIN images i ON i.image_id = al.image_id WHERE al.id {}",
                                                 InJsonList(conn, 1, "uuid")),
                                     album_params);
        if (!album_rows) return Fail(std::move(album_rows.error()));
        for (const auto& r : *album_rows) {
            TrackAlbumBrief b{r.Text(0), r.Text(1), r.Text(2), r.OptText(3), r.OptText(4)};
            albums.emplace(b.id, std::move(b));
        }
    }

    auto tags = TagRepository::TagsForTracks(conn, unique_ids);
    if (!tags) return Fail(std::move(tags.error()));

    std::vector<TrackView> out;
    out.reserve(by_id.size());
    for (auto id : unique_ids) {
        auto it = by_id.find(id);
        if (it == by_id.end()) continue;
        TrackView& v = it->second;
        if (v.track.album_id) {
            if (auto a = albums.find(*v.track.album_id); a != albums.end()) v.album = a->second;
        }
        if (auto t = tags->find(id); t != tags->end()) v.tags = std::move(t->second);
        out.push_back(std::move(v));
    }
    return out;
}

}  // namespace plyr::storage::repos
