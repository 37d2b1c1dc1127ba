#pragma once
// The public settings served at GET /config (product.md §4.3). Never includes a secret.

#include <boost/json/object.hpp>

#include "core/config.hpp"

namespace plyr::app {

inline constexpr int kMaxTags = 10;
inline constexpr int kMaxTagLength = 50;
inline constexpr int kCommentMaxBytes = 1000;

boost::json::object PublicConfigJson(const core::Config& config);

}  // namespace plyr::app
