// Fuzz target: the SSRF address policy parsers. Properties: an accepted IP address round-trips through its
// text form with the same classification; a CIDR contains its own network address; a parsed
// ALLOW_PRIVATE_NETWORK policy never refuses a public address and admits the metadata address on a port no
// entry names only through "true", a CIDR or an entry spelling that address.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "net/ssrf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace plyr::net;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto ip = IpAddress::Parse(text)) {
        auto again = IpAddress::Parse(ip->ToString());
        if (!again || !(*again == *ip) || ClassifyAddress(*again) != ClassifyAddress(*ip)) std::abort();
    }
    if (auto cidr = Cidr::Parse(text)) {
        if (!cidr->Contains(cidr->network)) std::abort();
    }
    if (auto policy = PrivateNetworkPolicy::Parse(text)) {
        if (!policy->Allows("example.com", IpAddress::V4(93, 184, 216, 34), 443)) std::abort();
        // Entries name ports 1-65535, so on port 0 only "true", a CIDR or a bare address can admit it.
        const bool could_name_it = policy->allow_all() || text.find('/') != std::string_view::npos ||
                                   text.find("169.254.169.254") != std::string_view::npos;
        if (!could_name_it && policy->Allows("x.com", IpAddress::V4(169, 254, 169, 254), 0)) std::abort();
    }
    return 0;
}
