// CurlHttpClient against a real plyr http::Server on 127.0.0.1:0 whose port is the only allow-listed
// private target, so the SSRF refusals stay observable next to it.
#include "net/http_client.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "core/metrics.hpp"
#include "http/json.hpp"
#include "local_server.hpp"

namespace plyr::net {
namespace {

using namespace std::chrono_literals;
using testing::LocalServer;
using testing::TempDir;

std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string QueryEncode(std::string_view text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

class HttpClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);
        server_ = std::make_unique<LocalServer>(MakeRouter());
        ASSERT_TRUE(server_->ok());
    }
    void TearDown() override {
        server_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    http::Router MakeRouter() {
        http::Router router;
        auto add = [&](const char* method, const char* pattern, http::Handler handler) {
            ASSERT_TRUE(router.Add(method, pattern, std::move(handler)).has_value()) << pattern;
        };
        add("GET", "/hello", [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
            hits_.fetch_add(1);
            http::Response response(200);
            response.headers.Set("Content-Type", "text/plain");
            response.headers.Set("X-Seen-Host", std::string(request.Header("Host").value_or("")));
            response.headers.Set("X-Seen-Agent", std::string(request.Header("User-Agent").value_or("")));
            response.headers.Set("X-Test", std::string(request.Header("X-Test").value_or("")));
            response.headers.Set("X-Auth", std::string(request.Header("Authorization").value_or("")));
            response.body = "hello world";
            co_return response;
        });
        add("POST", "/echo", [](http::Request& request) -> boost::asio::awaitable<http::Response> {
            boost::json::object body;
            body["method"] = request.method;
            body["body"] = request.body;
            body["content_type"] = std::string(request.Header("Content-Type").value_or(""));
            co_return http::JsonResponse(200, body);
        });
        add("PUT", "/echo", [](http::Request& request) -> boost::asio::awaitable<http::Response> {
            boost::json::object body;
            body["method"] = request.method;
            body["size"] = request.body.size();
            co_return http::JsonResponse(200, body);
        });
        add("GET", "/big/{n}", [](http::Request& request) -> boost::asio::awaitable<http::Response> {
            http::Response response(200);
            response.body.assign(std::stoul(std::string(request.PathParam("n").value_or("0"))), 'x');
            co_return response;
        });
        add("GET", "/slow", [](http::Request&) -> boost::asio::awaitable<http::Response> {
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 3s);
            co_await timer.async_wait(boost::asio::use_awaitable);
            co_return http::Response(200);
        });
        add("GET", "/redirect", [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
            http::Response response(302);
            std::string to(request.Query("to").value_or("/hello"));
            response.headers.Set("Location", to);
            response.body = "redirect body that must not reach the caller";
            redirect_hits_.fetch_add(1);
            co_return response;
        });
        add("POST", "/see-other", [](http::Request&) -> boost::asio::awaitable<http::Response> {
            http::Response response(303);
            response.headers.Set("Location", "/hello");
            co_return response;
        });
        add("GET", "/loop", [](http::Request&) -> boost::asio::awaitable<http::Response> {
            http::Response response(307);
            response.headers.Set("Location", "/loop");
            co_return response;
        });
        return router;
    }

    CurlHttpClient Client(std::string allow) {
        CurlHttpClientOptions options;
        auto policy = PrivateNetworkPolicy::Parse(allow);
        EXPECT_TRUE(policy) << allow;
        if (policy) options.policy = *policy;
        options.metrics = &metrics_;
        return CurlHttpClient(std::move(options));
    }
    CurlHttpClient AllowedClient() { return Client(server_->AllowEntry()); }

    std::uint64_t Blocked(const std::string& reason) {
        return metrics_.Counter("plyr_ssrf_blocked_total", "", {"reason"}).WithLabels({reason}).Value();
    }

    core::metrics::Registry metrics_;
    std::unique_ptr<LocalServer> server_;
    std::atomic<int> hits_{0};
    std::atomic<int> redirect_hits_{0};
};

void ExpectSsrfBlocked(const Result<HttpResponse>& result) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(result.error().detail.rfind("ssrf_blocked", 0), 0u) << result.error().detail;
}

TEST_F(HttpClientTest, GetReturnsStatusHeadersAndBody) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/hello");
    request.headers = {{"X-Test", "yes"}};
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello world");
    EXPECT_EQ(response->Header("content-type"), "text/plain");
    EXPECT_EQ(response->Header("X-TEST"), "yes");
    EXPECT_EQ(response->Header("x-seen-agent"), "plyr");
    EXPECT_EQ(response->url, server_->Url("/hello"));
}

TEST_F(HttpClientTest, PostSendsBodyAndDoesNotInventAFormContentType) {
    auto client = AllowedClient();
    HttpRequest request;
    request.method = "POST";
    request.url = server_->Url("/echo");
    request.body = R"({"a":1})";
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    ASSERT_EQ(response->status, 200);
    auto json = boost::json::parse(response->body).as_object();
    EXPECT_EQ(json["method"].as_string(), "POST");
    EXPECT_EQ(json["body"].as_string(), R"({"a":1})");
    EXPECT_EQ(json["content_type"].as_string(), "");

    request.headers = {{"Content-Type", "application/json"}};
    response = client.Send(request);
    ASSERT_TRUE(response);
    EXPECT_EQ(boost::json::parse(response->body).as_object()["content_type"].as_string(), "application/json");
}

TEST_F(HttpClientTest, StreamsRequestBodyFromFile) {
    TempDir dir;
    std::string payload(300'000, 'z');
    auto file = dir.Write("upload.bin", payload);
    auto client = AllowedClient();
    HttpRequest request;
    request.method = "PUT";
    request.url = server_->Url("/echo");
    request.body_file = file;
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    auto json = boost::json::parse(response->body).as_object();
    EXPECT_EQ(json["method"].as_string(), "PUT");
    EXPECT_EQ(json["size"].as_int64(), 300'000);

    request.body_file = dir.path() / "missing.bin";
    response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(HttpClientTest, DeliversBodyToSinkOrFile) {
    TempDir dir;
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/big/5000");
    std::string collected;
    request.body_sink = [&](std::string_view chunk) -> Status {
        collected.append(chunk);
        return Ok();
    };
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(collected, std::string(5000, 'x'));
    EXPECT_TRUE(response->body.empty());

    HttpRequest to_file;
    to_file.url = server_->Url("/big/7000");
    to_file.response_file = dir.path() / "out.bin";
    response = client.Send(to_file);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(ReadFile(to_file.response_file), std::string(7000, 'x'));
}

TEST_F(HttpClientTest, SinkErrorStopsTheTransferAndIsReturned) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/big/100000");
    request.body_sink = [](std::string_view) -> Status { return Fail(ErrorCode::kStorageFull, "disk full"); };
    auto response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kStorageFull);
}

TEST_F(HttpClientTest, ResponseOverTheCapIsTooLargeAndLeavesNoFile) {
    TempDir dir;
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/big/2000000");
    request.max_response_bytes = 64 * 1024;
    auto response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kTooLarge);

    request.response_file = dir.path() / "partial.bin";
    response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kTooLarge);
    EXPECT_FALSE(std::filesystem::exists(request.response_file));

    request.response_file.clear();
    request.method = "HEAD";  // a HEAD of a large resource carries no body to cap
    response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(response->body.empty());

    request.method = "GET";
    request.url = server_->Url("/big/65536");  // exactly the cap is fine
    response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->body.size(), 65536u);
}

TEST_F(HttpClientTest, SlowServerTimesOut) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/slow");
    request.timeout = 300ms;
    auto started = std::chrono::steady_clock::now();
    auto response = client.Send(request);
    auto elapsed = std::chrono::steady_clock::now() - started;
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kTimeout);
    EXPECT_LT(elapsed, 2s);
}

TEST_F(HttpClientTest, RedirectIsReturnedUnfollowedByDefault) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/redirect");
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 302);
    EXPECT_EQ(response->Header("location"), "/hello");
    EXPECT_EQ(hits_.load(), 0);
}

TEST_F(HttpClientTest, RedirectIsFollowedWhenAllowedAndItsBodyDropped) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/redirect");
    request.max_redirects = 2;
    std::string collected;
    request.body_sink = [&](std::string_view chunk) -> Status {
        collected.append(chunk);
        return Ok();
    };
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(collected, "hello world");
    EXPECT_EQ(response->url, server_->Url("/hello"));
    EXPECT_EQ(hits_.load(), 1);
}

TEST_F(HttpClientTest, SeeOtherContinuesAsGetWithoutBody) {
    auto client = AllowedClient();
    HttpRequest request;
    request.method = "POST";
    request.body = "payload";
    request.url = server_->Url("/see-other");
    request.max_redirects = 1;
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "hello world");
}

TEST_F(HttpClientTest, RedirectToAnotherOriginDropsAuthorization) {
    // 127.0.0.1 and "localhost" are different origins of the same server (localhost is pinned to 127.0.0.1).
    CurlHttpClientOptions options;
    options.policy = *PrivateNetworkPolicy::Parse(server_->AllowEntry());
    options.static_hosts["localhost"] = {"127.0.0.1"};
    CurlHttpClient client(std::move(options));
    HttpRequest request;
    request.url =
        server_->Url("/redirect?to=" + QueryEncode("http://localhost:" + std::to_string(server_->port()) + "/hello"));
    request.headers = {{"Authorization", "Bearer secret"}};
    request.max_redirects = 1;
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("x-auth"), "");

    request.url = server_->Url("/redirect");  // same origin keeps it
    response = client.Send(request);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->Header("x-auth"), "Bearer secret");
}

TEST_F(HttpClientTest, RedirectToNonAllowedPrivateAddressIsBlockedOnEveryHop) {
    auto client = AllowedClient();
    HttpRequest request;
    request.max_redirects = 3;
    const std::string port = std::to_string(server_->port());
    const std::vector<std::string> targets = {
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2:" + port + "/hello",
        "http://127.0.0.1:" + std::to_string(testing::UnusedPort()) + "/",
        "http://[::ffff:10.0.0.1]/",
    };
    for (const auto& target : targets) {
        request.url = server_->Url("/redirect?to=" + QueryEncode(target));
        auto response = client.Send(request);
        ExpectSsrfBlocked(response);
    }
    EXPECT_EQ(hits_.load(), 0);
    EXPECT_EQ(redirect_hits_.load(), 5);
}

TEST_F(HttpClientTest, TooManyRedirectsIsAProtocolError) {
    auto client = AllowedClient();
    HttpRequest request;
    request.url = server_->Url("/loop");
    request.max_redirects = 3;
    auto response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kProtocol);
}

TEST_F(HttpClientTest, LoopbackIsRefusedWhenNotAllowed) {
    auto client = Client("false");
    HttpRequest request;
    request.url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/hello";
    ExpectSsrfBlocked(client.Send(request));
    EXPECT_EQ(Blocked("loopback"), 1u);

    auto other_port = Client("127.0.0.1:" + std::to_string(testing::UnusedPort()));
    request.url = server_->Url("/hello");
    ExpectSsrfBlocked(other_port.Send(request));
    EXPECT_EQ(hits_.load(), 0);
}

TEST_F(HttpClientTest, HostnameResolvingToLoopbackIsRefused) {
    auto client = Client("false");
    HttpRequest request;
    request.url = "https://localhost:" + std::to_string(server_->port()) + "/hello";
    ExpectSsrfBlocked(client.Send(request));

    request.url = "http://LocalHost:" + std::to_string(server_->port()) + "/hello";
    // localhost may also resolve to ::1, which the 127.0.0.1 entry does not name: refused as a whole.
    CurlHttpClientOptions options;
    options.policy = *PrivateNetworkPolicy::Parse(server_->AllowEntry());
    options.static_hosts["localhost"] = {"127.0.0.1", "::1"};
    CurlHttpClient both(std::move(options));
    ExpectSsrfBlocked(both.Send(request));
    EXPECT_EQ(hits_.load(), 0);
}

TEST_F(HttpClientTest, LiteralPrivateAddressesAreRefusedWithoutConnecting) {
    auto client = Client(server_->AllowEntry());
    const char* urls[] = {
        "https://10.0.0.1/",
        "https://172.16.5.4/",
        "https://192.168.1.1:8443/",
        "https://169.254.169.254/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::a00:1]/",
        "https://[2002:a00:1::1]/",
        "https://224.0.0.1/",
        "https://255.255.255.255/",
        "https://192.0.2.1/",
        "https://[::]/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://017700000001/",
        "https://240.0.0.1/",
    };
    auto started = std::chrono::steady_clock::now();
    for (const char* url : urls) {
        HttpRequest request;
        request.url = url;
        auto response = client.Send(request);
        ASSERT_FALSE(response) << url;
        EXPECT_EQ(response.error().code, ErrorCode::kPermissionDenied) << url;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);  // no connection attempt was made
    EXPECT_EQ(Blocked("link_local"), 2u);
    EXPECT_EQ(Blocked("private"), 6u);
    EXPECT_EQ(Blocked("unique_local"), 2u);
}

TEST_F(HttpClientTest, AllowAllAndCidrEntriesAdmitLoopback) {
    HttpRequest request;
    request.url = server_->Url("/hello");
    auto all = Client("true");
    auto response = all.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
    auto cidr = Client("127.0.0.0/8");
    response = cidr.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->status, 200);
}

TEST_F(HttpClientTest, StaticHostIsPinnedAndStillChecked) {
    CurlHttpClientOptions options;
    options.policy = *PrivateNetworkPolicy::Parse(server_->AllowEntry());
    options.static_hosts["pds.test"] = {"127.0.0.1"};
    options.static_hosts["evil.test"] = {"10.0.0.7"};
    CurlHttpClient client(std::move(options));
    HttpRequest request;
    request.url = "http://PDS.test:" + std::to_string(server_->port()) + "/hello";
    auto response = client.Send(request);
    ASSERT_TRUE(response) << response.error().ToString();
    EXPECT_EQ(response->Header("x-seen-host"), "pds.test:" + std::to_string(server_->port()));
    request.url = "http://evil.test:" + std::to_string(server_->port()) + "/hello";
    ExpectSsrfBlocked(client.Send(request));
}

TEST_F(HttpClientTest, RejectsUnsafeUrlsAndHeaders) {
    auto strict = Client("false");
    auto listed = AllowedClient();
    auto expect_invalid = [](CurlHttpClient& client, std::string url, HeaderList headers = {}) {
        HttpRequest request;
        request.url = std::move(url);
        request.headers = std::move(headers);
        auto response = client.Send(request);
        ASSERT_FALSE(response) << request.url;
        EXPECT_EQ(response.error().code, ErrorCode::kInvalidArgument) << request.url;
    };
    expect_invalid(strict, "http://example.com/");  // plain http outside development
    expect_invalid(listed, "ftp://example.com/");
    expect_invalid(listed, "file:///etc/passwd");
    expect_invalid(listed, "gopher://127.0.0.1:70/");
    expect_invalid(listed, "https://user:pw@example.com/");
    expect_invalid(listed, "not a url");
    expect_invalid(listed, "https:///nohost");
    expect_invalid(listed, server_->Url("/hello"), {{"X-Evil", "a\r\nInjected: 1"}});
    EXPECT_EQ(hits_.load(), 0);
}

TEST_F(HttpClientTest, ConnectionRefusedIsUnavailable) {
    auto port = testing::UnusedPort();
    auto client = Client("127.0.0.1:" + std::to_string(port));
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port) + "/";
    auto response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
}

TEST_F(HttpClientTest, UnresolvableHostIsUnavailable) {
    auto client = Client("false");
    HttpRequest request;
    request.url = "https://name-that-does-not-exist.invalid/";
    request.timeout = 3s;
    auto response = client.Send(request);
    ASSERT_FALSE(response);
    EXPECT_TRUE(response.error().code == ErrorCode::kUnavailable || response.error().code == ErrorCode::kTimeout)
        << response.error().ToString();
}

TEST(ResolveRedirectTest, ResolvesRelativeAndAbsoluteReferences) {
    EXPECT_EQ(ResolveRedirect("https://a.example/x/y?q=1", "/z"), "https://a.example/z");
    EXPECT_EQ(ResolveRedirect("https://a.example/x/y", "w"), "https://a.example/x/w");
    EXPECT_EQ(ResolveRedirect("https://a.example/x", "https://b.example/p#frag"), "https://b.example/p");
    EXPECT_EQ(ResolveRedirect("https://a.example/x", "//c.example/q"), "https://c.example/q");
    EXPECT_EQ(ResolveRedirect("https://a.example/x", "http://[::1"), "");
}

}  // namespace
}  // namespace plyr::net
