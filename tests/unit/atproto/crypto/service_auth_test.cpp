#include "atproto/crypto/service_auth.hpp"

#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include "core/clock.hpp"
#include "test_data.hpp"

namespace plyr::atproto::crypto {
namespace {

using testing::LoadJson;
using testing::Str;

constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kMicros = 1'000'000;

ServiceAuthExpectation Expect(std::optional<std::string> lxm = "fm.plyr.feed.getTracks") {
    ServiceAuthExpectation e;
    e.service_did = "did:web:plyr.example";
    e.service_id = "plyr_appview";
    e.lxm = std::move(lxm);
    return e;
}

boost::json::object Claims() {
    return {{"iss", "did:plc:ewvi7nxzyoun6zhxrhs64oiz"},
            {"aud", "did:web:plyr.example#plyr_appview"},
            {"lxm", "fm.plyr.feed.getTracks"},
            {"jti", "0123abcd"},
            {"iat", kNow},
            {"exp", kNow + 60}};
}

class ServiceAuth : public ::testing::Test {
  protected:
    void SetUp() override {
        auto key = PrivateKey::Generate(Curve::kSecp256k1);
        ASSERT_TRUE(key);
        key_ = std::make_unique<PrivateKey>(*key);
    }

    Result<ServiceAuthClaims> Check(const boost::json::object& payload, const ServiceAuthExpectation& expected,
                                    boost::json::object header = {{"typ", "JWT"}}, std::int64_t now = kNow + 1) {
        auto token = SignJwt(header, payload, *key_);
        if (!token) return Fail(std::move(token.error()));
        auto jwt = ParseJwt(*token);
        if (!jwt) return Fail(std::move(jwt.error()));
        return VerifyServiceAuth(*jwt, key_->Public(), expected, core::ManualClock(now * kMicros));
    }

    std::unique_ptr<PrivateKey> key_;
};

TEST_F(ServiceAuth, AcceptsAWellFormedTokenAndReturnsItsClaims) {
    auto claims = Check(Claims(), Expect());
    ASSERT_TRUE(claims) << claims.error().ToString();
    EXPECT_EQ(claims->issuer_did, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    EXPECT_EQ(claims->aud, "did:web:plyr.example#plyr_appview");
    EXPECT_EQ(claims->lxm, "fm.plyr.feed.getTracks");
    EXPECT_EQ(claims->jti, "0123abcd");
    EXPECT_EQ(claims->exp, kNow + 60);
    EXPECT_TRUE(Check(Claims(), Expect(), {}));  // typ is optional
}

TEST_F(ServiceAuth, AcceptsTheBareDidAudienceButNothingElse) {
    auto payload = Claims();
    payload["aud"] = "did:web:plyr.example";
    EXPECT_TRUE(Check(payload, Expect()));
    for (std::string_view aud :
         {"did:web:plyr.example#other", "did:web:other.example#plyr_appview", "did:web:plyr.example#",
          "did:web:plyr.example#plyr_appview#x", "DID:web:plyr.example"}) {
        payload["aud"] = aud;
        auto result = Check(payload, Expect());
        ASSERT_FALSE(result) << aud;
        EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied) << aud;
    }
    payload.erase("aud");
    EXPECT_FALSE(Check(payload, Expect()));
    payload["aud"] = boost::json::array{"did:web:plyr.example"};
    EXPECT_FALSE(Check(payload, Expect()));
    // Without a service id only the bare DID is ours.
    auto bare = Expect();
    bare.service_id.clear();
    EXPECT_FALSE(Check(Claims(), bare));
}

TEST_F(ServiceAuth, RequiresTheExactMethodWhenOneIsExpected) {
    auto payload = Claims();
    payload["lxm"] = "fm.plyr.feed.getTrack";
    EXPECT_FALSE(Check(payload, Expect()));
    payload.erase("lxm");
    EXPECT_FALSE(Check(payload, Expect()));
    EXPECT_TRUE(Check(payload, Expect(std::nullopt)));
}

TEST_F(ServiceAuth, RequiresAnUnexpiredExp) {
    auto payload = Claims();
    EXPECT_TRUE(Check(payload, Expect(), {{"typ", "JWT"}}, kNow + 69));  // 10 s leeway
    EXPECT_FALSE(Check(payload, Expect(), {{"typ", "JWT"}}, kNow + 70));
    payload.erase("exp");
    auto missing = Check(payload, Expect());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ServiceAuth, RefusesOtherTokenTypesAndBadIssuers) {
    EXPECT_FALSE(Check(Claims(), Expect(), {{"typ", "dpop+jwt"}}));
    EXPECT_FALSE(Check(Claims(), Expect(), {{"typ", "at+jwt"}}));
    auto payload = Claims();
    payload["iss"] = "did:plc:ewvi7nxzyoun6zhxrhs64oiz#atproto_labeler";
    auto with_fragment = Check(payload, Expect());
    ASSERT_TRUE(with_fragment);
    EXPECT_EQ(with_fragment->issuer_did, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    for (boost::json::value iss : {boost::json::value("alice.test"), boost::json::value("did:"), boost::json::value(""),
                                   boost::json::value(5)}) {
        payload["iss"] = iss;
        EXPECT_FALSE(Check(payload, Expect())) << boost::json::serialize(iss);
    }
    payload.erase("iss");
    EXPECT_FALSE(Check(payload, Expect()));
}

TEST_F(ServiceAuth, RefusesASignatureByAnotherKey) {
    auto token = SignJwt({{"typ", "JWT"}}, Claims(), *key_);
    ASSERT_TRUE(token);
    auto jwt = ParseJwt(*token);
    ASSERT_TRUE(jwt);
    auto other = PrivateKey::Generate(Curve::kSecp256k1);
    ASSERT_TRUE(other);
    auto result = VerifyServiceAuth(*jwt, other->Public(), Expect(), core::ManualClock(kNow * kMicros));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, ErrorCode::kPermissionDenied);
    auto p256 = PrivateKey::Generate(Curve::kP256);
    ASSERT_TRUE(p256);
    EXPECT_FALSE(VerifyServiceAuth(*jwt, p256->Public(), Expect(), core::ManualClock(kNow * kMicros)));
}

TEST(ServiceAuthVectors, PythonSignedTokensPassForTheirAudienceAndMethod) {
    const auto tokens = LoadJson("atproto-crypto/python_jwts.json");
    for (const auto& item : tokens.as_array()) {
        const auto& t = item.as_object();
        auto jwt = ParseJwt(Str(t.at("jwt")));
        ASSERT_TRUE(jwt);
        auto issuer = ServiceAuthIssuer(*jwt);
        ASSERT_TRUE(issuer);
        EXPECT_EQ(*issuer, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
        auto key = PublicKey::FromDidKey(Str(t.at("did_key")));
        ASSERT_TRUE(key);
        auto claims = VerifyServiceAuth(*jwt, *key, Expect(), core::ManualClock(1767225601 * kMicros));
        ASSERT_TRUE(claims) << claims.error().ToString();
        EXPECT_EQ(claims->jti, "6f1c2d");
    }
}

}  // namespace
}  // namespace plyr::atproto::crypto
