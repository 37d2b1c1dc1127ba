#pragma once
// Test support for suites that talk to the local reference PDS (scripts/testnet.sh, started by scripts/test.sh).

#include <memory>
#include <optional>
#include <string>

#include "net/http_client.hpp"

namespace plyr::testing {

// $TESTNET_PDS_URL, or nullopt when no testnet runs (the caller skips).
std::optional<std::string> TestnetPdsUrl();

// An SSRF-guarded client whose private-network allow-list is exactly the PDS's host:port, so every other
// private target is still refused.
Result<std::unique_ptr<net::CurlHttpClient>> ClientAllowingOnly(const std::string& pds_url);

}  // namespace plyr::testing
