#include "tracks/track_record.hpp"

#include <array>
#include <chrono>
#include <cmath>
#include <utility>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/graphemes.hpp"
#include "atproto/lexicon/validate.hpp"
#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"
#include "storage/repos/track_repo.hpp"

namespace plyr::tracks {
namespace {

using atproto::Value;

// Keys whose value plyr owns in every write: a rebuild sets or removes them from the DB row. Everything else
// (audioBlob, labels, keys of newer lexicon versions or other apps) is carried over.
constexpr std::array<std::string_view, 12> kManagedKeys = {
    "$type", "title",    "artist",   "fileType", "createdAt",   "audioUrl",
    "album", "duration", "features", "imageUrl", "supportGate", "description",
};

bool IsManaged(std::string_view key) {
    for (auto k : kManagedKeys)
        if (k == key) return true;
    return false;
}

// Length of the longest prefix of `text` (≤ max_bytes) that ends on a complete UTF-8 sequence.
std::size_t Utf8PrefixLength(std::string_view text, std::size_t max_bytes) {
    std::size_t i = 0;
    while (i < text.size()) {
        auto c = static_cast<unsigned char>(text[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > text.size()) break;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return i;
        if (i + len > max_bytes) break;
        i += len;
    }
    return i;
}

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::string TrimmedCopy(std::string_view s) {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return std::string(s);
}

std::string Join(std::string_view base, std::string_view path) {
    while (!base.empty() && base.back() == '/') base.remove_suffix(1);
    return fmt::format("{}{}", base, path);
}

}  // namespace

std::string TrackCollection(std::string_view app_namespace) { return fmt::format("{}.track", app_namespace); }

pds::OutboxWrite TrackOutboxWrite(std::string_view app_namespace, std::string_view artist_did, std::string_view rkey,
                                  std::int64_t track_id, pds::WriteOp op, bool record_exists) {
    pds::OutboxWrite write;
    write.did = std::string(artist_did);
    write.collection = TrackCollection(app_namespace);
    write.rkey = std::string(rkey);
    write.op = op;
    write.entity_type = std::string(kTrackEntityType);
    write.entity_id = std::to_string(track_id);
    write.record_exists = record_exists;
    return write;
}

std::string CutAtGraphemeBoundary(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes && Utf8PrefixLength(text, text.size()) == text.size()) return std::string(text);
    std::size_t limit = Utf8PrefixLength(text, max_bytes);
    std::string_view valid = text.substr(0, Utf8PrefixLength(text, text.size()));
    // A cut p is a cluster boundary of `valid` exactly when splitting there adds no cluster: a cut inside a
    // cluster splits it in two. Candidates go down from the byte limit, on code point starts only.
    const std::size_t total = atproto::lexicon::CountGraphemes(valid);
    for (std::size_t p = limit; p > 0; --p) {
        if (p < valid.size() && IsContinuation(valid[p])) continue;
        if (p >= valid.size()) return std::string(valid.substr(0, p));
        auto prefix = valid.substr(0, p);
        auto suffix = valid.substr(p);
        if (atproto::lexicon::CountGraphemes(prefix) + atproto::lexicon::CountGraphemes(suffix) == total)
            return std::string(prefix);
    }
    return {};
}

Value UnmanagedFields(const Value& record) {
    Value::Map out;
    if (const auto* map = record.AsMap()) {
        for (const auto& [key, value] : *map)
            if (!IsManaged(key)) out.emplace(key, value);
    }
    return Value(std::move(out));
}

Result<Value> BuildTrackRecord(const atproto::lexicon::Catalog& catalog, const TrackRecordInput& input,
                               const std::optional<Value>& current_on_pds) {
    if (current_on_pds && !current_on_pds->IsMap())
        return Fail(ErrorCode::kInvalidArgument, "the current record is not an object");
    std::string artist = TrimmedCopy(input.artist_display_name);
    if (artist.empty()) artist = TrimmedCopy(input.artist_handle);
    artist = CutAtGraphemeBoundary(artist, kMaxArtistBytes);
    if (artist.empty()) return Fail(ErrorCode::kInvalidArgument, "the artist has no display name or handle");

    const std::string nsid = TrackCollection(input.app_namespace);
    Value::Map record;
    if (current_on_pds) {
        for (const auto& [key, value] : current_on_pds->GetMap())
            if (!IsManaged(key)) record.emplace(key, value);
    }

    record["$type"] = Value(nsid);
    record["title"] = Value(input.title);
    record["artist"] = Value(std::move(artist));
    record["fileType"] = Value(input.file_type);

    std::optional<std::string> created_at;
    if (current_on_pds) {
        if (const Value* v = current_on_pds->Find("createdAt");
            v && v->AsString() && atproto::syntax::IsValidDatetime(*v->AsString()))
            created_at = *v->AsString();
    }
    if (!created_at) {
        created_at =
            atproto::syntax::FormatDatetime(atproto::syntax::UtcMicros(std::chrono::microseconds(input.created_at_us)));
    }
    record["createdAt"] = Value(std::move(*created_at));

    if (!input.audio_url.empty()) record["audioUrl"] = Value(input.audio_url);
    if (input.audio_blob) record["audioBlob"] = Value(*input.audio_blob);
    if (input.album_title && !input.album_title->empty()) record["album"] = Value(*input.album_title);
    if (input.duration_ms && *input.duration_ms >= 0) {
        record["duration"] =
            Value(static_cast<std::int64_t>(std::llround(static_cast<double>(*input.duration_ms) / 1000.0)));
    }
    if (!input.features.empty()) {
        Value::Array features;
        for (const auto& f : input.features) {
            Value::Map item;
            item["did"] = Value(f.did);
            if (f.handle && !f.handle->empty() && *f.handle != "handle.invalid" &&
                atproto::syntax::IsValidHandle(*f.handle))
                item["handle"] = Value(*f.handle);
            if (f.display_name) {
                auto name = CutAtGraphemeBoundary(TrimmedCopy(*f.display_name), kMaxArtistBytes);
                if (!name.empty()) item["displayName"] = Value(std::move(name));
            }
            features.emplace_back(std::move(item));
        }
        record["features"] = Value(std::move(features));
    }
    if (input.image_url && !input.image_url->empty()) record["imageUrl"] = Value(*input.image_url);
    if (input.support_gate) record["supportGate"] = Value(Value::Map{{"type", Value("any")}});
    if (input.description) {
        if (!input.description->empty()) record["description"] = Value(*input.description);
    } else if (current_on_pds) {
        if (const Value* v = current_on_pds->Find("description")) record["description"] = *v;
    }
    if (!record.contains("audioUrl") && !record.contains("audioBlob"))
        return Fail(ErrorCode::kInvalidArgument, "the record needs an audio url or an audio blob");

    Value out(std::move(record));
    if (auto st = atproto::lexicon::ValidateRecord(catalog, nsid, out); !st) {
        return Fail(ErrorCode::kInternal, "the track record does not validate",
                    fmt::format("{}: {}", nsid, st.error().message));
    }
    return out;
}

std::string AudioUrl(const core::Config& config, std::string_view file_id, std::string_view ext, bool gated) {
    if (gated) return Join(config.public_url, fmt::format("/audio/{}", file_id));
    if (config.storage_kind == core::StorageKind::kS3 && !config.s3.public_bucket_url.empty())
        return Join(config.s3.public_bucket_url, fmt::format("/audio/{}.{}", file_id, ext));
    return Join(config.public_url, fmt::format("/audio/{}.{}", file_id, ext));
}

std::string ImageUrl(const core::Config& config, std::string_view image_id, std::string_view ext) {
    if (config.storage_kind == core::StorageKind::kS3) {
        // Without a bucket of its own, artwork lives in R2_BUCKET and shares its public URL (blob_store.hpp).
        const std::string& base =
            config.s3.image_bucket.empty() ? config.s3.public_bucket_url : config.s3.public_image_bucket_url;
        if (!base.empty()) return Join(base, fmt::format("/images/{}.{}", image_id, ext));
    }
    return Join(config.public_url, fmt::format("/images/{}.{}", image_id, ext));
}

namespace {

std::optional<std::string> JsonString(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
}

}  // namespace

Result<pds::BuiltRecord> TrackRecordSource::Build(storage::db::Db& db, const std::string& entity_id,
                                                  const std::optional<atproto::Value>& current_on_pds) {
    std::int64_t id = 0;
    try {
        std::size_t used = 0;
        id = std::stoll(entity_id, &used);
        if (used != entity_id.size() || id <= 0) id = 0;
    } catch (const std::exception&) {
        id = 0;
    }
    if (id == 0) return pds::BuiltRecord{};  // not a track id: nothing to write
    auto views = db.ReadValue<std::vector<storage::repos::TrackView>>(
        [&](storage::db::Connection& c) { return storage::repos::TrackRepository::GetViews(c, {id}); });
    if (!views) return Fail(std::move(views.error()));
    if (views->empty()) return pds::BuiltRecord{};
    const auto& view = views->front();
    const auto& row = view.track;

    TrackRecordInput input;
    input.app_namespace = config_.atproto_app_namespace;
    input.title = row.title;
    input.artist_display_name = view.artist.display_name;
    input.artist_handle = view.artist.handle.value_or("");
    input.file_type = row.file_type;
    input.created_at_us = row.created_at;
    if (auto tid = atproto::syntax::ParseTid(row.atproto_rkey)) input.created_at_us = tid->TimestampMicros();
    const bool gated = row.visibility == storage::repos::Visibility::kSupporters;
    input.audio_url = AudioUrl(config_, row.file_id, row.file_type, gated);
    if (view.album) input.album_title = view.album->title;
    input.duration_ms = row.duration_ms;
    for (const auto& f : row.features) {
        if (!f.is_object()) continue;
        const auto& o = f.as_object();
        auto did = JsonString(o, "did");
        if (!did) continue;
        input.features.push_back(FeatureSnapshot{*did, JsonString(o, "handle"), JsonString(o, "display_name")});
    }
    if (row.image_id && view.image_ext) input.image_url = ImageUrl(config_, *row.image_id, *view.image_ext);
    input.support_gate = gated;
    // A description plyr holds is written; without one, whatever the record has is kept.
    input.description = row.description;

    std::optional<atproto::Value> base = current_on_pds;
    if (!base && !row.record_extra.empty()) {
        auto extra = atproto::ValueFromJson(boost::json::value(row.record_extra));
        if (extra && extra->IsMap()) base = std::move(*extra);
    }
    auto record = BuildTrackRecord(catalog_, input, base);
    if (!record) return Fail(std::move(record.error()));
    {
        std::lock_guard lock(mutex_);
        last_built_[entity_id] = UnmanagedFields(*record);
    }
    return pds::BuiltRecord{std::move(*record)};
}

Status TrackRecordSource::OnWritten(storage::db::Db& db, const std::string& entity_id, const std::string& uri,
                                    const std::string& cid) {
    std::int64_t id = 0;
    try {
        id = std::stoll(entity_id);
    } catch (const std::exception&) {
        return Ok();
    }
    std::optional<boost::json::object> extra;
    {
        std::lock_guard lock(mutex_);
        auto it = last_built_.find(entity_id);
        if (it != last_built_.end()) {
            auto json = atproto::ValueToJson(it->second);
            if (json.is_object()) extra = std::move(json.as_object());
            last_built_.erase(it);
        }
    }
    return db.Write([&](storage::db::Connection& tx) -> Status {
        auto st = storage::repos::TrackRepository::MarkPublished(tx, id, uri, cid, extra);
        if (!st && st.error().code == ErrorCode::kNotFound) return Ok();  // deleted meanwhile: its delete follows
        return st;
    });
}

}  // namespace plyr::tracks
