#pragma once
// JSON ⇄ Value (atproto.md §4.1), on Boost.JSON.
//
// JSON → Value:
//   {"$link": "<cid>"}            → cid-link (the object must have exactly that key, a string, a valid CIDv1)
//   {"$bytes": "<base64>"}        → bytes (exactly that key; standard alphabet, unpadded or correctly padded,
//                                   canonical trailing bits)
//   {"$type": "blob", …}          → BlobRef (exactly $type, ref (link), mimeType (non-empty string), size
//                                   (integer ≥ 0)); anything else with $type "blob" is an error
//   any "$type" must be a non-empty string
//   numbers: integers in int64 range; an integer-valued float within ±2^53 (e.g. 123.0) is that integer;
//   every other number (fractions, exponents out of range, > int64) is rejected — the data model has no floats
//   nesting deeper than `max_depth` is rejected
// Value → JSON is the inverse; map keys come out in DAG-CBOR canonical order; bytes are emitted unpadded.
// Legacy blobs ({"cid": …, "mimeType": …} without $type) stay plain maps.
//
// Errors: kInvalidArgument (malformed / not data model), kTooLarge (depth). Thread-safety: pure functions.

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "atproto/data/value.hpp"
#include "core/result.hpp"

namespace plyr::atproto {

struct JsonLimits {
    std::size_t max_depth = 64;
};

Result<Value> ValueFromJson(const boost::json::value& json, const JsonLimits& limits = {});
// Parses JSON text (strict RFC 8259: no comments, no trailing commas, valid UTF-8) then converts.
Result<Value> ValueFromJsonText(std::string_view text, const JsonLimits& limits = {});

boost::json::value ValueToJson(const Value& value);
std::string ValueToJsonText(const Value& value);

// A record (top level of a repo record): a map whose "$type" is a non-empty string.
Status ValidateRecordShape(const Value& value);

// {"$bytes"} helpers: standard base64; Decode accepts unpadded or padded input, Encode emits unpadded.
Result<std::string> DecodeBytesBase64(std::string_view text);
std::string EncodeBytesBase64(std::string_view bytes);

}  // namespace plyr::atproto
