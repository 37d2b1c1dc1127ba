#include "core/config.hpp"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace plyr::core {
namespace {

Result<Config> Load(const Environment& env) {
    auto merged = MergeSources(std::nullopt, env, {});
    if (!merged) return Fail(merged.error());
    return LoadConfig(*merged);
}

TEST(Config, DefaultsAreTheEmbeddedSetup) {
    auto config = Load({});
    ASSERT_TRUE(config) << config.error().ToString();
    EXPECT_EQ(config->port, 8001);
    EXPECT_EQ(config->host, "127.0.0.1");
    EXPECT_EQ(config->database_kind, DatabaseKind::kSqlite);
    EXPECT_EQ(config->sqlite_path, "./plyr-data/plyr.db");
    EXPECT_EQ(config->storage_kind, StorageKind::kLocal);
    EXPECT_EQ(config->public_url, "http://127.0.0.1:8001");
    EXPECT_EQ(config->ClientModeFromUrl(), ClientMode::kLoopback);
    EXPECT_EQ(config->default_hidden_tags, std::vector<std::string>{"ai"});
}

TEST(Config, DatabaseUrlForms) {
    auto rel = Load({{"DATABASE_URL", "sqlite:///data/x.db"}});
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->sqlite_path, "data/x.db");
    auto abs = Load({{"DATABASE_URL", "sqlite:////var/lib/plyr.db"}});
    ASSERT_TRUE(abs);
    EXPECT_EQ(abs->sqlite_path, "/var/lib/plyr.db");
    auto pg = Load({{"DATABASE_URL", "postgresql://u:p@127.0.0.1:5432/plyr"}});
    ASSERT_TRUE(pg);
    EXPECT_EQ(pg->database_kind, DatabaseKind::kPostgres);
    auto bad = Load({{"DATABASE_URL", "mysql://x"}});
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kConfig);
    EXPECT_NE(bad.error().message.find("DATABASE_URL"), std::string::npos);
}

TEST(Config, RejectsBadValuesNamingTheVariable) {
    struct Case {
        const char* name;
        const char* value;
    };
    for (const Case& c : {Case{"PORT", "80a"}, Case{"PORT", "70000"}, Case{"PORT", "-1"}, Case{"AUTO_MIGRATE", "maybe"},
                          Case{"PUBLIC_URL", "ftp://x"}, Case{"PUBLIC_URL", "not a url"}, Case{"LOG_LEVEL", "loud"},
                          Case{"STORAGE_BACKEND", "floppy"}, Case{"DEFAULT_PAGE_SIZE", "1000"},
                          Case{"CORS_ALLOWED_ORIGINS", "https://a.example/path"}, Case{"ADMIN_DIDS", "alice"}}) {
        auto config = Load({{c.name, c.value}});
        ASSERT_FALSE(config) << c.name << "=" << c.value;
        EXPECT_EQ(config.error().code, ErrorCode::kConfig);
        EXPECT_NE(config.error().message.find(c.name), std::string::npos) << config.error().message;
    }
}

TEST(Config, S3BackendRequiresEndpointKeysAndBucket) {
    auto missing = Load({{"STORAGE_BACKEND", "s3"}});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("R2_ENDPOINT_URL"), std::string::npos);
    auto ok = Load({{"STORAGE_BACKEND", "s3"},
                    {"R2_ENDPOINT_URL", "http://127.0.0.1:9000"},
                    {"AWS_ACCESS_KEY_ID", "k"},
                    {"AWS_SECRET_ACCESS_KEY", "s"},
                    {"R2_BUCKET", "audio"}});
    ASSERT_TRUE(ok) << ok.error().ToString();
    EXPECT_EQ(ok->storage_kind, StorageKind::kS3);
}

TEST(Config, DotEnvParsing) {
    auto env = ParseDotEnv("# comment\nexport PORT=9000\nNAME=\"my plyr\"\nLOG_LEVEL=debug # trailing\n\n");
    ASSERT_TRUE(env);
    EXPECT_EQ(env->at("PORT"), "9000");
    EXPECT_EQ(env->at("NAME"), "my plyr");
    EXPECT_EQ(env->at("LOG_LEVEL"), "debug");
    EXPECT_FALSE(ParseDotEnv("JUSTTEXT\n"));
    EXPECT_FALSE(ParseDotEnv("BAD-NAME=1\n"));
}

TEST(Config, PrecedenceIsFlagsThenEnvironmentThenDotEnv) {
    auto dir = std::filesystem::temp_directory_path() / ("plyr-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto dotenv = dir / ".env";
    std::ofstream(dotenv) << "PORT=9001\nNAME=from-dotenv\nLOG_LEVEL=warn\n";
    auto merged = MergeSources(dotenv, {{"PORT", "9002"}, {"NAME", "from-env"}}, {{"PORT", "9003"}});
    ASSERT_TRUE(merged);
    auto config = LoadConfig(*merged);
    ASSERT_TRUE(config);
    EXPECT_EQ(config->port, 9003);
    EXPECT_EQ(config->name, "from-env");
    EXPECT_EQ(config->log_level, "warn");
    std::filesystem::remove_all(dir);
}

TEST(Config, SecretsComeFromFilesAndAreRedacted) {
    auto dir = std::filesystem::temp_directory_path() / ("plyr-secret-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "token") << "s3cr3t-token\n";
    auto merged = MergeSources(std::nullopt,
                               {{"METRICS_TOKEN_FILE", (dir / "token").string()},
                                {"DATABASE_URL", "postgres://plyr:hunter2@db.internal/plyr"}},
                               {});
    ASSERT_TRUE(merged);
    auto config = LoadConfig(*merged);
    ASSERT_TRUE(config);
    EXPECT_EQ(config->metrics_token, "s3cr3t-token");
    std::string described = DescribeConfig(*merged);
    EXPECT_EQ(described.find("s3cr3t"), std::string::npos);
    EXPECT_EQ(described.find("hunter2"), std::string::npos);
    EXPECT_NE(described.find("METRICS_TOKEN=<redacted>"), std::string::npos);
    auto unreadable = MergeSources(std::nullopt, {{"METRICS_TOKEN_FILE", (dir / "missing").string()}}, {});
    ASSERT_FALSE(unreadable);
    EXPECT_NE(unreadable.error().message.find("METRICS_TOKEN_FILE"), std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST(Config, FrontendUrlIsAnAliasForPublicUrl) {
    auto config = Load({{"FRONTEND_URL", "https://plyr.example/"}});
    ASSERT_TRUE(config);
    EXPECT_EQ(config->public_url, "https://plyr.example");
    EXPECT_EQ(config->PublicOrigin(), "https://plyr.example");
    EXPECT_EQ(config->ClientModeFromUrl(), ClientMode::kPublic);
}

}  // namespace
}  // namespace plyr::core
