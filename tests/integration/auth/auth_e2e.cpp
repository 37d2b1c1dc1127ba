#include "auth_e2e.hpp"

#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <boost/json/serialize.hpp>

#include "support/oauth_signin.hpp"
#include "support/testnet.hpp"

namespace plyr::testing {

std::string ClientKindName(const ::testing::TestParamInfo<ClientKind>& info) {
    return info.param == ClientKind::kLoopback ? "Loopback" : "Confidential";
}

void PrintTo(ClientKind kind, std::ostream* os) {
    *os << (kind == ClientKind::kLoopback ? "loopback client" : "confidential client");
}

namespace {

struct SqliteHandle {
    sqlite3* db = nullptr;
    ~SqliteHandle() { sqlite3_close(db); }
};

bool OpenDb(const std::string& path, SqliteHandle& handle) {
    if (sqlite3_open_v2(path.c_str(), &handle.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
        ADD_FAILURE() << "sqlite open " << path << ": " << sqlite3_errmsg(handle.db);
        return false;
    }
    sqlite3_busy_timeout(handle.db, 5000);
    return true;
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

long long SqlitePeek::Int(const std::string& sql) const {
    SqliteHandle h;
    if (!OpenDb(path_, h)) return -1;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(h.db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
        ADD_FAILURE() << "sqlite prepare `" << sql << "`: " << sqlite3_errmsg(h.db);
        return -1;
    }
    long long value = -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        value = sqlite3_column_int64(stmt, 0);
    } else {
        ADD_FAILURE() << "sqlite step `" << sql << "`: " << sqlite3_errmsg(h.db);
    }
    sqlite3_finalize(stmt);
    return value;
}

long long SqlitePeek::Exec(const std::string& sql) const {
    SqliteHandle h;
    if (!OpenDb(path_, h)) return -1;
    char* error = nullptr;
    if (sqlite3_exec(h.db, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
        ADD_FAILURE() << "sqlite exec `" << sql << "`: " << (error != nullptr ? error : "?");
        sqlite3_free(error);
        return -1;
    }
    return sqlite3_changes(h.db);
}

bool SqlitePeek::FileContains(const std::string& needle) const {
    for (const char* suffix : {"", "-wal", "-journal"}) {
        std::string file = path_ + suffix;
        if (std::filesystem::exists(file) && ReadFile(file).find(needle) != std::string::npos) return true;
    }
    return false;
}

void AuthE2E::SetUp() {
    auto pds = TestnetPdsUrl();
    auto env = TestnetServeEnv();
    if (!pds || !env) {
        skipped_ = true;
        GTEST_SKIP() << "TESTNET_PDS_URL / TESTNET_PLC_URL not set (scripts/test.sh starts the testnet)";
    }
    pds_url_ = *pds;
    testnet_env_ = *env;
}

void AuthE2E::StartPlyr(ClientKind kind, Env extra) {
    Env env = testnet_env_;
    kind_ = kind;
    if (kind == ClientKind::kConfidential) {
        const char* allow = std::getenv("TESTNET_ALLOW_LOOPBACK_CLIENTS");
        ASSERT_TRUE(allow != nullptr && (std::string(allow) == "1" || std::string(allow) == "true"))
            << "the confidential client needs a testnet started with TESTNET_ALLOW_LOOPBACK_CLIENTS=1 "
               "(scripts/test.sh does that)";
        std::string jwk = GenerateOAuthJwk();
        ASSERT_FALSE(jwk.empty()) << "plyr keygen oauth-jwk failed";
        env["OAUTH_JWK"] = jwk;
        jwk_ = jwk;
    }
    for (auto& [k, v] : extra) env[k] = v;
    server_ = std::make_unique<PlyrServer>(dir_.str() + "/data", env);
    ASSERT_TRUE(server_->Start()) << "plyr serve did not come up:\n" << server_->Log();
}

TestnetAccount AuthE2E::NewAccount(const std::string& prefix) {
    std::string error;
    auto account = CreateTestnetAccount(pds_url_, prefix, &error);
    EXPECT_TRUE(account.has_value()) << "createAccount failed: " << error;
    return account.value_or(TestnetAccount{});
}

std::optional<WebResponse> AuthE2E::Start(WebClient& browser, const std::string& query) {
    return browser.Get("/auth/start?" + query, {{"Accept", "text/html,application/xhtml+xml"}});
}

std::string AuthE2E::Authorize(const std::string& authorize_url, const TestnetAccount& account, bool deny) {
    SignInOptions options;
    options.deny = deny;
    auto callback = SignInAndConsent(authorize_url, account.handle, account.password, options);
    EXPECT_TRUE(callback.has_value()) << "sign-in at the AS failed: "
                                      << (callback ? std::string() : callback.error().ToString());
    return callback.value_or(std::string());
}

std::optional<WebResponse> AuthE2E::DeliverCallback(WebClient& browser, const std::string& callback_url) {
    EXPECT_EQ(OriginOf(callback_url), Url()) << "the AS must redirect to plyr's redirect_uri: " << callback_url;
    return browser.Get(PathOf(callback_url), {{"Accept", "text/html"}});
}

std::optional<WebResponse> AuthE2E::Exchange(WebClient& browser, const std::string& exchange_token) {
    boost::json::object body{{"exchange_token", exchange_token}};
    return browser.PostJson("/auth/exchange", boost::json::serialize(body), {{"Origin", Url()}});
}

std::optional<SignedIn> AuthE2E::SignIn(WebClient& browser, const TestnetAccount& account,
                                        const std::string& extra_query) {
    auto start = Start(browser, "handle=" + UrlEncode(account.handle) + extra_query);
    if (!start) {
        ADD_FAILURE() << "GET /auth/start: no answer";
        return std::nullopt;
    }
    if (start->status != 303) {
        ADD_FAILURE() << "GET /auth/start: " << start->status << " " << start->body << "\n" << server_->Log();
        return std::nullopt;
    }
    std::string authorize_url = start->Header("location");
    auto binding = start->FindSetCookie("plyr_oauth_binding");
    if (!binding) {
        ADD_FAILURE() << "/auth/start set no browser-binding cookie";
        return std::nullopt;
    }
    EXPECT_TRUE(binding->Has("httponly"));
    EXPECT_EQ(binding->Attribute("samesite"), "Lax");
    EXPECT_TRUE(QueryParam(authorize_url, "request_uri").has_value()) << authorize_url;
    auto client_id = QueryParam(authorize_url, "client_id");
    if (kind_ == ClientKind::kConfidential) {
        EXPECT_EQ(client_id, Url() + "/oauth-client-metadata.json") << authorize_url;
    } else {
        EXPECT_EQ(client_id.value_or("").rfind("http://localhost", 0), 0u) << authorize_url;
        EXPECT_EQ(QueryParam(client_id.value_or(""), "redirect_uri"), Url() + "/auth/callback")
            << "the loopback client id names plyr's redirect URI: " << authorize_url;
    }
    EXPECT_EQ(OriginOf(authorize_url), OriginOf(pds_url_)) << "the testnet PDS is its own authorization server";

    std::string callback_url = Authorize(authorize_url, account);
    if (callback_url.empty()) return std::nullopt;
    auto callback = DeliverCallback(browser, callback_url);
    if (!callback || callback->status != 303) {
        ADD_FAILURE() << "GET /auth/callback: " << (callback ? std::to_string(callback->status) : "no answer") << "\n"
                      << server_->Log();
        return std::nullopt;
    }
    std::string location = callback->Header("location");
    auto token = QueryParam(location, "exchange_token");
    if (!token) {
        ADD_FAILURE() << "callback did not hand out an exchange token: " << location << "\n" << server_->Log();
        return std::nullopt;
    }
    SignedIn out;
    std::string path = PathOf(location);
    out.landing = path.substr(0, path.find('?'));
    auto exchange = Exchange(browser, *token);
    if (!exchange || exchange->status != 200) {
        ADD_FAILURE() << "POST /auth/exchange: " << (exchange ? exchange->status : 0) << " "
                      << (exchange ? exchange->body : "");
        return std::nullopt;
    }
    auto cookie = exchange->FindSetCookie("session_id");
    if (!cookie) {
        ADD_FAILURE() << "exchange set no session cookie";
        return std::nullopt;
    }
    EXPECT_TRUE(cookie->Has("httponly"));
    EXPECT_EQ(cookie->Attribute("samesite"), "Lax");
    EXPECT_FALSE(cookie->Has("secure")) << "no Secure on an http://127.0.0.1 PUBLIC_URL";
    EXPECT_EQ(cookie->Attribute("path"), "/");
    EXPECT_GT(std::atoll(cookie->Attribute("max-age").c_str()), 0);
    auto json = exchange->Json();
    EXPECT_TRUE(json.is_object()) << exchange->body;
    if (json.is_object()) {
        EXPECT_EQ(json.as_object().contains("did") ? json.at("did").as_string() : "", account.did);
        EXPECT_EQ(json.as_object().contains("handle") ? json.at("handle").as_string() : "", account.handle);
    }
    // The browser gets the id only as an HttpOnly cookie: never in a body script could read.
    EXPECT_FALSE(json.is_object() && json.as_object().contains("session_id")) << exchange->body;
    EXPECT_EQ(exchange->body.find(cookie->value), std::string::npos) << exchange->body;
    out.session_id = cookie->value;
    out.did = account.did;
    out.handle = account.handle;
    out.exchange = std::move(*exchange);
    return out;
}

std::optional<std::string> AuthE2E::CompleteFlow(WebClient& browser, const std::string& auth_url,
                                                 const TestnetAccount& account) {
    std::string callback_url = Authorize(auth_url, account);
    if (callback_url.empty()) return std::nullopt;
    auto callback = DeliverCallback(browser, callback_url);
    if (!callback || callback->status != 303) {
        ADD_FAILURE() << "GET /auth/callback: " << (callback ? std::to_string(callback->status) : "no answer");
        return std::nullopt;
    }
    return callback->Header("location");
}

std::optional<WebResponse> AuthE2E::Post(WebClient& browser, const std::string& target, const std::string& json) {
    return browser.PostJson(target, json, {{"Origin", Url()}});
}

void AuthE2EByKind::SetUp() {
    AuthE2E::SetUp();
    if (skipped_) return;
    StartPlyr(GetParam());
}

}  // namespace plyr::testing
