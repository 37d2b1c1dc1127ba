// XrpcClient and the repo operations against a stub PDS: a real plyr http::Server on 127.0.0.1:0 whose port
// is the only allow-listed private target of the SSRF-guarded client.
#include "atproto/xrpc/xrpc_client.hpp"

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/data/car.hpp"
#include "atproto/data/cbor.hpp"
#include "atproto/data/json.hpp"
#include "atproto/xrpc/repo.hpp"
#include "http/json.hpp"
#include "local_server.hpp"

namespace plyr::atproto::xrpc {
namespace {

using namespace std::chrono_literals;
using net::testing::LocalServer;
using net::testing::TempDir;
using Awaitable = boost::asio::awaitable<http::Response>;

constexpr std::string_view kDid = "did:plc:abcdefghijklmnopqrstuvwx";
constexpr std::string_view kTrack = "fm.plyr.track";

std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

http::Response JsonText(int status, std::string_view text) {
    http::Response response(status);
    response.headers.Set("Content-Type", "application/json");
    response.body = std::string(text);
    return response;
}

http::Response XrpcErrorResponse(int status, std::string_view error, std::string_view message) {
    boost::json::object body{{"error", error}, {"message", message}};
    return http::JsonResponse(status, body);
}

std::string CidOf(std::string_view text) { return CidForRaw(text).ToString(); }

// A record output as the PDS would send it for `value`.
boost::json::object RecordJson(const std::string& rkey, const Value& value) {
    return boost::json::object{
        {"uri", fmt::format("at://{}/{}/{}", kDid, kTrack, rkey)},
        {"cid", CidForDagCbor(EncodeDagCbor(value)).ToString()},
        {"value", ValueToJson(value)},
    };
}

Value TrackRecord(std::string_view title) {
    return Value(Value::Map{{"$type", "fm.plyr.track"}, {"title", title}, {"createdAt", "2026-01-01T00:00:00Z"}});
}

// Everything one request looked like, as the stub saw it.
struct Seen {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> query;
    std::string body;
    std::string content_type;
    std::string authorization;
    std::string dpop;
    std::string proxy;
};

class XrpcClientTest : public ::testing::Test {
  protected:
    void SetUp() override {
        log::Init(log::Level::kError, log::Format::kJson);
        server_ = std::make_unique<LocalServer>(MakeRouter());
        ASSERT_TRUE(server_->ok());
        auto policy = net::PrivateNetworkPolicy::Parse(server_->AllowEntry());
        ASSERT_TRUE(policy.has_value());
        net::CurlHttpClientOptions options;
        options.policy = *policy;
        http_ = std::make_unique<net::CurlHttpClient>(std::move(options));
    }
    void TearDown() override {
        server_.reset();  // stops while logging is still quiet
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    XrpcOptions FastOptions() {
        XrpcOptions options;
        options.timeout = 5s;
        options.transfer_timeout = 5s;
        options.backoff_base = 10ms;
        options.backoff_cap = 80ms;
        options.sleep = [this](std::chrono::milliseconds delay) {
            std::lock_guard lock(mutex_);
            sleeps_.push_back(delay);
        };
        return options;
    }
    XrpcClient Client(XrpcOptions options) { return XrpcClient(server_->Origin(), *http_, std::move(options)); }
    XrpcClient Client() { return Client(FastOptions()); }

    Seen Record(const http::Request& request) {
        Seen seen{request.method,
                  request.target,
                  request.query,
                  request.body,
                  std::string(request.Header("Content-Type").value_or("")),
                  std::string(request.Header("Authorization").value_or("")),
                  std::string(request.Header("DPoP").value_or("")),
                  std::string(request.Header("atproto-proxy").value_or(""))};
        std::lock_guard lock(mutex_);
        seen_.push_back(seen);
        return seen;
    }
    std::vector<Seen> SeenRequests() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    std::size_t Count() {
        std::lock_guard lock(mutex_);
        return seen_.size();
    }

    // Handlers see `this`; tests set `respond_` to script the stub's answers per request number.
    http::Router MakeRouter() {
        http::Router router;
        for (const char* method : {"GET", "POST"}) {
            EXPECT_TRUE(router
                            .Add(method, "/xrpc/{nsid}",
                                 [this](http::Request& request) -> Awaitable {
                                     Seen seen = Record(request);
                                     std::size_t n = Count();
                                     co_return respond_(std::string(request.PathParam("nsid").value_or("")), seen, n);
                                 })
                            .has_value());
        }
        return router;
    }

    std::function<http::Response(const std::string& nsid, const Seen& seen, std::size_t n)> respond_ =
        [](const std::string&, const Seen&, std::size_t) { return JsonText(200, "{}"); };

    std::unique_ptr<LocalServer> server_;
    std::unique_ptr<net::CurlHttpClient> http_;
    std::mutex mutex_;
    std::vector<Seen> seen_;
    std::vector<std::chrono::milliseconds> sleeps_;
};

// ---- basics ------------------------------------------------------------------------------------------

TEST_F(XrpcClientTest, QueryPercentEncodesParamsAndParsesTheJsonOutput) {
    respond_ = [](const std::string& nsid, const Seen&, std::size_t) {
        return JsonText(200, fmt::format(R"({{"nsid":"{}","n":3,"link":{{"$link":"{}"}}}})", nsid, CidOf("x")));
    };
    auto output = Client().Query("com.example.thing",
                                 Params{{"uri", "at://did:plc:x/fm.plyr.track/3k"}, {"tag", "a b&c"}, {"tag", "ü"}});
    ASSERT_TRUE(output.has_value()) << output.error().ToString();
    EXPECT_EQ(*output->Find("nsid")->AsString(), "com.example.thing");
    EXPECT_EQ(*output->Find("n")->AsInteger(), 3);
    EXPECT_TRUE(output->Find("link")->IsLink());

    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "GET");
    EXPECT_EQ(seen[0].target,
              "/xrpc/com.example.thing?uri=at%3A%2F%2Fdid%3Aplc%3Ax%2Ffm.plyr.track%2F3k&tag=a%20b%26c&tag=%C3%BC");
    ASSERT_EQ(seen[0].query.size(), 3u);
    EXPECT_EQ(seen[0].query[0].second, "at://did:plc:x/fm.plyr.track/3k");
    EXPECT_EQ(seen[0].query[1].second, "a b&c");
    EXPECT_EQ(seen[0].query[2].second, "ü");
}

TEST_F(XrpcClientTest, ProcedurePostsJsonWithExtraHeadersAndAcceptsAnEmptyOutput) {
    respond_ = [](const std::string&, const Seen&, std::size_t) { return http::Response(200); };
    CallOptions call;
    call.headers.emplace_back("atproto-proxy", "did:web:api.bsky.app#bsky_appview");
    auto output = Client().Procedure("com.example.doThing", Body::Json(Value(Value::Map{{"a", 1}})), call);
    ASSERT_TRUE(output.has_value()) << output.error().ToString();
    EXPECT_TRUE(output->IsNull());
    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "POST");
    EXPECT_EQ(seen[0].content_type, "application/json");
    EXPECT_EQ(seen[0].body, R"({"a":1})");
    EXPECT_EQ(seen[0].proxy, "did:web:api.bsky.app#bsky_appview");
}

TEST_F(XrpcClientTest, TrailingSlashOnTheServiceUrlIsDropped) {
    XrpcClient client(server_->Origin() + "/", *http_, FastOptions());
    EXPECT_EQ(client.service_url(), server_->Origin());
    ASSERT_TRUE(client.Query("com.example.ping").has_value());
    EXPECT_EQ(SeenRequests().at(0).target, "/xrpc/com.example.ping");
}

TEST_F(XrpcClientTest, InvalidNsidIsRejectedWithoutARequest) {
    auto output = Client().Query("not an nsid");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(output.error().status, 0);
    EXPECT_EQ(Count(), 0u);
}

TEST_F(XrpcClientTest, OutputThatIsNotDataModelJsonIsAProtocolError) {
    respond_ = [](const std::string&, const Seen&, std::size_t) { return JsonText(200, R"({"x":1.5})"); };
    auto output = Client().Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kProtocol);
    EXPECT_EQ(output.error().status, 200);
}

TEST_F(XrpcClientTest, SsrfRefusalIsNotRetried) {
    XrpcOptions options = FastOptions();
    int calls = 0;
    options.auth = [&calls](const AuthContext&) -> Result<net::HeaderList> {
        ++calls;
        return net::HeaderList{};
    };
    // A loopback port outside the allow-list.
    XrpcClient client("http://127.0.0.1:" + std::to_string(net::testing::UnusedPort()), *http_, options);
    auto output = client.Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(output.error().detail.find("ssrf_blocked"), std::string::npos) << output.error().detail;
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(sleeps_.empty());
}

// ---- error mapping -----------------------------------------------------------------------------------

struct ErrorCase {
    int status;
    std::string body;
    ErrorCode code;
    std::string name;
    std::string message;
};

TEST_F(XrpcClientTest, ErrorResponsesMapToTypedErrors) {
    const std::vector<ErrorCase> cases = {
        {400, R"({"error":"RecordNotFound","message":"Could not locate record"})", ErrorCode::kNotFound,
         "RecordNotFound", "Could not locate record"},
        {400, R"({"error":"InvalidSwap","message":"Record was at bafy"})", ErrorCode::kConflict, "InvalidSwap",
         "Record was at bafy"},
        {400, R"({"error":"InvalidRequest","message":"Input/repo must be a string"})", ErrorCode::kInvalidArgument,
         "InvalidRequest", "Input/repo must be a string"},
        {400, R"({"error":"ExpiredToken","message":"Token has expired"})", ErrorCode::kPermissionDenied, "ExpiredToken",
         "Token has expired"},
        {401, R"({"error":"AuthMissing","message":"Authentication Required"})", ErrorCode::kPermissionDenied,
         "AuthMissing", "Authentication Required"},
        {403, R"({"error":"Forbidden"})", ErrorCode::kPermissionDenied, "Forbidden", "Forbidden"},
        {404, R"({"error":"XRPCNotSupported","message":"Method Not Implemented"})", ErrorCode::kNotFound,
         "XRPCNotSupported", "Method Not Implemented"},
        {413, R"({"error":"PayloadTooLarge","message":"request entity too large"})", ErrorCode::kTooLarge,
         "PayloadTooLarge", "request entity too large"},
        {429, R"({"error":"RateLimitExceeded","message":"Rate Limit Exceeded"})", ErrorCode::kBusy, "RateLimitExceeded",
         "Rate Limit Exceeded"},
        {501, R"({"error":"MethodNotImplemented","message":"nope"})", ErrorCode::kUnsupported, "MethodNotImplemented",
         "nope"},
        {502, "<html><body>Bad Gateway</body></html>", ErrorCode::kUnavailable, "", "http status 502"},
        {400, R"({"error":"has space","message":"m"})", ErrorCode::kInvalidArgument, "", "m"},
        {400, R"(["not","an","object"])", ErrorCode::kInvalidArgument, "", "http status 400"},
        {302, "", ErrorCode::kProtocol, "", "http status 302"},
    };
    XrpcOptions options = FastOptions();
    options.max_retries = 0;
    XrpcClient client = Client(options);
    for (const auto& c : cases) {
        respond_ = [&c](const std::string&, const Seen&, std::size_t) { return JsonText(c.status, c.body); };
        auto output = client.Procedure("com.example.write", Body::Json(Value(Value::Map{})));
        ASSERT_FALSE(output.has_value()) << c.body;
        EXPECT_EQ(output.error().code, c.code) << c.body;
        EXPECT_EQ(output.error().status, c.status) << c.body;
        EXPECT_EQ(output.error().error, c.name) << c.body;
        EXPECT_EQ(output.error().message, c.message) << c.body;
    }
}

TEST_F(XrpcClientTest, ErrorCarriesRetryAfterAndAuthHeadersAndConvertsToError) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        http::Response response = XrpcErrorResponse(429, "RateLimitExceeded", "slow down");
        response.headers.Set("Retry-After", "7");
        response.headers.Set("WWW-Authenticate", R"(DPoP error="invalid_token")");
        return response;
    };
    auto output = Client().Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_TRUE(output.error().Is("RateLimitExceeded"));
    ASSERT_TRUE(output.error().retry_after.has_value());
    EXPECT_EQ(*output.error().retry_after, 7s);
    EXPECT_EQ(output.error().www_authenticate, R"(DPoP error="invalid_token")");
    EXPECT_EQ(Count(), 1u) << "429 is never retried automatically";
    Error error = output.error().ToError();
    EXPECT_EQ(error.code, ErrorCode::kBusy);
    EXPECT_EQ(error.message, "RateLimitExceeded: slow down");
    EXPECT_NE(error.detail.find("com.example.thing"), std::string::npos);
}

TEST(CodeForXrpcError, KnownNamesWinOverTheStatus) {
    EXPECT_EQ(CodeForXrpcError(400, "RecordNotFound"), ErrorCode::kNotFound);
    EXPECT_EQ(CodeForXrpcError(400, "BlobNotFound"), ErrorCode::kNotFound);
    EXPECT_EQ(CodeForXrpcError(400, "InvalidSwap"), ErrorCode::kConflict);
    EXPECT_EQ(CodeForXrpcError(400, "InvalidToken"), ErrorCode::kPermissionDenied);
    EXPECT_EQ(CodeForXrpcError(500, "InternalServerError"), ErrorCode::kUnavailable);
    EXPECT_EQ(CodeForXrpcError(302, ""), ErrorCode::kProtocol);
    EXPECT_EQ(CodeForXrpcError(418, ""), ErrorCode::kInvalidArgument);
}

// ---- retries -----------------------------------------------------------------------------------------

TEST_F(XrpcClientTest, PutRecordIsRetriedOn5xxUntilItSucceeds) {
    Value record = TrackRecord("a");
    respond_ = [&record](const std::string&, const Seen&, std::size_t n) {
        if (n == 1) return XrpcErrorResponse(500, "InternalServerError", "boom");
        if (n == 2) return JsonText(503, "<html>unavailable</html>");
        boost::json::object out = RecordJson("self", record);
        out.erase("value");
        out["commit"] = boost::json::object{{"cid", CidOf("commit")}, {"rev", "3kabcdefghijk"}};
        out["validationStatus"] = "unknown";
        return http::JsonResponse(200, out);
    };
    auto result = PutRecord(Client(), PutRecordInput{std::string(kDid), std::string(kTrack), "self", record, {}, {}});
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(Count(), 3u);
    EXPECT_EQ(result->cid, CidForDagCbor(EncodeDagCbor(record)));
    ASSERT_TRUE(result->commit.has_value());
    EXPECT_EQ(result->commit->rev, "3kabcdefghijk");
    EXPECT_EQ(result->validation_status, "unknown");
    ASSERT_EQ(sleeps_.size(), 2u);
    // Equal jitter: retry n waits within [base·2ⁿ/2, base·2ⁿ].
    EXPECT_GE(sleeps_[0], 5ms);
    EXPECT_LE(sleeps_[0], 10ms);
    EXPECT_GE(sleeps_[1], 10ms);
    EXPECT_LE(sleeps_[1], 20ms);
    // Every attempt sent the same body, without `validate`.
    for (const Seen& seen : SeenRequests()) {
        EXPECT_EQ(seen.body, SeenRequests()[0].body);
        EXPECT_EQ(seen.body.find("validate"), std::string::npos) << seen.body;
    }
}

TEST_F(XrpcClientTest, CreateRecordIsNeverRetried) {
    respond_ = [](const std::string&, const Seen&, std::size_t) { return XrpcErrorResponse(503, "Unavailable", "x"); };
    auto result =
        CreateRecord(Client(), CreateRecordInput{std::string(kDid), std::string(kTrack), TrackRecord("a"), {}, {}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(result.error().status, 503);
    EXPECT_EQ(Count(), 1u);
    EXPECT_TRUE(sleeps_.empty());
}

TEST_F(XrpcClientTest, ApplyWritesIsNeverRetried) {
    respond_ = [](const std::string&, const Seen&, std::size_t) { return XrpcErrorResponse(502, "BadGateway", "x"); };
    auto result = ApplyWrites(Client(), kDid, {WriteOp::Create(std::string(kTrack), TrackRecord("a"))});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(Count(), 1u);
}

TEST_F(XrpcClientTest, RetriesStopAfterMaxRetriesWithTheLastError) {
    respond_ = [](const std::string&, const Seen&, std::size_t n) {
        return XrpcErrorResponse(504, "GatewayTimeout", fmt::format("try {}", n));
    };
    XrpcOptions options = FastOptions();
    options.max_retries = 4;
    auto output = Client(options).Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().message, "try 5");
    EXPECT_EQ(Count(), 5u);
    ASSERT_EQ(sleeps_.size(), 4u);
    for (auto delay : sleeps_) EXPECT_LE(delay, 80ms) << "capped at backoff_cap";
    EXPECT_GE(sleeps_[3], 40ms);
}

TEST_F(XrpcClientTest, RetryAfterOn503IsHonouredUpToTheCap) {
    respond_ = [](const std::string&, const Seen&, std::size_t n) {
        if (n > 1) return JsonText(200, "{}");
        http::Response response = XrpcErrorResponse(503, "Unavailable", "later");
        response.headers.Set("Retry-After", "3600");
        return response;
    };
    ASSERT_TRUE(Client().Query("com.example.thing").has_value());
    ASSERT_EQ(sleeps_.size(), 1u);
    EXPECT_EQ(sleeps_[0], 80ms);
}

TEST_F(XrpcClientTest, NotImplementedIsNotRetried) {
    respond_ = [](const std::string&, const Seen&, std::size_t) { return XrpcErrorResponse(501, "NotImpl", "x"); };
    ASSERT_FALSE(Client().Query("com.example.thing").has_value());
    EXPECT_EQ(Count(), 1u);
}

TEST_F(XrpcClientTest, TransportFailuresOfQueriesAreRetriedWithBackoff) {
    XrpcOptions options = FastOptions();
    options.max_retries = 2;
    int attempts = 0;
    options.auth = [&attempts](const AuthContext& context) -> Result<net::HeaderList> {
        EXPECT_EQ(context.attempt, attempts);
        ++attempts;
        return net::HeaderList{};
    };
    std::uint16_t closed = net::testing::UnusedPort();
    auto policy = net::PrivateNetworkPolicy::Parse("127.0.0.1:" + std::to_string(closed));
    ASSERT_TRUE(policy.has_value());
    net::CurlHttpClientOptions http_options;
    http_options.policy = *policy;
    net::CurlHttpClient http(std::move(http_options));
    XrpcClient client("http://127.0.0.1:" + std::to_string(closed), http, options);

    auto output = client.Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(output.error().status, 0);
    EXPECT_EQ(attempts, 3);
    EXPECT_EQ(sleeps_.size(), 2u);

    attempts = 0;
    auto created = client.Procedure("com.example.create", Body::Json(Value(Value::Map{})));
    ASSERT_FALSE(created.has_value());
    EXPECT_EQ(attempts, 1) << "a non-idempotent procedure is tried once";
}

TEST_F(XrpcClientTest, OneClientServesConcurrentCallers) {
    // Every call's first attempt fails (the stub runs on two I/O threads: the set is locked).
    std::mutex tags_mutex;
    std::set<std::string> tags_seen;
    respond_ = [&](const std::string&, const Seen& seen, std::size_t) {
        const std::string& tag = seen.query.at(0).second;
        std::lock_guard lock(tags_mutex);
        if (tags_seen.insert(tag).second) return XrpcErrorResponse(503, "Unavailable", "retry");
        return JsonText(200, fmt::format(R"({{"echo":"{}"}})", tag));
    };
    XrpcClient client = Client();
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&client, &ok, t] {
            for (int i = 0; i < 8; ++i) {
                std::string tag = fmt::format("{}-{}", t, i);
                auto output = client.Query("com.example.echo", Params{{"tag", tag}});
                if (output && *output->Find("echo")->AsString() == tag) ok.fetch_add(1);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(ok.load(), 48);
    EXPECT_EQ(Count(), 96u);
}

// ---- auth --------------------------------------------------------------------------------------------

TEST_F(XrpcClientTest, AuthHookHeadersAreSentOnEveryAttempt) {
    respond_ = [](const std::string&, const Seen&, std::size_t n) {
        return n == 1 ? XrpcErrorResponse(500, "InternalServerError", "x") : JsonText(200, "{}");
    };
    XrpcOptions options = FastOptions();
    std::vector<std::string> urls;
    options.auth = [&urls](const AuthContext& context) -> Result<net::HeaderList> {
        urls.push_back(std::string(context.method) + " " + std::string(context.htu) + " " + std::string(context.url));
        return net::HeaderList{{"Authorization", fmt::format("Bearer token-{}", context.attempt)}};
    };
    XrpcClient client = Client(options);
    ASSERT_TRUE(client.Query("com.example.thing", Params{{"a", "b"}}).has_value());
    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].authorization, "Bearer token-0");
    EXPECT_EQ(seen[1].authorization, "Bearer token-1");
    std::string htu = server_->Url("/xrpc/com.example.thing");
    EXPECT_EQ(urls.at(0), "GET " + htu + " " + htu + "?a=b");
}

TEST_F(XrpcClientTest, AuthHookFailureEndsTheCallWithoutARequest) {
    XrpcOptions options = FastOptions();
    options.auth = [](const AuthContext&) -> Result<net::HeaderList> {
        return Fail(ErrorCode::kPermissionDenied, "session expired");
    };
    auto output = Client(options).Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(output.error().message, "session expired");
    EXPECT_EQ(Count(), 0u);
}

// The PDS answers 401 use_dpop_nonce (WWW-Authenticate + DPoP-Nonce) to a proof without its nonce.
http::Response DpopServer(const Seen& seen, const std::string& nonce) {
    if (seen.dpop != "proof-nonce=" + nonce) {
        http::Response response = XrpcErrorResponse(401, "use_dpop_nonce", "DPoP nonce mismatch");
        response.headers.Set("WWW-Authenticate", R"(DPoP error="use_dpop_nonce", error_description="nonce")");
        response.headers.Set("DPoP-Nonce", nonce);
        return response;
    }
    http::Response response = JsonText(200, R"({"ok":true})");
    response.headers.Set("DPoP-Nonce", nonce + "-next");
    return response;
}

TEST_F(XrpcClientTest, UseDpopNonceIsRetriedOnceWithTheNewNonceEvenForCreateRecord) {
    respond_ = [](const std::string&, const Seen& seen, std::size_t) { return DpopServer(seen, "n1"); };
    XrpcOptions options = FastOptions();
    std::vector<std::string> challenges;
    options.auth = [&challenges](const AuthContext& context) -> Result<net::HeaderList> {
        challenges.emplace_back(context.www_authenticate);
        return net::HeaderList{{"Authorization", "DPoP access"},
                               {"DPoP", "proof-nonce=" + std::string(context.dpop_nonce)}};
    };
    std::vector<std::string> nonces;
    options.on_dpop_nonce = [&nonces](std::string_view nonce) { nonces.emplace_back(nonce); };
    auto output = Client(options).Procedure("com.atproto.repo.createRecord", Body::Json(Value(Value::Map{})));
    ASSERT_TRUE(output.has_value()) << output.error().ToString();
    EXPECT_EQ(Count(), 2u);
    ASSERT_EQ(challenges.size(), 2u);
    EXPECT_EQ(challenges[0], "");
    EXPECT_NE(challenges[1].find("use_dpop_nonce"), std::string::npos);
    EXPECT_EQ(nonces, (std::vector<std::string>{"n1", "n1-next"}));
    EXPECT_TRUE(sleeps_.empty()) << "a nonce retry does not back off";
}

TEST_F(XrpcClientTest, UseDpopNonceIsRetriedOnlyOnce) {
    respond_ = [](const std::string&, const Seen&, std::size_t n) {
        // A fresh nonce every time: the proof can never match.
        return DpopServer(Seen{}, fmt::format("n{}", n));
    };
    XrpcOptions options = FastOptions();
    options.auth = [](const AuthContext& context) -> Result<net::HeaderList> {
        return net::HeaderList{{"DPoP", "proof-nonce=" + std::string(context.dpop_nonce)}};
    };
    auto output = Client(options).Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().status, 401);
    EXPECT_TRUE(output.error().Is("use_dpop_nonce"));
    EXPECT_EQ(output.error().dpop_nonce, "n2");
    EXPECT_EQ(Count(), 2u);
}

TEST_F(XrpcClientTest, UseDpopNonceWithoutAnAuthHookIsNotRetried) {
    respond_ = [](const std::string&, const Seen& seen, std::size_t) { return DpopServer(seen, "n1"); };
    auto output = Client().Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().dpop_nonce, "n1");
    EXPECT_EQ(Count(), 1u);
}

TEST_F(XrpcClientTest, PlainUnauthorizedWithoutNonceIsNotRetried) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        http::Response response = XrpcErrorResponse(401, "InvalidToken", "bad token");
        response.headers.Set("WWW-Authenticate", R"(DPoP error="invalid_token")");
        return response;
    };
    auto output = Client().Query("com.example.thing");
    ASSERT_FALSE(output.has_value());
    EXPECT_EQ(output.error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(Count(), 1u);
}

// ---- repo operations ---------------------------------------------------------------------------------

TEST_F(XrpcClientTest, CreateRecordSendsTheRecordAndParsesTheResult) {
    Value record = TrackRecord("hello");
    respond_ = [&record](const std::string& nsid, const Seen&, std::size_t) {
        EXPECT_EQ(nsid, "com.atproto.repo.createRecord");
        boost::json::object out = RecordJson("3kabc", record);
        out.erase("value");
        out["commit"] = boost::json::object{{"cid", CidOf("c")}, {"rev", "3kabcdefghijk"}};
        out["validationStatus"] = "unknown";
        return http::JsonResponse(200, out);
    };
    auto result =
        CreateRecord(Client(), CreateRecordInput{std::string(kDid), std::string(kTrack), record, "3kabc", {}});
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_EQ(result->uri, fmt::format("at://{}/{}/3kabc", kDid, kTrack));
    auto body = ValueFromJsonText(SeenRequests().at(0).body);
    ASSERT_TRUE(body.has_value());
    EXPECT_EQ(*body->Find("repo")->AsString(), kDid);
    EXPECT_EQ(*body->Find("collection")->AsString(), kTrack);
    EXPECT_EQ(*body->Find("rkey")->AsString(), "3kabc");
    EXPECT_EQ(*body->Find("record"), record);
    EXPECT_EQ(body->Find("validate"), nullptr);
    EXPECT_EQ(body->Find("swapCommit"), nullptr);
}

TEST_F(XrpcClientTest, PutRecordSendsSwapRecordAsNullOrCid) {
    Value record = TrackRecord("x");
    respond_ = [&record](const std::string&, const Seen&, std::size_t) {
        return http::JsonResponse(200, RecordJson("self", record));
    };
    XrpcClient client = Client();
    Cid previous = CidForRaw("previous");
    ASSERT_TRUE(PutRecord(client,
                          PutRecordInput{
                              std::string(kDid), std::string(kTrack), "self", record, SwapRecord::MustNotExist(), {}})
                    .has_value());
    auto result = PutRecord(client, PutRecordInput{std::string(kDid), std::string(kTrack), "self", record,
                                                   SwapRecord::MustEqual(previous), previous});
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    EXPECT_FALSE(result->commit.has_value()) << "no commit in the output = no-op";
    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 2u);
    auto first = ValueFromJsonText(seen[0].body);
    auto second = ValueFromJsonText(seen[1].body);
    ASSERT_TRUE(first && second);
    ASSERT_NE(first->Find("swapRecord"), nullptr);
    EXPECT_TRUE(first->Find("swapRecord")->IsNull());
    EXPECT_EQ(*second->Find("swapRecord")->AsString(), previous.ToString());
    EXPECT_EQ(*second->Find("swapCommit")->AsString(), previous.ToString());
}

TEST_F(XrpcClientTest, InvalidSwapSurfacesAsConflict) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        return XrpcErrorResponse(400, "InvalidSwap", "Record was at bafyreiabc");
    };
    auto result = PutRecord(
        Client(),
        PutRecordInput{
            std::string(kDid), std::string(kTrack), "self", TrackRecord("x"), SwapRecord::MustNotExist(), {}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, ErrorCode::kConflict);
    EXPECT_TRUE(result.error().Is("InvalidSwap"));
    EXPECT_EQ(Count(), 1u) << "4xx is not retried";
}

TEST_F(XrpcClientTest, BadInputsAreRejectedBeforeAnythingIsSent) {
    XrpcClient client = Client();
    std::string did(kDid);
    std::string track(kTrack);
    EXPECT_EQ(CreateRecord(client, {did, "not-an-nsid", TrackRecord("a"), {}, {}}).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(CreateRecord(client, {"not a repo", track, TrackRecord("a"), {}, {}}).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(CreateRecord(client, {did, "fm.plyr.like", TrackRecord("a"), {}, {}}).error().code,
              ErrorCode::kInvalidArgument)
        << "$type must equal the collection";
    EXPECT_EQ(CreateRecord(client, {did, track, Value("not a map"), {}, {}}).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(PutRecord(client, {did, track, "bad/rkey", TrackRecord("a"), {}, {}}).error().code,
              ErrorCode::kInvalidArgument);
    EXPECT_EQ(DeleteRecord(client, {did, track, "..", {}, {}}).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(GetRecord(client, did, track, "").error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(ListRecords(client, {did, track, 0, {}, false}).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(ListRecords(client, {did, track, 101, {}, false}).error().code, ErrorCode::kInvalidArgument);
    std::vector<WriteOp> too_many(kMaxApplyWrites + 1, WriteOp::Delete(track, "a"));
    EXPECT_EQ(ApplyWrites(client, did, too_many).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(ApplyWrites(client, did, {}).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(UploadBlob(client, "/nonexistent/file", "audio/mpeg").error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(ResolveHandle(client, "not a handle").error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(Count(), 0u);
}

TEST_F(XrpcClientTest, GetRecordReturnsUriCidAndValue) {
    Value record = TrackRecord("x");
    respond_ = [&record](const std::string&, const Seen&, std::size_t) {
        return http::JsonResponse(200, RecordJson("3kabc", record));
    };
    Cid version = CidForDagCbor(EncodeDagCbor(record));
    auto entry = GetRecord(Client(), kDid, kTrack, "3kabc", version);
    ASSERT_TRUE(entry.has_value()) << entry.error().ToString();
    EXPECT_EQ(entry->uri, fmt::format("at://{}/{}/3kabc", kDid, kTrack));
    EXPECT_EQ(entry->cid, version);
    EXPECT_EQ(entry->value, record);
    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "GET");
    ASSERT_EQ(seen[0].query.size(), 4u);
    EXPECT_EQ(seen[0].query[3], (std::pair<std::string, std::string>{"cid", version.ToString()}));
}

TEST_F(XrpcClientTest, GetRecordMissingIsNotFound) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        return XrpcErrorResponse(400, "RecordNotFound", "Could not locate record: at://x");
    };
    auto entry = GetRecord(Client(), kDid, kTrack, "nope");
    ASSERT_FALSE(entry.has_value());
    EXPECT_EQ(entry.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(Count(), 1u) << "a 400 is an answer, not a transient failure";
}

TEST_F(XrpcClientTest, MalformedRepoOutputsAreProtocolErrors) {
    for (std::string body : {R"({"uri":"not-a-uri","cid":"bafy","value":{}})", R"({"uri":"at://did:plc:x/a.b.c/r"})",
                             R"({"uri":"at://did:plc:x/a.b.c/r","cid":"nope","value":{"$type":"a.b.c"}})"}) {
        respond_ = [&body](const std::string&, const Seen&, std::size_t) { return JsonText(200, body); };
        auto entry = GetRecord(Client(), kDid, kTrack, "r");
        ASSERT_FALSE(entry.has_value()) << body;
        EXPECT_EQ(entry.error().code, ErrorCode::kProtocol) << body;
    }
}

// Five records, pages of two, newest first; an empty page with a cursor in the middle.
TEST_F(XrpcClientTest, ListAllRecordsFollowsCursorsToTheEnd) {
    respond_ = [](const std::string&, const Seen& seen, std::size_t) {
        std::string cursor;
        for (const auto& [key, value] : seen.query) {
            if (key == "cursor") cursor = value;
        }
        auto page = [](std::vector<std::string> rkeys, std::optional<std::string> next) {
            boost::json::array records;
            for (const auto& rkey : rkeys) records.push_back(RecordJson(rkey, TrackRecord(rkey)));
            boost::json::object out{{"records", records}};
            if (next) out["cursor"] = *next;
            return http::JsonResponse(200, out);
        };
        if (cursor.empty()) return page({"r5", "r4"}, "r4");
        if (cursor == "r4") return page({}, "r4b");
        if (cursor == "r4b") return page({"r3", "r2"}, "r2");
        return page({"r1"}, std::nullopt);
    };
    auto all = ListAllRecords(Client(), ListRecordsInput{std::string(kDid), std::string(kTrack), 2, {}, false});
    ASSERT_TRUE(all.has_value()) << all.error().ToString();
    ASSERT_EQ(all->size(), 5u);
    EXPECT_EQ((*all)[0].value, TrackRecord("r5"));
    EXPECT_EQ((*all)[4].value, TrackRecord("r1"));
    EXPECT_EQ(Count(), 4u);
    for (const Seen& seen : SeenRequests()) {
        EXPECT_NE(std::find(seen.query.begin(), seen.query.end(), std::pair<std::string, std::string>{"limit", "2"}),
                  seen.query.end());
    }
}

TEST_F(XrpcClientTest, ListAllRecordsStopsOnACursorThatDoesNotAdvance) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        return JsonText(200, R"({"records":[],"cursor":"same"})");
    };
    auto all = ListAllRecords(Client(), ListRecordsInput{std::string(kDid), std::string(kTrack), 50, {}, true});
    ASSERT_FALSE(all.has_value());
    EXPECT_EQ(all.error().code, ErrorCode::kProtocol);
    EXPECT_EQ(Count(), 2u);
    EXPECT_NE(std::find(SeenRequests()[0].query.begin(), SeenRequests()[0].query.end(),
                        std::pair<std::string, std::string>{"reverse", "true"}),
              SeenRequests()[0].query.end());
}

TEST_F(XrpcClientTest, ListAllRecordsEnforcesItsRecordLimit) {
    respond_ = [](const std::string&, const Seen& seen, std::size_t) {
        boost::json::object out{
            {"records", boost::json::array{RecordJson("a", TrackRecord("a")), RecordJson("b", TrackRecord("b"))}},
            {"cursor", seen.query.size() > 3 ? "c2" : "c1"}};
        return http::JsonResponse(200, out);
    };
    auto all = ListAllRecords(Client(), ListRecordsInput{std::string(kDid), std::string(kTrack), 2, {}, false}, 3);
    ASSERT_FALSE(all.has_value());
    EXPECT_EQ(all.error().code, ErrorCode::kTooLarge);
}

TEST_F(XrpcClientTest, ApplyWritesBuildsTypedWritesAndParsesResults) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        boost::json::object out{
            {"commit", boost::json::object{{"cid", CidOf("c")}, {"rev", "3kabcdefghijk"}}},
            {"results",
             boost::json::array{
                 boost::json::object{{"$type", "com.atproto.repo.applyWrites#createResult"},
                                     {"uri", fmt::format("at://{}/{}/a", kDid, kTrack)},
                                     {"cid", CidOf("a")},
                                     {"validationStatus", "unknown"}},
                 boost::json::object{{"$type", "com.atproto.repo.applyWrites#updateResult"},
                                     {"uri", fmt::format("at://{}/{}/b", kDid, kTrack)},
                                     {"cid", CidOf("b")}},
                 boost::json::object{{"$type", "com.atproto.repo.applyWrites#deleteResult"}},
             }},
        };
        return http::JsonResponse(200, out);
    };
    std::string track(kTrack);
    auto result = ApplyWrites(Client(), kDid,
                              {WriteOp::Create(track, TrackRecord("a"), "a"),
                               WriteOp::Update(track, "b", TrackRecord("b")), WriteOp::Delete(track, "c")});
    ASSERT_TRUE(result.has_value()) << result.error().ToString();
    ASSERT_TRUE(result->commit.has_value());
    ASSERT_EQ(result->results.size(), 3u);
    EXPECT_EQ(result->results[0].cid, CidForRaw("a"));
    EXPECT_EQ(result->results[0].validation_status, "unknown");
    EXPECT_EQ(result->results[1].kind, WriteOp::Kind::kUpdate);
    EXPECT_EQ(result->results[2].kind, WriteOp::Kind::kDelete);

    auto body = ValueFromJsonText(SeenRequests().at(0).body);
    ASSERT_TRUE(body.has_value());
    const auto& writes = body->Find("writes")->GetArray();
    ASSERT_EQ(writes.size(), 3u);
    EXPECT_EQ(*writes[0].Type(), "com.atproto.repo.applyWrites#create");
    EXPECT_EQ(*writes[0].Find("value"), TrackRecord("a"));
    EXPECT_EQ(*writes[1].Type(), "com.atproto.repo.applyWrites#update");
    EXPECT_EQ(*writes[2].Type(), "com.atproto.repo.applyWrites#delete");
    EXPECT_EQ(writes[2].Find("value"), nullptr);
    EXPECT_EQ(body->Find("validate"), nullptr);
}

TEST_F(XrpcClientTest, DeleteRecordIsRetriedAndReturnsTheCommit) {
    respond_ = [](const std::string&, const Seen&, std::size_t n) {
        if (n == 1) return XrpcErrorResponse(502, "BadGateway", "x");
        return JsonText(200, fmt::format(R"({{"commit":{{"cid":"{}","rev":"3kabcdefghijk"}}}})", CidOf("c")));
    };
    auto commit = DeleteRecord(Client(), DeleteRecordInput{std::string(kDid), std::string(kTrack), "a", {}, {}});
    ASSERT_TRUE(commit.has_value()) << commit.error().ToString();
    ASSERT_TRUE(commit->has_value());
    EXPECT_EQ((*commit)->cid, CidForRaw("c"));
    EXPECT_EQ(Count(), 2u);
}

// ---- blobs and CARs ----------------------------------------------------------------------------------

TEST_F(XrpcClientTest, UploadBlobStreamsTheFileAndReturnsTheBlobRef) {
    std::string bytes(300'000, '\0');
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 31 % 251);
    TempDir dir;
    auto file = dir.Write("song.mp3", bytes);
    respond_ = [](const std::string&, const Seen& seen, std::size_t n) {
        if (n == 1) return XrpcErrorResponse(503, "Unavailable", "retry me");
        boost::json::object ref{{"$link", CidOf(seen.body)}};
        boost::json::object blob{
            {"$type", "blob"}, {"ref", ref}, {"mimeType", seen.content_type}, {"size", seen.body.size()}};
        return http::JsonResponse(200, boost::json::object{{"blob", blob}});
    };
    auto blob = UploadBlob(Client(), file, "audio/mpeg");
    ASSERT_TRUE(blob.has_value()) << blob.error().ToString();
    EXPECT_EQ(blob->ref, CidForRaw(bytes));
    EXPECT_EQ(blob->mime_type, "audio/mpeg");
    EXPECT_EQ(blob->size, static_cast<std::int64_t>(bytes.size()));
    auto seen = SeenRequests();
    ASSERT_EQ(seen.size(), 2u) << "uploadBlob is idempotent: retried after a 503";
    EXPECT_EQ(seen[1].body, bytes);
    EXPECT_EQ(seen[1].content_type, "audio/mpeg");
}

TEST_F(XrpcClientTest, GetBlobStreamsToTheFileAfterCheckingTheCid) {
    const std::string bytes(200'000, 'b');
    respond_ = [&bytes](const std::string&, const Seen&, std::size_t n) {
        if (n == 1) return XrpcErrorResponse(500, "InternalServerError", "x");
        http::Response response(200);
        response.headers.Set("Content-Type", "application/octet-stream");
        response.body = bytes;
        return response;
    };
    TempDir dir;
    auto destination = dir.path() / "blob.bin";
    Cid cid = CidForRaw(bytes);
    auto size = GetBlob(Client(), kDid, cid, destination, 1 << 20);
    ASSERT_TRUE(size.has_value()) << size.error().ToString();
    EXPECT_EQ(*size, bytes.size());
    EXPECT_EQ(ReadFile(destination), bytes);
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1) << "no temp file left";
    auto query = SeenRequests().at(1).query;
    EXPECT_EQ(query,
              (std::vector<std::pair<std::string, std::string>>{{"did", std::string(kDid)}, {"cid", cid.ToString()}}));
}

TEST_F(XrpcClientTest, GetBlobWithWrongBytesLeavesNoFile) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        http::Response response(200);
        response.body = "tampered";
        return response;
    };
    TempDir dir;
    auto destination = dir.path() / "blob.bin";
    auto size = GetBlob(Client(), kDid, CidForRaw("original"), destination, 1 << 20);
    ASSERT_FALSE(size.has_value());
    EXPECT_EQ(size.error().code, ErrorCode::kProtocol);
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST_F(XrpcClientTest, GetBlobErrorsAreParsedFromTheStreamedBodyAndLeaveNoFile) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        return XrpcErrorResponse(400, "BlobNotFound", "Blob not found");
    };
    TempDir dir;
    auto destination = dir.path() / "blob.bin";
    auto size = GetBlob(Client(), kDid, CidForRaw("x"), destination, 1 << 20);
    ASSERT_FALSE(size.has_value());
    EXPECT_EQ(size.error().code, ErrorCode::kNotFound);
    EXPECT_TRUE(size.error().Is("BlobNotFound"));
    EXPECT_EQ(size.error().message, "Blob not found");
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST_F(XrpcClientTest, GetBlobOverTheLimitIsTooLargeAndLeavesNoFile) {
    respond_ = [](const std::string&, const Seen&, std::size_t) {
        http::Response response(200);
        response.body.assign(10'000, 'z');
        return response;
    };
    TempDir dir;
    auto size = GetBlob(Client(), kDid, CidForRaw(std::string(10'000, 'z')), dir.path() / "blob.bin", 1000);
    ASSERT_FALSE(size.has_value());
    EXPECT_EQ(size.error().code, ErrorCode::kTooLarge);
    EXPECT_EQ(Count(), 1u);
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST_F(XrpcClientTest, GetRepoReturnsTheCarBytesOrAFile) {
    Value record = TrackRecord("in the car");
    std::string block = EncodeDagCbor(record);
    Cid cid = CidForDagCbor(block);
    std::string car = WriteCar({cid}, {{cid, block}});
    respond_ = [&car](const std::string& nsid, const Seen&, std::size_t) {
        EXPECT_EQ(nsid, "com.atproto.sync.getRepo");
        http::Response response(200);
        response.headers.Set("Content-Type", "application/vnd.ipld.car");
        response.body = car;
        return response;
    };
    XrpcClient client = Client();
    auto bytes = GetRepo(client, kDid, 1 << 20);
    ASSERT_TRUE(bytes.has_value()) << bytes.error().ToString();
    auto parsed = ReadCar(*bytes);
    ASSERT_TRUE(parsed.has_value());
    ASSERT_EQ(parsed->blocks.count(cid), 1u);

    TempDir dir;
    auto size = GetRepoToFile(client, kDid, dir.path() / "repo.car", 1 << 20);
    ASSERT_TRUE(size.has_value()) << size.error().ToString();
    EXPECT_EQ(ReadFile(dir.path() / "repo.car"), car);
}

TEST_F(XrpcClientTest, DescribeRepoAndResolveHandleParseTheirOutputs) {
    respond_ = [](const std::string& nsid, const Seen&, std::size_t) {
        if (nsid == "com.atproto.identity.resolveHandle") return JsonText(200, fmt::format(R"({{"did":"{}"}})", kDid));
        return JsonText(200, fmt::format(R"({{"handle":"alice.test","did":"{}","didDoc":{{"id":"{}"}},)"
                                         R"("collections":["fm.plyr.track"],"handleIsCorrect":true}})",
                                         kDid, kDid));
    };
    XrpcClient client = Client();
    auto did = ResolveHandle(client, "alice.test");
    ASSERT_TRUE(did.has_value()) << did.error().ToString();
    EXPECT_EQ(*did, kDid);
    auto description = DescribeRepo(client, kDid);
    ASSERT_TRUE(description.has_value()) << description.error().ToString();
    EXPECT_EQ(description->handle, "alice.test");
    EXPECT_EQ(description->collections, std::vector<std::string>{"fm.plyr.track"});
    EXPECT_TRUE(description->handle_is_correct);
    EXPECT_EQ(*description->did_doc.Find("id")->AsString(), kDid);
}

}  // namespace
}  // namespace plyr::atproto::xrpc
