// HandleResolver, DidResolver and DNS TXT parsing against a loopback stand-in (identity_fixture.hpp) whose
// port is the only allow-listed private target.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "atproto/identity/did_resolver.hpp"
#include "atproto/identity/dns_txt.hpp"
#include "atproto/identity/handle_resolver.hpp"
#include "atproto/identity/identity_resolver.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "identity_fixture.hpp"

namespace plyr::atproto::identity {
namespace {

using namespace std::chrono_literals;
using testing::Answer;
using testing::FakeIdentityServer;
using testing::MakeDidDocument;

constexpr const char* kAliceDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
constexpr const char* kBobDid = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";

// ---- DNS TXT wire format ---------------------------------------------------------------------------------

// A DNS response for `name` with the given answer records (type, rdata).
std::vector<std::uint8_t> DnsResponse(const std::string& name,
                                      const std::vector<std::pair<std::uint16_t, std::string>>& answers) {
    std::vector<std::uint8_t> m = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, static_cast<std::uint8_t>(answers.size()),
                                   0,    0,    0,    0};
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        m.push_back(static_cast<std::uint8_t>(dot - start));
        m.insert(m.end(), name.begin() + static_cast<long>(start), name.begin() + static_cast<long>(dot));
        start = dot + 1;
    }
    m.push_back(0);
    m.insert(m.end(), {0, 16, 0, 1});
    for (const auto& [type, rdata] : answers) {
        m.insert(m.end(), {0xc0, 0x0c, static_cast<std::uint8_t>(type >> 8), static_cast<std::uint8_t>(type & 0xff), 0,
                           1, 0, 0, 0x0e, 0x10, static_cast<std::uint8_t>(rdata.size() >> 8),
                           static_cast<std::uint8_t>(rdata.size() & 0xff)});
        m.insert(m.end(), rdata.begin(), rdata.end());
    }
    return m;
}

std::string CharacterStrings(const std::vector<std::string>& pieces) {
    std::string out;
    for (const auto& p : pieces) {
        out.push_back(static_cast<char>(p.size()));
        out += p;
    }
    return out;
}

TEST(DnsTxtTest, JoinsTheCharacterStringsOfEachRecord) {
    std::string long_did = "did=did:web:" + std::string(240, 'a') + ".example.com";
    auto message =
        DnsResponse("_atproto.alice.com", {{16, CharacterStrings({"did=did:plc:", "ewvi7nxzyoun6zhxrhs64oiz"})},
                                           {5, std::string("\x03www\x00", 5)},  // a CNAME in the chain is skipped
                                           {16, CharacterStrings({long_did.substr(0, 255), long_did.substr(255)})},
                                           {16, CharacterStrings({"v=spf1 -all"})}});
    auto records = ParseTxtAnswer(message);
    ASSERT_TRUE(records) << records.error().ToString();
    ASSERT_EQ(records->size(), 3u);
    EXPECT_EQ((*records)[0], "did=did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    EXPECT_EQ((*records)[1], long_did);
    EXPECT_EQ((*records)[2], "v=spf1 -all");
}

TEST(DnsTxtTest, RejectsMalformedMessages) {
    auto message = DnsResponse("_atproto.alice.com", {{16, CharacterStrings({"did=did:plc:x"})}});
    ASSERT_TRUE(ParseTxtAnswer(message));
    auto overrun = message;
    overrun[overrun.size() - 14] = 0x40;  // the character-string claims more bytes than its record holds
    EXPECT_FALSE(ParseTxtAnswer(overrun));
    EXPECT_FALSE(ParseTxtAnswer(std::span<const std::uint8_t>(message.data(), message.size() - 3)));  // cut short
    std::vector<std::uint8_t> garbage = {1, 2, 3};
    EXPECT_FALSE(ParseTxtAnswer(garbage));
}

TEST(DnsTxtTest, DidNeedsExactlyOneValidDidRecord) {
    auto one = DidFromTxtRecords({"v=spf1", std::string("did=") + kAliceDid});
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, kAliceDid);
    for (const auto& records :
         std::vector<std::vector<std::string>>{{},
                                               {"v=spf1"},
                                               {std::string("did=") + kAliceDid, std::string("did=") + kBobDid},
                                               {"did=not-a-did"},
                                               {std::string("did= ") + kAliceDid},  // no trimming
                                               {std::string("DID=") + kAliceDid}}) {
        auto result = DidFromTxtRecords(records);
        ASSERT_FALSE(result);
        EXPECT_EQ(result.error().code, ErrorCode::kNotFound);
    }
}

// A UDP name server on 127.0.0.1:0 answering TXT queries from a fixed zone (NXDOMAIN for other names), so
// LookupTxt's libresolv path runs for real.
class FakeDnsServer {
  public:
    using Zone = std::map<std::string, std::vector<std::vector<std::string>>>;  // name → records → pieces

    explicit FakeDnsServer(Zone zone) : zone_(std::move(zone)) {
        fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            return;
        }
        port_ = ntohs(address.sin_port);
        timeval tv{0, 50'000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        thread_ = std::thread([this] { Serve(); });
    }
    ~FakeDnsServer() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        ::close(fd_);
    }
    std::uint16_t port() const { return port_; }
    int queries() const { return queries_.load(); }

  private:
    void Serve() {
        std::uint8_t buffer[512];
        while (!stop_) {
            sockaddr_in peer{};
            socklen_t peer_length = sizeof(peer);
            ssize_t n = ::recvfrom(fd_, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
            if (n < 17) continue;
            queries_.fetch_add(1);
            // Question: labels from offset 12, then QTYPE and QCLASS.
            std::string name;
            std::size_t pos = 12;
            while (pos < static_cast<std::size_t>(n) && buffer[pos] != 0) {
                if (!name.empty()) name += '.';
                name.append(reinterpret_cast<const char*>(buffer + pos + 1), buffer[pos]);
                pos += 1 + buffer[pos];
            }
            const std::size_t question_end = pos + 5;
            if (question_end > static_cast<std::size_t>(n)) continue;
            auto it = zone_.find(name);
            std::vector<std::uint8_t> reply = {
                buffer[0], buffer[1], 0x81, static_cast<std::uint8_t>(it == zone_.end() ? 0x83 : 0x80),
                0,         1,         0,    static_cast<std::uint8_t>(it == zone_.end() ? 0 : it->second.size()),
                0,         0,         0,    0};
            reply.insert(reply.end(), buffer + 12, buffer + question_end);
            if (it != zone_.end()) {
                for (const auto& pieces : it->second) {
                    std::string rdata = CharacterStrings(pieces);
                    reply.insert(reply.end(), {0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0x0e, 0x10,
                                               static_cast<std::uint8_t>(rdata.size() >> 8),
                                               static_cast<std::uint8_t>(rdata.size() & 0xff)});
                    reply.insert(reply.end(), rdata.begin(), rdata.end());
                }
            }
            ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), peer_length);
        }
    }

    Zone zone_;
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> queries_{0};
    std::thread thread_;
};

TEST(DnsTxtTest, LooksUpTxtRecordsThroughLibresolv) {
    FakeDnsServer dns({{"_atproto.alice.com", {{"did=did:plc:", "ewvi7nxzyoun6zhxrhs64oiz"}, {"v=spf1 -all"}}}});
    ASSERT_NE(dns.port(), 0);
    NameServer server{"127.0.0.1", dns.port()};
    auto records = LookupTxt("_atproto.alice.com", 2s, server);
    ASSERT_TRUE(records) << records.error().ToString();
    EXPECT_EQ(*records, (std::vector<std::string>{std::string("did=") + kAliceDid, "v=spf1 -all"}));
    auto did = DidFromTxtRecords(*records);
    ASSERT_TRUE(did);
    EXPECT_EQ(*did, kAliceDid);

    auto missing = LookupTxt("_atproto.nobody.com", 2s, server);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_GE(dns.queries(), 2);

    auto bad_server = LookupTxt("_atproto.alice.com", 2s, NameServer{"not-an-ip", 53});
    ASSERT_FALSE(bad_server);
    EXPECT_EQ(bad_server.error().code, ErrorCode::kConfig);
}

TEST(DnsTxtTest, HandleResolverUsesTheDnsAnswer) {
    FakeDnsServer dns({{"_atproto.alice.com", {{std::string("did=") + kAliceDid}}}});
    ASSERT_NE(dns.port(), 0);
    net::CurlHttpClient client;  // DNS answers first: no HTTP request is needed
    HandleResolverOptions options;
    options.txt_lookup = [&](const std::string& name) {
        return LookupTxt(name, 2s, NameServer{"127.0.0.1", dns.port()});
    };
    DefaultHandleResolver resolver(client, options);
    auto did = resolver.Resolve("alice.com");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(*did, kAliceDid);
}

// ---- resolvers against the loopback stand-in --------------------------------------------------------------

class ResolverTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);
        server_ = std::make_unique<FakeIdentityServer>();
        ASSERT_TRUE(server_->ok());
        client_ = MakeClient(server_->AllowEntry());
    }
    void TearDown() override {
        server_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    std::unique_ptr<net::CurlHttpClient> MakeClient(const std::string& allow) {
        net::CurlHttpClientOptions options;
        options.policy = *net::PrivateNetworkPolicy::Parse(allow);
        // Handles and did:web hosts of the tests live on the loopback server (or on hostile addresses).
        for (const char* host : {"alice.test", "bob.test", "alice.com", "carol.com", "localhost"}) {
            options.static_hosts[host] = {"127.0.0.1"};
        }
        options.static_hosts["private.com"] = {"10.0.0.1"};
        options.static_hosts["metadata.com"] = {"169.254.169.254"};
        options.static_hosts["mapped.com"] = {"::ffff:10.0.0.1"};
        options.static_hosts["ula.com"] = {"fc00::1"};
        options.static_hosts["mixed.com"] = {"93.184.216.34", "10.0.0.1"};
        options.metrics = &metrics_;
        return std::make_unique<net::CurlHttpClient>(std::move(options));
    }

    HandleResolverOptions HandleOptions(TxtLookup txt = {}) {
        HandleResolverOptions options;
        options.txt_lookup =
            txt ? std::move(txt) : [this](const std::string& name) -> Result<std::vector<std::string>> {
            txt_queries_.push_back(name);
            return Fail(ErrorCode::kNotFound, "no dns record");
        };
        options.well_known_scheme = "http";
        options.well_known_port = server_->port();
        options.timeout = 2s;
        return options;
    }

    DidResolverOptions DidOptions() {
        DidResolverOptions options;
        options.plc_url = server_->Origin() + "/";
        options.timeout = 2s;
        return options;
    }

    std::uint64_t Blocked() {
        std::uint64_t total = 0;
        for (const char* reason : {"private", "link_local", "unique_local", "loopback"}) {
            total += metrics_.Counter("plyr_ssrf_blocked_total", "", {"reason"}).WithLabels({reason}).Value();
        }
        return total;
    }

    core::metrics::Registry metrics_;
    std::unique_ptr<FakeIdentityServer> server_;
    std::unique_ptr<net::CurlHttpClient> client_;
    std::vector<std::string> txt_queries_;
};

TEST_F(ResolverTest, HandleResolvesThroughDnsFirst) {
    DefaultHandleResolver resolver(*client_,
                                   HandleOptions([](const std::string& name) -> Result<std::vector<std::string>> {
                                       if (name != "_atproto.alice.com") return Fail(ErrorCode::kNotFound, "no");
                                       return std::vector<std::string>{std::string("did=") + kAliceDid};
                                   }));
    server_->SetWellKnownDid("alice.com", {200, kBobDid});
    auto did = resolver.Resolve("Alice.COM");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(*did, kAliceDid);
    EXPECT_EQ(server_->well_known_hits(), 0);
}

TEST_F(ResolverTest, HandleFallsBackToWellKnownAndTrimsTheBody) {
    DefaultHandleResolver resolver(*client_, HandleOptions());
    server_->SetWellKnownDid("alice.com", {200, std::string("  ") + kAliceDid + "\r\nsecond line ignored\n"});
    auto did = resolver.Resolve("alice.com");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(*did, kAliceDid);
    EXPECT_EQ(txt_queries_, std::vector<std::string>{"_atproto.alice.com"});
    EXPECT_EQ(server_->well_known_hits(), 1);
}

TEST_F(ResolverTest, WellKnownFailuresAreNotFoundOrUnreachable) {
    DefaultHandleResolver resolver(*client_, HandleOptions());
    server_->SetWellKnownDid("alice.com", {200, "not a did"});
    auto result = resolver.Resolve("alice.com");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kNotFound);

    server_->SetWellKnownDid("alice.com", {302, "", "/elsewhere"});  // redirects are not followed
    result = resolver.Resolve("alice.com");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kNotFound);

    server_->SetWellKnownDid("alice.com", {200, std::string(5000, 'd')});  // over the 4 KiB cap
    result = resolver.Resolve("alice.com");
    ASSERT_FALSE(result);
    EXPECT_EQ(IdentityErrorName(result.error()), "identity_unreachable");

    result = resolver.Resolve("nobody.test");  // no static host: DNS lookup of the name fails
    ASSERT_FALSE(result);
    EXPECT_EQ(IdentityErrorName(result.error()), "identity_unreachable");
}

TEST_F(ResolverTest, TestHandlesGoStraightToTheConfiguredService) {
    auto options = HandleOptions();
    options.service_url = server_->Origin();
    DefaultHandleResolver resolver(*client_, std::move(options));
    server_->SetServiceHandle("alice.test", kAliceDid);
    auto did = resolver.Resolve("alice.test");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(*did, kAliceDid);
    EXPECT_TRUE(txt_queries_.empty());
    EXPECT_EQ(server_->well_known_hits(), 0);

    auto missing = resolver.Resolve("nobody.test");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(server_->service_hits(), 2);
}

TEST_F(ResolverTest, ServiceIsTheLastResortForOtherHandles) {
    auto options = HandleOptions();
    options.service_url = server_->Origin();
    DefaultHandleResolver resolver(*client_, std::move(options));
    server_->SetServiceHandle("carol.com", kBobDid);
    auto did = resolver.Resolve("carol.com");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(*did, kBobDid);
    EXPECT_EQ(txt_queries_.size(), 1u);
    EXPECT_EQ(server_->well_known_hits(), 1);
}

TEST_F(ResolverTest, RefusesInvalidAndReservedHandlesWithoutAnyRequest) {
    auto options = HandleOptions();
    options.service_url = server_->Origin();
    DefaultHandleResolver resolver(*client_, std::move(options));
    for (const std::string& handle :
         {std::string("alice..bsky.social"), std::string("x.local"), std::string("handle.invalid"),
          std::string(300, 'a'), std::string("did:plc:short"), std::string("laptop.localhost"),
          std::string("blah.arpa"), std::string("x.onion"), std::string("a.example"), std::string("-a.com"),
          std::string("alice.com "), std::string("")}) {
        auto result = resolver.Resolve(handle);
        ASSERT_FALSE(result) << handle;
        EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << handle;
        EXPECT_EQ(IdentityErrorName(result.error()), "invalid_handle") << handle;
    }
    EXPECT_TRUE(txt_queries_.empty());
    EXPECT_EQ(server_->service_hits() + server_->well_known_hits(), 0);
}

TEST_F(ResolverTest, TestTldNeedsPrivateNetworkPermission) {
    auto strict = MakeClient("false");
    DefaultHandleResolver resolver(*strict, HandleOptions());
    auto result = resolver.Resolve("alice.test");
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ResolverTest, PlcDidResolvesThroughTheConfiguredDirectory) {
    HttpDidResolver resolver(*client_, DidOptions());
    server_->SetDidDocument(kAliceDid, {200, MakeDidDocument(kAliceDid, "alice.test", "http://127.0.0.1:2583")});
    auto doc = resolver.Resolve(kAliceDid);
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->did, kAliceDid);
    EXPECT_EQ(doc->handle, "alice.test");
    EXPECT_EQ(doc->pds_endpoint, "http://127.0.0.1:2583");  // http allowed: ALLOW_PRIVATE_NETWORK is set
    ASSERT_TRUE(doc->signing_key);
    EXPECT_EQ(server_->plc_hits(), 1);
}

TEST_F(ResolverTest, PlcFailuresMapToTheirErrorNames) {
    HttpDidResolver resolver(*client_, DidOptions());
    auto expect = [&](Answer answer, ErrorCode code, std::string_view name) {
        server_->SetDidDocument(kBobDid, std::move(answer));
        auto result = resolver.Resolve(kBobDid);
        ASSERT_FALSE(result) << name;
        EXPECT_EQ(result.error().code, code) << result.error().ToString();
        EXPECT_EQ(IdentityErrorName(result.error()), name);
    };
    expect({404, R"({"message":"DID not registered"})"}, ErrorCode::kNotFound, "identity_not_found");
    expect({410, R"({"message":"DID not available"})"}, ErrorCode::kNotFound, "identity_not_found");
    expect({500, "{}"}, ErrorCode::kUnavailable, "identity_unreachable");
    expect({302, "", "https://evil.example.com/doc"}, ErrorCode::kUnavailable, "identity_unreachable");
    expect({200, MakeDidDocument(kAliceDid, "alice.test")}, ErrorCode::kProtocol, "invalid_did_document");
    expect({200, MakeDidDocument(kBobDid, "bob.test", "https://pds.example.com/path")}, ErrorCode::kProtocol,
           "invalid_did_document");
    expect({200, MakeDidDocument(kBobDid, "bob.test") + std::string(2 * 1024 * 1024, ' ')}, ErrorCode::kTooLarge,
           "identity_unreachable");
    expect({200, "<html>"}, ErrorCode::kProtocol, "invalid_did_document");
}

TEST_F(ResolverTest, SlowDirectoryTimesOut) {
    auto options = DidOptions();
    options.timeout = 300ms;
    HttpDidResolver resolver(*client_, options);
    server_->SetDidDocument(kBobDid, {200, MakeDidDocument(kBobDid, "bob.test"), "", 3s});
    auto started = std::chrono::steady_clock::now();
    auto result = resolver.Resolve(kBobDid);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kTimeout);
    EXPECT_EQ(IdentityErrorName(result.error()), "identity_unreachable");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST_F(ResolverTest, HttpPdsIsInvalidWhenPrivateNetworkIsNotAllowed) {
    // The resolver hands policy().permits_http() to the parser: without ALLOW_PRIVATE_NETWORK no http PDS.
    auto strict = MakeClient("false");
    EXPECT_FALSE(strict->policy().permits_http());
    DidDocumentOptions options;
    options.allow_http_endpoints = strict->policy().permits_http();
    auto doc = ParseDidDocument(MakeDidDocument(kBobDid, "bob.test", "http://pds.example.com"), kBobDid, options);
    ASSERT_FALSE(doc);
    EXPECT_EQ(IdentityErrorName(doc.error()), "invalid_did_document");
}

TEST_F(ResolverTest, WebDidResolvesFromLocalhostWithPortInDevelopment) {
    HttpDidResolver resolver(*client_, DidOptions());
    const std::string did = "did:web:localhost%3A" + std::to_string(server_->port());
    server_->SetDidJson("localhost", {200, MakeDidDocument(did, "alice.test")});
    auto url = resolver.DocumentUrl(did);
    ASSERT_TRUE(url);
    EXPECT_EQ(*url, "http://localhost:" + std::to_string(server_->port()) + "/.well-known/did.json");
    auto doc = resolver.Resolve(did);
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->did, did);
    EXPECT_EQ(server_->did_json_hits(), 1);
}

TEST_F(ResolverTest, WebDidRefusals) {
    HttpDidResolver resolver(*client_, DidOptions());
    EXPECT_EQ(*resolver.DocumentUrl("did:web:Example.COM"), "https://example.com/.well-known/did.json");
    // path segments, ports other than localhost's, reserved TLDs, unsupported methods, bad casing
    for (const char* did :
         {"did:web:example.com:user", "did:web:example.com%3A8443", "did:web:printer.local", "did:web:x.internal",
          "did:web:", "DID:PLC:EWVI7NXZYOUN6ZHXRHS64OIZ", "did:plc:short", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaaa"}) {
        auto result = resolver.Resolve(did);
        ASSERT_FALSE(result) << did;
        EXPECT_EQ(result.error().code, ErrorCode::kInvalidArgument) << did << " " << result.error().ToString();
        EXPECT_EQ(IdentityErrorName(result.error()), "invalid_handle") << did;
    }
    auto key = resolver.Resolve("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo");
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code, ErrorCode::kUnsupported);
    EXPECT_EQ(IdentityErrorName(key.error()), "invalid_handle");

    auto strict = MakeClient("false");
    HttpDidResolver strict_resolver(*strict, DidOptions());
    auto dev_only = strict_resolver.Resolve("did:web:localhost%3A" + std::to_string(server_->port()));
    ASSERT_FALSE(dev_only);
    EXPECT_EQ(dev_only.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(server_->did_json_hits(), 0);
}

TEST_F(ResolverTest, WebDidOnPrivateAddressesIsRefusedWithoutConnecting) {
    HttpDidResolver resolver(*client_, DidOptions());
    for (const char* did : {"did:web:private.com", "did:web:metadata.com", "did:web:mapped.com", "did:web:ula.com",
                            "did:web:mixed.com"}) {
        auto result = resolver.Resolve(did);
        ASSERT_FALSE(result) << did;
        EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied) << did << " " << result.error().ToString();
        EXPECT_EQ(result.error().detail.rfind("ssrf_blocked", 0), 0u);
        EXPECT_EQ(IdentityErrorName(result.error()), "identity_unreachable");
    }
    EXPECT_EQ(Blocked(), 5u);

    // 127.0.0.1 on a port the allow-list does not name.
    auto other = MakeClient("127.0.0.1:" + std::to_string(net::testing::UnusedPort()));
    HttpDidResolver other_resolver(*other, DidOptions());
    auto loopback = other_resolver.Resolve(kAliceDid);
    ASSERT_FALSE(loopback);
    EXPECT_EQ(loopback.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(server_->plc_hits(), 0);
}

}  // namespace
}  // namespace plyr::atproto::identity
