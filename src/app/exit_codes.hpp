#pragma once
// Process exit codes (product.md §8.1).

namespace plyr::app {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConfig = 3;
inline constexpr int kExitNotFound = 4;

}  // namespace plyr::app
