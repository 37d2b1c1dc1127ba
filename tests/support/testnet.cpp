#include "support/testnet.hpp"

#include <cstdlib>

namespace plyr::testing {

std::optional<std::string> TestnetPdsUrl() {
    const char* url = std::getenv("TESTNET_PDS_URL");
    if (url == nullptr || *url == '\0') return std::nullopt;
    return std::string(url);
}

Result<std::unique_ptr<net::CurlHttpClient>> ClientAllowingOnly(const std::string& pds_url) {
    std::string authority = pds_url.substr(pds_url.find("://") + 3);
    authority = authority.substr(0, authority.find('/'));
    auto policy = net::PrivateNetworkPolicy::Parse(authority);
    if (!policy) return Fail(policy.error());
    net::CurlHttpClientOptions options;
    options.policy = std::move(*policy);
    return std::make_unique<net::CurlHttpClient>(std::move(options));
}

}  // namespace plyr::testing
