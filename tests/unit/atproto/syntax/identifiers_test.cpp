// DID / handle / NSID / record key / at-identifier parsing beyond the interop vectors
// (docs/atproto.md §10.2 items 1–4).
#include <string>

#include <gtest/gtest.h>

#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {
namespace {

TEST(Did, ParsesMethodAndIdentifierWithoutCaseFolding) {
    auto did = ParseDid("did:web:Example.com");
    ASSERT_TRUE(did) << did.error().ToString();
    EXPECT_EQ(did->value, "did:web:Example.com");
    EXPECT_EQ(did->Method(), "web");
    EXPECT_EQ(did->Identifier(), "Example.com");
    auto multi = ParseDid("did:method:val:two");
    ASSERT_TRUE(multi);
    EXPECT_EQ(multi->Method(), "method");
    EXPECT_EQ(multi->Identifier(), "val:two");
}

TEST(Did, RejectsWithInvalidArgumentAndARuleMessage) {
    auto did = ParseDid("DID:plc:abc");
    ASSERT_FALSE(did);
    EXPECT_EQ(did.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(did.error().message, "invalid did: must start with \"did:\"");
}

TEST(Did, EnforcesTheHardLengthLimit) {
    std::string did = "did:method:" + std::string(kMaxDidLength - 11, 'v');
    EXPECT_TRUE(IsValidDid(did));
    EXPECT_FALSE(IsValidDid(did + "v"));
}

TEST(Did, PlcAndWebAreSupportedOtherMethodsAreUnsupportedNotInvalid) {
    EXPECT_TRUE(CheckSupportedDid("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
    EXPECT_TRUE(CheckSupportedDid("did:web:user.example.com"));
    EXPECT_TRUE(CheckSupportedDid("did:web:localhost%3A8080"));
    auto key = CheckSupportedDid("did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N");
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code, ErrorCode::kUnsupported);
    auto bad = CheckSupportedDid("did:plc:");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST(Did, PlcNeedsExactly24LowercaseBase32Chars) {
    EXPECT_TRUE(IsValidPlcDid("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
    EXPECT_FALSE(IsValidPlcDid("did:plc:ewvi7nxzyoun6zhxrhs64oi"));    // 23
    EXPECT_FALSE(IsValidPlcDid("did:plc:ewvi7nxzyoun6zhxrhs64oizz"));  // 25
    EXPECT_FALSE(IsValidPlcDid("did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ"));
    EXPECT_FALSE(IsValidPlcDid("did:plc:ewvi7nxzyoun6zhxrhs64oi1"));  // 1 is not base32
    EXPECT_EQ(CheckSupportedDid("did:plc:ewvi7nxzyoun6zhxrhs64oi").error().code, ErrorCode::kInvalidArgument);
}

TEST(Did, WebAllowsOnlyAHostnameOrLocalhostWithAnEncodedPort) {
    EXPECT_TRUE(IsValidWebDid("did:web:example.com"));
    EXPECT_TRUE(IsValidWebDid("did:web:localhost"));
    EXPECT_TRUE(IsValidWebDid("did:web:localhost%3a1234"));
    EXPECT_FALSE(IsValidWebDid("did:web:example.com:user"));  // path segment
    EXPECT_FALSE(IsValidWebDid("did:web:example.com%3A8080"));
    EXPECT_FALSE(IsValidWebDid("did:web:localhost%3A"));
    EXPECT_FALSE(IsValidWebDid("did:web:localhost%3A99999"));
    EXPECT_FALSE(IsValidWebDid("did:web:com"));
    EXPECT_FALSE(IsValidWebDid("did:plc:ewvi7nxzyoun6zhxrhs64oiz"));
}

TEST(Handle, ParseNormalisesToLowercase) {
    auto handle = ParseHandle("XX.LCS.MIT.EDU");
    ASSERT_TRUE(handle);
    EXPECT_EQ(handle->value, "xx.lcs.mit.edu");
    EXPECT_EQ(NormalizeHandle("Alice.Bsky.Social"), "alice.bsky.social");
    EXPECT_EQ(ParseHandle("alice.test")->value, "alice.test");
}

TEST(Handle, RejectsTrailingDotAndSurroundingSpaces) {
    EXPECT_FALSE(ParseHandle("john.test."));
    EXPECT_FALSE(ParseHandle(" john.test"));
    EXPECT_FALSE(ParseHandle("john.test "));
    EXPECT_FALSE(ParseHandle("@john.test"));
}

TEST(Handle, ReservedTldsPassSyntaxButAreNotResolvable) {
    for (std::string_view handle : {"laptop.local", "blah.arpa", "expyuzz4wqqyqhjn.onion", "x.example", "a.alt",
                                    "b.internal", "c.localhost", "handle.invalid", "LAPTOP.LOCAL"}) {
        EXPECT_TRUE(IsValidHandle(handle)) << handle;
        auto status = CheckHandleResolvable(handle, /*allow_test_tld=*/true);
        ASSERT_FALSE(status) << handle;
        EXPECT_EQ(status.error().code, ErrorCode::kPermissionDenied) << handle;
    }
    EXPECT_EQ(kInvalidHandle, "handle.invalid");
}

TEST(Handle, TestTldIsResolvableOnlyWhenAllowed) {
    EXPECT_TRUE(CheckHandleResolvable("alice.test", /*allow_test_tld=*/true));
    EXPECT_FALSE(CheckHandleResolvable("alice.test", /*allow_test_tld=*/false));
    EXPECT_TRUE(CheckHandleResolvable("alice.bsky.social", /*allow_test_tld=*/false));
    // A TLD that merely ends in a reserved word is fine.
    EXPECT_TRUE(CheckHandleResolvable("alice.nottest", /*allow_test_tld=*/false));
    EXPECT_EQ(CheckHandleResolvable("not a handle", true).error().code, ErrorCode::kInvalidArgument);
}

TEST(Nsid, SplitsAuthorityAndName) {
    auto nsid = ParseNsid("fm.teal.feed.play");
    ASSERT_TRUE(nsid);
    EXPECT_EQ(nsid->AuthoritySegments(), "fm.teal.feed");
    EXPECT_EQ(nsid->Name(), "play");
    EXPECT_EQ(nsid->DomainAuthority(), "feed.teal.fm");
    EXPECT_EQ(nsid->LexiconTxtName(), "_lexicon.feed.teal.fm");
}

TEST(Nsid, NormalisesAuthorityButNeverTheName) {
    auto nsid = ParseNsid("Com.Example.fooBar");
    ASSERT_TRUE(nsid);
    EXPECT_EQ(nsid->value, "Com.Example.fooBar");
    EXPECT_EQ(nsid->Normalized(), "com.example.fooBar");
    EXPECT_EQ(nsid->DomainAuthority(), "example.com");
}

TEST(Nsid, DocumentedCornerCases) {
    for (std::string_view ok : {"a.b.c", "cn.8.lex.stuff", "com.example.f00"}) EXPECT_TRUE(IsValidNsid(ok)) << ok;
    for (std::string_view bad : {"com.example", "com.example.3", "a-0.b-1.c-3", "com.example.fooBar.2",
                                 "com.atproto.feed.p_st", "com.example.*", "*", ""}) {
        EXPECT_FALSE(IsValidNsid(bad)) << bad;
    }
}

TEST(RecordKey, LengthBoundaryAndDotKeys) {
    EXPECT_TRUE(IsValidRecordKey(std::string(512, 'o')));
    EXPECT_FALSE(IsValidRecordKey(std::string(513, 'o')));
    EXPECT_FALSE(IsValidRecordKey("."));
    EXPECT_FALSE(IsValidRecordKey(".."));
    EXPECT_TRUE(IsValidRecordKey("..."));
    EXPECT_FALSE(IsValidRecordKey(""));
    auto rkey = ParseRecordKey("self");
    ASSERT_TRUE(rkey);
    EXPECT_EQ(rkey->value, "self");
}

TEST(AtIdentifier, DistinguishesDidFromHandle) {
    auto did = ParseAtIdentifier("did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    ASSERT_TRUE(did);
    EXPECT_TRUE(did->is_did);
    auto handle = ParseAtIdentifier("Alice.Test");
    ASSERT_TRUE(handle);
    EXPECT_FALSE(handle->is_did);
    EXPECT_EQ(handle->value, "Alice.Test");
    EXPECT_EQ(handle->Normalized(), "alice.test");
    EXPECT_FALSE(ParseAtIdentifier("did:thing.test"));  // starts like a DID, so must be one
}

// product.md §9 row 32 (login identifiers): the syntax layer refuses every listed input, each with the code
// the login handler maps to `invalid_handle`; no resolution is attempted for any of them.
TEST(BadInput, LoginIdentifiersOfRow32AreRefusedBeforeResolution) {
    EXPECT_EQ(CheckHandleResolvable("alice..bsky.social", false).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(CheckHandleResolvable("x.local", false).error().code, ErrorCode::kPermissionDenied);
    EXPECT_EQ(CheckHandleResolvable("handle.invalid", false).error().code, ErrorCode::kPermissionDenied);
    std::string long_handle = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') + "." +
                              std::string(63, 'd') + "." + std::string(40, 'e') + ".com";  // 300 chars
    ASSERT_EQ(long_handle.size(), 300u);
    EXPECT_EQ(CheckHandleResolvable(long_handle, false).error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(CheckSupportedDid("did:plc:short").error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(CheckSupportedDid("did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N").error().code,
              ErrorCode::kUnsupported);
    EXPECT_EQ(CheckSupportedDid("DID:PLC:EWVI7NXZYOUN6ZHXRHS64OIZ").error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(IsValidAtIdentifier("DID:PLC:EWVI7NXZYOUN6ZHXRHS64OIZ"));
}

}  // namespace
}  // namespace plyr::atproto::syntax
