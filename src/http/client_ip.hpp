#pragma once
// http::client_ip — which address a request comes from (product.md §4.1 rate limits, §8.2 TRUSTED_PROXIES).
//
// The peer address (Request::remote_address) is the client unless the peer is a trusted proxy. Then
// X-Forwarded-For (every header line, joined in order) is read from the right: trusted hops are skipped and
// the first untrusted hop is the client. A hop that is not an IP address stops the walk and the last hop
// known to be valid is used (a client cannot inject an arbitrary key through a garbage entry). When every
// hop is trusted, the leftmost is the client. Addresses are returned normalised (inet_ntop text; IPv4-mapped
// IPv6 `::ffff:a.b.c.d` as `a.b.c.d`; brackets and a trailing `:port` on IPv4 removed).
//
// TRUSTED_PROXIES entries are IPs or CIDRs ("10.0.0.0/8", "::1", "fd00::/8"); an IPv4 entry also matches
// the IPv4-mapped IPv6 form of its addresses.
// Errors: TrustedProxies::Parse → kInvalidArgument naming the bad entry.
// Thread-safety: TrustedProxies is immutable after Parse; all functions are pure.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

// A parsed IPv4 or IPv6 address (IPv4 stored as IPv4-mapped IPv6).
struct IpAddress {
    std::array<std::uint8_t, 16> bytes{};
    bool operator==(const IpAddress&) const = default;
    bool IsV4() const;
    std::string ToString() const;  // IPv4 dotted quad, else RFC 5952 text
};

// Accepts "1.2.3.4", "::1", "[::1]", "::ffff:1.2.3.4", "1.2.3.4:5678", "[::1]:5678". nullopt otherwise.
std::optional<IpAddress> ParseIpAddress(std::string_view text);

class TrustedProxies {
  public:
    TrustedProxies() = default;  // trusts nobody
    static Result<TrustedProxies> Parse(const std::vector<std::string>& entries);

    bool Contains(const IpAddress& address) const;
    bool Contains(std::string_view address) const;  // false for text that is not an address
    bool empty() const { return networks_.empty(); }

  private:
    struct Network {
        IpAddress base;
        int prefix_bits = 128;  // over the 16-byte (mapped) form
    };
    std::vector<Network> networks_;
};

// The client address of a request (see above). Falls back to remote_address verbatim when it does not parse.
std::string ClientIp(const Request& request, const TrustedProxies& proxies);
std::string ClientIp(std::string_view remote_address, std::string_view x_forwarded_for, const TrustedProxies& proxies);

}  // namespace plyr::http
