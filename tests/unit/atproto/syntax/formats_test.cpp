// cid / language / uri formats beyond the interop vectors (docs/atproto.md §1.8).
#include <string>

#include <gtest/gtest.h>

#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {
namespace {

TEST(CidFormat, AcceptsAtprotoCidsAndRejectsCidV0) {
    EXPECT_TRUE(IsValidCid("bafyreieawtmh7hwfrqpamqkodza5r62bbfhsepe2iyustgxhgbhi6b2lfi"));
    EXPECT_TRUE(IsValidCid("bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"));
    EXPECT_FALSE(IsValidCid("QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR"));
    EXPECT_FALSE(IsValidCid(std::string(257, 'b')));
    EXPECT_TRUE(IsValidCid(std::string(256, 'b')));
    auto status = ValidateCid("bafy rei");
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
}

TEST(LanguageFormat, FollowsRfc5646Structure) {
    for (std::string_view ok : {"en", "pt-BR", "zh-yue-HK", "zh-Hant-TW", "es-419", "de-CH-1996", "en-US-x-twain",
                                "x-whatever", "i-klingon", "sgn-CH-DE", "en-a-bbb-b-ccc"}) {
        EXPECT_TRUE(IsValidLanguage(ok)) << ok;
    }
    for (std::string_view bad : {"", "en-", "-en", "en--US", "en-US-u", "en-x", "x", "en-abcdefghi", "EN-us", "english",
                                 "en-US-GB", "en_US", "I-KLINGON", "en-gb-OED"}) {
        EXPECT_FALSE(IsValidLanguage(bad)) << bad;
    }
    EXPECT_EQ(ValidateLanguage("de-DE-1901-1901").error().message, "invalid language: repeated variant subtag");
}

TEST(UriFormat, NeedsASchemeAndPrintableAscii) {
    EXPECT_TRUE(IsValidUri("https://plyr.fm/track/1"));
    EXPECT_TRUE(IsValidUri("mailto:someone@example.com"));
    EXPECT_TRUE(IsValidUri("HTTPS://EXAMPLE.COM"));
    EXPECT_FALSE(IsValidUri("https://example.com/\xc3\xa9"));
    EXPECT_FALSE(IsValidUri("https://example.com/\ttab"));
    EXPECT_FALSE(IsValidUri("1http://example.com"));
    EXPECT_TRUE(IsValidUri("https://e.com/" + std::string(kMaxUriLength - 14, 'x')));
    EXPECT_FALSE(IsValidUri("https://e.com/" + std::string(kMaxUriLength - 13, 'x')));
}

}  // namespace
}  // namespace plyr::atproto::syntax
