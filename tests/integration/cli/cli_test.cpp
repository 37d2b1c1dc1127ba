// The `plyr` binary's command line: exit codes (product.md §8.1), configuration errors, config check,
// and docs/configuration.md kept in step with the code.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/process.hpp"

namespace plyr::testing {
namespace {

ProcessResult Plyr(const std::vector<std::string>& args, const Env& extra = {}, const std::string& cwd = {}) {
    std::vector<std::string> argv{PlyrBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, BaseEnv(extra), cwd);
}

TEST(Cli, VersionPrintsTheVersionAndExitsZero) {
    auto r = Plyr({"version"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("plyr 0."), std::string::npos) << r.out;
}

TEST(Cli, HelpListsEverySubcommand) {
    auto r = Plyr({"--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* cmd : {"serve", "worker", "migrate", "config", "version"}) {
        EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
    }
    for (const char* cmd : {"serve", "worker", "migrate", "version"}) {
        auto sub = Plyr({cmd, "--help"});
        EXPECT_EQ(sub.exit_code, 0) << cmd;
        EXPECT_NE(sub.out.find("Usage"), std::string::npos) << cmd;
    }
}

TEST(Cli, UsageErrorsExitTwo) {
    EXPECT_EQ(Plyr({}).exit_code, 2);
    EXPECT_EQ(Plyr({"no-such-command"}).exit_code, 2);
    EXPECT_EQ(Plyr({"serve", "--port", "99999"}).exit_code, 2);
    EXPECT_EQ(Plyr({"serve", "--no-such-flag"}).exit_code, 2);
    EXPECT_EQ(Plyr({"migrate", "--bogus"}).exit_code, 2);
}

TEST(Cli, InvalidConfigurationExitsThreeWithOneClearMessage) {
    TempDir dir;
    for (const auto& [name, value] :
         std::vector<std::pair<std::string, std::string>>{{"PORT", "eighty"},
                                                          {"DATABASE_URL", "mysql://db"},
                                                          {"STORAGE_BACKEND", "s3"},
                                                          {"LOG_LEVEL", "chatty"},
                                                          {"ALLOW_PRIVATE_NETWORK", "not-a-cidr/99"}}) {
        for (const char* cmd : {"serve", "worker", "migrate"}) {
            auto r = Plyr({cmd}, {{name, value}, {"DATA_DIR", dir.path()}}, dir.path());
            EXPECT_EQ(r.exit_code, 3) << cmd << " " << name << "=" << value << "\n" << r.err;
            EXPECT_NE(r.err.find("configuration error"), std::string::npos) << r.err;
            EXPECT_NE(r.err.find(name == "STORAGE_BACKEND" ? "R2_ENDPOINT_URL" : name), std::string::npos) << r.err;
        }
    }
}

TEST(Cli, DotEnvInTheWorkingDirectoryIsRead) {
    TempDir dir;
    std::ofstream(dir.str() + "/.env") << "PORT=not-a-port\n";
    auto r = Plyr({"config", "check"}, {}, dir.path());
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_NE(r.err.find("PORT"), std::string::npos);
    std::ofstream(dir.str() + "/.env") << "this line is broken\n";
    auto broken = Plyr({"config", "check"}, {}, dir.path());
    EXPECT_EQ(broken.exit_code, 3);
    EXPECT_NE(broken.err.find(".env line 1"), std::string::npos) << broken.err;
}

TEST(Cli, ConfigCheckPrintsEffectiveSettingsWithSecretsRedacted) {
    TempDir dir;
    auto r = Plyr({"config", "check"},
                  {{"DATA_DIR", dir.str() + "/data"},
                   {"METRICS_TOKEN", "very-secret-token"},
                   {"DATABASE_URL", "postgres://plyr:pg-password@127.0.0.1:1/plyr"},
                   {"PUBLIC_URL", "https://music.example"}},
                  dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("very-secret-token"), std::string::npos);
    EXPECT_EQ(r.out.find("pg-password"), std::string::npos);
    EXPECT_NE(r.out.find("METRICS_TOKEN=<redacted>"), std::string::npos);
    EXPECT_NE(r.out.find("oauth client mode: public"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("database backend: postgres"), std::string::npos);
}

TEST(Cli, ConfigurationDocIsInStepWithTheCode) {
    auto r = Plyr({"config", "docs"});
    ASSERT_EQ(r.exit_code, 0);
    std::ifstream in(std::string(PLYR_SOURCE_DIR) + "/docs/configuration.md");
    std::stringstream doc;
    doc << in.rdbuf();
    EXPECT_EQ(doc.str(), r.out) << "regenerate with: plyr config docs > docs/configuration.md";
}

}  // namespace
}  // namespace plyr::testing
