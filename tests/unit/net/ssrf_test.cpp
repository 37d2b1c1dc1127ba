// Address classification and the ALLOW_PRIVATE_NETWORK policy (net/ssrf.hpp).
#include "net/ssrf.hpp"

#include <gtest/gtest.h>

namespace plyr::net {
namespace {

struct ClassCase {
    const char* address;
    AddressClass expected;
};

AddressClass ClassOf(const char* text) {
    auto address = IpAddress::Parse(text);
    EXPECT_TRUE(address.has_value()) << text;
    return address ? ClassifyAddress(*address) : AddressClass::kPublic;
}

TEST(AddressClassTest, ClassifiesEveryIpv4SpecialRange) {
    const ClassCase cases[] = {
        {"0.0.0.0", AddressClass::kUnspecified},
        {"0.1.2.3", AddressClass::kUnspecified},
        {"10.0.0.1", AddressClass::kPrivate},
        {"10.255.255.255", AddressClass::kPrivate},
        {"100.64.0.1", AddressClass::kCgnat},
        {"100.127.255.255", AddressClass::kCgnat},
        {"100.63.255.255", AddressClass::kPublic},
        {"100.128.0.0", AddressClass::kPublic},
        {"127.0.0.1", AddressClass::kLoopback},
        {"127.255.0.9", AddressClass::kLoopback},
        {"169.254.169.254", AddressClass::kLinkLocal},
        {"169.254.0.1", AddressClass::kLinkLocal},
        {"172.16.0.1", AddressClass::kPrivate},
        {"172.31.255.255", AddressClass::kPrivate},
        {"172.15.255.255", AddressClass::kPublic},
        {"172.32.0.0", AddressClass::kPublic},
        {"192.0.0.170", AddressClass::kReserved},
        {"192.0.2.10", AddressClass::kDocumentation},
        {"192.88.99.1", AddressClass::kReserved},
        {"192.168.1.1", AddressClass::kPrivate},
        {"198.18.0.1", AddressClass::kReserved},
        {"198.19.255.255", AddressClass::kReserved},
        {"198.51.100.7", AddressClass::kDocumentation},
        {"203.0.113.9", AddressClass::kDocumentation},
        {"224.0.0.1", AddressClass::kMulticast},
        {"239.255.255.250", AddressClass::kMulticast},
        {"240.0.0.1", AddressClass::kReserved},
        {"255.255.255.254", AddressClass::kReserved},
        {"255.255.255.255", AddressClass::kBroadcast},
        {"8.8.8.8", AddressClass::kPublic},
        {"1.1.1.1", AddressClass::kPublic},
        {"93.184.216.34", AddressClass::kPublic},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(ClassOf(c.address), c.expected) << c.address;
    }
}

TEST(AddressClassTest, ClassifiesEveryIpv6SpecialRange) {
    const ClassCase cases[] = {
        {"::", AddressClass::kUnspecified},
        {"::1", AddressClass::kLoopback},
        {"fe80::1", AddressClass::kLinkLocal},
        {"febf:ffff::1", AddressClass::kLinkLocal},
        {"fec0::1", AddressClass::kPrivate},
        {"fc00::1", AddressClass::kUniqueLocal},
        {"fd12:3456:789a::1", AddressClass::kUniqueLocal},
        {"ff02::1", AddressClass::kMulticast},
        {"ff0e::1", AddressClass::kMulticast},
        {"2001:db8::1", AddressClass::kDocumentation},
        {"3fff::1", AddressClass::kDocumentation},
        {"2001::1", AddressClass::kReserved},      // Teredo
        {"2001:2::1", AddressClass::kReserved},    // benchmarking
        {"2001:10::1", AddressClass::kReserved},   // ORCHID
        {"2001:20::1", AddressClass::kReserved},   // ORCHIDv2
        {"100::1", AddressClass::kReserved},       // discard-only, outside 2000::/3
        {"::10.0.0.1", AddressClass::kReserved},   // deprecated IPv4-compatible
        {"64:ff9b:1::1", AddressClass::kPrivate},  // local-use NAT64
        {"5f00::1", AddressClass::kReserved},      // outside 2000::/3
        {"2606:4700:4700::1111", AddressClass::kPublic},
        {"2a00:1450:4001::200e", AddressClass::kPublic},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(ClassOf(c.address), c.expected) << c.address;
    }
}

TEST(AddressClassTest, JudgesWrappedIpv4ByWhatItWraps) {
    const ClassCase cases[] = {
        // IPv4-mapped ::ffff:0:0/96
        {"::ffff:10.0.0.1", AddressClass::kPrivate},
        {"::ffff:127.0.0.1", AddressClass::kLoopback},
        {"::ffff:169.254.169.254", AddressClass::kLinkLocal},
        {"::ffff:100.64.1.1", AddressClass::kCgnat},
        {"::ffff:0.0.0.0", AddressClass::kUnspecified},
        {"::ffff:8.8.8.8", AddressClass::kPublic},
        {"::ffff:a00:1", AddressClass::kPrivate},  // same as ::ffff:10.0.0.1, hex spelling
        // NAT64 64:ff9b::/96
        {"64:ff9b::10.0.0.1", AddressClass::kPrivate},
        {"64:ff9b::7f00:1", AddressClass::kLoopback},
        {"64:ff9b::a9fe:a9fe", AddressClass::kLinkLocal},
        {"64:ff9b::8.8.8.8", AddressClass::kPublic},
        // 6to4 2002::/16 (IPv4 in bits 16..47)
        {"2002:0a00:0001::1", AddressClass::kPrivate},
        {"2002:7f00:0001::", AddressClass::kLoopback},
        {"2002:c0a8:0101::1", AddressClass::kPrivate},
        {"2002:0808:0808::1", AddressClass::kPublic},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(ClassOf(c.address), c.expected) << c.address;
    }
}

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
    auto v4 = IpAddress::Parse("192.168.0.1");
    ASSERT_TRUE(v4);
    EXPECT_FALSE(v4->v6);
    EXPECT_EQ(v4->ToString(), "192.168.0.1");
    EXPECT_EQ(v4->ToUrlHost(), "192.168.0.1");
    auto v6 = IpAddress::Parse("FE80:0::1");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->v6);
    EXPECT_EQ(v6->ToString(), "fe80::1");
    EXPECT_EQ(v6->ToUrlHost(), "[fe80::1]");
    auto embedded = IpAddress::Parse("64:ff9b::c000:221")->EmbeddedV4();
    ASSERT_TRUE(embedded);
    EXPECT_EQ(embedded->ToString(), "192.0.2.33");
}

TEST(IpAddressTest, RejectsMalformedAddresses) {
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4x", "::g", "[::1]", "fe80::1%eth0",
                            "localhost", " 1.2.3.4", "1.2.3.4 "}) {
        EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
    }
}

TEST(CidrTest, ContainsAddressesInsideThePrefixOnly) {
    auto net = Cidr::Parse("10.1.0.0/16");
    ASSERT_TRUE(net);
    EXPECT_TRUE(net->Contains(*IpAddress::Parse("10.1.200.3")));
    EXPECT_FALSE(net->Contains(*IpAddress::Parse("10.2.0.1")));
    EXPECT_TRUE(net->Contains(*IpAddress::Parse("::ffff:10.1.0.9")));  // mapped spelling of the same host
    EXPECT_FALSE(net->Contains(*IpAddress::Parse("fc00::1")));

    auto odd = Cidr::Parse("172.16.0.0/12");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->Contains(*IpAddress::Parse("172.31.1.1")));
    EXPECT_FALSE(odd->Contains(*IpAddress::Parse("172.32.0.0")));

    auto v6 = Cidr::Parse("fc00::/7");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->Contains(*IpAddress::Parse("fdff::1")));
    EXPECT_FALSE(v6->Contains(*IpAddress::Parse("fe00::1")));

    auto host_bits = Cidr::Parse("10.9.9.9/8");  // host bits are ignored
    ASSERT_TRUE(host_bits);
    EXPECT_TRUE(host_bits->Contains(*IpAddress::Parse("10.0.0.1")));

    auto single = Cidr::Parse("127.0.0.1");
    ASSERT_TRUE(single);
    EXPECT_TRUE(single->Contains(*IpAddress::Parse("127.0.0.1")));
    EXPECT_FALSE(single->Contains(*IpAddress::Parse("127.0.0.2")));

    auto mapped = Cidr::Parse("::ffff:10.0.0.0/104");  // the IPv4 range 10/8 in mapped spelling
    ASSERT_TRUE(mapped);
    EXPECT_TRUE(mapped->Contains(*IpAddress::Parse("10.2.3.4")));
    EXPECT_TRUE(mapped->Contains(*IpAddress::Parse("::ffff:10.2.3.4")));
    EXPECT_FALSE(mapped->Contains(*IpAddress::Parse("11.0.0.1")));

    auto everything = Cidr::Parse("0.0.0.0/0");
    ASSERT_TRUE(everything);
    EXPECT_TRUE(everything->Contains(*IpAddress::Parse("192.168.3.4")));
}

TEST(CidrTest, RejectsMalformedRanges) {
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0/8", "x/8", "10.0.0.0/8/8"}) {
        EXPECT_FALSE(Cidr::Parse(bad).has_value()) << bad;
    }
}

TEST(PrivateNetworkPolicyTest, FalseAndEmptyRefuseEveryPrivateAddress) {
    for (const char* setting : {"", "false", "FALSE", "  false "}) {
        auto policy = PrivateNetworkPolicy::Parse(setting);
        ASSERT_TRUE(policy) << setting;
        EXPECT_FALSE(policy->allow_all());
        EXPECT_FALSE(policy->permits_http());
        EXPECT_FALSE(policy->Allows("127.0.0.1", *IpAddress::Parse("127.0.0.1"), 80));
        EXPECT_FALSE(policy->Allows("x", *IpAddress::Parse("10.0.0.1"), 443));
        EXPECT_TRUE(policy->Allows("example.com", *IpAddress::Parse("93.184.216.34"), 443));
    }
}

TEST(PrivateNetworkPolicyTest, TrueAllowsEveryPrivateAddress) {
    auto policy = PrivateNetworkPolicy::Parse("true");
    ASSERT_TRUE(policy);
    EXPECT_TRUE(policy->allow_all());
    EXPECT_TRUE(policy->permits_http());
    EXPECT_TRUE(policy->Allows("localhost", *IpAddress::Parse("::1"), 1234));
    EXPECT_TRUE(policy->Allows("x", *IpAddress::Parse("169.254.169.254"), 80));
}

TEST(PrivateNetworkPolicyTest, ListAllowsOnlyTheNamedTargets) {
    auto policy = PrivateNetworkPolicy::Parse("127.0.0.1:2583, localhost:2582,[::1]:8080,10.1.0.0/16,fd00::/8");
    ASSERT_TRUE(policy) << policy.error().ToString();
    EXPECT_FALSE(policy->allow_all());
    EXPECT_TRUE(policy->permits_http());
    const auto loopback = *IpAddress::Parse("127.0.0.1");
    // host:port by address
    EXPECT_TRUE(policy->Allows("127.0.0.1", loopback, 2583));
    EXPECT_TRUE(policy->Allows("pds.test", loopback, 2583));
    EXPECT_TRUE(policy->Allows("x", *IpAddress::Parse("::ffff:127.0.0.1"), 2583));
    EXPECT_FALSE(policy->Allows("127.0.0.1", loopback, 2584));
    EXPECT_FALSE(policy->Allows("127.0.0.2", *IpAddress::Parse("127.0.0.2"), 2583));
    // host:port by name
    EXPECT_TRUE(policy->Allows("LOCALHOST", *IpAddress::Parse("::1"), 2582));
    EXPECT_TRUE(policy->Allows("localhost", loopback, 2582));
    EXPECT_FALSE(policy->Allows("other.test", loopback, 2582));
    // bracketed IPv6
    EXPECT_TRUE(policy->Allows("::1", *IpAddress::Parse("::1"), 8080));
    EXPECT_FALSE(policy->Allows("::1", *IpAddress::Parse("::1"), 8081));
    // CIDR entries admit any port
    EXPECT_TRUE(policy->Allows("a", *IpAddress::Parse("10.1.2.3"), 1));
    EXPECT_TRUE(policy->Allows("b", *IpAddress::Parse("fd00::5"), 443));
    // everything else private is still refused
    EXPECT_FALSE(policy->Allows("c", *IpAddress::Parse("10.2.0.1"), 80));
    EXPECT_FALSE(policy->Allows("d", *IpAddress::Parse("169.254.169.254"), 80));
    EXPECT_FALSE(policy->Allows("e", *IpAddress::Parse("fc00::1"), 80));
    EXPECT_FALSE(policy->Allows("f", *IpAddress::Parse("192.168.0.1"), 2583));
}

TEST(PrivateNetworkPolicyTest, RejectsMalformedEntriesAsConfigErrors) {
    for (const char* bad : {"yes", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "host:port",
                            "10.0.0.0/40", "a,,b:1", ":80", "[::1]", "[::1]80", "[zz]:80", "::1:80x"}) {
        auto policy = PrivateNetworkPolicy::Parse(bad);
        ASSERT_FALSE(policy) << bad;
        EXPECT_EQ(policy.error().code, ErrorCode::kConfig) << bad;
    }
}

}  // namespace
}  // namespace plyr::net
