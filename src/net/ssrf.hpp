#pragma once
// net::ssrf — the address policy behind every outbound fetch of an attacker-chosen URL (handles, did:web,
// PDS endpoints, OAuth metadata; docs/atproto.md §2.7, product.md §8.2 ALLOW_PRIVATE_NETWORK).
//
// Contract
// - IpAddress is a parsed IPv4 or IPv6 address (no zone ids). ClassifyAddress() names the special-purpose
//   range an address falls in; only AddressClass::kPublic may be contacted unless the policy allows it.
//   IPv6 forms that carry an IPv4 address — IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 and
//   64:ff9b:1::/48, 6to4 2002::/16 — are classified by the embedded IPv4 address. IPv6 outside 2000::/3
//   (global unicast) that is not otherwise named is kReserved: new special ranges stay refused.
// - PrivateNetworkPolicy is parsed from the ALLOW_PRIVATE_NETWORK setting: "false"/"" (refuse every
//   non-public address), "true" (allow all of them: local development), or a comma list of `host:port`
//   and CIDR entries (`127.0.0.1:2583`, `localhost:2582`, `[::1]:80`, `10.1.0.0/16`); with a list only the
//   named targets pass and every other non-public address is still refused. A `host:port` entry matches
//   when the port equals the connect port and the host equals the URL's host name (case-insensitively) or,
//   for an IP entry, the resolved address. Parse errors are kConfig.
// - permits_http(): any setting other than "false" also permits plain-http URLs and `.test` handles.
// Thread-safety: immutable values; all functions are pure.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace plyr::net {

struct IpAddress {
    bool v6 = false;
    // IPv4 uses bytes[0..3]; IPv6 uses all 16, network byte order.
    std::array<std::uint8_t, 16> bytes{};

    static std::optional<IpAddress> Parse(std::string_view text);  // "10.0.0.1", "::1" (no brackets)
    static IpAddress V4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);
    std::string ToString() const;
    // Text for URLs and CURLOPT_RESOLVE: IPv6 in brackets.
    std::string ToUrlHost() const;
    // The embedded IPv4 address of the mapped, NAT64 and 6to4 forms.
    std::optional<IpAddress> EmbeddedV4() const;
    bool operator==(const IpAddress&) const = default;
};

enum class AddressClass {
    kPublic,
    kUnspecified,    // 0.0.0.0/8, ::
    kLoopback,       // 127/8, ::1
    kPrivate,        // 10/8, 172.16/12, 192.168/16, fec0::/10 (deprecated site-local)
    kLinkLocal,      // 169.254/16 (incl. the 169.254.169.254 metadata address), fe80::/10
    kCgnat,          // 100.64/10
    kUniqueLocal,    // fc00::/7
    kMulticast,      // 224/4, ff00::/8
    kBroadcast,      // 255.255.255.255
    kDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
    kReserved,       // 240/4, 192.0.0/24, 198.18/15, benchmarking, discard-only, outside 2000::/3, …
};

std::string_view AddressClassName(AddressClass c);
AddressClass ClassifyAddress(const IpAddress& address);
inline bool IsPublic(const IpAddress& address) { return ClassifyAddress(address) == AddressClass::kPublic; }

struct Cidr {
    IpAddress network;
    int prefix = 0;
    static std::optional<Cidr> Parse(std::string_view text);  // "10.0.0.0/8", "fc00::/7"
    bool Contains(const IpAddress& address) const;
};

class PrivateNetworkPolicy {
  public:
    PrivateNetworkPolicy() = default;  // refuse everything non-public
    static PrivateNetworkPolicy AllowAll();
    static Result<PrivateNetworkPolicy> Parse(std::string_view setting);

    bool allow_all() const { return allow_all_; }
    bool permits_http() const { return allow_all_ || !cidrs_.empty() || !host_ports_.empty(); }
    // Whether connecting to `address`:`port` for URL host `host` is allowed. Public addresses always are.
    bool Allows(std::string_view host, const IpAddress& address, std::uint16_t port) const;

  private:
    struct HostPort {
        std::string host;  // lowercase; an IP literal without brackets, or a name
        std::uint16_t port = 0;
    };
    bool allow_all_ = false;
    std::vector<Cidr> cidrs_;
    std::vector<HostPort> host_ports_;
};

}  // namespace plyr::net
