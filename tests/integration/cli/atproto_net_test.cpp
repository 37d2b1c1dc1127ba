// `plyr atproto resolve|get|ls` against the reference PDS + PLC of the local testnet (TESTNET_* from
// scripts/testnet.sh, started by scripts/test.sh); skipped when it is not running.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "support/process.hpp"

namespace plyr::testing {
namespace {

std::string EnvOr(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
}

class AtprotoNetCli : public ::testing::Test {
  protected:
    void SetUp() override {
        pds_ = EnvOr("TESTNET_PDS_URL");
        if (pds_.empty()) GTEST_SKIP() << "TESTNET_PDS_URL not set (scripts/testnet.sh start)";
        auto seeded =
            RunProcess({std::string(PLYR_SOURCE_DIR) + "/scripts/testnet.sh", "seed", EnvOr("TESTNET_DIR"), "1"},
                       BaseEnv({{"TESTNET_DIR", EnvOr("TESTNET_DIR")}}));
        ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
        auto account = boost::json::parse(seeded.out).as_array().at(0).as_object();
        did_ = std::string(account.at("did").as_string());
        handle_ = std::string(account.at("handle").as_string());
        jwt_ = std::string(account.at("accessJwt").as_string());
    }

    Env NetEnv(bool allow_private = true) const {
        Env extra{{"PLC_DIRECTORY_URL", EnvOr("TESTNET_PLC_URL")}, {"HANDLE_RESOLVER_URL", pds_}};
        if (allow_private) {
            extra["ALLOW_PRIVATE_NETWORK"] =
                "localhost:" + EnvOr("TESTNET_PLC_PORT") + ",localhost:" + EnvOr("TESTNET_PDS_PORT");
        }
        return BaseEnv(extra);
    }

    ProcessResult Plyr(const std::vector<std::string>& args, bool allow_private = true) const {
        std::vector<std::string> argv{PlyrBinary(), "atproto"};
        argv.insert(argv.end(), args.begin(), args.end());
        return RunProcess(argv, NetEnv(allow_private));
    }

    // createRecord through curl (independent of plyr's client): {uri, cid}.
    boost::json::object CreateTrack(const std::string& record_json) const {
        std::string body = R"({"repo":")" + did_ + R"(","collection":"fm.plyr.track","record":)" + record_json + "}";
        auto r =
            RunProcess({"/usr/bin/curl", "-sS", "-X", "POST", pds_ + "/xrpc/com.atproto.repo.createRecord", "-H",
                        "Authorization: Bearer " + jwt_, "-H", "Content-Type: application/json", "--data-binary", body},
                       BaseEnv());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return boost::json::parse(r.out).as_object();
    }

    std::string pds_, did_, handle_, jwt_;
};

TEST_F(AtprotoNetCli, ResolvesASeededHandleAndItsDidThroughTheLocalPlc) {
    auto by_handle = Plyr({"resolve", handle_});
    ASSERT_EQ(by_handle.exit_code, 0) << by_handle.err;
    auto identity = boost::json::parse(by_handle.out).as_object();
    EXPECT_EQ(identity.at("did").as_string(), did_);
    EXPECT_EQ(identity.at("handle").as_string(), handle_);
    EXPECT_TRUE(identity.at("handle_verified").as_bool());
    EXPECT_EQ(identity.at("pds").as_string(), pds_);
    EXPECT_FALSE(identity.at("signing_key").as_object().at("public_key_multibase").as_string().empty());

    auto by_did = Plyr({"resolve", did_});
    ASSERT_EQ(by_did.exit_code, 0) << by_did.err;
    EXPECT_EQ(boost::json::parse(by_did.out).at("handle").as_string(), handle_);
}

TEST_F(AtprotoNetCli, RefusesLoopbackTargetsUnlessAllowed) {
    // The DID's document lives on the loopback PLC: refused before any connection (product.md §9 row 34).
    auto r = Plyr({"resolve", did_}, /*allow_private=*/false);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("identity_unreachable"), std::string::npos) << r.err;
    // `.test` handles are reserved names, accepted only for local development.
    auto test_handle = Plyr({"resolve", handle_}, /*allow_private=*/false);
    EXPECT_EQ(test_handle.exit_code, 1);
    EXPECT_NE(test_handle.err.find("invalid_handle"), std::string::npos) << test_handle.err;
}

TEST_F(AtprotoNetCli, GetAndLsReadRecordsWhoseCidPlyrComputesIdentically) {
    std::string record = R"({"$type":"fm.plyr.track","title":"sweep )" + std::to_string(std::rand()) +
                         R"(","artist":"alice","fileType":"mp3","audioUrl":"https://plyr.example/a.mp3",)"
                         R"("createdAt":"2026-11-25T12:00:00.000Z"})";
    auto created = CreateTrack(record);
    std::string uri(created.at("uri").as_string());
    std::string cid(created.at("cid").as_string());

    TempDir dir;
    std::ofstream(dir.str() + "/record.json") << record;
    auto local_cid = Plyr({"cid", dir.str() + "/record.json"});
    ASSERT_EQ(local_cid.exit_code, 0) << local_cid.err;
    EXPECT_EQ(local_cid.out, cid + "\n") << "plyr's DAG-CBOR CID differs from the reference PDS's";

    auto got = Plyr({"get", uri});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    auto entry = boost::json::parse(got.out).as_object();
    EXPECT_EQ(entry.at("uri").as_string(), uri);
    EXPECT_EQ(entry.at("cid").as_string(), cid);
    EXPECT_EQ(entry.at("value").at("artist").as_string(), "alice");

    auto listed = Plyr({"ls", handle_, "fm.plyr.track"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_NE(listed.out.find(uri), std::string::npos) << listed.out;

    std::string missing = "at://" + did_ + "/fm.plyr.track/3kaaaaaaaaaaa";
    EXPECT_EQ(Plyr({"get", missing}).exit_code, 4);
    EXPECT_EQ(Plyr({"get", "not-a-uri"}).exit_code, 1);
    EXPECT_EQ(Plyr({"ls", handle_, "not an nsid"}).exit_code, 1);
}

}  // namespace
}  // namespace plyr::testing
