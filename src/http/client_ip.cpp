#include "http/client_ip.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace plyr::http {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

std::string_view TrimSpaces(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<IpAddress> ParseBare(std::string_view text) {
    if (text.empty() || text.size() > 64) return std::nullopt;
    std::string copy(text);
    IpAddress out;
    unsigned char v4[4];
    if (inet_pton(AF_INET, copy.c_str(), v4) == 1) {
        std::memcpy(out.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
        std::memcpy(out.bytes.data() + 12, v4, 4);
        return out;
    }
    if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) == 1) return out;
    return std::nullopt;
}

bool PortDigits(std::string_view s) {
    if (s.empty() || s.size() > 5) return false;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

bool IpAddress::IsV4() const { return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0; }

std::string IpAddress::ToString() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (IsV4()) {
        inet_ntop(AF_INET, bytes.data() + 12, buf, sizeof(buf));
    } else {
        inet_ntop(AF_INET6, bytes.data(), buf, sizeof(buf));
    }
    return buf;
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
    text = TrimSpaces(text);
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && !(rest.front() == ':' && PortDigits(rest.substr(1)))) return std::nullopt;
        return ParseBare(text.substr(1, close - 1));
    }
    if (auto parsed = ParseBare(text)) return parsed;
    // "1.2.3.4:5678": exactly one colon, so it cannot be an IPv6 address.
    auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos &&
        PortDigits(text.substr(colon + 1))) {
        auto v4 = ParseBare(text.substr(0, colon));
        if (v4 && v4->IsV4()) return v4;
    }
    return std::nullopt;
}

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries) {
    TrustedProxies out;
    for (const std::string& raw : entries) {
        std::string_view entry = TrimSpaces(raw);
        std::string_view address = entry;
        std::optional<int> bits;
        if (auto slash = entry.find('/'); slash != std::string_view::npos) {
            address = entry.substr(0, slash);
            std::string_view digits = entry.substr(slash + 1);
            int n = -1;
            auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
            if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size()) {
                return Fail(ErrorCode::kInvalidArgument,
                            fmt::format("trusted proxy '{}' has a bad prefix length", entry));
            }
            bits = n;
        }
        auto ip = ParseBare(address);
        if (!ip) {
            return Fail(ErrorCode::kInvalidArgument,
                        fmt::format("trusted proxy '{}' is not an IP address or CIDR", entry));
        }
        // The prefix length counts bits of the address as written: "10.0.0.0/8" is IPv4 (stored mapped, so
        // 96 bits of prefix come for free), "::ffff:10.0.0.0/104" is the same network written as IPv6.
        bool written_v4 = address.find(':') == std::string_view::npos;
        int max_bits = written_v4 ? 32 : 128;
        int prefix = bits.value_or(max_bits);
        if (prefix < 0 || prefix > max_bits) {
            return Fail(ErrorCode::kInvalidArgument, fmt::format("trusted proxy '{}' has a bad prefix length", entry));
        }
        Network network{*ip, written_v4 ? prefix + 96 : prefix};
        out.networks_.push_back(network);
    }
    return out;
}

bool TrustedProxies::Contains(const IpAddress& address) const {
    for (const Network& n : networks_) {
        int full = n.prefix_bits / 8;
        int rest = n.prefix_bits % 8;
        if (std::memcmp(address.bytes.data(), n.base.bytes.data(), static_cast<std::size_t>(full)) != 0) continue;
        if (rest != 0) {
            auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
            if ((address.bytes[static_cast<std::size_t>(full)] & mask) !=
                (n.base.bytes[static_cast<std::size_t>(full)] & mask)) {
                continue;
            }
        }
        return true;
    }
    return false;
}

bool TrustedProxies::Contains(std::string_view address) const {
    auto ip = ParseIpAddress(address);
    return ip && Contains(*ip);
}

std::string ClientIp(std::string_view remote_address, std::string_view x_forwarded_for, const TrustedProxies& proxies) {
    auto peer = ParseIpAddress(remote_address);
    if (!peer) return std::string(remote_address);
    IpAddress client = *peer;
    if (proxies.empty() || !proxies.Contains(client) || TrimSpaces(x_forwarded_for).empty()) {
        return client.ToString();
    }
    // Walk the hops right to left: each trusted hop vouches for the one to its left.
    std::string_view rest = x_forwarded_for;
    while (true) {
        auto comma = rest.rfind(',');
        std::string_view hop = TrimSpaces(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
        auto ip = ParseIpAddress(hop);
        if (!ip) break;
        client = *ip;
        if (!proxies.Contains(client)) break;
        if (comma == std::string_view::npos) break;
        rest = rest.substr(0, comma);
    }
    return client.ToString();
}

std::string ClientIp(const Request& request, const TrustedProxies& proxies) {
    // Several X-Forwarded-For lines form one list in order (RFC 9110 §5.3).
    std::string joined;
    for (const auto& [name, value] : request.headers.entries()) {
        if (!EqualsIgnoreCase(name, "X-Forwarded-For")) continue;
        if (!joined.empty()) joined += ',';
        joined += value;
    }
    return ClientIp(request.remote_address, joined, proxies);
}

}  // namespace plyr::http
