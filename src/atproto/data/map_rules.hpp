#pragma once
// Internal: the data-model rules every decoded map passes through, shared by the JSON and CBOR decoders so
// both accept exactly the same set of values (JSON ⇄ CBOR stays a bijection).

#include "atproto/data/value.hpp"
#include "core/result.hpp"

namespace plyr::atproto::detail {

// "$link"/"$bytes" keys are only valid in their one-key JSON forms (handled by the JSON decoder before this
// call), so here they are an error; "$type" must be a non-empty string; "$type": "blob" maps become BlobRef
// or fail.
Result<Value> FinishMap(Value::Map&& map);

}  // namespace plyr::atproto::detail
