// core/keyring: the SecretBox keyring from configuration (production refuses without a key; development
// generates one file once) and the OAUTH_JWK check; the new auth and rate-limit settings of config.
#include "core/keyring.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "core/encoding.hpp"
#include "support/temp_dir.hpp"

namespace plyr::core {
namespace {

using plyr::testing::TempDir;

// A P-256 key pair made for this test (cryptography.io); kThumbprint is its RFC 7638 thumbprint.
constexpr std::string_view kJwk =
    R"({"kty":"EC","crv":"P-256","x":"DHOX1_uGYMzKFbIxWVommKvy14CkPugy5d2NtfGyPtM",)"
    R"("y":"Ckx6KyMpKRKQyJr-idnW3QfvcZmjoqQeTKHphOzRcLw","d":"CVGQGm3Caj9hLGA2pHscR7iYJG0leQQqj_48CgJnVBY"})";
constexpr std::string_view kThumbprint = "1iOcxqIsPwKYFWGepBvP5Ut6NPCaBpU5fUFMhyq8OiM";
// The private scalar of a different key.
constexpr std::string_view kOtherD = "Z907EZ1gFXjkWau14lvTplkO7h9rlC0Oj7wu_ahtQVw";

Result<Config> Load(const Environment& env) {
    auto merged = MergeSources(std::nullopt, env, {});
    if (!merged) return Fail(merged.error());
    return LoadConfig(*merged);
}

Config DevConfig(const TempDir& dir) {
    Config config;
    config.public_url = "http://127.0.0.1:8001";
    config.data_dir = dir.path() / "data";
    return config;
}

std::string Key() { return Base64UrlEncode(RandomBytes(32)); }

unsigned Mode(const std::filesystem::path& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 0777;
}

std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream body;
    body << in.rdbuf();
    return body.str();
}

TEST(DevelopmentMode, IsHttpOnALoopbackHost) {
    Config config;
    for (const char* url :
         {"http://127.0.0.1:8001", "http://localhost:3000", "http://[::1]:8001", "http://LOCALHOST"}) {
        config.public_url = url;
        EXPECT_TRUE(IsDevelopmentMode(config)) << url;
    }
    for (const char* url : {"https://127.0.0.1:8001", "http://127.0.0.2:8001", "http://plyr.example",
                            "https://plyr.example", "http://localhost.example"}) {
        config.public_url = url;
        EXPECT_FALSE(IsDevelopmentMode(config)) << url;
    }
}

TEST(Keyring, ConfiguredKeySealsAndPreviousKeyStillOpens) {
    Config config;
    config.public_url = "https://plyr.example";
    std::string old_key = Key();
    config.oauth_encryption_key = old_key;
    auto old_ring = LoadKeyring(config);
    ASSERT_TRUE(old_ring) << old_ring.error().ToString();
    EXPECT_EQ(old_ring->source, KeySource::kConfigured);
    auto blob = old_ring->box.Seal("secret", "ad");
    ASSERT_TRUE(blob);

    config.oauth_encryption_key = Key();
    config.oauth_encryption_key_previous = old_key;
    auto rotated = LoadSecretBox(config);
    ASSERT_TRUE(rotated) << rotated.error().ToString();
    auto opened = rotated->Open(*blob, "ad");
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->plaintext, "secret");
    EXPECT_TRUE(opened->needs_reencrypt);
}

TEST(Keyring, ProductionWithoutAKeyRefusesAndNamesTheKeygenCommand) {
    TempDir dir;
    Config config = DevConfig(dir);
    config.public_url = "https://plyr.example";
    auto ring = LoadKeyring(config);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, ErrorCode::kConfig);
    EXPECT_NE(ring.error().message.find("OAUTH_ENCRYPTION_KEY"), std::string::npos);
    EXPECT_NE(ring.error().message.find("plyr keygen encryption-key"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(config.data_dir)) << "nothing may be written in production";
}

TEST(Keyring, MalformedConfiguredKeysAreConfigErrorsWithoutTheValue) {
    Config config;
    config.public_url = "https://plyr.example";
    config.oauth_encryption_key = "c2hvcnQ";  // 5 bytes
    auto ring = LoadKeyring(config);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, ErrorCode::kConfig);
    EXPECT_NE(ring.error().message.find("OAUTH_ENCRYPTION_KEY"), std::string::npos);
    EXPECT_EQ(ring.error().message.find("c2hvcnQ"), std::string::npos);

    config.oauth_encryption_key = Key();
    config.oauth_encryption_key_previous = "not base64!";
    ring = LoadKeyring(config);
    ASSERT_FALSE(ring);
    EXPECT_NE(ring.error().message.find("OAUTH_ENCRYPTION_KEY_PREVIOUS"), std::string::npos);
}

TEST(Keyring, DevelopmentGeneratesAPrivateKeyFileOnceAndReusesIt) {
    TempDir dir;
    Config config = DevConfig(dir);
    auto first = LoadKeyring(config);
    ASSERT_TRUE(first) << first.error().ToString();
    EXPECT_EQ(first->source, KeySource::kGenerated);
    EXPECT_EQ(first->file, DevelopmentKeyPath(config));
    EXPECT_EQ(DevelopmentKeyPath(config), config.data_dir / "secrets" / "oauth-encryption-key");
    EXPECT_EQ(Mode(config.data_dir / "secrets"), 0700u);
    EXPECT_EQ(Mode(first->file), 0600u);
    std::string text = ReadFile(first->file);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    auto raw = Base64UrlDecode(text);
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->size(), 32u);

    auto blob = first->box.Seal("refresh-token", "user_sessions/1");
    ASSERT_TRUE(blob);
    auto second = LoadKeyring(config);
    ASSERT_TRUE(second) << second.error().ToString();
    EXPECT_EQ(second->source, KeySource::kDevelopmentFile);
    auto opened = second->box.Open(*blob, "user_sessions/1");
    ASSERT_TRUE(opened) << "the second start must reuse the generated key";
    EXPECT_EQ(opened->plaintext, "refresh-token");
    // No temporary files are left next to the key.
    int entries = 0;
    for (const auto& entry : std::filesystem::directory_iterator(config.data_dir / "secrets")) {
        (void)entry;
        ++entries;
    }
    EXPECT_EQ(entries, 1);
}

TEST(Keyring, ConcurrentDevelopmentStartsAgreeOnOneKey) {
    TempDir dir;
    Config config = DevConfig(dir);
    constexpr int kThreads = 8;
    std::vector<std::optional<SecretBox>> boxes(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            auto box = LoadSecretBox(config);
            if (box) boxes[i] = std::move(*box);
        });
    }
    for (auto& t : threads) t.join();
    ASSERT_TRUE(boxes[0]);
    auto blob = boxes[0]->Seal("x", "ad");
    ASSERT_TRUE(blob);
    for (int i = 0; i < kThreads; ++i) {
        ASSERT_TRUE(boxes[i]) << i;
        EXPECT_EQ(boxes[i]->current_key_id(), boxes[0]->current_key_id());
        EXPECT_TRUE(boxes[i]->Open(*blob, "ad")) << i;
    }
}

TEST(Keyring, DevelopmentPrefersAConfiguredKeyAndWritesNothing) {
    TempDir dir;
    Config config = DevConfig(dir);
    config.oauth_encryption_key = Key();
    auto ring = LoadKeyring(config);
    ASSERT_TRUE(ring);
    EXPECT_EQ(ring->source, KeySource::kConfigured);
    EXPECT_FALSE(std::filesystem::exists(DevelopmentKeyPath(config)));
}

TEST(Keyring, DevelopmentKeyFileReadableByOthersIsRefused) {
    TempDir dir;
    Config config = DevConfig(dir);
    ASSERT_TRUE(LoadKeyring(config));
    ASSERT_EQ(::chmod(DevelopmentKeyPath(config).c_str(), 0644), 0);
    auto ring = LoadKeyring(config);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, ErrorCode::kConfig);
    EXPECT_NE(ring.error().message.find("chmod 600"), std::string::npos) << ring.error().message;
}

TEST(Keyring, CorruptDevelopmentKeyFileIsAConfigError) {
    TempDir dir;
    Config config = DevConfig(dir);
    ASSERT_TRUE(LoadKeyring(config));
    {
        std::ofstream out(DevelopmentKeyPath(config), std::ios::trunc);
        out << "garbage\n";
    }
    auto ring = LoadKeyring(config);
    ASSERT_FALSE(ring);
    EXPECT_EQ(ring.error().code, ErrorCode::kConfig);
    EXPECT_NE(ring.error().message.find("oauth-encryption-key"), std::string::npos);
}

TEST(OAuthJwk, AKeygenShapedJwkPassesAndItsKidIsTheThumbprint) {
    auto info = CheckOAuthJwk(kJwk);
    ASSERT_TRUE(info) << info.error().ToString();
    EXPECT_EQ(info->kid, kThumbprint);

    std::string with_kid(kJwk);
    with_kid.insert(1, R"("kid":"key-1","alg":"ES256","use":"sig",)");
    auto named = CheckOAuthJwk(with_kid);
    ASSERT_TRUE(named) << named.error().ToString();
    EXPECT_EQ(named->kid, "key-1");
}

TEST(OAuthJwk, BadShapesAreConfigErrorsThatNeverQuoteTheKey) {
    std::string d_value = "CVGQGm3Caj9hLGA2pHscR7iYJG0leQQqj_48CgJnVBY";
    auto replace = [](std::string text, std::string_view from, std::string_view to) {
        auto pos = text.find(from);
        if (pos != std::string::npos) text.replace(pos, from.size(), to);
        return text;
    };
    std::string jwk(kJwk);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json", "{not json"},
        {"array", "[1]"},
        {"public only", replace(jwk, R"(,"d":")" + d_value + "\"", "")},
        {"rsa", replace(jwk, R"("kty":"EC")", R"("kty":"RSA")")},
        {"secp256k1", replace(jwk, R"("crv":"P-256")", R"("crv":"secp256k1")")},
        {"short d", replace(jwk, d_value, "AAAA")},
        {"other d", replace(jwk, d_value, kOtherD)},
        {"zero d", replace(jwk, d_value, Base64UrlEncode(std::string(32, '\0')))},
        {"wrong alg", replace(jwk, R"("kty":"EC")", R"("kty":"EC","alg":"RS256")")},
        {"empty kid", replace(jwk, R"("kty":"EC")", R"("kty":"EC","kid":"")")},
    };
    for (const auto& [name, text] : cases) {
        auto info = CheckOAuthJwk(text);
        ASSERT_FALSE(info) << name;
        EXPECT_EQ(info.error().code, ErrorCode::kConfig) << name;
        EXPECT_NE(info.error().message.find("OAUTH_JWK"), std::string::npos) << name;
        EXPECT_EQ(info.error().message.find(d_value), std::string::npos) << name;
        EXPECT_EQ(info.error().ToString().find(d_value), std::string::npos) << name;
    }
}

TEST(ConfigAuth, OAuthJwkMakesAConfidentialClientEvenOnLoopback) {
    auto https = Load({{"PUBLIC_URL", "https://plyr.example"}, {"OAUTH_JWK", std::string(kJwk)}});
    ASSERT_TRUE(https) << https.error().ToString();
    EXPECT_EQ(https->ClientModeFromUrl(), ClientMode::kConfidential);
    EXPECT_EQ(https->oauth_jwk_kid, kThumbprint);

    auto loopback = Load({{"OAUTH_JWK", std::string(kJwk)}, {"ALLOW_PRIVATE_NETWORK", "true"}});
    ASSERT_TRUE(loopback) << loopback.error().ToString();
    EXPECT_EQ(loopback->ClientModeFromUrl(), ClientMode::kConfidential);

    auto refused = Load({{"PUBLIC_URL", "http://plyr.example"}, {"OAUTH_JWK", std::string(kJwk)}});
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("https"), std::string::npos);

    auto invalid = Load({{"PUBLIC_URL", "https://plyr.example"}, {"OAUTH_JWK", "{}"}});
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().code, ErrorCode::kConfig);
    EXPECT_NE(invalid.error().message.find("OAUTH_JWK"), std::string::npos);

    auto plain = Load({});
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->ClientModeFromUrl(), ClientMode::kLoopback);
    EXPECT_TRUE(plain->oauth_jwk_kid.empty());
}

TEST(ConfigAuth, RateLimitAndAuthDefaultsFollowTheProductSpec) {
    auto config = Load({});
    ASSERT_TRUE(config) << config.error().ToString();
    EXPECT_TRUE(config->rate_limit_enabled);
    EXPECT_EQ(config->rate_limit_default.limit, 100);
    EXPECT_EQ(config->rate_limit_default.period_seconds, 60);
    EXPECT_EQ(config->rate_limit_auth.limit, 10);
    EXPECT_EQ(config->rate_limit_upload.limit, 20);
    EXPECT_EQ(config->auth_developer_token_default_days, 90);
    EXPECT_EQ(config->auth_developer_token_max_days, 365);
    EXPECT_EQ(config->atproto_redirect_uri, "http://127.0.0.1:8001/auth/callback");
    EXPECT_TRUE(config->atproto_client_id.empty());
    EXPECT_TRUE(config->atproto_scope_override.empty());
    EXPECT_EQ(config->bsky_appview_url, "https://public.api.bsky.app");

    auto off = Load({{"RATE_LIMIT_ENABLED", "false"},
                     {"RATE_LIMIT_AUTH_LIMIT", "5/second"},
                     {"RATE_LIMIT_DEFAULT_LIMIT", "1000"},
                     {"AUTH_DEVELOPER_TOKEN_MAX_DAYS", "30"},
                     {"AUTH_DEVELOPER_TOKEN_DEFAULT_DAYS", "7"},
                     {"BSKY_APPVIEW_URL", ""}});
    ASSERT_TRUE(off) << off.error().ToString();
    EXPECT_FALSE(off->rate_limit_enabled);
    EXPECT_EQ(off->rate_limit_auth.limit, 5);
    EXPECT_EQ(off->rate_limit_auth.period_seconds, 1);
    EXPECT_EQ(off->rate_limit_default.limit, 1000);
    EXPECT_EQ(off->rate_limit_default.period_seconds, 60);
    EXPECT_EQ(off->auth_developer_token_max_days, 30);
    EXPECT_TRUE(off->bsky_appview_url.empty());
}

TEST(ConfigAuth, RateLimitSpellings) {
    struct Case {
        const char* text;
        std::int64_t limit;
        std::int64_t period;
    };
    for (const Case& c : {Case{"100/minute", 100, 60}, Case{"7/hour", 7, 3600}, Case{"3/day", 3, 86400},
                          Case{" 2/second ", 2, 1}, Case{"9", 9, 60}}) {
        auto v = ParseRateLimitSetting("RATE_LIMIT_DEFAULT_LIMIT", c.text);
        ASSERT_TRUE(v) << c.text;
        EXPECT_EQ(v->limit, c.limit) << c.text;
        EXPECT_EQ(v->period_seconds, c.period) << c.text;
    }
    for (const char* bad : {"", "0/minute", "-1", "ten", "5/fortnight", "5/", "/minute", "5/minute/x"}) {
        auto v = ParseRateLimitSetting("RATE_LIMIT_DEFAULT_LIMIT", bad);
        ASSERT_FALSE(v) << bad;
        EXPECT_EQ(v.error().code, ErrorCode::kConfig);
        EXPECT_NE(v.error().message.find("RATE_LIMIT_DEFAULT_LIMIT"), std::string::npos);
    }
}

TEST(ConfigAuth, InvalidNewSettingsNameTheVariable) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"TRUSTED_PROXIES", "10.0.0.0/33"},
        {"TRUSTED_PROXIES", "proxy.example"},
        {"AUTH_DEVELOPER_TOKEN_MAX_DAYS", "0"},
        {"AUTH_DEVELOPER_TOKEN_DEFAULT_DAYS", "400"},  // above the default max of 365
        {"ATPROTO_SCOPE_OVERRIDE", "transition:generic"},
        {"ATPROTO_REDIRECT_URI", "not a url"},
        {"ATPROTO_CLIENT_ID", "ftp://x"},
        {"BSKY_APPVIEW_URL", "appview"},
        {"RATE_LIMIT_ENABLED", "maybe"},
        {"OAUTH_ENCRYPTION_KEY", "dG9vLXNob3J0"},
        {"OAUTH_ENCRYPTION_KEY_PREVIOUS", "not base64 at all!"},
    };
    for (const auto& [name, value] : cases) {
        auto config = Load({{name, value}});
        ASSERT_FALSE(config) << name << "=" << value;
        EXPECT_EQ(config.error().code, ErrorCode::kConfig);
        EXPECT_NE(config.error().message.find(name), std::string::npos) << config.error().message;
        if (name.rfind("OAUTH_", 0) == 0) {
            EXPECT_EQ(config.error().ToString().find(value), std::string::npos) << "secrets are not echoed";
        }
    }
    auto ok =
        Load({{"TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1, ::1, fd00::/8"},
              {"ATPROTO_SCOPE_OVERRIDE", "atproto transition:generic"},
              {"ATPROTO_CLIENT_ID", "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8001%2Fauth%2Fcallback"},
              {"OAUTH_ENCRYPTION_KEY", Key()}});
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(ok->trusted_proxies.size(), 4u);
    EXPECT_EQ(ok->atproto_scope_override, "atproto transition:generic");
}

}  // namespace
}  // namespace plyr::core
