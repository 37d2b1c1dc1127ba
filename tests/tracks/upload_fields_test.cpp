// tracks::upload_fields — every rule of product.md §6.4 step 5 for the text fields of an upload (and PATCH).
#include "tracks/upload_fields.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace plyr::tracks {
namespace {

namespace json = boost::json;

template <typename T>
void ExpectError(const FieldResult<T>& result, std::string_view code, std::string_view field) {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().status, 400);
    EXPECT_EQ(result.error().code, code);
    EXPECT_EQ(result.error().field, field);
    EXPECT_FALSE(result.error().message.empty());
}

// ---- title ----

TEST(UploadFieldsTest, TitleIsTrimmedIncludingUnicodeSpaces) {
    EXPECT_EQ(*NormaliseTitle("  Song  "), "Song");
    EXPECT_EQ(*NormaliseTitle("\u3000\u00a0Song\u2003"), "Song");
    EXPECT_EQ(*NormaliseTitle("a  b"), "a  b") << "inner whitespace is kept";
}

TEST(UploadFieldsTest, TitleIsNfcNormalised) {
    // "e" + COMBINING ACUTE ACCENT → U+00E9.
    EXPECT_EQ(*NormaliseTitle("Caf\x65\xcc\x81"), "Caf\xc3\xa9");
    // Hangul jamo compose into one syllable.
    EXPECT_EQ(*NormaliseTitle("\xe1\x84\x80\xe1\x85\xa1"), "\xea\xb0\x80");
}

TEST(UploadFieldsTest, TitleMissingOrBlankIsRefused) {
    ExpectError(NormaliseTitle(""), "invalid_title", "title");
    ExpectError(NormaliseTitle(" \t\n "), "invalid_title", "title");
    ExpectError(ValidateUploadFields(RawUploadFields{}, ""), "invalid_title", "title");
}

TEST(UploadFieldsTest, TitleByteLimitCountsAfterTrimming) {
    EXPECT_TRUE(NormaliseTitle(std::string(256, 'a')));
    EXPECT_TRUE(NormaliseTitle("  " + std::string(256, 'a') + "  "));
    ExpectError(NormaliseTitle(std::string(257, 'a')), "invalid_title", "title");
    // 86 × "é" (2 bytes) = 172 bytes fits; 129 × 2 = 258 does not.
    std::string e2;
    for (int i = 0; i < 129; ++i) e2 += "\xc3\xa9";
    ExpectError(NormaliseTitle(e2), "invalid_title", "title");
}

TEST(UploadFieldsTest, TitleWithControlCharactersIsRefused) {
    ExpectError(NormaliseTitle("a\x01z"), "invalid_title", "title");
    ExpectError(NormaliseTitle("a\nz"), "invalid_title", "title");
    ExpectError(NormaliseTitle("a\x7fz"), "invalid_title", "title");
    ExpectError(NormaliseTitle("a\xc2\x85z"), "invalid_title", "title");  // C1 NEL
    ExpectError(NormaliseTitle(std::string("a\0z", 3)), "invalid_title", "title");
}

TEST(UploadFieldsTest, TitleWithIllFormedUtf8IsRefused) {
    ExpectError(NormaliseTitle("\xff"), "invalid_title", "title");
    ExpectError(NormaliseTitle("\xc0\xaf"), "invalid_title", "title");      // overlong "/"
    ExpectError(NormaliseTitle("\xed\xa0\x80"), "invalid_title", "title");  // surrogate
    ExpectError(NormaliseTitle("abc\xe2\x82"), "invalid_title", "title");   // truncated
}

TEST(UploadFieldsTest, TitleKeepsEmojiAndOtherScripts) {
    EXPECT_EQ(*NormaliseTitle("\xf0\x9f\x8e\xb5 \xe6\x97\xa5\xe6\x9c\xac"),
              "\xf0\x9f\x8e\xb5 \xe6\x97\xa5\xe6\x9c\xac");
}

// ---- description ----

TEST(UploadFieldsTest, DescriptionAllowsLineBreaksAndTabs) {
    auto d = NormaliseDescription("  line one\r\n\tline two\n");
    ASSERT_TRUE(d);
    EXPECT_EQ(**d, "line one\r\n\tline two");
}

TEST(UploadFieldsTest, BlankDescriptionMeansNone) {
    auto d = NormaliseDescription("   ");
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->has_value());
}

TEST(UploadFieldsTest, DescriptionLimitAndControlCharacters) {
    EXPECT_TRUE(NormaliseDescription(std::string(5000, 'x')));
    ExpectError(NormaliseDescription(std::string(5001, 'x')), "invalid_description", "description");
    ExpectError(NormaliseDescription("bell\x07"), "invalid_description", "description");
    ExpectError(NormaliseDescription("\xfe"), "invalid_description", "description");
}

// ---- tags ----

TEST(UploadFieldsTest, TagIsLowercasedTrimmedCollapsedAndLosesItsHash) {
    EXPECT_EQ(NormaliseTag("  #Lo-Fi   Hip\tHop "), "lo-fi hip hop");
    EXPECT_EQ(NormaliseTag("R&B"), "r&b");
    EXPECT_EQ(NormaliseTag("drum_and_bass.2"), "drum_and_bass.2");
    EXPECT_EQ(NormaliseTag("# jazz"), "jazz");
}

TEST(UploadFieldsTest, TagLowercasesBeyondAscii) {
    EXPECT_EQ(NormaliseTag("\xc3\x89LECTRO"), "\xc3\xa9lectro");                      // ÉLECTRO
    EXPECT_EQ(NormaliseTag("\xd0\xa0\xd0\x9e\xd0\x9a"), "\xd1\x80\xd0\xbe\xd0\xba");  // РОК → рок
    EXPECT_EQ(NormaliseTag("\xe6\x97\xa5\xe6\x9c\xac"), "\xe6\x97\xa5\xe6\x9c\xac");  // 日本 (no case)
}

TEST(UploadFieldsTest, TagRefusesOtherCharactersAndLengths) {
    EXPECT_FALSE(NormaliseTag(""));
    EXPECT_FALSE(NormaliseTag("#"));
    EXPECT_FALSE(NormaliseTag("   "));
    EXPECT_FALSE(NormaliseTag("a/b"));
    EXPECT_FALSE(NormaliseTag("a,b"));
    EXPECT_FALSE(NormaliseTag("<script>"));
    EXPECT_FALSE(NormaliseTag("##double"));
    EXPECT_FALSE(NormaliseTag("\xf0\x9f\x8e\xb5"));  // emoji is not a letter
    EXPECT_FALSE(NormaliseTag("\xff"));
    EXPECT_TRUE(NormaliseTag(std::string(50, 'a')));
    EXPECT_FALSE(NormaliseTag(std::string(51, 'a')));
    // The limit counts characters, not bytes: 50 × "é" is 100 bytes and allowed.
    std::string e50;
    for (int i = 0; i < 50; ++i) e50 += "\xc3\xa9";
    EXPECT_TRUE(NormaliseTag(e50));
    EXPECT_FALSE(NormaliseTag(e50 + "\xc3\xa9"));
}

TEST(UploadFieldsTest, TagsMergeDuplicatesAfterNormalisation) {
    auto tags = ParseTags(R"(["Rock", "#rock", " ROCK ", "indie"])");
    ASSERT_TRUE(tags);
    EXPECT_EQ(*tags, (std::vector<std::string>{"rock", "indie"}));
}

TEST(UploadFieldsTest, TagsCountLimit) {
    EXPECT_TRUE(ParseTags(R"(["a","b","c","d","e","f","g","h","i","j"])"));
    ExpectError(ParseTags(R"(["a","b","c","d","e","f","g","h","i","j","k"])"), "too_many_tags", "tags");
}

TEST(UploadFieldsTest, TagsMustBeAJsonArrayOfValidStrings) {
    ExpectError(ParseTags("rock, pop"), "invalid_tags", "tags");
    ExpectError(ParseTags(R"({"a":1})"), "invalid_tags", "tags");
    ExpectError(ParseTags(R"("rock")"), "invalid_tags", "tags");
    ExpectError(ParseTags(R"([1])"), "invalid_tags", "tags");
    ExpectError(ParseTags(R"(["ok", "x)" + std::string(51, 'x') + R"("])"), "invalid_tags", "tags");
    ExpectError(ParseTags(R"([)"), "invalid_tags", "tags");
}

TEST(UploadFieldsTest, EmptyTagsTextAndNullMeanNoTags) {
    EXPECT_TRUE(ParseTags("")->empty());
    EXPECT_TRUE(ParseTags("  ")->empty());
    EXPECT_TRUE(ParseTags("null")->empty());
    EXPECT_TRUE(ParseTags("[]")->empty());
}

TEST(UploadFieldsTest, ValidateTagsTakesParsedJson) {
    auto tags = ValidateTags(json::parse(R"(["Ambient"])"));
    ASSERT_TRUE(tags);
    EXPECT_EQ(*tags, std::vector<std::string>{"ambient"});
}

// ---- features ----

TEST(UploadFieldsTest, FeaturesAcceptHandlesAndDids) {
    auto f = ParseFeatures(R"(["Alice.Bsky.Social", "did:plc:z72i7hdynmk6r22z27h6tvur", "did:web:example.com",
                               "alice.bsky.social"])");
    ASSERT_TRUE(f);
    EXPECT_EQ(
        *f, (std::vector<std::string>{"alice.bsky.social", "did:plc:z72i7hdynmk6r22z27h6tvur", "did:web:example.com"}));
}

TEST(UploadFieldsTest, FeaturesRefuseInvalidIdentifiersAndShapes) {
    ExpectError(ParseFeatures(R"(["alice..bsky.social"])"), "invalid_features", "features");
    ExpectError(ParseFeatures(R"(["did:plc"])"), "invalid_features", "features");
    ExpectError(ParseFeatures(R"(["not a handle"])"), "invalid_features", "features");
    ExpectError(ParseFeatures(R"(["DID:PLC:abc"])"), "invalid_features", "features");
    ExpectError(ParseFeatures(R"([42])"), "invalid_features", "features");
    ExpectError(ParseFeatures(R"("alice.bsky.social")"), "invalid_features", "features");
    ExpectError(ParseFeatures("alice.bsky.social"), "invalid_features", "features");
}

TEST(UploadFieldsTest, FeaturesCountLimit) {
    std::string ten = "[";
    for (int i = 0; i < 10; ++i) ten += (i ? "," : "") + std::string("\"a") + std::to_string(i) + ".test\"";
    EXPECT_TRUE(ParseFeatures(ten + "]"));
    ExpectError(ParseFeatures(ten + ",\"b.test\"]"), "invalid_features", "features");
}

// ---- album ----

TEST(UploadFieldsTest, AlbumIsTrimmedNfcAndBlankMeansNone) {
    EXPECT_EQ(**NormaliseAlbum("  Caf\x65\xcc\x81  "), "Caf\xc3\xa9");
    EXPECT_FALSE(NormaliseAlbum("   ")->has_value());
}

TEST(UploadFieldsTest, AlbumGraphemeAndByteLimits) {
    EXPECT_TRUE(NormaliseAlbum(std::string(64, 'a')));
    ExpectError(NormaliseAlbum(std::string(65, 'a')), "invalid_album", "album");
    // 64 family emoji (one grapheme, 25 bytes each) = 1600 bytes: over the byte limit.
    std::string family =
        "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xe2\x80\x8d"
        "\xf0\x9f\x91\xa6";
    std::string ten_families;
    for (int i = 0; i < 10; ++i) ten_families += family;
    EXPECT_TRUE(NormaliseAlbum(ten_families)) << "10 graphemes, 250 bytes";
    ExpectError(NormaliseAlbum(ten_families + family), "invalid_album", "album");
    ExpectError(NormaliseAlbum("a\tb"), "invalid_album", "album");
}

TEST(UploadFieldsTest, AlbumIdMustBeAUuid) {
    EXPECT_EQ(*NormaliseAlbumId("0F8FAD5B-D9CB-469F-A165-70867728950E"), "0f8fad5b-d9cb-469f-a165-70867728950e");
    ExpectError(NormaliseAlbumId("0f8fad5b-d9cb-469f-a165-70867728950"), "invalid_id", "album_id");
    ExpectError(NormaliseAlbumId("0f8fad5bd9cb469fa16570867728950e"), "invalid_id", "album_id");
    ExpectError(NormaliseAlbumId("0f8fad5b-d9cb-469f-a165-70867728950g"), "invalid_id", "album_id");
    ExpectError(NormaliseAlbumId("1"), "invalid_id", "album_id");
}

// ---- support gate ----

TEST(UploadFieldsTest, SupportGateAbsentOrNullIsUngated) {
    EXPECT_FALSE(ParseSupportGate("", "")->has_value());
    EXPECT_FALSE(ParseSupportGate("null", "")->has_value());
}

TEST(UploadFieldsTest, SupportGateNeedsAtprotofans) {
    auto gate = ParseSupportGate(R"({"type":"any"})", "atprotofans");
    ASSERT_TRUE(gate);
    ASSERT_TRUE(gate->has_value());
    EXPECT_EQ(json::serialize(**gate), R"({"type":"any"})");
    ExpectError(ParseSupportGate(R"({"type":"any"})", ""), "support_not_configured", "support_gate");
    ExpectError(ParseSupportGate(R"({"type":"any"})", "https://ko-fi.com/x"), "support_not_configured", "support_gate");
}

TEST(UploadFieldsTest, SupportGateOfAnotherShapeIsInvalid) {
    ExpectError(ParseSupportGate(R"({"type":"some"})", "atprotofans"), "invalid_support_gate", "support_gate");
    ExpectError(ParseSupportGate(R"({"type":"any","x":1})", "atprotofans"), "invalid_support_gate", "support_gate");
    ExpectError(ParseSupportGate("true", "atprotofans"), "invalid_support_gate", "support_gate");
    ExpectError(ParseSupportGate("{", "atprotofans"), "invalid_support_gate", "support_gate");
}

// ---- the whole upload ----

TEST(UploadFieldsTest, ValidUploadFieldsBecomeThePayloadObject) {
    RawUploadFields raw;
    raw.title = " My Song ";
    raw.description = "notes";
    raw.tags = R"(["Rock"])";
    raw.features = R"(["bob.test"])";
    raw.album = "First";
    raw.support_gate = R"({"type":"any"})";
    auto fields = ValidateUploadFields(raw, "atprotofans");
    ASSERT_TRUE(fields) << fields.error().code;
    EXPECT_EQ(json::serialize(fields->ToJson()),
              R"({"title":"My Song","description":"notes","tags":["rock"],"features":["bob.test"],)"
              R"("album":"First","album_id":null,"support_gate":{"type":"any"}})");
    auto back = UploadFieldsFromJson(fields->ToJson());
    ASSERT_TRUE(back);
    EXPECT_EQ(json::serialize(back->ToJson()), json::serialize(fields->ToJson()));
}

TEST(UploadFieldsTest, MinimalUploadHasNullsAndEmptyArrays) {
    RawUploadFields raw;
    raw.title = "t";
    auto fields = ValidateUploadFields(raw, "");
    ASSERT_TRUE(fields);
    EXPECT_EQ(json::serialize(fields->ToJson()),
              R"({"title":"t","description":null,"tags":[],"features":[],"album":null,"album_id":null,)"
              R"("support_gate":null})");
}

TEST(UploadFieldsTest, AlbumAndAlbumIdTogetherConflict) {
    RawUploadFields raw;
    raw.title = "t";
    raw.album = "A";
    raw.album_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    ExpectError(ValidateUploadFields(raw, ""), "album_conflict", "album_id");
    raw.album = "  ";
    auto ok = ValidateUploadFields(raw, "");
    ASSERT_TRUE(ok) << "a blank album is no album";
    EXPECT_EQ(ok->album_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
}

TEST(UploadFieldsTest, FirstFailingFieldIsReported) {
    RawUploadFields raw;
    raw.title = "t";
    raw.tags = "[1]";
    raw.features = "[1]";
    ExpectError(ValidateUploadFields(raw, ""), "invalid_tags", "tags");
    raw.tags.reset();
    ExpectError(ValidateUploadFields(raw, ""), "invalid_features", "features");
}

TEST(UploadFieldsTest, UploadFieldsFromJsonRefusesWrongShapes) {
    EXPECT_FALSE(UploadFieldsFromJson(json::parse("[]")));
    EXPECT_FALSE(UploadFieldsFromJson(json::parse(R"({"tags":[]})")));
    EXPECT_FALSE(UploadFieldsFromJson(json::parse(R"({"title":"t","tags":[1]})")));
    EXPECT_FALSE(UploadFieldsFromJson(json::parse(R"({"title":"t","album":5})")));
}

}  // namespace
}  // namespace plyr::tracks
