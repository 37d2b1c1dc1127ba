// `plyr keygen …` on the real binary: each kind prints a usable secret to stdout only, fresh every run.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "atproto/crypto/keys.hpp"
#include "core/encoding.hpp"
#include "core/secret_box.hpp"
#include "support/process.hpp"

namespace plyr::testing {
namespace {

ProcessResult Keygen(const std::vector<std::string>& args) {
    std::vector<std::string> argv{PlyrBinary(), "keygen"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, BaseEnv());
}

std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> out;
    std::string line;
    for (char c : text) {
        if (c == '\n') {
            out.push_back(line);
            line.clear();
        } else {
            line += c;
        }
    }
    if (!line.empty()) out.push_back(line);
    return out;
}

TEST(KeygenCli, OauthJwkIsAnEs256PrivateJwkWithItsThumbprintAsKid) {
    auto r = Keygen({"oauth-jwk"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(r.err.empty()) << r.err;
    auto jwk = boost::json::parse(r.out).as_object();
    EXPECT_EQ(jwk.at("kty").as_string(), "EC");
    EXPECT_EQ(jwk.at("crv").as_string(), "P-256");
    EXPECT_EQ(jwk.at("alg").as_string(), "ES256");
    ASSERT_TRUE(jwk.contains("d"));
    auto key = atproto::crypto::PrivateKey::FromJwk(jwk);
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_EQ(key->curve(), atproto::crypto::Curve::kP256);
    EXPECT_EQ(jwk.at("kid").as_string(), key->Public().JwkThumbprint());
    auto signature = key->Sign("message");
    ASSERT_TRUE(signature);
    EXPECT_TRUE(key->Public().Verify("message", *signature));

    auto again = Keygen({"oauth-jwk"});
    ASSERT_EQ(again.exit_code, 0);
    EXPECT_NE(boost::json::parse(again.out).as_object().at("d"), jwk.at("d"));
}

TEST(KeygenCli, EncryptionKeyIs32RandomBytesBase64UrlThatSecretBoxAccepts) {
    auto r = Keygen({"encryption-key"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 1u) << r.out;
    auto bytes = core::Base64UrlDecode(lines[0]);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(bytes->size(), 32u);
    EXPECT_EQ(lines[0].find('='), std::string::npos);
    EXPECT_TRUE(core::SecretBox::FromBase64Url(lines[0]));
    auto again = Keygen({"encryption-key"});
    EXPECT_NE(Lines(again.out).at(0), lines[0]);
}

TEST(KeygenCli, LabelerKeyIsSecp256k1HexAndTheMatchingDidKey) {
    auto r = Keygen({"labeler-key"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << r.out;
    ASSERT_EQ(lines[0].size(), 64u);
    auto scalar = core::HexDecode(lines[0]);
    ASSERT_TRUE(scalar);
    auto key = atproto::crypto::PrivateKey::FromBytes(atproto::crypto::Curve::kSecp256k1, *scalar);
    ASSERT_TRUE(key) << key.error().ToString();
    EXPECT_EQ(lines[1], key->Public().DidKey());
    EXPECT_EQ(lines[1].rfind("did:key:zQ3s", 0), 0u) << lines[1];
}

TEST(KeygenCli, UnknownOrMissingKindIsAUsageError) {
    auto r = Keygen({"rsa"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(Keygen({}).exit_code, 2);
}

}  // namespace
}  // namespace plyr::testing
