#include "core/secret_box.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/encoding.hpp"

namespace plyr::core {
namespace {

std::string KeyOf(char first) {
    std::string key(32, '\0');
    for (int i = 0; i < 32; ++i) key[i] = static_cast<char>(first + i);
    return key;
}

SecretBox Box(std::string current, std::optional<std::string> previous = {}) {
    auto box = SecretBox::FromKeys(std::move(current), std::move(previous));
    EXPECT_TRUE(box) << box.error().ToString();
    return *box;
}

TEST(SecretBoxTest, KnownAnswerMatchesIndependentAesGcm) {
    // Expected blob computed with Python `cryptography` AESGCM: key 00..1f, nonce 64..6f,
    // aad = header ‖ "user_sessions\0" ‖ "42".
    auto box = Box(KeyOf(0));
    std::string nonce;
    for (int i = 100; i < 112; ++i) nonce.push_back(static_cast<char>(i));
    auto ad = SecretAssociatedData("user_sessions", "42");
    auto sealed = box.SealWithNonce("refresh-token-secret", ad, nonce);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(HexEncode(*sealed),
              "01636465666768696a6b6c6d6e6f3a7eb8141c9a3eb34a0d348db448199821b0637e5a238f7b82c4991037924ad8a56ff08d");
    auto opened = box.Open(*sealed, ad);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->plaintext, "refresh-token-secret");
    EXPECT_FALSE(opened->needs_reencrypt);
}

TEST(SecretBoxTest, BlobLayoutIsVersionKeyIdNonceCiphertextTag) {
    auto box = Box(KeyOf(1));
    auto sealed = box.Seal("abc", "t\0001");
    ASSERT_TRUE(sealed);
    ASSERT_EQ(sealed->size(), 1u + 1u + 12u + 3u + 16u);
    EXPECT_EQ(static_cast<std::uint8_t>((*sealed)[0]), kSecretBoxVersion);
    EXPECT_EQ(static_cast<std::uint8_t>((*sealed)[1]), SecretBox::KeyId(KeyOf(1)));
    EXPECT_EQ(box.current_key_id(), SecretBox::KeyId(KeyOf(1)));
}

TEST(SecretBoxTest, SealUsesAFreshNonceEachTime) {
    auto box = Box(KeyOf(2));
    auto a = box.Seal("same", "ad");
    auto b = box.Seal("same", "ad");
    ASSERT_TRUE(a && b);
    EXPECT_NE(*a, *b);
    EXPECT_EQ(box.Open(*a, "ad")->plaintext, "same");
    EXPECT_EQ(box.Open(*b, "ad")->plaintext, "same");
}

TEST(SecretBoxTest, EmptyPlaintextRoundTrips) {
    auto box = Box(KeyOf(3));
    auto sealed = box.Seal("", "ad");
    ASSERT_TRUE(sealed);
    auto opened = box.Open(*sealed, "ad");
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->plaintext, "");
}

TEST(SecretBoxTest, EveryFlippedBitIsRejected) {
    auto box = Box(KeyOf(4));
    auto sealed = box.Seal("access-token", "ad");
    ASSERT_TRUE(sealed);
    for (std::size_t i = 0; i < sealed->size(); ++i) {
        for (int bit = 0; bit < 8; ++bit) {
            std::string tampered = *sealed;
            tampered[i] = static_cast<char>(tampered[i] ^ (1 << bit));
            auto opened = box.Open(tampered, "ad");
            ASSERT_FALSE(opened) << "byte " << i << " bit " << bit;
            EXPECT_EQ(opened.error().code, ErrorCode::kInvalidArgument);
        }
    }
}

TEST(SecretBoxTest, TruncatedOrEmptyBlobIsAnErrorNotACrash) {
    auto box = Box(KeyOf(5));
    auto sealed = box.Seal("x", "ad");
    ASSERT_TRUE(sealed);
    for (std::size_t len = 0; len < sealed->size(); ++len) {
        EXPECT_FALSE(box.Open(sealed->substr(0, len), "ad")) << len;
    }
    std::string extended = *sealed + "z";
    EXPECT_FALSE(box.Open(extended, "ad"));
}

TEST(SecretBoxTest, WrongAssociatedDataIsRejected) {
    auto box = Box(KeyOf(6));
    auto sealed = box.Seal("secret", SecretAssociatedData("user_sessions", "1"));
    ASSERT_TRUE(sealed);
    EXPECT_FALSE(box.Open(*sealed, SecretAssociatedData("user_sessions", "2")));
    EXPECT_FALSE(box.Open(*sealed, SecretAssociatedData("oauth_states", "1")));
    EXPECT_FALSE(box.Open(*sealed, ""));
    EXPECT_TRUE(box.Open(*sealed, SecretAssociatedData("user_sessions", "1")));
}

TEST(SecretBoxTest, AssociatedDataSeparatesTableFromRowId) {
    // "ab"+"c" and "a"+"bc" must not produce the same associated data.
    EXPECT_NE(SecretAssociatedData("ab", "c"), SecretAssociatedData("a", "bc"));
}

TEST(SecretBoxTest, UnknownKeyIsRejected) {
    auto sealed = Box(KeyOf(7)).Seal("secret", "ad");
    ASSERT_TRUE(sealed);
    auto opened = Box(KeyOf(8)).Open(*sealed, "ad");
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().code, ErrorCode::kInvalidArgument);
}

TEST(SecretBoxTest, RotationPreviousKeyStillOpensAndAsksForReencrypt) {
    auto old_box = Box(KeyOf(9));
    auto sealed_old = old_box.Seal("token", "ad");
    ASSERT_TRUE(sealed_old);

    auto rotated = Box(KeyOf(10), KeyOf(9));
    auto opened = rotated.Open(*sealed_old, "ad");
    ASSERT_TRUE(opened) << opened.error().ToString();
    EXPECT_EQ(opened->plaintext, "token");
    EXPECT_TRUE(opened->needs_reencrypt);

    auto resealed = rotated.Seal(opened->plaintext, "ad");
    ASSERT_TRUE(resealed);
    EXPECT_EQ(static_cast<std::uint8_t>((*resealed)[1]), SecretBox::KeyId(KeyOf(10)));
    auto reopened = rotated.Open(*resealed, "ad");
    ASSERT_TRUE(reopened);
    EXPECT_FALSE(reopened->needs_reencrypt);

    // Once the previous key is dropped, only re-encrypted rows still open.
    auto after = Box(KeyOf(10));
    EXPECT_TRUE(after.Open(*resealed, "ad"));
    EXPECT_FALSE(after.Open(*sealed_old, "ad"));
}

TEST(SecretBoxTest, PreviousKeyAloneCannotOpenCurrentKeyBlobs) {
    auto rotated = Box(KeyOf(11), KeyOf(12));
    auto sealed = rotated.Seal("token", "ad");
    ASSERT_TRUE(sealed);
    EXPECT_FALSE(Box(KeyOf(12)).Open(*sealed, "ad"));
}

TEST(SecretBoxTest, ConfiguredKeysAreBase64Url32Bytes) {
    auto key_b64 = Base64UrlEncode(KeyOf(13));
    auto prev_b64 = Base64UrlEncode(KeyOf(14));
    auto box = SecretBox::FromBase64Url(key_b64, prev_b64);
    ASSERT_TRUE(box) << box.error().ToString();
    auto sealed = Box(KeyOf(14)).Seal("p", "ad");
    ASSERT_TRUE(sealed);
    EXPECT_TRUE(box->Open(*sealed, "ad")->needs_reencrypt);

    EXPECT_EQ(SecretBox::FromBase64Url("").error().code, ErrorCode::kConfig);
    EXPECT_EQ(SecretBox::FromBase64Url("not base64 !!").error().code, ErrorCode::kConfig);
    EXPECT_EQ(SecretBox::FromBase64Url(Base64UrlEncode(std::string(16, 'k'))).error().code, ErrorCode::kConfig);
    EXPECT_EQ(SecretBox::FromBase64Url(key_b64, "%%%").error().code, ErrorCode::kConfig);
    EXPECT_FALSE(SecretBox::FromKeys(std::string(31, 'a')));
    EXPECT_FALSE(SecretBox::FromKeys(KeyOf(0), std::string(33, 'a')));
}

TEST(SecretBoxTest, PreviousEqualToCurrentIsIgnored) {
    auto box = Box(KeyOf(15), KeyOf(15));
    auto sealed = box.Seal("v", "ad");
    ASSERT_TRUE(sealed);
    EXPECT_FALSE(box.Open(*sealed, "ad")->needs_reencrypt);
}

TEST(SecretBoxTest, UnknownVersionIsRejected) {
    auto box = Box(KeyOf(16));
    auto sealed = box.Seal("v", "ad");
    ASSERT_TRUE(sealed);
    (*sealed)[0] = 2;
    EXPECT_FALSE(box.Open(*sealed, "ad"));
}

}  // namespace
}  // namespace plyr::core
