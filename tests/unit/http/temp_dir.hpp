#pragma once
// The shared test TempDir (tests/support/temp_dir.hpp), under the name the http suites use.

#include "support/temp_dir.hpp"

namespace plyr::http::testing {
using plyr::testing::TempDir;
}  // namespace plyr::http::testing
