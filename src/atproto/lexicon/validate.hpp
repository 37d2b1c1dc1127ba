#pragma once
// Record validation against lexicon schemas (atproto.md §5.2–5.3).
//
// What: ValidateRecord checks a record (a data-model Value, from JSON or DAG-CBOR) against the record def
// `<nsid>#main` of the catalog: required fields, nullable, kinds, string minLength/maxLength (UTF-8 bytes),
// minGraphemes/maxGraphemes (extended grapheme clusters), formats (syntax module), enum and const (knownValues
// is an open set and never fails), integer minimum/maximum/enum/const, boolean const, bytes length, array
// length and items, refs (local and cross-document), unions (every member must carry `$type`; closed unions
// refuse unlisted types; open unions accept unlisted types without validating them), blob accept (exact,
// `type/*`, `*/*`; case-sensitive like the reference implementations) and maxSize, cid-link, unknown (any
// object, with or without `$type`, but not a blob, bytes or link). The record's `$type`, when present, must
// equal the NSID. Unknown extra fields are ignored: lexicons evolve by adding optional fields. Defaults are
// not filled in. Nesting is bounded (kMaxValidationDepth), so recursive schemas cannot loop.
//
// Errors (the first problem found; the message starts with the path of the offending value,
// e.g. `features[2].did: must be a DID`, `$type: must be fm.plyr.track`):
//   kInvalidArgument  the record is invalid (or the JSON text is not valid data-model JSON)
//   kNotFound         the NSID is not in the catalog, or the data reaches a ref the catalog cannot resolve
//                     (message names the missing lexicon: a catalog gap, not necessarily bad data)
//   kTooLarge         nesting deeper than kMaxValidationDepth
// Thread-safety: pure functions over an immutable catalog; safe from any number of threads.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/data/value.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "core/result.hpp"

namespace plyr::atproto::lexicon {

inline constexpr std::size_t kMaxValidationDepth = 256;

Status ValidateRecord(const Catalog& catalog, std::string_view nsid, const Value& record);

// What was wrong with a record, split for API errors that carry a "field" (product.md: validation errors
// add "field"): path "features[2].did" ("" = the record itself), problem "must be a DID".
struct Violation {
    ErrorCode code = ErrorCode::kInvalidArgument;  // kInvalidArgument, kNotFound (catalog gap) or kTooLarge
    std::string path;
    std::string problem;
};

// The same checks as ValidateRecord. Ok(nullopt) = valid; Ok(violation) = the record's first problem;
// an error (kInvalidArgument / kNotFound) when the NSID itself is unusable (not an NSID, not loaded, not a
// record type) — nothing about the data.
Result<std::optional<Violation>> FindRecordViolation(const Catalog& catalog, std::string_view nsid,
                                                     const Value& record);

// Checks a record key against the record def's `key` type: "tid" (a TID), "nsid" (an NSID), "any" (any record
// key), "literal:<k>" (exactly k); a def without `key` accepts any record key. kInvalidArgument when the
// key does not fit, kNotFound when the NSID is not in the catalog.
Status ValidateRecordKey(const Catalog& catalog, std::string_view nsid, std::string_view rkey);

// For `plyr atproto validate <lexicon-dir> <nsid> <file.json>`: parses the JSON text into the data model
// (json.hpp: `$link`, `$bytes`, blobs) and validates it as a record of `nsid`.
Status ValidateRecordJson(const Catalog& catalog, std::string_view nsid, std::string_view json_text);

// Validates any value against any data def by reference ("nsid" = "nsid#main", or "nsid#name"), e.g. an embed
// against "app.bsky.embed.images". A record def validates its object; `$type` is not checked.
Status ValidateValue(const Catalog& catalog, std::string_view ref, const Value& value);

}  // namespace plyr::atproto::lexicon
