#pragma once
// DAG-CBOR (DRISL profile) encoding and strict decoding of Value (atproto.md §4.2).
//
// Encoder: shortest-form heads, definite lengths, map keys in canonical order (length, then bytewise — the
// order Value::Map already keeps), cid-links as tag 42 over a byte string 0x00 ‖ binary CID, blob refs as
// the map {"$type":"blob","ref","mimeType","size"}. Encoding a Value is deterministic; the record CID is
// CidForDagCbor(EncodeDagCbor(record)). Strings are written as stored (Value holds UTF-8 from its sources).
//
// Decoder (for untrusted input: firehose, CAR blocks, labels) rejects everything that is not the canonical
// encoding of a data-model value: non-minimal heads, indefinite lengths, floats, undefined and simple values
// other than false/true/null, tags other than 42, tag 42 without the 0x00 prefix or with a malformed CID,
// non-text map keys, unsorted or duplicate keys, invalid UTF-8, integers outside int64, trailing bytes, and
// the data-model rules shared with JSON ($type non-empty string, blob shape, no bare $link/$bytes keys).
// So whatever decodes re-encodes to exactly the input bytes.
//
// Errors: kInvalidArgument (malformed), kTooLarge (a limit). Thread-safety: pure functions.

#include <cstddef>
#include <string>
#include <string_view>

#include "atproto/data/value.hpp"
#include "core/result.hpp"

namespace plyr::atproto {

struct CborLimits {
    std::size_t max_depth = 64;                     // nested arrays/maps/tags
    std::size_t max_input_bytes = 5 * 1024 * 1024;  // whole encoded item
    std::size_t max_items = 1 << 20;                // total decoded values (bounds allocations)
};

std::string EncodeDagCbor(const Value& value);
void AppendDagCbor(std::string& out, const Value& value);

// Decodes exactly one item occupying all of `bytes`.
Result<Value> DecodeDagCbor(std::string_view bytes, const CborLimits& limits = {});
// Decodes one item at the start of `bytes` (event-stream frames hold two items back to back); on success
// `consumed` is its encoded length.
Result<Value> DecodeDagCborPrefix(std::string_view bytes, std::size_t& consumed, const CborLimits& limits = {});

}  // namespace plyr::atproto
