#include "atproto/oauth/pkce.hpp"

#include <set>

#include <gtest/gtest.h>

namespace plyr::atproto::oauth {
namespace {

TEST(Pkce, ChallengeMatchesTheTestnetTranscriptVector) {
    auto challenge = PkceChallenge("qo8N_MleVz5fr81yeiVuYwGw4eHeVAk9HcFPyW55fIk");
    ASSERT_TRUE(challenge);
    EXPECT_EQ(*challenge, "k1nlfF94VeA1yXVI2An-LkBWiAgROUmjpNzGAhn_dGw");
}

TEST(Pkce, ChallengeMatchesRfc7636AppendixB) {
    EXPECT_EQ(*PkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST(Pkce, GeneratedVerifierHasRfcLengthAndMatchingChallenge) {
    for (std::size_t bytes : {32u, 64u, 96u}) {
        auto pkce = GeneratePkce(bytes);
        ASSERT_TRUE(pkce);
        EXPECT_GE(pkce->verifier.size(), 43u);
        EXPECT_LE(pkce->verifier.size(), 128u);
        EXPECT_EQ(*PkceChallenge(pkce->verifier), pkce->challenge);
    }
    EXPECT_NE(GeneratePkce()->verifier, GeneratePkce()->verifier);
}

TEST(Pkce, OutOfRangeSizesAndBadVerifiersAreRefused) {
    EXPECT_FALSE(GeneratePkce(31));
    EXPECT_FALSE(GeneratePkce(97));
    EXPECT_FALSE(PkceChallenge(std::string(42, 'a')));
    EXPECT_FALSE(PkceChallenge(std::string(129, 'a')));
    EXPECT_FALSE(PkceChallenge(std::string(43, 'a') + "+"));
    EXPECT_TRUE(PkceChallenge(std::string(128, '~')));
}

TEST(StateAndNonce, Are256BitUniqueBase64Url) {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const auto state = GenerateState();
        EXPECT_EQ(state.size(), 43u);
        EXPECT_EQ(state.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                  std::string::npos);
        EXPECT_TRUE(seen.insert(state).second);
        EXPECT_TRUE(seen.insert(GenerateNonce()).second);
    }
}

}  // namespace
}  // namespace plyr::atproto::oauth
