// Strict lexicon document parsing and catalog loading.

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/schema.hpp"
#include "support/temp_dir.hpp"
#include "test_util.hpp"

namespace plyr::atproto::lexicon {
namespace {
namespace fs = std::filesystem;

// A document with one def named `name`, given as JSON text.
std::string Doc(std::string_view name, std::string_view def) {
    return std::string(R"({"lexicon":1,"id":"com.example.test","defs":{")") + std::string(name) + R"(":)" +
           std::string(def) + "}}";
}

std::string ParseError(std::string_view text) {
    auto doc = ParseLexiconDocumentText(text);
    if (doc) return "parsed";
    EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument);
    return doc.error().message;
}

TEST(LexiconSchema, ParsesEveryDataDefType) {
    auto doc = ParseLexiconDocumentText(R"({"lexicon":1,"id":"com.example.test","revision":3,"description":"d",
      "defs":{"main":{"type":"record","key":"literal:self","record":{"type":"object","required":["s"],
        "nullable":["n"],"properties":{
          "s":{"type":"string","format":"did","minLength":1,"maxLength":10,"minGraphemes":1,"maxGraphemes":5,
               "knownValues":["a"],"default":"x"},
          "e":{"type":"string","enum":["a","b"],"const":"a"},
          "n":{"type":"integer","minimum":-5,"maximum":5,"enum":[1,2],"const":1},
          "b":{"type":"boolean","default":true},
          "y":{"type":"bytes","minLength":1,"maxLength":4},
          "c":{"type":"cid-link"},
          "blob":{"type":"blob","accept":["audio/*","image/png","*/*"],"maxSize":10},
          "u":{"type":"unknown"},
          "r":{"type":"ref","ref":"#obj"},
          "x":{"type":"ref","ref":"com.example.other"},
          "un":{"type":"union","refs":["#obj","com.example.other#thing"],"closed":true},
          "a":{"type":"array","items":{"type":"integer"},"minLength":0,"maxLength":3},
          "o":{"type":"object","properties":{}}}}},
        "obj":{"type":"object","properties":{"t":{"type":"ref","ref":"#tok"}}},
        "tok":{"type":"token","description":"a token"},
        "str":{"type":"string","maxLength":3}}})");
    ASSERT_TRUE(doc) << doc.error().ToString();
    EXPECT_EQ(doc->id, "com.example.test");
    EXPECT_EQ(doc->revision, 3);
    const auto& record = std::get<RecordDef>(doc->defs.at("main")->v);
    EXPECT_EQ(record.key, "literal:self");
    EXPECT_EQ(record.record.required, std::vector<std::string>{"s"});
    EXPECT_TRUE(record.record.IsNullable("n"));
    const auto& s = std::get<StringDef>(record.record.properties.at("s")->v);
    EXPECT_EQ(s.format, "did");
    EXPECT_EQ(s.max_graphemes, 5);
    EXPECT_EQ(s.known_values, std::vector<std::string>{"a"});
    EXPECT_EQ(std::get<RefDef>(record.record.properties.at("r")->v).ref, "com.example.test#obj");
    EXPECT_EQ(std::get<RefDef>(record.record.properties.at("x")->v).ref, "com.example.other#main");
    const auto& un = std::get<UnionDef>(record.record.properties.at("un")->v);
    EXPECT_EQ(un.refs, (std::vector<std::string>{"com.example.test#obj", "com.example.other#thing"}));
    EXPECT_TRUE(un.closed);
    EXPECT_EQ(std::get<TokenDef>(doc->defs.at("tok")->v).full_name, "com.example.test#tok");
    EXPECT_EQ(doc->defs.at("tok")->description, "a token");
}

TEST(LexiconSchema, RejectsUnknownDefTypesAndKeys) {
    EXPECT_EQ(ParseError(Doc("x", R"({"type":"float"})")), R"(invalid lexicon: defs.x: unknown def type "float")");
    EXPECT_EQ(ParseError(Doc("x", R"({"type":"string","maxSize":3})")),
              R"(invalid lexicon: defs.x: unknown key "maxSize")");
    EXPECT_EQ(ParseError(Doc("x", R"({"maxLength":3})")), R"(invalid lexicon: defs.x: missing "type")");
    EXPECT_EQ(ParseError(R"({"lexicon":1,"id":"com.example.test","defs":{},"extra":1})"),
              R"(invalid lexicon: document: unknown key "extra")");
}

TEST(LexiconSchema, RejectsBadDocumentHeaders) {
    EXPECT_NE(ParseError(R"({"lexicon":2,"id":"com.example.test","defs":{}})"), "parsed");
    EXPECT_NE(ParseError(R"({"lexicon":1.0,"id":"com.example.test","defs":{}})"), "parsed");
    EXPECT_NE(ParseError(R"({"lexicon":1,"id":"com.example","defs":{}})"), "parsed");
    EXPECT_NE(ParseError(R"({"lexicon":1,"id":"com.example.test"})"), "parsed");
    EXPECT_NE(ParseError(R"([1])"), "parsed");
    EXPECT_NE(ParseError(R"({"lexicon":1,)"), "parsed");
    EXPECT_NE(ParseError(Doc("a.b", R"({"type":"integer"})")), "parsed");
    EXPECT_NE(ParseError(Doc("", R"({"type":"integer"})")), "parsed");
}

TEST(LexiconSchema, PrimaryTypesOnlyAsMainAndNoBareRefsAtTopLevel) {
    EXPECT_EQ(ParseError(Doc("other", R"({"type":"query"})")),
              R"(invalid lexicon: defs.other: a "query" def must be named "main")");
    for (const char* type : {R"({"type":"ref","ref":"#x"})", R"({"type":"union","refs":[]})", R"({"type":"unknown"})",
                             R"({"type":"params","properties":{}})"}) {
        EXPECT_NE(ParseError(Doc("main", type)), "parsed") << type;
    }
    EXPECT_EQ(ParseError(Doc("main", R"({"type":"integer"})")), "parsed");
}

TEST(LexiconSchema, RejectsInconsistentConstraints) {
    EXPECT_NE(ParseError(Doc("x", R"({"type":"string","minLength":5,"maxLength":4})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"string","maxGraphemes":-1})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"string","maxLength":1.5})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"string","format":"email"})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"integer","minimum":3,"maximum":2})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"boolean","default":true,"const":true})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"blob","maxSize":0})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"blob","accept":["audio"]})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"blob","accept":["*/mp3"]})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"array","items":{"type":"array","items":{"type":"integer"}}})")),
              "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"array"})")), "parsed");
    EXPECT_EQ(ParseError(Doc("x", R"({"type":"object","required":["a"],"properties":{}})")),
              R"(invalid lexicon: defs.x.required: "a" is not a property)");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"object","nullable":["a"],"properties":{}})")), "parsed");
    EXPECT_NE(
        ParseError(Doc("main", R"({"type":"record","key":"literal:..","record":{"type":"object","properties":{}}})")),
        "parsed");
    EXPECT_NE(ParseError(Doc("main", R"({"type":"record","key":"uuid","record":{"type":"object","properties":{}}})")),
              "parsed");
}

TEST(LexiconSchema, RejectsMalformedRefs) {
    EXPECT_NE(ParseError(Doc("x", R"({"type":"object","properties":{"a":{"type":"ref","ref":"#"}}})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"object","properties":{"a":{"type":"ref","ref":"nope"}}})")), "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"object","properties":{"a":{"type":"ref","ref":"a.b.c#d#e"}}})")),
              "parsed");
    EXPECT_NE(ParseError(Doc("x", R"({"type":"object","properties":{"a":{"type":"union","refs":["#ok",3]}}})")),
              "parsed");
    auto qualified = QualifyRef("#item", "fm.plyr.list");
    ASSERT_TRUE(qualified);
    EXPECT_EQ(*qualified, "fm.plyr.list#item");
    EXPECT_EQ(*QualifyRef("com.atproto.repo.strongRef", "fm.plyr.like"), "com.atproto.repo.strongRef#main");
}

TEST(LexiconSchema, KeepsXrpcAndPermissionSetDefs) {
    auto doc = ParseLexiconDocumentText(testing::ReadFile(testing::RepoPath("lexicons/fm/plyr/authFullApp.json")));
    ASSERT_TRUE(doc) << doc.error().ToString();
    const auto& set = std::get<PermissionSetDef>(doc->defs.at("main")->v);
    EXPECT_EQ(set.title, "Full plyr.fm Access");
    ASSERT_EQ(set.permissions.size(), 1u);
    EXPECT_EQ(set.permissions[0].resource, "repo");
    EXPECT_EQ(set.permissions[0].params.at("collection").as_array().size(), 5u);

    EXPECT_NE(ParseError(Doc("main", R"({"type":"permission-set","permissions":[{"type":"perm","resource":"repo"}]})")),
              "parsed");
    EXPECT_NE(ParseError(Doc("main", R"({"type":"permission-set","title:lang":{"not a tag":"x"},"permissions":[]})")),
              "parsed");
    EXPECT_NE(ParseError(Doc("main", R"({"type":"query","output":{"schema":{"type":"object","properties":{}}}})")),
              "parsed");  // output without encoding
    EXPECT_NE(
        ParseError(Doc(
            "main",
            R"({"type":"query","parameters":{"type":"params","properties":{"o":{"type":"object","properties":{}}}}})")),
        "parsed");  // params hold only scalars
}

using plyr::testing::TempDir;

TEST(LexiconCatalog, LoadsJsonFilesRecursivelyAndIgnoresOthers) {
    TempDir dir;
    dir.Write("com/example/a.json", R"({"lexicon":1,"id":"com.example.a","defs":{"main":{"type":"token"}}})");
    dir.Write("com/example/deep/b.json", R"({"lexicon":1,"id":"com.example.deep.b","defs":{}})");
    dir.Write("README.md", "not a lexicon");
    dir.Write("LICENSE", "not a lexicon");
    auto catalog = LoadCatalog(dir.path());
    ASSERT_TRUE(catalog) << catalog.error().ToString();
    EXPECT_EQ(catalog->Nsids(), (std::vector<std::string>{"com.example.a", "com.example.deep.b"}));
    EXPECT_NE(catalog->Find("com.example.a"), nullptr);
    EXPECT_NE(catalog->Find("com.example.a#main"), nullptr);
    EXPECT_EQ(catalog->Find("com.example.a#other"), nullptr);
    EXPECT_EQ(catalog->Find("com.example.zzz"), nullptr);
}

TEST(LexiconCatalog, ErrorsNameTheFile) {
    TempDir dir;
    dir.Write("com/example/bad.json", R"({"lexicon":1,"id":"com.example.bad","defs":{"x":{"type":"nope"}}})");
    auto catalog = LoadCatalog(dir.path());
    ASSERT_FALSE(catalog);
    EXPECT_EQ(catalog.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(catalog.error().message, R"(com/example/bad.json: invalid lexicon: defs.x: unknown def type "nope")");
}

TEST(LexiconCatalog, RejectsDuplicateNsidsAndInvalidJson) {
    TempDir dup;
    dup.Write("a.json", R"({"lexicon":1,"id":"com.example.a","defs":{}})");
    dup.Write("b.json", R"({"lexicon":1,"id":"com.example.a","defs":{}})");
    auto catalog = LoadCatalog(dup.path());
    ASSERT_FALSE(catalog);
    EXPECT_EQ(catalog.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(catalog.error().message, "b.json: lexicon com.example.a is defined twice");

    TempDir bad;
    bad.Write("a.json", R"({"lexicon":1,"id":"com.example.a","defs":{},})");
    auto invalid = LoadCatalog(bad.path());
    ASSERT_FALSE(invalid);
    EXPECT_EQ(invalid.error().code, ErrorCode::kInvalidArgument);
}

TEST(LexiconCatalog, MissingDirectoryIsNotFoundAndHugeFilesAreRefused) {
    auto missing = LoadCatalog("/nonexistent/plyr/lexicons");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);

    TempDir dir;
    dir.Write("big.json", std::string(kMaxLexiconFileBytes + 1, ' '));
    auto big = LoadCatalog(dir.path());
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, ErrorCode::kTooLarge);
}

TEST(LexiconCatalog, AddRefusesASecondDocumentWithTheSameNsid) {
    Catalog catalog;
    ASSERT_TRUE(catalog.AddJsonText(R"({"lexicon":1,"id":"com.example.a","defs":{}})"));
    auto again = catalog.AddJsonText(R"({"lexicon":1,"id":"com.example.a","defs":{}})", "again");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
    EXPECT_EQ(catalog.size(), 1u);
}

}  // namespace
}  // namespace plyr::atproto::lexicon
