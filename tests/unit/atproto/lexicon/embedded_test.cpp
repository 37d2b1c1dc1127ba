// The lexicons compiled into the binary equal the repository's lexicons/ and can be renamed to another namespace.

#include <gtest/gtest.h>

#include "atproto/lexicon/embedded.hpp"
#include "atproto/lexicon/validate.hpp"
#include "test_util.hpp"

namespace plyr::atproto::lexicon {
namespace {

constexpr const char* kTrack =
    R"({"$type":"fm.plyr.track","title":"first light","artist":"Alice","fileType":"mp3",
        "createdAt":"2026-11-25T10:00:00.000Z","audioUrl":"https://plyr.example/audio/0123456789abcdef.mp3"})";

TEST(EmbeddedLexicons, HoldEveryRepositoryLexicon) {
    auto embedded = EmbeddedCatalog();
    ASSERT_TRUE(embedded) << embedded.error().ToString();
    EXPECT_EQ(embedded->Nsids(), testing::RepoCatalog().Nsids());
    EXPECT_GE(EmbeddedLexicons().size(), 10u);
}

TEST(EmbeddedLexicons, ValidateAPlyrTrackRecord) {
    auto catalog = EmbeddedCatalog();
    ASSERT_TRUE(catalog);
    EXPECT_TRUE(ValidateRecordJson(*catalog, "fm.plyr.track", kTrack));
    EXPECT_FALSE(ValidateRecordJson(*catalog, "fm.plyr.track", R"({"$type":"fm.plyr.track","title":"x"})"));
}

TEST(EmbeddedLexicons, RenameTheAppNamespace) {
    auto catalog = EmbeddedCatalog("com.example.music");
    ASSERT_TRUE(catalog) << catalog.error().ToString();
    EXPECT_NE(catalog->FindDocument("com.example.music.track"), nullptr);
    EXPECT_NE(catalog->FindDocument("com.example.music.actor.profile"), nullptr);
    EXPECT_EQ(catalog->FindDocument("fm.plyr.track"), nullptr);
    // Other apps' lexicons keep their names.
    EXPECT_NE(catalog->FindDocument("fm.teal.feed.play"), nullptr);
    std::string renamed = kTrack;
    renamed.replace(renamed.find("fm.plyr.track"), 13, "com.example.music.track");
    EXPECT_TRUE(ValidateRecordJson(*catalog, "com.example.music.track", renamed));
    // References between plyr's own documents follow the rename (a like's subject is a strongRef; a list item
    // refers to its own defs).
    EXPECT_TRUE(catalog->UnresolvedRefs("com.example.music.list").empty());
}

TEST(EmbeddedLexicons, RefuseAnInvalidNamespace) {
    EXPECT_FALSE(EmbeddedCatalog("not a namespace"));
    EXPECT_FALSE(EmbeddedCatalog(""));
}

}  // namespace
}  // namespace plyr::atproto::lexicon
