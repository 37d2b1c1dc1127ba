#include "net/ssrf.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace plyr::net {
namespace {

std::string Lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
    return out;
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// True when the first `bits` bits of `a` equal those of the prefix bytes.
bool HasPrefix(const std::array<std::uint8_t, 16>& a, std::initializer_list<std::uint8_t> prefix, int bits) {
    int i = 0;
    for (std::uint8_t p : prefix) {
        if (bits <= 0) break;
        std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
        if ((a[i] & mask) != (p & mask)) return false;
        bits -= 8;
        ++i;
    }
    return true;
}

AddressClass ClassifyV4(const std::array<std::uint8_t, 16>& b) {
    const std::uint8_t a0 = b[0], a1 = b[1], a2 = b[2];
    if (a0 == 0) return AddressClass::kUnspecified;  // 0.0.0.0/8 "this network"
    if (a0 == 10) return AddressClass::kPrivate;
    if (a0 == 100 && (a1 & 0xc0) == 64) return AddressClass::kCgnat;
    if (a0 == 127) return AddressClass::kLoopback;
    if (a0 == 169 && a1 == 254) return AddressClass::kLinkLocal;
    if (a0 == 172 && (a1 & 0xf0) == 16) return AddressClass::kPrivate;
    if (a0 == 192 && a1 == 0 && a2 == 0) return AddressClass::kReserved;  // IETF protocol assignments
    if (a0 == 192 && a1 == 0 && a2 == 2) return AddressClass::kDocumentation;
    if (a0 == 192 && a1 == 88 && a2 == 99) return AddressClass::kReserved;  // old 6to4 relay anycast
    if (a0 == 192 && a1 == 168) return AddressClass::kPrivate;
    if (a0 == 198 && (a1 & 0xfe) == 18) return AddressClass::kReserved;  // benchmarking 198.18/15
    if (a0 == 198 && a1 == 51 && a2 == 100) return AddressClass::kDocumentation;
    if (a0 == 203 && a1 == 0 && a2 == 113) return AddressClass::kDocumentation;
    if ((a0 & 0xf0) == 224) return AddressClass::kMulticast;
    if (a0 == 255 && a1 == 255 && a2 == 255 && b[3] == 255) return AddressClass::kBroadcast;
    if ((a0 & 0xf0) == 240) return AddressClass::kReserved;
    return AddressClass::kPublic;
}

// Maps ::ffff:a.b.c.d to a.b.c.d so allow-list entries written as IPv4 match both spellings.
IpAddress Normalize(const IpAddress& address) {
    if (address.v6) {
        static const std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::equal(kMapped.begin(), kMapped.end(), address.bytes.begin())) {
            return IpAddress::V4(address.bytes[12], address.bytes[13], address.bytes[14], address.bytes[15]);
        }
    }
    return address;
}

std::optional<std::uint16_t> ParsePort(std::string_view text) {
    unsigned value = 0;
    if (text.empty() || text.size() > 5) return std::nullopt;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value == 0 || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
    if (text.empty() || text.size() > 45) return std::nullopt;
    std::string copy(text);
    IpAddress out;
    if (copy.find(':') == std::string::npos) {
        in_addr v4{};
        if (inet_pton(AF_INET, copy.c_str(), &v4) != 1) return std::nullopt;
        std::memcpy(out.bytes.data(), &v4, 4);
        return out;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, copy.c_str(), &v6) != 1) return std::nullopt;
    out.v6 = true;
    std::memcpy(out.bytes.data(), &v6, 16);
    return out;
}

IpAddress IpAddress::V4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    IpAddress out;
    out.bytes[0] = a;
    out.bytes[1] = b;
    out.bytes[2] = c;
    out.bytes[3] = d;
    return out;
}

std::string IpAddress::ToString() const {
    char buffer[INET6_ADDRSTRLEN] = {};
    if (v6) {
        in6_addr a{};
        std::memcpy(&a, bytes.data(), 16);
        inet_ntop(AF_INET6, &a, buffer, sizeof(buffer));
    } else {
        in_addr a{};
        std::memcpy(&a, bytes.data(), 4);
        inet_ntop(AF_INET, &a, buffer, sizeof(buffer));
    }
    return buffer;
}

std::string IpAddress::ToUrlHost() const { return v6 ? "[" + ToString() + "]" : ToString(); }

std::optional<IpAddress> IpAddress::EmbeddedV4() const {
    if (!v6) return std::nullopt;
    if (HasPrefix(bytes, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96) ||
        HasPrefix(bytes, {0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96)) {
        return V4(bytes[12], bytes[13], bytes[14], bytes[15]);
    }
    if (HasPrefix(bytes, {0x20, 0x02}, 16)) return V4(bytes[2], bytes[3], bytes[4], bytes[5]);
    return std::nullopt;
}

std::string_view AddressClassName(AddressClass c) {
    switch (c) {
        case AddressClass::kPublic:
            return "public";
        case AddressClass::kUnspecified:
            return "unspecified";
        case AddressClass::kLoopback:
            return "loopback";
        case AddressClass::kPrivate:
            return "private";
        case AddressClass::kLinkLocal:
            return "link_local";
        case AddressClass::kCgnat:
            return "cgnat";
        case AddressClass::kUniqueLocal:
            return "unique_local";
        case AddressClass::kMulticast:
            return "multicast";
        case AddressClass::kBroadcast:
            return "broadcast";
        case AddressClass::kDocumentation:
            return "documentation";
        case AddressClass::kReserved:
            return "reserved";
    }
    return "reserved";
}

AddressClass ClassifyAddress(const IpAddress& address) {
    if (!address.v6) return ClassifyV4(address.bytes);
    const auto& b = address.bytes;
    if (auto v4 = address.EmbeddedV4()) {
        // A wrapped private address reaches the private host through a translator: judge what it wraps.
        return ClassifyV4(v4->bytes);
    }
    if (HasPrefix(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 128)) return AddressClass::kUnspecified;
    if (HasPrefix(b, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128)) return AddressClass::kLoopback;
    if (HasPrefix(b, {0xfe, 0x80}, 10)) return AddressClass::kLinkLocal;
    if (HasPrefix(b, {0xfe, 0xc0}, 10)) return AddressClass::kPrivate;  // deprecated site-local
    if (HasPrefix(b, {0xfc}, 7)) return AddressClass::kUniqueLocal;
    if (HasPrefix(b, {0xff}, 8)) return AddressClass::kMulticast;
    if (HasPrefix(b, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return AddressClass::kPrivate;  // local-use NAT64
    if (HasPrefix(b, {0x20, 0x01, 0x0d, 0xb8}, 32)) return AddressClass::kDocumentation;
    if (HasPrefix(b, {0x3f, 0xff}, 20)) return AddressClass::kDocumentation;
    if (HasPrefix(b, {0x20, 0x01, 0x00, 0x00}, 32)) return AddressClass::kReserved;  // Teredo hides its target
    if (HasPrefix(b, {0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48)) return AddressClass::kReserved;  // benchmarking
    if (HasPrefix(b, {0x20, 0x01, 0x00, 0x10}, 28)) return AddressClass::kReserved;              // ORCHID
    if (HasPrefix(b, {0x20, 0x01, 0x00, 0x20}, 28)) return AddressClass::kReserved;              // ORCHIDv2
    if (!HasPrefix(b, {0x20}, 3)) return AddressClass::kReserved;  // only 2000::/3 is global unicast
    return AddressClass::kPublic;
}

std::optional<Cidr> Cidr::Parse(std::string_view text) {
    auto slash = text.find('/');
    auto address = IpAddress::Parse(text.substr(0, slash));
    if (!address) return std::nullopt;
    const int max_prefix = address->v6 ? 128 : 32;
    int prefix = max_prefix;
    if (slash != std::string_view::npos) {
        auto digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (ec != std::errc() || ptr != digits.data() + digits.size() || prefix < 0 || prefix > max_prefix) {
            return std::nullopt;
        }
    }
    if (address->v6 && prefix >= 96 && !Normalize(*address).v6) {  // ::ffff:a.b.c.d/n = IPv4 a.b.c.d/(n-96)
        address = Normalize(*address);
        prefix -= 96;
    }
    Cidr out{*address, prefix};
    // Host bits are cleared so "10.1.2.3/8" means 10.0.0.0/8.
    for (int i = 0; i < 16; ++i) {
        int bits = prefix - i * 8;
        std::uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<std::uint8_t>(0xff << (8 - bits));
        out.network.bytes[i] &= mask;
    }
    return out;
}

bool Cidr::Contains(const IpAddress& raw) const {
    IpAddress address = Normalize(raw);
    if (address.v6 != network.v6) return false;
    for (int i = 0; i < 16; ++i) {
        int bits = prefix - i * 8;
        if (bits <= 0) break;
        std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
        if ((address.bytes[i] & mask) != network.bytes[i]) return false;
    }
    return true;
}

PrivateNetworkPolicy PrivateNetworkPolicy::AllowAll() {
    PrivateNetworkPolicy policy;
    policy.allow_all_ = true;
    return policy;
}

Result<PrivateNetworkPolicy> PrivateNetworkPolicy::Parse(std::string_view setting) {
    auto bad = [](std::string_view entry, std::string_view why) {
        return Fail(ErrorCode::kConfig, "ALLOW_PRIVATE_NETWORK: invalid entry",
                    "ALLOW_PRIVATE_NETWORK entry '" + std::string(entry) + "': " + std::string(why));
    };
    std::string whole = Lower(Trim(setting));
    if (whole.empty() || whole == "false") return PrivateNetworkPolicy{};
    if (whole == "true") return AllowAll();

    PrivateNetworkPolicy policy;
    std::string_view rest = whole;
    while (true) {
        auto comma = rest.find(',');
        std::string_view entry = Trim(rest.substr(0, comma));
        if (entry.empty()) return bad(entry, "empty entry");
        if (entry.find('/') != std::string_view::npos || IpAddress::Parse(entry)) {
            auto cidr = Cidr::Parse(entry);
            if (!cidr) return bad(entry, "not a CIDR range");
            policy.cidrs_.push_back(*cidr);
        } else {
            std::string_view host;
            std::string_view port_text;
            if (entry.front() == '[') {
                auto close = entry.find(']');
                if (close == std::string_view::npos || close + 1 >= entry.size() || entry[close + 1] != ':') {
                    return bad(entry, "expected [ipv6]:port");
                }
                host = entry.substr(1, close - 1);
                if (!IpAddress::Parse(host)) return bad(entry, "not an IPv6 address");
                port_text = entry.substr(close + 2);
            } else {
                auto colon = entry.rfind(':');
                if (colon == std::string_view::npos) return bad(entry, "expected host:port or a CIDR range");
                host = entry.substr(0, colon);
                port_text = entry.substr(colon + 1);
                if (host.empty() || host.find(':') != std::string_view::npos) return bad(entry, "bad host");
            }
            auto port = ParsePort(port_text);
            if (!port) return bad(entry, "bad port");
            std::string host_text(host);
            if (auto ip = IpAddress::Parse(host)) host_text = Normalize(*ip).ToString();
            policy.host_ports_.push_back({std::move(host_text), *port});
        }
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
    }
    return policy;
}

bool PrivateNetworkPolicy::Allows(std::string_view host, const IpAddress& address, std::uint16_t port) const {
    if (IsPublic(address) || allow_all_) return true;
    for (const auto& cidr : cidrs_) {
        if (cidr.Contains(address)) return true;
    }
    const std::string host_lower = Lower(host);
    const std::string address_text = Normalize(address).ToString();
    for (const auto& entry : host_ports_) {
        if (entry.port != port) continue;
        if (entry.host == host_lower || entry.host == address_text) return true;
    }
    return false;
}

}  // namespace plyr::net
