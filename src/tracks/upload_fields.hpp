#pragma once
// tracks — the text fields of a track upload and edit (product.md §6.4 step 5, §3.2, §9 rows 17-19), shared by
// POST /tracks/ (multipart text parts) and PATCH /tracks/{id} (multipart or JSON). docs/tracks.md "upload API".
//
// Contract
// - Every validator normalises and checks one field and returns the normalised value, or a FieldError that
//   carries the HTTP status (400 unless stated), the product error code and the field name, ready for
//   http::ErrorResponse(status, code, message, field).
// - Text is UTF-8: ill-formed UTF-8 is refused with the field's error code. Titles and album names are trimmed
//   (Unicode White_Space) and NFC-normalised (ICU).
// - JSON-array fields (tags, features) accept the raw multipart text (`Parse…`) or an already parsed JSON value
//   (`Validate…`, for JSON bodies); both apply the same rules.
// - Codes: invalid_title, invalid_description, too_many_tags, invalid_tags, invalid_features, invalid_album,
//   invalid_id (album_id not a UUID), album_conflict, invalid_support_gate, support_not_configured.
// - Thread-safety: pure functions, reentrant.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <tl/expected.hpp>

namespace plyr::tracks {

inline constexpr std::size_t kMaxTitleBytes = 256;
inline constexpr std::size_t kMaxDescriptionBytes = 5000;
inline constexpr std::size_t kMaxTags = 10;
inline constexpr std::size_t kMaxTagChars = 50;  // code points after normalisation
inline constexpr std::size_t kMaxFeatures = 10;
inline constexpr std::size_t kMaxAlbumGraphemes = 64;
inline constexpr std::size_t kMaxAlbumBytes = 256;

struct FieldError {
    int status = 400;
    std::string code;     // product error code, e.g. "invalid_title"
    std::string field;    // request field name, e.g. "title"
    std::string message;  // lowercase, safe for users
};

template <typename T>
using FieldResult = tl::expected<T, FieldError>;

// Title: trim, NFC, 1–256 bytes, no control characters (C0, DEL, C1, and Unicode Cc) → invalid_title.
FieldResult<std::string> NormaliseTitle(std::string_view raw);

// Description: valid UTF-8, ≤ 5000 bytes, no control characters except tab, CR and LF → invalid_description.
// Surrounding whitespace is trimmed; empty after trimming → nullopt (no description).
FieldResult<std::optional<std::string>> NormaliseDescription(std::string_view raw);

// One tag: trim, drop one leading '#', lowercase (ASCII and ICU simple lowercase), inner whitespace runs
// collapsed to one space; 1–50 code points of letters, digits, space, '-', '_', '.', '&'. nullopt if invalid.
std::optional<std::string> NormaliseTag(std::string_view raw);

// Tags: a JSON array of strings, ≤ 10 entries (too_many_tags), each NormaliseTag-valid (invalid_tags, also when
// the value is not an array of strings). Duplicates after normalisation are merged (first position kept).
// Empty raw text counts as [].
FieldResult<std::vector<std::string>> ParseTags(std::string_view json_text);
FieldResult<std::vector<std::string>> ValidateTags(const boost::json::value& value);

// Features: a JSON array of ≤ 10 strings, each a syntactically valid handle or DID (atproto/syntax) →
// invalid_features. Handles are lowercased; duplicates merged. Empty raw text counts as [].
FieldResult<std::vector<std::string>> ParseFeatures(std::string_view json_text);
FieldResult<std::vector<std::string>> ValidateFeatures(const boost::json::value& value);

// Album title: trim, NFC, ≤ 64 graphemes and ≤ 256 bytes, no control characters → invalid_album.
// Empty after trimming → nullopt (no album; PATCH reads that as "leave the album").
FieldResult<std::optional<std::string>> NormaliseAlbum(std::string_view raw);

// album_id: a UUID (any case; returned lowercase) → invalid_id with field "album_id".
FieldResult<std::string> NormaliseAlbumId(std::string_view raw);

// support_gate: absent, "", "null" → nullopt (ungated); {"type":"any"} → that object, allowed only when
// artist_support_url == "atprotofans" (support_not_configured); anything else → invalid_support_gate.
FieldResult<std::optional<boost::json::object>> ParseSupportGate(std::string_view json_text,
                                                                 std::string_view artist_support_url);
FieldResult<std::optional<boost::json::object>> ValidateSupportGate(const boost::json::value& value,
                                                                    std::string_view artist_support_url);

// The raw multipart text parts of POST /tracks/ (nullopt = part absent).
struct RawUploadFields {
    std::optional<std::string> title;
    std::optional<std::string> description;
    std::optional<std::string> tags;
    std::optional<std::string> features;
    std::optional<std::string> album;
    std::optional<std::string> album_id;
    std::optional<std::string> support_gate;
};

// The validated fields; ToJson() is the "fields" object of the upload job payload (s3 contract):
// {"title", "description": str|null, "tags": [..], "features": [..], "album": str|null, "album_id": uuid|null,
//  "support_gate": {"type":"any"}|null}.
struct UploadFields {
    std::string title;
    std::optional<std::string> description;
    std::vector<std::string> tags;
    std::vector<std::string> features;
    std::optional<std::string> album;
    std::optional<std::string> album_id;
    std::optional<boost::json::object> support_gate;

    boost::json::object ToJson() const;
};

// Validates every field in the order title, description, tags, features, album, album_id, support_gate and
// returns the first failure. A missing title → invalid_title; album and album_id both non-empty →
// album_conflict (field "album_id"). Whether album_id names the caller's album is the caller's check.
FieldResult<UploadFields> ValidateUploadFields(const RawUploadFields& raw, std::string_view artist_support_url);

// Parses the "fields" object of a stored upload payload back (the inverse of UploadFields::ToJson; no
// re-validation beyond shape). nullopt when the shape is wrong.
std::optional<UploadFields> UploadFieldsFromJson(const boost::json::value& value);

}  // namespace plyr::tracks
