// AT-URI parsing into parts and normal form (docs/atproto.md §1.6, §10.2 item 6).
#include <string>

#include <gtest/gtest.h>

#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {
namespace {

TEST(AtUri, KeepsADidAuthorityIntactAndSplitsCollectionAndRkey) {
    auto uri = ParseAtUri("at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/fm.plyr.track/3jzfcijpj2z2a");
    ASSERT_TRUE(uri) << uri.error().ToString();
    EXPECT_EQ(uri->authority.value, "did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    EXPECT_TRUE(uri->authority.is_did);
    EXPECT_EQ(uri->collection, "fm.plyr.track");
    EXPECT_EQ(uri->rkey, "3jzfcijpj2z2a");
    EXPECT_EQ(uri->ToString(), "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/fm.plyr.track/3jzfcijpj2z2a");
}

TEST(AtUri, AuthorityOnlyAndCollectionOnly) {
    auto bare = ParseAtUri("at://alice.test");
    ASSERT_TRUE(bare);
    EXPECT_FALSE(bare->authority.is_did);
    EXPECT_TRUE(bare->collection.empty());
    EXPECT_TRUE(bare->rkey.empty());
    auto collection = ParseAtUri("at://did:web:example.com/app.bsky.feed.post");
    ASSERT_TRUE(collection);
    EXPECT_EQ(collection->collection, "app.bsky.feed.post");
    EXPECT_TRUE(collection->rkey.empty());
}

TEST(AtUri, NormalFormLowercasesHandleAndNsidAuthorityButNotRkeyOrName) {
    auto uri = ParseAtUri("at://Alice.TEST/FM.Plyr.trackV2/AbC");
    ASSERT_TRUE(uri);
    EXPECT_EQ(uri->ToString(), "at://Alice.TEST/FM.Plyr.trackV2/AbC");
    EXPECT_EQ(uri->Normalized(), "at://alice.test/fm.plyr.trackV2/AbC");
    // DIDs are case-sensitive: never folded.
    EXPECT_EQ(ParseAtUri("at://did:method:VAL/a.b.c")->Normalized(), "at://did:method:VAL/a.b.c");
}

TEST(AtUri, RejectsTheAlmostCases) {
    for (std::string_view bad :
         {"at://did:plc:asdf123/", "AT://did:plc:asdf123", "at://did:plc:asdf123 ", "at://did:plc:asdf123?x=1",
          "at://did:plc:asdf123#/frag", "at://user@alice.test", "at://alice.test:8080", "at://alice.test/a.b.c/d/e",
          "at://alice.test/a.b.c/..", "at://", "at:///a.b.c", "at://alice.test/not-nsid/x"}) {
        auto uri = ParseAtUri(bad);
        ASSERT_FALSE(uri) << bad;
        EXPECT_EQ(uri.error().code, ErrorCode::kInvalidArgument) << bad;
    }
}

TEST(AtUri, LengthCapIs8KiB) {
    std::string prefix = "at://did:plc:asdf123/com.atproto.feed.post/";
    // The rkey is capped at 512 anyway; the overall cap matters for the authority, which is a DID (≤ 2048).
    std::string long_did = "did:method:" + std::string(2000, 'v');
    EXPECT_TRUE(IsValidAtUri("at://" + long_did + "/a.b.c/" + std::string(512, 'o')));
    EXPECT_FALSE(IsValidAtUri(prefix + std::string(8200, 'o')));
}

}  // namespace
}  // namespace plyr::atproto::syntax
