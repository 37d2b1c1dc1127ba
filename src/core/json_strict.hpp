#pragma once
// Strictness checks Boost.JSON 1.81 does not make itself, for documents whose meaning must not depend on the
// parser (JWTs, DID documents). Pure functions; thread-safe.

#include <string_view>

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

namespace plyr::core {

// True when some object in `json` repeats a member name. Boost.JSON keeps the last duplicate silently while
// other parsers keep the first, so such a document could mean different things to different readers.
// Text that does not parse reports only what was seen before the error.
bool JsonHasDuplicateKeys(std::string_view json, const boost::json::parse_options& options = {});

// False when a parsed value holds a non-finite number: Boost.JSON turns overflowing literals such as 1e400
// into infinity (and 0e400 into NaN), which no JSON value means.
bool JsonNumbersFinite(const boost::json::value& value);

}  // namespace plyr::core
