// Socket-level tests of http::Server: a real server on 127.0.0.1:0 and a raw loopback client.
#include "http/server.hpp"

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "core/encoding.hpp"
#include "http/json.hpp"
#include "server_fixture.hpp"

namespace plyr::http {
namespace {

using namespace std::chrono_literals;
using testing::RawResponse;
using testing::RequestText;
using testing::ServerTest;
using testing::TestConnection;

boost::asio::awaitable<Response> Hello(Request& request) {
    boost::json::object body;
    body["path"] = request.path;
    body["id"] = std::string(request.PathParam("id").value_or(""));
    body["q"] = std::string(request.Query("q").value_or(""));
    body["request_id"] = request.request_id;
    body["remote"] = request.remote_address;
    body["route"] = request.route;
    co_return JsonResponse(200, body);
}

boost::asio::awaitable<Response> Echo(Request& request) {
    auto parsed = ParseJsonBody(request);
    if (!parsed) co_return parsed.error();
    co_return JsonResponse(200, *parsed);
}

boost::asio::awaitable<Response> Throws(Request&) {
    throw std::runtime_error("boom: secret internals");
    co_return Response(200);
}

boost::asio::awaitable<Response> Sleep(std::promise<void>* started, std::chrono::milliseconds delay) {
    if (started != nullptr) started->set_value();
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, delay);
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return JsonResponse(200, boost::json::object{{"slept", true}});
}

// Reads a streamed body completely; answers its size and SHA-256, or 413 when the route limit is hit.
boost::asio::awaitable<Response> CountStream(Request& request) {
    core::Sha256Stream sha;
    std::uint64_t total = 0;
    std::vector<char> chunk(64 * 1024);
    while (true) {
        auto n = co_await request.body_reader->Read(chunk);
        if (!n) {
            if (n.error().code == ErrorCode::kTooLarge) co_return ErrorResponse(413, "file_too_large", "too large");
            co_return ErrorResponse(400, "bad_body", n.error().message);
        }
        if (*n == 0) break;
        sha.Update(std::string_view(chunk.data(), *n));
        total += *n;
    }
    auto digest = sha.Finish();
    boost::json::object body;
    body["bytes"] = total;
    body["sha256"] = core::HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
    co_return JsonResponse(200, body);
}

Router BasicRouter() {
    Router router;
    EXPECT_TRUE(router.Add("GET", "/tracks/{id}", Hello).has_value());
    EXPECT_TRUE(router.Add("GET", "/health", Hello).has_value());
    EXPECT_TRUE(router.Add("POST", "/tracks/", Hello).has_value());
    EXPECT_TRUE(router.Add("POST", "/echo", Echo).has_value());
    EXPECT_TRUE(router.Add("GET", "/throw", Throws).has_value());
    RouteSpec small;
    small.method = "POST";
    small.pattern = "/small";
    small.handler = Echo;
    small.body_limit = 1024;
    EXPECT_TRUE(router.Add(std::move(small)).has_value());
    RouteSpec upload;
    upload.method = "POST";
    upload.pattern = "/upload";
    upload.handler = CountStream;
    upload.body_limit = 4 << 20;
    upload.stream_body = true;
    EXPECT_TRUE(router.Add(std::move(upload)).has_value());
    return router;
}

boost::json::value Json(const RawResponse& response) { return boost::json::parse(response.body); }

TEST_F(ServerTest, ServesRouteWithDecodedParamsAndQuery) {
    StartServer(BasicRouter());
    auto response = Fetch(RequestText("GET", "/tracks/42?q=hello+world&token=x"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    auto body = Json(*response);
    EXPECT_EQ(body.at("id").as_string(), "42");
    EXPECT_EQ(body.at("q").as_string(), "hello world");
    EXPECT_EQ(body.at("path").as_string(), "/tracks/42");
    EXPECT_EQ(body.at("route").as_string(), "/tracks/{id}");
    EXPECT_EQ(body.at("remote").as_string(), "127.0.0.1");
    EXPECT_EQ(response->Header("Content-Type"), "application/json");
    EXPECT_EQ(response->Header("Cache-Control"), "no-store");
    EXPECT_TRUE(response->Header("Date").has_value());
}

TEST_F(ServerTest, EchoesSaneRequestIdAndReplacesUnsafeOnes) {
    StartServer(BasicRouter());
    auto kept = Fetch(RequestText("GET", "/health", {"X-Request-Id: trace-abc.123"}));
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->Header("X-Request-Id"), "trace-abc.123");
    EXPECT_EQ(Json(*kept).at("request_id").as_string(), "trace-abc.123");

    auto replaced = Fetch(RequestText("GET", "/health", {"X-Request-Id: " + std::string(65, 'a')}));
    ASSERT_TRUE(replaced);
    auto id = replaced->Header("X-Request-Id");
    ASSERT_TRUE(id);
    EXPECT_NE(*id, std::string(65, 'a'));
    EXPECT_TRUE(IsSafeRequestId(*id));
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(connection.Send(RequestText("GET", "/tracks/" + std::to_string(i))));
        auto response = connection.ReadResponse();
        ASSERT_TRUE(response) << i;
        EXPECT_EQ(Json(*response).at("id").as_string(), std::to_string(i));
        EXPECT_NE(response->Header("Connection"), "close");
    }
    // Pipelined: two requests in one write, two answers in order.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/tracks/a") + RequestText("GET", "/tracks/b")));
    auto a = connection.ReadResponse();
    auto b = connection.ReadResponse();
    ASSERT_TRUE(a && b);
    EXPECT_EQ(Json(*a).at("id").as_string(), "a");
    EXPECT_EQ(Json(*b).at("id").as_string(), "b");
}

TEST_F(ServerTest, ConnectionCloseRequestIsHonoured) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health", {"Connection: close"})));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->Header("Connection"), "close");
    EXPECT_TRUE(connection.WaitClosed(2s));
}

TEST_F(ServerTest, HeadHasGetHeadersAndNoBody) {
    StartServer(BasicRouter());
    auto get = Fetch(RequestText("GET", "/tracks/7", {"X-Request-Id: same"}));
    ASSERT_TRUE(get);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("HEAD", "/tracks/7", {"X-Request-Id: same"})));
    auto head = connection.ReadResponse(/*head_request=*/true);
    ASSERT_TRUE(head);
    EXPECT_EQ(head->status, 200);
    EXPECT_EQ(head->Header("Content-Length"), std::to_string(get->body.size()));
    EXPECT_EQ(head->Header("Content-Type"), "application/json");
    EXPECT_TRUE(head->body.empty());
    // No stray body bytes: the next response on the connection parses cleanly.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/tracks/8")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next);
    EXPECT_EQ(Json(*next).at("id").as_string(), "8");
}

TEST_F(ServerTest, UnknownApiPathIs404Json) {
    StartServer(BasicRouter());
    for (const char* path : {"/tracks/1/nope", "/albums/x", "/xrpc/com.example.nothing", "/health/x"}) {
        auto response = Fetch(RequestText("GET", path, {"Accept: text/html"}));
        ASSERT_TRUE(response) << path;
        EXPECT_EQ(response->status, 404) << path;
        EXPECT_EQ(Json(*response).at("error").as_string(), "not_found");
    }
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
    StartServer(BasicRouter());
    auto response = Fetch(RequestText("DELETE", "/tracks/1"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 405);
    EXPECT_EQ(response->Header("Allow"), "GET, HEAD");
    EXPECT_EQ(Json(*response).at("error").as_string(), "method_not_allowed");
}

TEST_F(ServerTest, CollectionRootAnswersWithoutTrailingSlashAndWithoutRedirect) {
    StartServer(BasicRouter());
    for (const char* path : {"/tracks", "/tracks/"}) {
        auto response = Fetch(RequestText("POST", path, {}, "x"));
        ASSERT_TRUE(response) << path;
        EXPECT_EQ(response->status, 200) << path;
    }
}

TEST_F(ServerTest, PlainOptionsOnKnownPathListsMethods) {
    StartServer(BasicRouter());
    auto response = Fetch(RequestText("OPTIONS", "/tracks/1"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 204);
    EXPECT_EQ(response->Header("Allow"), "GET, HEAD");
}

TEST_F(ServerTest, CorsPreflightAndSecurityHeadersOnEveryResponse) {
    ServerOptions options = testing::FastOptions();
    options.cors.credentialed_origins = {"https://plyr.example"};
    options.security.hsts = true;
    StartServer(BasicRouter(), options);

    auto preflight = Fetch(
        RequestText("OPTIONS", "/tracks/1", {"Origin: https://plyr.example", "Access-Control-Request-Method: DELETE"}));
    ASSERT_TRUE(preflight);
    EXPECT_EQ(preflight->status, 204);
    EXPECT_EQ(preflight->Header("Access-Control-Allow-Origin"), "https://plyr.example");
    EXPECT_EQ(preflight->Header("Access-Control-Allow-Credentials"), "true");
    EXPECT_EQ(preflight->Header("Access-Control-Max-Age"), "600");

    auto other = Fetch(RequestText("GET", "/nope/at/all/tracks/", {"Origin: https://evil.example"}));
    ASSERT_TRUE(other);
    EXPECT_EQ(other->Header("Access-Control-Allow-Origin"), "*");
    EXPECT_FALSE(other->Header("Access-Control-Allow-Credentials").has_value());

    for (const auto& response : {*preflight, *other}) {
        EXPECT_EQ(response.Header("X-Content-Type-Options"), "nosniff");
        EXPECT_EQ(response.Header("X-Frame-Options"), "DENY");
        EXPECT_EQ(response.Header("Referrer-Policy"), "strict-origin-when-cross-origin");
        EXPECT_EQ(response.Header("Cross-Origin-Opener-Policy"), "same-origin");
        EXPECT_EQ(response.Header("Permissions-Policy"), "camera=(), microphone=(), geolocation=()");
        EXPECT_EQ(response.Header("Strict-Transport-Security"), "max-age=63072000");
        EXPECT_TRUE(response.Header("X-Request-Id").has_value());
    }
}

TEST_F(ServerTest, JsonBodyIsParsedAndErrorsHaveProductShape) {
    StartServer(BasicRouter());
    auto ok = Fetch(RequestText("POST", "/echo", {"Content-Type: application/json"}, R"({"a":1})"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, R"({"a":1})");

    auto invalid = Fetch(RequestText("POST", "/echo", {"Content-Type: application/json"}, "{nope"));
    ASSERT_TRUE(invalid);
    EXPECT_EQ(invalid->status, 400);
    EXPECT_EQ(invalid->body,
              R"({"error":"invalid_json","message":"request body is not valid json","detail":"invalid_json"})");

    auto wrong_type = Fetch(RequestText("POST", "/echo", {"Content-Type: text/plain"}, "{}"));
    ASSERT_TRUE(wrong_type);
    EXPECT_EQ(wrong_type->status, 415);
}

TEST_F(ServerTest, JsonBodyOverTheDefaultLimitIs413) {
    StartServer(BasicRouter());
    std::string big(5 * 1024 * 1024, ' ');
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText(
        "POST", "/echo", {"Content-Type: application/json", "Content-Length: " + std::to_string(big.size())})));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(Json(*response).at("error").as_string(), "payload_too_large");
    EXPECT_EQ(response->Header("Connection"), "close");
}

TEST_F(ServerTest, FiveGigabyteContentLengthIs413BeforeReadingTheBody) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(connection.Send(
        RequestText("POST", "/small", {"Content-Type: application/json", "Content-Length: 5368709120"})));
    auto response = connection.ReadResponse(false, 2s);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(Json(*response).at("error").as_string(), "payload_too_large");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    EXPECT_TRUE(connection.WaitClosed(2s));
}

TEST_F(ServerTest, ChunkedBodyCrossingTheRouteLimitIs413AndCloses) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    std::string chunk(600, 'x');
    std::string text =
        "POST /small HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 2; ++i) text += "258\r\n" + chunk + "\r\n";  // 2 × 600 bytes > 1024
    ASSERT_TRUE(connection.Send(text));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_TRUE(connection.WaitClosed(2s));
}

TEST_F(ServerTest, ExpectContinueIsAnsweredBeforeTheBody) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    ASSERT_TRUE(
        connection.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        "Content-Length: 7\r\nExpect: 100-continue\r\n\r\n"));
    auto interim = connection.ReadResponse();
    ASSERT_TRUE(interim);
    EXPECT_EQ(interim->status, 100);
    ASSERT_TRUE(connection.Send(R"({"a":1})"));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, R"({"a":1})");
}

TEST_F(ServerTest, StreamedBodyReachesHandlerIntact) {
    StartServer(BasicRouter());
    std::string payload(3 * 1024 * 1024 + 17, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 7919) & 0xff);
    TestConnection connection(port_);
    std::string text = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (std::size_t offset = 0; offset < payload.size(); offset += 100000) {
        std::size_t n = std::min<std::size_t>(100000, payload.size() - offset);
        char size_line[32];
        std::snprintf(size_line, sizeof(size_line), "%zx\r\n", n);
        text += size_line;
        text.append(payload, offset, n);
        text += "\r\n";
    }
    text += "0\r\n\r\n";
    ASSERT_TRUE(connection.Send(text));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    EXPECT_EQ(Json(*response).at("bytes").as_int64(), static_cast<std::int64_t>(payload.size()));
    EXPECT_EQ(Json(*response).at("sha256").as_string(), core::Sha256Hex(payload));
    // The body was consumed completely, so the connection stays usable.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    auto next = connection.ReadResponse();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->status, 200);
}

TEST_F(ServerTest, StreamedBodyOverTheRouteLimitLetsTheHandlerAnswer413) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    std::string chunk(1 << 20, 'z');
    std::string text = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
    connection.Send(text);
    // 5 × 1 MiB against a 4 MiB limit; the server may stop reading, so send what it accepts.
    for (int i = 0; i < 5; ++i) {
        if (!connection.Send("100000\r\n" + chunk + "\r\n")) break;
    }
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(Json(*response).at("error").as_string(), "file_too_large");
    EXPECT_TRUE(connection.WaitClosed(3s));
}

TEST_F(ServerTest, DeclaredLengthOverStreamLimitIs413WithoutCallingHandler) {
    StartServer(BasicRouter());
    auto response = Fetch(RequestText("POST", "/upload", {"Content-Length: 5368709120"}));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(Json(*response).at("error").as_string(), "payload_too_large");
}

TEST_F(ServerTest, OversizedHeaderIs431AndCloses) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health", {"X-Big: " + std::string(10 * 1024, 'a')})));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 431);
    EXPECT_TRUE(connection.WaitClosed(2s));
}

TEST_F(ServerTest, MalformedRequestIs400) {
    StartServer(BasicRouter());
    auto garbage = Fetch("THIS IS NOT HTTP\r\n\r\n");
    ASSERT_TRUE(garbage);
    EXPECT_EQ(garbage->status, 400);
    auto bad_target = Fetch("GET nope HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(bad_target);
    EXPECT_EQ(bad_target->status, 400);
    auto absolute = Fetch("GET http://test/tracks/9 HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(absolute);
    EXPECT_EQ(absolute->status, 200);
}

TEST_F(ServerTest, SlowlorisHeadIsCutAfterHeaderTimeout) {
    ServerOptions options = testing::FastOptions();
    options.header_timeout = 1s;
    StartServer(BasicRouter(), options);
    TestConnection connection(port_);
    std::atomic<bool> stop{false};
    // One byte every 200 ms: each read makes progress, only a deadline on the whole head stops it.
    std::thread trickler([&] {
        std::string text = RequestText("GET", "/health", {"X-Pad: " + std::string(200, 'p')});
        for (char c : text) {
            if (stop || !connection.Send(std::string_view(&c, 1))) return;
            std::this_thread::sleep_for(200ms);
        }
    });
    auto started = std::chrono::steady_clock::now();
    bool closed = connection.WaitClosed(4s);
    auto elapsed = std::chrono::steady_clock::now() - started;
    stop = true;
    trickler.join();
    EXPECT_TRUE(closed);
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 2500ms);
    EXPECT_EQ(connection.buffered().find("HTTP/1.1 200"), std::string::npos);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
    ServerOptions options = testing::FastOptions();
    options.idle_timeout = 300ms;
    StartServer(BasicRouter(), options);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    ASSERT_TRUE(connection.ReadResponse());
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(connection.WaitClosed(3s));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 250ms);
}

TEST_F(ServerTest, BodyThatStopsArrivingIsCutAfterTheBodyTimeout) {
    ServerOptions options = testing::FastOptions();
    options.body_timeout = 300ms;
    StartServer(BasicRouter(), options);
    TestConnection connection(port_);
    ASSERT_TRUE(
        connection.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                        "Content-Length: 100\r\n\r\n{\"a\":"));
    auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(connection.WaitClosed(3s));
    auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_TRUE(connection.buffered().empty());  // the handler never ran
}

TEST_F(ServerTest, HandlerExceptionIs500WithRequestIdAndServerKeepsServing) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/throw", {"X-Request-Id: oops-1"})));
    auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 500);
    auto body = Json(*response);
    EXPECT_EQ(body.at("error").as_string(), "internal_error");
    EXPECT_EQ(body.at("detail").as_string(), "internal_error");
    EXPECT_EQ(body.at("request_id").as_string(), "oops-1");
    EXPECT_EQ(response->body.find("secret"), std::string::npos);
    // Same connection and a new one both keep working.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    auto again = connection.ReadResponse();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
    auto fresh = Fetch(RequestText("GET", "/health"));
    ASSERT_TRUE(fresh);
    EXPECT_EQ(fresh->status, 200);
}

TEST_F(ServerTest, ConnectionsBeyondTheMaximumAreRefusedWith503) {
    ServerOptions options = testing::FastOptions();
    options.max_connections = 2;
    StartServer(BasicRouter(), options);
    TestConnection a(port_);
    TestConnection b(port_);
    // A completed request proves each connection is registered before the third arrives.
    for (TestConnection* connection : {&a, &b}) {
        ASSERT_TRUE(connection->Send(RequestText("GET", "/health")));
        ASSERT_TRUE(connection->ReadResponse());
    }
    TestConnection c(port_);
    ASSERT_TRUE(c.connected());
    c.Send(RequestText("GET", "/health"));
    auto refused = c.ReadResponse();
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 503);
    EXPECT_EQ(Json(*refused).at("error").as_string(), "service_unavailable");
    EXPECT_TRUE(c.WaitClosed(2s));
    // Once a slot frees up, new connections are served again.
    a.Close();
    bool served = false;
    for (int attempt = 0; attempt < 50 && !served; ++attempt) {
        auto response = Fetch(RequestText("GET", "/health"));
        served = response && response->status == 200;
        if (!served) std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(served);
}

TEST_F(ServerTest, GracefulStopFinishesInFlightRequestClosesIdleAndRefusesNew) {
    std::promise<void> started;
    Router router = BasicRouter();
    ASSERT_TRUE(router.Add("GET", "/slow", [&started](Request&) { return Sleep(&started, 700ms); }).has_value());
    ServerOptions options = testing::FastOptions();
    options.shutdown_grace = 3s;
    StartServer(std::move(router), options);

    TestConnection idle(port_);
    ASSERT_TRUE(idle.Send(RequestText("GET", "/health")));
    ASSERT_TRUE(idle.ReadResponse());

    TestConnection in_flight(port_);
    ASSERT_TRUE(in_flight.Send(RequestText("GET", "/slow")));
    ASSERT_EQ(started.get_future().wait_for(2s), std::future_status::ready);

    auto stop_started = std::chrono::steady_clock::now();
    std::thread stopper([&] { server_->Stop(); });

    EXPECT_TRUE(idle.WaitClosed(1s));  // idle keep-alive connections go first
    bool refused = false;
    while (!refused && std::chrono::steady_clock::now() - stop_started < 1s) {
        TestConnection late(port_);
        refused = !late.connected() ||
                  (late.Send(RequestText("GET", "/health")) && late.WaitClosed(200ms) && late.buffered().empty());
    }
    EXPECT_TRUE(refused);

    auto response = in_flight.ReadResponse(false, 3s);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("Connection"), "close");
    EXPECT_TRUE(in_flight.WaitClosed(1s));
    stopper.join();
    auto stop_took = std::chrono::steady_clock::now() - stop_started;
    EXPECT_LT(stop_took, 2s);
}

TEST_F(ServerTest, StopCancelsHandlersThatOutliveTheGracePeriod) {
    std::promise<void> started;
    Router router = BasicRouter();
    ASSERT_TRUE(router.Add("GET", "/forever", [&started](Request&) { return Sleep(&started, 60s); }).has_value());
    ServerOptions options = testing::FastOptions();
    options.shutdown_grace = 300ms;
    StartServer(std::move(router), options);
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(RequestText("GET", "/forever")));
    ASSERT_EQ(started.get_future().wait_for(2s), std::future_status::ready);
    auto stop_started = std::chrono::steady_clock::now();
    server_->Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_started, 1500ms);
    EXPECT_TRUE(connection.WaitClosed(1s));
}

TEST_F(ServerTest, RecordsPrometheusMetrics) {
    StartServer(BasicRouter());
    TestConnection connection(port_);
    for (const char* path : {"/tracks/1", "/tracks/2", "/nowhere/tracks/"}) {
        ASSERT_TRUE(connection.Send(RequestText("GET", path)));
        ASSERT_TRUE(connection.ReadResponse());
    }
    // Unknown methods share one label value so clients cannot grow the series set.
    ASSERT_TRUE(connection.Send(RequestText("BREW", "/tracks/1")));
    auto brew = connection.ReadResponse();
    ASSERT_TRUE(brew);
    EXPECT_EQ(brew->status, 405);
    // Metrics are recorded after the response is written; the next exchange on the connection orders it.
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));
    ASSERT_TRUE(connection.ReadResponse());
    std::string text = metrics_.RenderPrometheus();
    EXPECT_NE(text.find("plyr_http_requests_total{method=\"GET\",route=\"/tracks/{id}\",status=\"200\"} 2"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("plyr_http_requests_total{method=\"GET\",route=\"(not_found)\",status=\"404\"} 1"),
              std::string::npos);
    EXPECT_NE(text.find("plyr_http_requests_total{method=\"OTHER\",route=\"(method_not_allowed)\",status=\"405\"} 1"),
              std::string::npos);
    EXPECT_EQ(text.find("BREW"), std::string::npos);
    EXPECT_NE(text.find("plyr_http_request_duration_seconds_count{route=\"/tracks/{id}\"} 2"), std::string::npos);
    EXPECT_NE(text.find("plyr_http_connections_active 1"), std::string::npos);
    EXPECT_NE(text.find("plyr_http_response_bytes_total "), std::string::npos);
}

TEST_F(ServerTest, AccessLogLineHasFieldsButNoQueryOrCredentials) {
    ServerOptions options = testing::FastOptions();
    options.access_log = true;
    log::Init(log::Level::kInfo, log::Format::kJson);
    StartServer(BasicRouter(), options);
    ::testing::internal::CaptureStderr();
    TestConnection connection(port_);
    ASSERT_TRUE(connection.Send(
        RequestText("GET", "/tracks/5?token=supersecret",
                    {"Authorization: Bearer hunter2", "Cookie: session_id=cookiesecret", "X-Request-Id: log-test"})));
    ASSERT_TRUE(connection.ReadResponse());
    ASSERT_TRUE(connection.Send(RequestText("GET", "/health")));  // orders the first request's log line
    ASSERT_TRUE(connection.ReadResponse());
    std::string output = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(output.find("supersecret"), std::string::npos);
    EXPECT_EQ(output.find("hunter2"), std::string::npos);
    EXPECT_EQ(output.find("cookiesecret"), std::string::npos);
    std::string line;
    for (std::size_t start = 0, end; (end = output.find('\n', start)) != std::string::npos; start = end + 1) {
        std::string candidate = output.substr(start, end - start);
        if (candidate.find("log-test") != std::string::npos) line = candidate;
    }
    ASSERT_FALSE(line.empty()) << output;
    auto entry = boost::json::parse(line).as_object();
    EXPECT_EQ(entry.at("event").as_string(), "http_request");
    EXPECT_EQ(entry.at("method").as_string(), "GET");
    EXPECT_EQ(entry.at("path").as_string(), "/tracks/5");
    EXPECT_EQ(entry.at("route").as_string(), "/tracks/{id}");
    EXPECT_EQ(entry.at("status").as_int64(), 200);
    EXPECT_GT(entry.at("bytes").as_int64(), 0);
    EXPECT_TRUE(entry.at("duration_ms").is_double());
    EXPECT_EQ(entry.at("remote").as_string(), "127.0.0.1");
}

TEST_F(ServerTest, StartFailsWhenThePortIsTaken) {
    StartServer(BasicRouter());
    ServerOptions options = testing::FastOptions();
    options.port = port_;
    net::IoPool other_pool(1);
    Server other(other_pool, Router{}, options);
    auto result = other.Start();
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace plyr::http
