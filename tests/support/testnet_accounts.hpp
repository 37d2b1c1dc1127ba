#pragma once
// Test support: fresh accounts and public record reads on the local reference PDS ($TESTNET_PDS_URL), for
// end-to-end tests that sign in as a real user. Tests only.

#include <optional>
#include <string>

#include "support/web_client.hpp"

namespace plyr::testing {

struct TestnetAccount {
    std::string handle;  // e.g. "t3f9a0c1d2e.test"
    std::string did;
    std::string password;
};

// com.atproto.server.createAccount with a random `<prefix><hex>.test` handle. nullopt (with the PDS's answer
// in `error`, when given) on failure.
std::optional<TestnetAccount> CreateTestnetAccount(const std::string& pds_url, const std::string& prefix = "t",
                                                   std::string* error = nullptr);

// com.atproto.repo.getRecord (public, no auth): the PDS's answer, nullopt on a transport failure.
std::optional<WebResponse> GetTestnetRecord(const std::string& pds_url, const std::string& did,
                                            const std::string& collection, const std::string& rkey);

}  // namespace plyr::testing
