#pragma once
// Internal to atproto/syntax: the one shape of a syntax error.

#include <string_view>

#include "core/result.hpp"

namespace plyr::atproto::syntax::detail {

// kInvalidArgument, message "invalid <kind>: <rule>" (safe to show), detail = the input, truncated
// (inputs are attacker-controlled and may be long).
tl::unexpected<Error> Invalid(std::string_view kind, std::string_view why, std::string_view input);

}  // namespace plyr::atproto::syntax::detail
