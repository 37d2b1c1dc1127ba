#include "tracks/upload_fields.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>

#include "atproto/lexicon/graphemes.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::tracks {
namespace {

namespace json = boost::json;

tl::unexpected<FieldError> FieldFail(std::string code, std::string field, std::string message) {
    return tl::unexpected<FieldError>(FieldError{400, std::move(code), std::move(field), std::move(message)});
}

// Code points of well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF); nullopt otherwise.
std::optional<std::u32string> Decode(std::string_view text) {
    std::u32string out;
    out.reserve(text.size());
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
    auto length = static_cast<std::int32_t>(text.size());
    if (text.size() > static_cast<std::size_t>(INT32_MAX)) return std::nullopt;
    std::int32_t i = 0;
    while (i < length) {
        UChar32 c = 0;
        U8_NEXT(bytes, i, length, c);
        if (c < 0) return std::nullopt;
        out.push_back(static_cast<char32_t>(c));
    }
    return out;
}

std::string Encode(std::u32string_view cps) {
    std::string out;
    out.reserve(cps.size());
    for (char32_t c : cps) {
        std::uint8_t buf[4];
        std::int32_t n = 0;
        // Code points come from Decode or u_tolower: always valid scalar values, which U8_APPEND_UNSAFE takes.
        U8_APPEND_UNSAFE(buf, n, static_cast<UChar32>(c));
        out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    }
    return out;
}

bool IsSpace(char32_t c) { return u_isUWhiteSpace(static_cast<UChar32>(c)); }

// Unicode general category Cc: C0, DEL and C1.
bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

std::u32string_view Trim(std::u32string_view s) {
    while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
    return s;
}

[[noreturn]] void IcuFailure(const char* what, UErrorCode status) {
    // Only a broken ICU installation (missing normalisation data) gets here; a silently unnormalised title
    // would break the record's NFC guarantee.
    std::fprintf(stderr, "plyr: ICU %s failed: %s\n", what, u_errorName(status));
    std::abort();
}

// NFC of well-formed UTF-8.
std::string Nfc(const std::string& utf8) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
    if (U_FAILURE(status) || nfc == nullptr) IcuFailure("getNFCInstance", status);
    icu::UnicodeString source = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), utf8.size()));
    if (nfc->isNormalized(source, status) && U_SUCCESS(status)) return utf8;
    status = U_ZERO_ERROR;
    icu::UnicodeString normalised = nfc->normalize(source, status);
    if (U_FAILURE(status)) IcuFailure("normalize", status);
    std::string out;
    normalised.toUTF8String(out);
    return out;
}

// Decode + trim + NFC; nullopt for ill-formed UTF-8.
std::optional<std::string> CleanText(std::string_view raw) {
    auto cps = Decode(raw);
    if (!cps) return std::nullopt;
    return Nfc(Encode(Trim(*cps)));
}

bool HasControl(std::string_view utf8, bool allow_line_breaks) {
    auto cps = Decode(utf8);
    if (!cps) return true;
    return std::any_of(cps->begin(), cps->end(), [&](char32_t c) {
        if (allow_line_breaks && (c == '\t' || c == '\n' || c == '\r')) return false;
        return IsControl(c);
    });
}

bool IsTagChar(char32_t c) {
    if (c == ' ' || c == '-' || c == '_' || c == '.' || c == '&') return true;
    auto cp = static_cast<UChar32>(c);
    // Letters and decimal digits of every script; combining marks belong to the letter before them (Devanagari
    // vowel signs, decomposed accents NFC cannot compose).
    return u_isalpha(cp) || u_isdigit(cp) || (U_GET_GC_MASK(cp) & U_GC_M_MASK) != 0;
}

// Parses a multipart text part that should hold a JSON value; "" (after trimming ASCII space) → nullopt.
tl::expected<std::optional<json::value>, std::monostate> ParseJsonText(std::string_view text) {
    while (!text.empty() &&
           (text.front() == ' ' || text.front() == '\t' || text.front() == '\r' || text.front() == '\n')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    if (text.empty()) return std::optional<json::value>();
    boost::system::error_code ec;
    json::value value = json::parse(text, ec);
    if (ec) return tl::unexpected(std::monostate{});
    return std::optional<json::value>(std::move(value));
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::string> OptString(const json::object& o, std::string_view key, bool& ok) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_string()) {
        ok = false;
        return std::nullopt;
    }
    return std::string(v->as_string());
}

std::optional<std::vector<std::string>> StringArray(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || v->is_null()) return std::vector<std::string>{};
    if (!v->is_array()) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& item : v->as_array()) {
        if (!item.is_string()) return std::nullopt;
        out.emplace_back(item.as_string());
    }
    return out;
}

}  // namespace

FieldResult<std::string> NormaliseTitle(std::string_view raw) {
    auto clean = CleanText(raw);
    if (!clean) return FieldFail("invalid_title", "title", "title must be valid utf-8");
    if (clean->empty()) return FieldFail("invalid_title", "title", "title is required");
    if (HasControl(*clean, false)) return FieldFail("invalid_title", "title", "title contains control characters");
    if (clean->size() > kMaxTitleBytes) {
        return FieldFail("invalid_title", "title", fmt::format("title is longer than {} bytes", kMaxTitleBytes));
    }
    return std::move(*clean);
}

FieldResult<std::optional<std::string>> NormaliseDescription(std::string_view raw) {
    auto clean = CleanText(raw);
    if (!clean) return FieldFail("invalid_description", "description", "description must be valid utf-8");
    if (clean->empty()) return std::optional<std::string>();
    if (HasControl(*clean, true)) {
        return FieldFail("invalid_description", "description", "description contains control characters");
    }
    if (clean->size() > kMaxDescriptionBytes) {
        return FieldFail("invalid_description", "description",
                         fmt::format("description is longer than {} bytes", kMaxDescriptionBytes));
    }
    return std::optional<std::string>(std::move(*clean));
}

std::optional<std::string> NormaliseTag(std::string_view raw) {
    auto decoded = Decode(raw);
    if (!decoded) return std::nullopt;
    std::u32string_view view = Trim(*decoded);
    if (!view.empty() && view.front() == U'#') view = Trim(view.substr(1));
    std::u32string folded;
    folded.reserve(view.size());
    bool in_space = false;
    for (char32_t c : view) {
        if (IsSpace(c)) {
            in_space = true;
            continue;
        }
        if (in_space) folded.push_back(U' ');
        in_space = false;
        folded.push_back(static_cast<char32_t>(u_tolower(static_cast<UChar32>(c))));
    }
    std::string tag = Nfc(Encode(folded));
    auto cps = Decode(tag);
    if (!cps || cps->empty() || cps->size() > kMaxTagChars) return std::nullopt;
    if (!std::all_of(cps->begin(), cps->end(), IsTagChar)) return std::nullopt;
    return tag;
}

FieldResult<std::vector<std::string>> ValidateTags(const json::value& value) {
    if (value.is_null()) return std::vector<std::string>{};
    if (!value.is_array()) return FieldFail("invalid_tags", "tags", "tags must be a json array of strings");
    const auto& array = value.as_array();
    if (array.size() > kMaxTags) {
        return FieldFail("too_many_tags", "tags", fmt::format("at most {} tags are allowed", kMaxTags));
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < array.size(); ++i) {
        if (!array[i].is_string()) return FieldFail("invalid_tags", "tags", "tags must be a json array of strings");
        auto tag = NormaliseTag(std::string_view(array[i].as_string()));
        if (!tag) {
            return FieldFail(
                "invalid_tags", "tags",
                fmt::format("tag {} must be 1-{} letters, digits, spaces or - _ . &", i + 1, kMaxTagChars));
        }
        if (std::find(out.begin(), out.end(), *tag) == out.end()) out.push_back(std::move(*tag));
    }
    return out;
}

FieldResult<std::vector<std::string>> ParseTags(std::string_view json_text) {
    auto parsed = ParseJsonText(json_text);
    if (!parsed) return FieldFail("invalid_tags", "tags", "tags must be a json array of strings");
    if (!*parsed) return std::vector<std::string>{};
    return ValidateTags(**parsed);
}

FieldResult<std::vector<std::string>> ValidateFeatures(const json::value& value) {
    if (value.is_null()) return std::vector<std::string>{};
    if (!value.is_array()) {
        return FieldFail("invalid_features", "features", "features must be a json array of handles or dids");
    }
    const auto& array = value.as_array();
    if (array.size() > kMaxFeatures) {
        return FieldFail("invalid_features", "features",
                         fmt::format("at most {} featured artists are allowed", kMaxFeatures));
    }
    std::vector<std::string> out;
    for (std::size_t i = 0; i < array.size(); ++i) {
        if (!array[i].is_string()) {
            return FieldFail("invalid_features", "features", "features must be a json array of handles or dids");
        }
        std::string id(array[i].as_string());
        if (id.starts_with("did:")) {
            if (!atproto::syntax::IsValidDid(id)) {
                return FieldFail("invalid_features", "features", fmt::format("feature {} is not a valid did", i + 1));
            }
        } else {
            // Handles are case-insensitive; the lowercase form is the one identity resolution answers with.
            std::transform(id.begin(), id.end(), id.begin(), LowerAscii);
            if (!atproto::syntax::IsValidHandle(id)) {
                return FieldFail("invalid_features", "features",
                                 fmt::format("feature {} is not a valid handle or did", i + 1));
            }
        }
        if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
    }
    return out;
}

FieldResult<std::vector<std::string>> ParseFeatures(std::string_view json_text) {
    auto parsed = ParseJsonText(json_text);
    if (!parsed) return FieldFail("invalid_features", "features", "features must be a json array of handles or dids");
    if (!*parsed) return std::vector<std::string>{};
    return ValidateFeatures(**parsed);
}

FieldResult<std::optional<std::string>> NormaliseAlbum(std::string_view raw) {
    auto clean = CleanText(raw);
    if (!clean) return FieldFail("invalid_album", "album", "album must be valid utf-8");
    if (clean->empty()) return std::optional<std::string>();
    if (HasControl(*clean, false)) return FieldFail("invalid_album", "album", "album contains control characters");
    if (clean->size() > kMaxAlbumBytes || atproto::lexicon::CountGraphemes(*clean) > kMaxAlbumGraphemes) {
        return FieldFail(
            "invalid_album", "album",
            fmt::format("album is longer than {} characters or {} bytes", kMaxAlbumGraphemes, kMaxAlbumBytes));
    }
    return std::optional<std::string>(std::move(*clean));
}

FieldResult<std::string> NormaliseAlbumId(std::string_view raw) {
    // 8-4-4-4-12 hex digits.
    constexpr std::size_t kDashes[] = {8, 13, 18, 23};
    bool ok = raw.size() == 36;
    for (std::size_t i = 0; ok && i < raw.size(); ++i) {
        bool dash = std::find(std::begin(kDashes), std::end(kDashes), i) != std::end(kDashes);
        ok = dash ? raw[i] == '-' : IsHex(raw[i]);
    }
    if (!ok) return FieldFail("invalid_id", "album_id", "album_id must be a uuid");
    std::string out(raw);
    std::transform(out.begin(), out.end(), out.begin(), LowerAscii);
    return out;
}

FieldResult<std::optional<json::object>> ValidateSupportGate(const json::value& value,
                                                             std::string_view artist_support_url) {
    if (value.is_null()) return std::optional<json::object>();
    bool shape = value.is_object() && value.as_object().size() == 1;
    if (shape) {
        const auto* type = value.as_object().if_contains("type");
        shape = type != nullptr && type->is_string() && type->as_string() == "any";
    }
    if (!shape) return FieldFail("invalid_support_gate", "support_gate", "support_gate must be {\"type\":\"any\"}");
    if (artist_support_url != "atprotofans") {
        return FieldFail("support_not_configured", "support_gate",
                         "supporter gating needs atprotofans as your support link");
    }
    return std::optional<json::object>(json::object{{"type", "any"}});
}

FieldResult<std::optional<json::object>> ParseSupportGate(std::string_view json_text,
                                                          std::string_view artist_support_url) {
    auto parsed = ParseJsonText(json_text);
    if (!parsed) return FieldFail("invalid_support_gate", "support_gate", "support_gate must be {\"type\":\"any\"}");
    if (!*parsed) return std::optional<json::object>();
    return ValidateSupportGate(**parsed, artist_support_url);
}

json::object UploadFields::ToJson() const {
    json::object o;
    o["title"] = title;
    o["description"] = description ? json::value(*description) : json::value(nullptr);
    json::array tag_array;
    for (const auto& t : tags) tag_array.emplace_back(t);
    o["tags"] = std::move(tag_array);
    json::array feature_array;
    for (const auto& f : features) feature_array.emplace_back(f);
    o["features"] = std::move(feature_array);
    o["album"] = album ? json::value(*album) : json::value(nullptr);
    o["album_id"] = album_id ? json::value(*album_id) : json::value(nullptr);
    o["support_gate"] = support_gate ? json::value(*support_gate) : json::value(nullptr);
    return o;
}

FieldResult<UploadFields> ValidateUploadFields(const RawUploadFields& raw, std::string_view artist_support_url) {
    UploadFields out;
    auto title = NormaliseTitle(raw.title.value_or(""));
    if (!title) return tl::unexpected(std::move(title.error()));
    out.title = std::move(*title);
    if (raw.description) {
        auto description = NormaliseDescription(*raw.description);
        if (!description) return tl::unexpected(std::move(description.error()));
        out.description = std::move(*description);
    }
    if (raw.tags) {
        auto tags = ParseTags(*raw.tags);
        if (!tags) return tl::unexpected(std::move(tags.error()));
        out.tags = std::move(*tags);
    }
    if (raw.features) {
        auto features = ParseFeatures(*raw.features);
        if (!features) return tl::unexpected(std::move(features.error()));
        out.features = std::move(*features);
    }
    if (raw.album) {
        auto album = NormaliseAlbum(*raw.album);
        if (!album) return tl::unexpected(std::move(album.error()));
        out.album = std::move(*album);
    }
    std::string_view album_id = raw.album_id ? std::string_view(*raw.album_id) : std::string_view();
    while (!album_id.empty() && album_id.front() == ' ') album_id.remove_prefix(1);
    while (!album_id.empty() && album_id.back() == ' ') album_id.remove_suffix(1);
    if (!album_id.empty()) {
        if (out.album) return FieldFail("album_conflict", "album_id", "send either album or album_id, not both");
        auto id = NormaliseAlbumId(album_id);
        if (!id) return tl::unexpected(std::move(id.error()));
        out.album_id = std::move(*id);
    }
    if (raw.support_gate) {
        auto gate = ParseSupportGate(*raw.support_gate, artist_support_url);
        if (!gate) return tl::unexpected(std::move(gate.error()));
        out.support_gate = std::move(*gate);
    }
    return out;
}

std::optional<UploadFields> UploadFieldsFromJson(const json::value& value) {
    if (!value.is_object()) return std::nullopt;
    const auto& o = value.as_object();
    UploadFields out;
    bool ok = true;
    auto title = OptString(o, "title", ok);
    if (!title) return std::nullopt;
    out.title = std::move(*title);
    out.description = OptString(o, "description", ok);
    out.album = OptString(o, "album", ok);
    out.album_id = OptString(o, "album_id", ok);
    auto tags = StringArray(o, "tags");
    auto features = StringArray(o, "features");
    if (!ok || !tags || !features) return std::nullopt;
    out.tags = std::move(*tags);
    out.features = std::move(*features);
    if (const auto* gate = o.if_contains("support_gate"); gate != nullptr && !gate->is_null()) {
        if (!gate->is_object()) return std::nullopt;
        out.support_gate = gate->as_object();
    }
    return out;
}

}  // namespace plyr::tracks
