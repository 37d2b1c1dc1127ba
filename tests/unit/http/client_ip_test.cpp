#include "http/client_ip.hpp"

#include <gtest/gtest.h>

namespace plyr::http {
namespace {

TrustedProxies Proxies(const std::vector<std::string>& entries) {
    auto parsed = TrustedProxies::Parse(entries);
    EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().ToString());
    return parsed ? *parsed : TrustedProxies();
}

TEST(IpAddress, ParsesBothFamiliesBracketsPortsAndNormalisesMappedV4) {
    EXPECT_EQ(ParseIpAddress("1.2.3.4")->ToString(), "1.2.3.4");
    EXPECT_EQ(ParseIpAddress(" 1.2.3.4 ")->ToString(), "1.2.3.4");
    EXPECT_EQ(ParseIpAddress("1.2.3.4:5678")->ToString(), "1.2.3.4");
    EXPECT_EQ(ParseIpAddress("::ffff:1.2.3.4")->ToString(), "1.2.3.4");
    EXPECT_EQ(ParseIpAddress("2001:DB8::1")->ToString(), "2001:db8::1");
    EXPECT_EQ(ParseIpAddress("[2001:db8::1]")->ToString(), "2001:db8::1");
    EXPECT_EQ(ParseIpAddress("[::1]:443")->ToString(), "::1");
    EXPECT_TRUE(ParseIpAddress("1.2.3.4")->IsV4());
    EXPECT_FALSE(ParseIpAddress("::1")->IsV4());
    for (const char* bad : {"", "unknown", "1.2.3", "1.2.3.4.5", "256.1.1.1", "[::1", "[::1]x",
                            "1.2.3.4:", "1.2.3.4:99999999", "example.com", "::1:80:x"}) {
        EXPECT_FALSE(ParseIpAddress(bad)) << bad;
    }
}

TEST(TrustedProxies, MatchesAddressesAndCidrsOfBothFamilies) {
    TrustedProxies proxies = Proxies({"10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "172.16.0.0/12"});
    EXPECT_TRUE(proxies.Contains("10.200.3.4"));
    EXPECT_TRUE(proxies.Contains("::ffff:10.1.1.1"));  // mapped form of a trusted v4 address
    EXPECT_TRUE(proxies.Contains("192.168.1.7"));
    EXPECT_FALSE(proxies.Contains("192.168.1.8"));
    EXPECT_TRUE(proxies.Contains("fdab::1"));
    EXPECT_FALSE(proxies.Contains("fe80::1"));
    EXPECT_TRUE(proxies.Contains("::1"));
    EXPECT_TRUE(proxies.Contains("172.31.255.255"));
    EXPECT_FALSE(proxies.Contains("172.32.0.0"));
    EXPECT_FALSE(proxies.Contains("11.0.0.1"));
    EXPECT_FALSE(proxies.Contains("garbage"));
    EXPECT_TRUE(Proxies({"0.0.0.0/0"}).Contains("8.8.8.8"));
    EXPECT_FALSE(Proxies({"0.0.0.0/0"}).Contains("2001:db8::1")) << "an IPv4 network never covers IPv6";
    TrustedProxies mapped = Proxies({"::ffff:10.0.0.0/104"});
    EXPECT_TRUE(mapped.Contains("10.9.8.7")) << "an IPv4 network written in IPv6 form";
    EXPECT_FALSE(mapped.Contains("11.0.0.1"));
    EXPECT_TRUE(TrustedProxies().empty());
    EXPECT_FALSE(TrustedProxies().Contains("127.0.0.1"));
}

TEST(TrustedProxies, RejectsMalformedEntriesNamingThem) {
    for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "proxy.example", "10.0.0.0/-1"}) {
        auto parsed = TrustedProxies::Parse({bad});
        ASSERT_FALSE(parsed) << bad;
        EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
        EXPECT_NE(parsed.error().message.find(bad), std::string::npos);
    }
}

TEST(ClientIp, IgnoresForwardedForFromUntrustedPeers) {
    TrustedProxies proxies = Proxies({"10.0.0.1"});
    EXPECT_EQ(ClientIp("203.0.113.9", "1.1.1.1", proxies), "203.0.113.9");
    EXPECT_EQ(ClientIp("203.0.113.9", "1.1.1.1", TrustedProxies()), "203.0.113.9");
    EXPECT_EQ(ClientIp("::ffff:203.0.113.9", "", proxies), "203.0.113.9");
}

TEST(ClientIp, TakesTheRightmostUntrustedHopFromATrustedPeer) {
    TrustedProxies proxies = Proxies({"10.0.0.0/8"});
    // The client can prepend anything; only hops added by trusted proxies count.
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6, 198.51.100.7", proxies), "198.51.100.7");
    EXPECT_EQ(ClientIp("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", proxies), "198.51.100.7");
    EXPECT_EQ(ClientIp("10.0.0.1", "198.51.100.7", proxies), "198.51.100.7");
    EXPECT_EQ(ClientIp("10.0.0.1", "[2001:db8::5]:1234", proxies), "2001:db8::5");
    // Every hop trusted: the leftmost is the client.
    EXPECT_EQ(ClientIp("10.0.0.1", "10.9.9.9, 10.0.0.2", proxies), "10.9.9.9");
    // A garbage hop stops the walk at the last valid hop (here the trusted proxy itself).
    EXPECT_EQ(ClientIp("10.0.0.1", "1.2.3.4, nonsense", proxies), "10.0.0.1");
    EXPECT_EQ(ClientIp("10.0.0.1", "nonsense, 10.0.0.3", proxies), "10.0.0.3");
    EXPECT_EQ(ClientIp("10.0.0.1", " , ", proxies), "10.0.0.1");
    EXPECT_EQ(ClientIp("10.0.0.1", "", proxies), "10.0.0.1");
}

TEST(ClientIp, JoinsEveryForwardedForLineOfARequest) {
    TrustedProxies proxies = Proxies({"10.0.0.0/8"});
    Request request;
    request.remote_address = "10.0.0.1";
    request.headers.Add("X-Forwarded-For", "198.51.100.7");
    request.headers.Add("x-forwarded-for", "10.0.0.2");
    EXPECT_EQ(ClientIp(request, proxies), "198.51.100.7");
    request.remote_address = "not-an-ip";
    EXPECT_EQ(ClientIp(request, proxies), "not-an-ip");
}

}  // namespace
}  // namespace plyr::http
