// atproto-interop-tests lexicon vectors (tests/data/atproto-interop/lexicon, CC0): schema documents that
// must parse or be rejected, and records that must pass or fail against the catalog in lexicon/catalog/.

#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"
#include "test_util.hpp"

namespace plyr::atproto::lexicon {
namespace {
namespace json = boost::json;
using testing::ReadJson;
using testing::RepoPath;

constexpr std::string_view kDir = "tests/data/atproto-interop/lexicon/";

// Every record of the vectors must be a valid data-model value (incl. {"$bytes": "123"}, whose spare low bits
// are non-zero: accepted, as the Go and TypeScript references do).
Value DataModel(const json::value& data) {
    auto value = ValueFromJson(data);
    EXPECT_TRUE(value) << "not valid data model: " << (value ? "" : value.error().ToString());
    return value ? std::move(*value) : Value();
}

const Catalog& InteropCatalog() {
    static const Catalog catalog = [] {
        auto loaded = LoadCatalog(RepoPath(std::string(kDir) + "catalog"));
        EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().ToString());
        return loaded ? std::move(*loaded) : Catalog();
    }();
    return catalog;
}

TEST(LexiconInterop, CatalogDocumentsAllLoad) {
    const Catalog& catalog = InteropCatalog();
    EXPECT_EQ(catalog.Nsids(), (std::vector<std::string>{"example.lexicon.permissionset", "example.lexicon.procedure",
                                                         "example.lexicon.query", "example.lexicon.record",
                                                         "example.lexicon.subscription"}));
    ASSERT_NE(catalog.Find("example.lexicon.record"), nullptr);
    EXPECT_EQ(catalog.Find("example.lexicon.record")->TypeName(), "record");
    EXPECT_EQ(catalog.Find("example.lexicon.query#main")->TypeName(), "query");
    EXPECT_EQ(catalog.Find("example.lexicon.procedure")->TypeName(), "procedure");
    EXPECT_EQ(catalog.Find("example.lexicon.subscription")->TypeName(), "subscription");
    EXPECT_EQ(catalog.Find("example.lexicon.permissionset")->TypeName(), "permission-set");
    const auto& token = std::get<TokenDef>(catalog.Find("example.lexicon.record#demoToken")->v);
    EXPECT_EQ(token.full_name, "example.lexicon.record#demoToken");
}

TEST(LexiconInterop, ValidLexiconDocumentsParse) {
    json::value cases = ReadJson(RepoPath(std::string(kDir) + "lexicon-valid.json"));
    ASSERT_EQ(cases.as_array().size(), 3u);
    for (const json::value& c : cases.as_array()) {
        auto doc = ParseLexiconDocument(c.at("lexicon"));
        EXPECT_TRUE(doc) << c.at("name") << ": " << (doc ? "" : doc.error().ToString());
    }
}

TEST(LexiconInterop, InvalidLexiconDocumentsAreRejected) {
    json::value cases = ReadJson(RepoPath(std::string(kDir) + "lexicon-invalid.json"));
    ASSERT_EQ(cases.as_array().size(), 7u);
    for (const json::value& c : cases.as_array()) {
        auto doc = ParseLexiconDocument(c.at("lexicon"));
        EXPECT_FALSE(doc) << c.at("name") << " parsed";
        if (!doc) {
            EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument) << c.at("name");
        }
    }
}

TEST(LexiconInterop, ValidRecordsPass) {
    json::value cases = ReadJson(RepoPath(std::string(kDir) + "record-data-valid.json"));
    ASSERT_EQ(cases.as_array().size(), 3u);
    for (const json::value& c : cases.as_array()) {
        Value record = DataModel(c.at("data"));
        std::string nsid(c.at("data").at("$type").as_string());
        auto status = ValidateRecord(InteropCatalog(), nsid, record);
        EXPECT_TRUE(status) << c.at("name") << ": " << testing::ErrorMessage(status);
        auto key = ValidateRecordKey(InteropCatalog(), nsid, std::string(c.at("rkey").as_string()));
        EXPECT_TRUE(key) << c.at("name") << ": " << testing::ErrorMessage(key);
    }
    // At most the one known spelling ("full".bytes) needed the canonical re-spelling described above.
}

TEST(LexiconInterop, InvalidRecordsFailInTheValidator) {
    json::value cases = ReadJson(RepoPath(std::string(kDir) + "record-data-invalid.json"));
    ASSERT_EQ(cases.as_array().size(), 50u);
    for (const json::value& c : cases.as_array()) {
        // Every case is valid data model: the lexicon validator, not the JSON decoder, must reject it.
        Value record = DataModel(c.at("data"));
        auto status = ValidateRecord(InteropCatalog(), "example.lexicon.record", record);
        EXPECT_FALSE(status) << c.at("name") << " passed";
        if (!status) {
            EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument) << c.at("name");
        }
    }
}

// A few vector records with the exact path and reason, so a pass for the wrong reason cannot hide.
TEST(LexiconInterop, InvalidRecordsNameThePathAndReason) {
    struct Case {
        const char* json;
        const char* message;
    };
    const Case cases[] = {
        {R"({"$type":"example.lexicon.record"})", "integer: required field is missing"},
        {R"({"$type":"example.lexicon.record","integer":1,"string":null})", "string: must not be null"},
        {R"({"$type":"example.lexicon.record","integer":1,"formats":{"did":"123"}})", "formats.did: must be a DID"},
        {R"({"$type":"example.lexicon.record","integer":1,"graphemeString":"👩‍👩‍👦‍👦👩‍👩‍👦‍👦"})",
         "graphemeString: must be at least 10 graphemes, got 2"},
        {R"({"$type":"example.lexicon.record","integer":1,"lenArray":[0]})",
         "lenArray: must have at least 2 items, got 1"},
        {R"({"$type":"example.lexicon.record","integer":1,"union":{"a":1}})", "union: $type is required (union)"},
        {R"({"$type":"example.lexicon.record","integer":1,"closedUnion":{"$type":"example.lexicon.record#demoObjectTwo","a":1}})",
         "closedUnion: $type example.lexicon.record#demoObjectTwo is not one of [example.lexicon.record#demoObject]"},
        {R"({"$type":"example.lexicon.record","integer":1,"union":{"$type":"example.lexicon.record#demoObject","a":"x"}})",
         "union.a: must be an integer"},
        {R"({"$type":"example.lexicon.record","integer":1,"array":[1,true]})", "array[1]: must be an integer"},
    };
    for (const Case& c : cases) {
        auto status = ValidateRecord(InteropCatalog(), "example.lexicon.record", testing::ToValue(c.json));
        EXPECT_EQ(testing::ErrorMessage(status), c.message) << c.json;
    }
}

}  // namespace
}  // namespace plyr::atproto::lexicon
