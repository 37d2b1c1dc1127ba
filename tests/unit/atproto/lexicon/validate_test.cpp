// Validator semantics on a small hand-written catalog.

#include <string>

#include <gtest/gtest.h>

#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"
#include "test_util.hpp"

namespace plyr::atproto::lexicon {
namespace {
using testing::ErrorMessage;
using testing::ToValue;

constexpr const char* kCid = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";

const Catalog& TestCatalog() {
    static const Catalog catalog = [] {
        Catalog c;
        auto added = c.AddJsonText(R"({"lexicon":1,"id":"com.example.song","defs":{
          "main":{"type":"record","key":"tid","record":{"type":"object","required":["title","genre"],
            "nullable":["genre","note"],"properties":{
              "title":{"type":"string","maxLength":20,"maxGraphemes":5},
              "genre":{"type":"string","knownValues":["rock","jazz"]},
              "note":{"type":"string"},
              "audio":{"type":"blob","accept":["audio/*"],"maxSize":100},
              "any":{"type":"blob","accept":["*/*"]},
              "exact":{"type":"blob","accept":["image/png"]},
              "link":{"type":"cid-link"},
              "extra":{"type":"unknown"},
              "mood":{"type":"ref","ref":"#mood"},
              "tree":{"type":"ref","ref":"#node"},
              "gone":{"type":"ref","ref":"com.example.missing#thing"},
              "open":{"type":"union","refs":["#node","com.example.other"]},
              "closed":{"type":"union","refs":["#node"],"closed":true},
              "flag":{"type":"boolean","const":true},
              "bpm":{"type":"integer","minimum":20,"maximum":300}}}},
          "mood":{"type":"token"},
          "node":{"type":"object","properties":{"child":{"type":"ref","ref":"#node"}}}}})");
        EXPECT_TRUE(added) << ErrorMessage(added);
        auto other = c.AddJsonText(R"({"lexicon":1,"id":"com.example.other","defs":{
          "main":{"type":"object","required":["x"],"properties":{"x":{"type":"integer"}}}}})");
        EXPECT_TRUE(other) << ErrorMessage(other);
        return c;
    }();
    return catalog;
}

std::string Check(const std::string& fields) {
    std::string json = R"({"$type":"com.example.song","title":"t","genre":"rock")" +
                       (fields.empty() ? std::string() : "," + fields) + "}";
    return ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue(json)));
}

std::string Blob(const std::string& mime, int size) {
    return std::string(R"({"$type":"blob","ref":{"$link":")") + kCid + R"("},"mimeType":")" + mime + R"(","size":)" +
           std::to_string(size) + "}";
}

TEST(LexiconValidate, RecordTypeMustMatchTheNsidWhenPresent) {
    EXPECT_EQ(Check(""), "ok");
    auto wrong = ValidateRecord(TestCatalog(), "com.example.song",
                                ToValue(R"({"$type":"com.example.other","title":"t","genre":"g"})"));
    EXPECT_EQ(ErrorMessage(wrong), "$type: must be com.example.song");
    auto absent = ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":"t","genre":"g"})"));
    EXPECT_TRUE(absent) << ErrorMessage(absent);
    EXPECT_EQ(ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue("[1]"))),
              "record: must be an object");
}

TEST(LexiconValidate, UnknownNsidIsNotFoundAndNonRecordsAreRefused) {
    auto missing = ValidateRecord(TestCatalog(), "com.example.nothing", ToValue("{}"));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    auto not_record = ValidateRecord(TestCatalog(), "com.example.other", ToValue(R"({"x":1})"));
    ASSERT_FALSE(not_record);
    EXPECT_EQ(not_record.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(ValidateRecord(TestCatalog(), "not an nsid", ToValue("{}")));
}

TEST(LexiconValidate, RequiredNullableAndExtraFields) {
    EXPECT_EQ(ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":"t"})"))),
              "genre: required field is missing");
    EXPECT_EQ(Check(R"("note":null)"), "ok");
    EXPECT_EQ(ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":"t","genre":null})"))),
              "ok");  // required and nullable: present as null is fine
    EXPECT_EQ(ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":null,"genre":"g"})"))),
              "title: must not be null");
    EXPECT_EQ(Check(R"("somethingNew":{"a":[1,2]})"), "ok");  // lexicons evolve by adding optional fields
}

TEST(LexiconValidate, StringLengthsAreUtf8BytesAndGraphemes) {
    EXPECT_EQ(Check(R"("title":"héllo")"), "ok");  // é composed: 6 bytes, 5 graphemes
    EXPECT_EQ(
        ErrorMessage(ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":"hello!","genre":"g"})"))),
        "title: must be at most 5 graphemes, got 6");
    // 5 ZWJ families are 5 graphemes but 125 bytes: the byte limit fails first.
    EXPECT_EQ(
        ErrorMessage(ValidateRecord(
            TestCatalog(), "com.example.song",
            ToValue(
                R"({"title":"👩‍👩‍👦‍👦👩‍👩‍👦‍👦👩‍👩‍👦‍👦👩‍👩‍👦‍👦👩‍👩‍👦‍👦","genre":"g"})"))),
        "title: must be at most 20 bytes (UTF-8), got 125");
    EXPECT_EQ(Check(R"("genre":"polka")"), "ok");  // knownValues is an open set
}

TEST(LexiconValidate, BlobAcceptPatternsAndMaxSize) {
    EXPECT_EQ(Check(R"("audio":)" + Blob("audio/mpeg", 100)), "ok");
    EXPECT_EQ(Check(R"("audio":)" + Blob("image/png", 10)),
              "audio: blob type image/png is not accepted (accepted: audio/*)");
    EXPECT_EQ(Check(R"("audio":)" + Blob("audiox/mpeg", 10)),
              "audio: blob type audiox/mpeg is not accepted (accepted: audio/*)");
    EXPECT_EQ(Check(R"("audio":)" + Blob("audio/flac", 101)), "audio: blob is 101 bytes, more than the maximum 100");
    EXPECT_EQ(Check(R"("any":)" + Blob("application/x-anything", 5)), "ok");
    EXPECT_EQ(Check(R"("exact":)" + Blob("image/png", 5)), "ok");
    EXPECT_EQ(Check(R"("exact":)" + Blob("image/jpeg", 5)),
              "exact: blob type image/jpeg is not accepted (accepted: image/png)");
    EXPECT_EQ(Check(R"("audio":{"cid":")" + std::string(kCid) + R"(","mimeType":"audio/mpeg"})"),
              "audio: must be a blob");  // legacy blob refs are not blobs
}

TEST(LexiconValidate, LinksUnknownTokensBooleansIntegers) {
    EXPECT_EQ(Check(R"("link":{"$link":")" + std::string(kCid) + R"("})"), "ok");
    EXPECT_EQ(Check(R"("link":")" + std::string(kCid) + R"(")"), "link: must be a cid-link");
    EXPECT_EQ(Check(R"("extra":{"$type":"com.example.whatever","z":1})"), "ok");
    EXPECT_EQ(Check(R"("extra":{"$bytes":"aGVsbG8"})"), "extra: must be an object");
    EXPECT_EQ(Check(R"("extra":[1])"), "extra: must be an object");
    EXPECT_EQ(Check(R"("extra":)" + Blob("audio/mpeg", 1)), "extra: must be an object");
    EXPECT_EQ(Check(R"("mood":"com.example.song#mood")"), "ok");
    EXPECT_EQ(Check(R"("mood":"com.example.song#other")"), "mood: must be the token com.example.song#mood");
    EXPECT_EQ(Check(R"("flag":true)"), "ok");
    EXPECT_EQ(Check(R"("flag":false)"), "flag: must be true");
    EXPECT_EQ(Check(R"("bpm":19)"), "bpm: must be at least 20");
    EXPECT_EQ(Check(R"("bpm":301)"), "bpm: must be at most 300");
    EXPECT_EQ(Check(R"("bpm":"120")"), "bpm: must be an integer");
}

TEST(LexiconValidate, UnionRules) {
    // Open union: a listed type is validated, an unlisted one passes through, `nsid` ≡ `nsid#main`.
    EXPECT_EQ(Check(R"("open":{"$type":"com.example.song#node","child":{}})"), "ok");
    EXPECT_EQ(Check(R"("open":{"$type":"com.example.other","x":1})"), "ok");
    EXPECT_EQ(Check(R"("open":{"$type":"com.example.other#main","x":"no"})"), "open.x: must be an integer");
    EXPECT_EQ(Check(R"("open":{"$type":"com.example.other"})"), "open.x: required field is missing");
    EXPECT_EQ(Check(R"("open":{"$type":"org.unknown.thing","whatever":true})"), "ok");
    EXPECT_EQ(Check(R"("open":{"child":{}})"), "open: $type is required (union)");
    EXPECT_EQ(Check(R"("open":"com.example.other")"), "open: must be an object with $type (union)");
    // Closed union: only the listed types.
    EXPECT_EQ(Check(R"("closed":{"$type":"com.example.song#node"})"), "ok");
    EXPECT_EQ(Check(R"("closed":{"$type":"org.unknown.thing"})"),
              "closed: $type org.unknown.thing is not one of [com.example.song#node]");
}

TEST(LexiconValidate, DanglingRefIsNotFoundWithThePath) {
    auto status =
        ValidateRecord(TestCatalog(), "com.example.song", ToValue(R"({"title":"t","genre":"g","gone":{"a":1}})"));
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(status.error().message, "gone: lexicon com.example.missing#thing is not in the catalog");
    EXPECT_EQ(TestCatalog().UnresolvedRefs("com.example.song"), std::vector<std::string>{"com.example.missing#thing"});
    EXPECT_TRUE(TestCatalog().UnresolvedRefs("com.example.other").empty());
}

TEST(LexiconValidate, RecursiveRefsAreBoundedByDepth) {
    EXPECT_EQ(Check(R"("tree":{"child":{"child":{"child":{"child":{}}}}})"), "ok");
    EXPECT_EQ(Check(R"("tree":{"child":{"child":{"child":1}}})"), "tree.child.child.child: must be an object");
    // Deeper than any JSON we parse: built directly, as a CBOR-decoded value could be.
    Value node = Value::Map{};
    for (int i = 0; i < 400; ++i) node = Value(Value::Map{{"child", std::move(node)}});
    Value::Map record{{"title", Value("t")}, {"genre", Value("g")}, {"tree", std::move(node)}};
    auto status = ValidateRecord(TestCatalog(), "com.example.song", Value(std::move(record)));
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kTooLarge);
}

TEST(LexiconValidate, ValueAgainstAnyDef) {
    EXPECT_TRUE(ValidateValue(TestCatalog(), "com.example.other", ToValue(R"({"x":1})")));
    EXPECT_EQ(ErrorMessage(ValidateValue(TestCatalog(), "com.example.other", ToValue(R"({"x":true})"))),
              "x: must be an integer");
    EXPECT_EQ(ValidateValue(TestCatalog(), "com.example.nope#x", ToValue("{}")).error().code, ErrorCode::kNotFound);
}

TEST(LexiconValidate, JsonTextEntryPointForTheCli) {
    EXPECT_TRUE(ValidateRecordJson(TestCatalog(), "com.example.song", R"({"title":"t","genre":"g"})"));
    auto bad_json = ValidateRecordJson(TestCatalog(), "com.example.song", R"({"title":)");
    ASSERT_FALSE(bad_json);
    EXPECT_EQ(bad_json.error().code, ErrorCode::kInvalidArgument);
    auto float_value = ValidateRecordJson(TestCatalog(), "com.example.song", R"({"title":"t","genre":"g","x":1.5})");
    ASSERT_FALSE(float_value);  // not data model: no floats
    EXPECT_EQ(float_value.error().code, ErrorCode::kInvalidArgument);
}

TEST(LexiconValidate, RecordKeyTypes) {
    EXPECT_TRUE(ValidateRecordKey(TestCatalog(), "com.example.song", "3jzfcijpj2z2a"));
    EXPECT_FALSE(ValidateRecordKey(TestCatalog(), "com.example.song", "self"));
    EXPECT_EQ(ValidateRecordKey(TestCatalog(), "com.example.none", "self").error().code, ErrorCode::kNotFound);
    Catalog catalog;
    ASSERT_TRUE(catalog.AddJsonText(R"({"lexicon":1,"id":"com.example.profile","defs":{"main":{"type":"record",
        "key":"literal:self","record":{"type":"object","properties":{}}}}})"));
    ASSERT_TRUE(catalog.AddJsonText(R"({"lexicon":1,"id":"com.example.anykey","defs":{"main":{"type":"record",
        "key":"any","record":{"type":"object","properties":{}}}}})"));
    ASSERT_TRUE(catalog.AddJsonText(R"({"lexicon":1,"id":"com.example.bynsid","defs":{"main":{"type":"record",
        "key":"nsid","record":{"type":"object","properties":{}}}}})"));
    EXPECT_TRUE(ValidateRecordKey(catalog, "com.example.profile", "self"));
    EXPECT_FALSE(ValidateRecordKey(catalog, "com.example.profile", "other"));
    EXPECT_TRUE(ValidateRecordKey(catalog, "com.example.anykey", "a:b~c"));
    EXPECT_FALSE(ValidateRecordKey(catalog, "com.example.anykey", ".."));
    EXPECT_TRUE(ValidateRecordKey(catalog, "com.example.bynsid", "fm.plyr.track"));
    EXPECT_FALSE(ValidateRecordKey(catalog, "com.example.bynsid", "track"));
}

}  // namespace
}  // namespace plyr::atproto::lexicon

namespace plyr::atproto::lexicon {
namespace {

TEST(LexiconValidate, ViolationSplitsPathAndProblemForApiErrors) {
    auto valid =
        FindRecordViolation(TestCatalog(), "com.example.song", testing::ToValue(R"({"title":"t","genre":"g"})"));
    ASSERT_TRUE(valid);
    EXPECT_FALSE(valid->has_value());

    auto nested = FindRecordViolation(TestCatalog(), "com.example.song",
                                      testing::ToValue(R"({"title":"t","genre":"g","tree":{"child":{"child":1}}})"));
    ASSERT_TRUE(nested && nested->has_value());
    EXPECT_EQ((*nested)->code, ErrorCode::kInvalidArgument);
    EXPECT_EQ((*nested)->path, "tree.child.child");
    EXPECT_EQ((*nested)->problem, "must be an object");

    auto type = FindRecordViolation(TestCatalog(), "com.example.song", testing::ToValue(R"({"$type":"x.y.z"})"));
    ASSERT_TRUE(type && type->has_value());
    EXPECT_EQ((*type)->path, "$type");

    auto root = FindRecordViolation(TestCatalog(), "com.example.song", testing::ToValue("3"));
    ASSERT_TRUE(root && root->has_value());
    EXPECT_EQ((*root)->path, "");
    EXPECT_EQ((*root)->problem, "must be an object");

    auto gap = FindRecordViolation(TestCatalog(), "com.example.song",
                                   testing::ToValue(R"({"title":"t","genre":"g","gone":{}})"));
    ASSERT_TRUE(gap && gap->has_value());
    EXPECT_EQ((*gap)->code, ErrorCode::kNotFound);
    EXPECT_EQ((*gap)->path, "gone");

    auto unknown = FindRecordViolation(TestCatalog(), "com.example.nothing", testing::ToValue("{}"));
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace plyr::atproto::lexicon
