// `plyr atproto cid|tid|verify-jwt` on the real binary: outputs match the interop vectors and the crypto
// library, bad input is exit 1 with a message, usage errors exit 2.
#include <ctime>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "atproto/crypto/jwt.hpp"
#include "atproto/crypto/keys.hpp"
#include "support/process.hpp"

namespace plyr::testing {
namespace {

ProcessResult Atproto(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PlyrBinary(), "atproto"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, BaseEnv());
}

std::string Trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

TEST(AtprotoCli, CidMatchesEveryInteropDataModelFixture) {
    std::ifstream in(std::string(PLYR_SOURCE_DIR) + "/tests/data/atproto-interop/data-model/data-model-fixtures.json");
    std::stringstream text;
    text << in.rdbuf();
    auto fixtures = boost::json::parse(text.str()).as_array();
    ASSERT_FALSE(fixtures.empty());
    TempDir dir;
    int checked = 0;
    for (const auto& fixture : fixtures) {
        std::string path = dir.str() + "/record.json";
        std::ofstream(path) << boost::json::serialize(fixture.at("json"));
        auto r = Atproto({"cid", path});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(Trimmed(r.out), fixture.at("cid").as_string()) << boost::json::serialize(fixture.at("json"));
        ++checked;
    }
    EXPECT_GE(checked, 3);
}

TEST(AtprotoCli, CidRejectsWhatTheDataModelForbids) {
    TempDir dir;
    std::ofstream(dir.str() + "/float.json") << R"({"x": 1.5})";
    auto r = Atproto({"cid", dir.str() + "/float.json"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("float"), std::string::npos) << r.err;
    auto missing = Atproto({"cid", dir.str() + "/missing.json"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_EQ(Atproto({"cid"}).exit_code, 2);
}

TEST(AtprotoCli, TidIsValidAndIncreasing) {
    auto a = Atproto({"tid"});
    auto b = Atproto({"tid"});
    ASSERT_EQ(a.exit_code, 0);
    ASSERT_EQ(b.exit_code, 0);
    EXPECT_EQ(Trimmed(a.out).size(), 13u);
    EXPECT_LT(Trimmed(a.out), Trimmed(b.out));
}

TEST(AtprotoCli, VerifyJwtAcceptsAGoodTokenAndRefusesTamperedOnes) {
    for (auto curve : {atproto::crypto::Curve::kP256, atproto::crypto::Curve::kSecp256k1}) {
        auto key = atproto::crypto::PrivateKey::Generate(curve);
        ASSERT_TRUE(key);
        boost::json::object payload{{"iss", "did:example:alice"}, {"exp", std::time(nullptr) + 300}};
        auto token = atproto::crypto::SignJwt({{"typ", "JWT"}}, payload, *key);
        ASSERT_TRUE(token) << token.error().ToString();
        std::string did_key = key->Public().DidKey();

        auto ok = Atproto({"verify-jwt", *token, did_key});
        EXPECT_EQ(ok.exit_code, 0) << ok.err;
        EXPECT_NE(ok.out.find("did:example:alice"), std::string::npos) << ok.out;

        auto other = atproto::crypto::PrivateKey::Generate(curve);
        ASSERT_TRUE(other);
        auto wrong_key = Atproto({"verify-jwt", *token, other->Public().DidKey()});
        EXPECT_EQ(wrong_key.exit_code, 1);

        std::string tampered = *token;
        tampered[tampered.find('.') + 2] ^= 1;
        EXPECT_EQ(Atproto({"verify-jwt", tampered, did_key}).exit_code, 1);

        boost::json::object expired{{"iss", "did:example:alice"}, {"exp", std::time(nullptr) - 3600}};
        auto old = atproto::crypto::SignJwt({{"typ", "JWT"}}, expired, *key);
        ASSERT_TRUE(old);
        auto late = Atproto({"verify-jwt", *old, did_key});
        EXPECT_EQ(late.exit_code, 1) << late.out;
    }
    EXPECT_EQ(Atproto({"verify-jwt", "only-one-arg"}).exit_code, 2);
}

TEST(AtprotoCli, ValidateChecksRecordsAgainstTheRepositoryLexicons) {
    TempDir dir;
    std::string lexicons = std::string(PLYR_SOURCE_DIR) + "/lexicons";
    std::ofstream(dir.str() + "/good.json")
        << R"({"$type":"fm.plyr.track","title":"sine sweep","artist":"alice","fileType":"mp3",)"
        << R"("audioUrl":"https://plyr.example/audio/0123456789abcdef.mp3","createdAt":"2026-11-25T12:00:00.000Z"})";
    auto good = Atproto({"validate", lexicons, "fm.plyr.track", dir.str() + "/good.json"});
    EXPECT_EQ(good.exit_code, 0) << good.err;
    EXPECT_NE(good.out.find("valid fm.plyr.track record"), std::string::npos);

    std::ofstream(dir.str() + "/bad.json")
        << R"({"$type":"fm.plyr.track","title":"","artist":"alice","fileType":"mp3",)"
        << R"("audioUrl":"https://plyr.example/a.mp3","createdAt":"2026-11-25T12:00:00.000Z"})";
    auto bad = Atproto({"validate", lexicons, "fm.plyr.track", dir.str() + "/bad.json"});
    EXPECT_EQ(bad.exit_code, 1);
    EXPECT_NE(bad.err.find("title"), std::string::npos) << bad.err;

    std::ofstream(dir.str() + "/bad_date.json")
        << R"({"title":"x","artist":"alice","fileType":"mp3","createdAt":"yesterday"})";
    auto bad_date = Atproto({"validate", lexicons, "fm.plyr.track", dir.str() + "/bad_date.json"});
    EXPECT_EQ(bad_date.exit_code, 1);
    EXPECT_NE(bad_date.err.find("createdAt"), std::string::npos) << bad_date.err;

    auto unknown = Atproto({"validate", lexicons, "fm.plyr.nope", dir.str() + "/good.json"});
    EXPECT_EQ(unknown.exit_code, 1);
    EXPECT_EQ(Atproto({"validate", lexicons}).exit_code, 2);
}

}  // namespace
}  // namespace plyr::testing
