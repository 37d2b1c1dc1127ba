// The repository's runtime catalog (lexicons/): plyr's own record schemas and the reference lexicons plyr's
// records and posts use (com.atproto.*, app.bsky.*, fm.teal.*).

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include "atproto/data/cbor.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"
#include "core/encoding.hpp"
#include "test_util.hpp"

namespace plyr::atproto::lexicon {
namespace {
namespace fs = std::filesystem;
using testing::ErrorMessage;
using testing::RepoCatalog;
using testing::ToValue;

constexpr const char* kCid = "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq";
constexpr const char* kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

std::string StrongRef() {
    return std::string(R"({"uri":"at://)") + kDid + R"(/fm.plyr.track/3jzfcijpj2z2a","cid":")" + kCid + R"("})";
}

std::string Blob(const std::string& mime, long long size) {
    return std::string(R"({"$type":"blob","ref":{"$link":")") + kCid + R"("},"mimeType":")" + mime + R"(","size":)" +
           std::to_string(size) + "}";
}

std::string Validate(std::string_view nsid, const std::string& json) {
    return ErrorMessage(ValidateRecord(RepoCatalog(), nsid, ToValue(json)));
}

TEST(PlyrLexicons, AllLoadAndSitAtTheirNsidPaths) {
    const Catalog& catalog = RepoCatalog();
    for (const char* nsid :
         {"fm.plyr.track", "fm.plyr.like", "fm.plyr.comment", "fm.plyr.list", "fm.plyr.actor.profile",
          "fm.plyr.authFullApp", "com.atproto.repo.strongRef", "com.atproto.label.defs", "app.bsky.feed.post",
          "app.bsky.richtext.facet", "app.bsky.embed.images", "app.bsky.embed.record", "fm.teal.feed.play",
          "fm.teal.actor.status"}) {
        EXPECT_NE(catalog.FindDocument(nsid), nullptr) << nsid;
    }
    // Every file is at the path of its NSID (fm.plyr.track → fm/plyr/track.json).
    const fs::path root = testing::RepoPath("lexicons");
    std::size_t files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (entry.path().extension() != ".json") continue;
        ++files;
        std::string relative = entry.path().lexically_relative(root).replace_extension().generic_string();
        std::replace(relative.begin(), relative.end(), '/', '.');
        EXPECT_NE(catalog.FindDocument(relative), nullptr) << entry.path();
    }
    EXPECT_EQ(files, catalog.size());
}

TEST(PlyrLexicons, EveryRefReachableFromPlyrRecordsResolves) {
    for (const char* nsid :
         {"fm.plyr.track", "fm.plyr.like", "fm.plyr.comment", "fm.plyr.list", "fm.plyr.actor.profile"}) {
        EXPECT_TRUE(RepoCatalog().UnresolvedRefs(nsid).empty()) << nsid;
        EXPECT_TRUE(ValidateRecordKey(RepoCatalog(), nsid,
                                      nsid == std::string("fm.plyr.actor.profile") ? "self" : "3jzfcijpj2z2a"))
            << nsid;
    }
}

std::string ValidTrack() {
    return std::string(R"({"$type":"fm.plyr.track","title":"Night Drive","artist":"Alice","fileType":"mp3",
      "createdAt":"2026-01-01T12:00:00.000Z","audioUrl":"https://cdn.plyr.fm/audio/abc.mp3","album":"Roads",
      "duration":215,"imageUrl":"https://cdn.plyr.fm/img/abc.jpg","description":"liner notes",
      "features":[{"did":")") +
           kDid + R"(","handle":"bob.test","displayName":"Bob"},{"did":"did:web:carol.example.com"}],
      "supportGate":{"type":"any"},
      "labels":{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":"graphic-media"}]},
      "audioBlob":)" +
           Blob("audio/mpeg", 5000000) + "}";
}

TEST(PlyrLexicons, ValidTrackPasses) { EXPECT_EQ(Validate("fm.plyr.track", ValidTrack()), "ok"); }

TEST(PlyrLexicons, InvalidTracksFailWithThePath) {
    auto with = [](const std::string& fields) {
        return Validate("fm.plyr.track", R"({"$type":"fm.plyr.track","title":"T","artist":"A","fileType":"mp3",
          "createdAt":"2026-01-01T12:00:00.000Z",)" +
                                             fields + "}");
    };
    EXPECT_EQ(
        with(R"("features":[{"did":")" + std::string(kDid) + R"("},{"did":")" + kDid + R"("},{"did":"alice.test"}])"),
        "features[2].did: must be a DID");
    EXPECT_EQ(with(R"("features":[{"handle":"bob.test"}])"), "features[0].did: required field is missing");
    EXPECT_EQ(with(R"("audioBlob":)" + Blob("image/png", 10)),
              "audioBlob: blob type image/png is not accepted (accepted: audio/*)");
    EXPECT_EQ(with(R"("audioBlob":)" + Blob("audio/flac", 104857601)),
              "audioBlob: blob is 104857601 bytes, more than the maximum 104857600");
    EXPECT_EQ(with(R"("duration":-1)"), "duration: must be at least 0");
    EXPECT_EQ(with(R"("audioUrl":"not a url")"), "audioUrl: must be a URI");
    EXPECT_EQ(with(R"("album":")" + std::string(257, 'a') + R"(")"),
              "album: must be at most 256 bytes (UTF-8), got 257");
    EXPECT_EQ(with(R"("labels":{"values":[]})"), "labels: $type is required (union)");
    EXPECT_EQ(with(R"("labels":{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":1}]})"),
              "labels.values[0].val: must be a string");
    EXPECT_EQ(with(R"("supportGate":{})"), "supportGate.type: required field is missing");
    EXPECT_EQ(Validate("fm.plyr.track", R"({"$type":"fm.plyr.track","title":"T","artist":"A","fileType":"mp3"})"),
              "createdAt: required field is missing");
    EXPECT_EQ(Validate("fm.plyr.track", R"({"$type":"fm.plyr.like","title":"T","artist":"A","fileType":"mp3",
          "createdAt":"2026-01-01T12:00:00.000Z"})"),
              "$type: must be fm.plyr.track");
    EXPECT_EQ(with(R"("title":"")"), "title: must be at least 1 bytes (UTF-8), got 0");
}

TEST(PlyrLexicons, LikeCommentListProfile) {
    EXPECT_EQ(Validate("fm.plyr.like", R"({"$type":"fm.plyr.like","subject":)" + StrongRef() +
                                           R"(,"createdAt":"2026-01-01T12:00:00Z"})"),
              "ok");
    EXPECT_EQ(
        Validate(
            "fm.plyr.like",
            R"({"$type":"fm.plyr.like","subject":{"uri":"at://x","cid":"bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq"},
          "createdAt":"2026-01-01T12:00:00Z"})"),
        "subject.uri: must be an AT-URI");
    EXPECT_EQ(Validate("fm.plyr.like",
                       std::string(R"({"$type":"fm.plyr.like","subject":{"uri":"at://)") + kDid +
                           R"(/fm.plyr.track/3jzfcijpj2z2a","cid":"nope"},"createdAt":"2026-01-01T12:00:00Z"})"),
              "subject.cid: must be a CID string");
    EXPECT_EQ(Validate("fm.plyr.like",
                       R"({"$type":"fm.plyr.like","subject":)" + StrongRef() + R"(,"createdAt":"yesterday"})"),
              "createdAt: must be an RFC 3339 datetime");

    const std::string comment = R"({"$type":"fm.plyr.comment","subject":)" + StrongRef() +
                                R"(,"createdAt":"2026-01-01T12:00:00.000Z","timestampMs":)";
    EXPECT_EQ(Validate("fm.plyr.comment", comment + R"(61000,"text":"great drop"})"), "ok");
    EXPECT_EQ(Validate("fm.plyr.comment", comment + R"(-5,"text":"x"})"), "timestampMs: must be at least 0");
    EXPECT_EQ(Validate("fm.plyr.comment", comment + R"(0,"text":""})"),
              "text: must be at least 1 bytes (UTF-8), got 0");
    EXPECT_EQ(Validate("fm.plyr.comment", comment + R"(0,"text":")" + std::string(1001, 'x') + R"("})"),
              "text: must be at most 1000 bytes (UTF-8), got 1001");

    const std::string list = R"({"$type":"fm.plyr.list","createdAt":"2026-01-01T12:00:00.000Z",)";
    EXPECT_EQ(Validate("fm.plyr.list",
                       list + R"("name":"Road trip","listType":"mixtape","items":[{"subject":)" + StrongRef() + "}]}"),
              "ok");  // listType knownValues is open
    EXPECT_EQ(Validate("fm.plyr.list", list + R"("items":[{"subject":)" + StrongRef() +
                                           R"(},{"subject":{"uri":"https://x.example","cid":")" + kCid + R"("}}]})"),
              "items[1].subject.uri: must be an AT-URI");
    std::string name65;
    for (int i = 0; i < 65; ++i) name65 += "音";  // 3 bytes, 1 grapheme: under maxLength 256
    EXPECT_EQ(Validate("fm.plyr.list", list + R"("name":")" + name65 + R"(","items":[]})"),
              "name: must be at most 64 graphemes, got 65");

    // bio: maxGraphemes 256, maxLength 2560. "e" + combining acute is 3 bytes but one grapheme.
    std::string bio256, bio257;
    for (int i = 0; i < 256; ++i) bio256 += "e\xCC\x81";
    bio257 = bio256 + "e\xCC\x81";
    const std::string profile = R"({"$type":"fm.plyr.actor.profile","createdAt":"2026-01-01T12:00:00.000Z",)";
    EXPECT_EQ(Validate("fm.plyr.actor.profile",
                       profile + R"("avatar":"https://cdn.plyr.fm/a.png","bio":")" + bio256 + R"("})"),
              "ok");
    EXPECT_EQ(Validate("fm.plyr.actor.profile", profile + R"("bio":")" + bio257 + R"("})"),
              "bio: must be at most 256 graphemes, got 257");
}

TEST(PlyrLexicons, PermissionSetIsNotARecord) {
    auto status = ValidateRecord(RepoCatalog(), "fm.plyr.authFullApp", ToValue("{}"));
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().code, ErrorCode::kInvalidArgument);
}

TEST(ReferenceLexicons, BlueskyPostWithFacetsEmbedsAndReply) {
    std::string post =
        std::string(R"({"$type":"app.bsky.feed.post","text":"new track by @alice.test https://plyr.fm #music",
      "createdAt":"2026-01-01T12:00:00.000Z","langs":["en","pt-BR"],
      "facets":[
        {"index":{"byteStart":13,"byteEnd":24},"features":[{"$type":"app.bsky.richtext.facet#mention","did":")") +
        kDid + R"("}]},
        {"index":{"byteStart":25,"byteEnd":41},"features":[{"$type":"app.bsky.richtext.facet#link","uri":"https://plyr.fm"}]},
        {"index":{"byteStart":42,"byteEnd":48},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"music"}]}],
      "reply":{"root":)" +
        StrongRef() + R"(,"parent":)" + StrongRef() + R"(},
      "embed":{"$type":"app.bsky.embed.images","images":[{"image":)" +
        Blob("image/jpeg", 123456) +
        R"(,"alt":"cover","aspectRatio":{"width":1,"height":1}}]},
      "labels":{"$type":"com.atproto.label.defs#selfLabels","values":[]}})";
    EXPECT_EQ(Validate("app.bsky.feed.post", post), "ok");

    EXPECT_EQ(
        Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"q","createdAt":"2026-01-01T12:00:00Z",
      "embed":{"$type":"app.bsky.embed.record","record":)" +
                                           StrongRef() + "}}"),
        "ok");
    EXPECT_EQ(
        Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"q","createdAt":"2026-01-01T12:00:00Z",
      "embed":{"$type":"app.bsky.embed.recordWithMedia","record":{"record":)" +
                                           StrongRef() +
                                           R"(},"media":{"$type":"app.bsky.embed.external","external":{
        "uri":"https://plyr.fm/track/1","title":"Night Drive","description":"","thumb":)" +
                                           Blob("image/png", 1000) + "}}}}"),
        "ok");
}

TEST(ReferenceLexicons, BlueskyPostViolations) {
    std::string text301(301, 'a');
    EXPECT_EQ(Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":")" + text301 +
                                                 R"(","createdAt":"2026-01-01T12:00:00Z"})"),
              "text: must be at most 300 graphemes, got 301");
    EXPECT_EQ(
        Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T12:00:00Z",
      "langs":["en","english"]})"),
        "langs[1]: must be a BCP-47 language tag");
    EXPECT_EQ(
        Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T12:00:00Z",
      "facets":[{"index":{"byteStart":-1,"byteEnd":2},"features":[]}]})"),
        "facets[0].index.byteStart: must be at least 0");
    EXPECT_EQ(
        Validate("app.bsky.feed.post", R"({"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T12:00:00Z",
      "embed":{"$type":"app.bsky.embed.images","images":[{"alt":"","image":)" +
                                           Blob("video/mp4", 10) + "}]}}"),
        "embed.images[0].image: blob type video/mp4 is not accepted (accepted: image/*)");
    // A listed union member whose lexicon is not loaded (gallery) is a catalog gap, reported as such.
    auto gap = ValidateRecord(RepoCatalog(), "app.bsky.feed.post",
                              ToValue(R"({"$type":"app.bsky.feed.post","text":"x","createdAt":"2026-01-01T12:00:00Z",
      "embed":{"$type":"app.bsky.embed.gallery","items":[]}})"));
    ASSERT_FALSE(gap);
    EXPECT_EQ(gap.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(gap.error().message, "embed: lexicon app.bsky.embed.gallery#main is not in the catalog");
}

TEST(ReferenceLexicons, TealPlayAndStatus) {
    std::string play = R"({"$type":"fm.teal.feed.play","trackName":"Night Drive","artistNames":["Alice"],
      "artists":[{"artistName":"Alice"}],"duration":215,"releaseName":"Roads","isrc":"USRC17607839",
      "originUri":"https://plyr.fm/track/1","musicServiceUri":"https://plyr.fm","submissionClientAgent":"plyr/0.1",
      "playedTime":"2026-01-01T12:00:00.000Z"})";
    EXPECT_EQ(Validate("fm.teal.feed.play", play), "ok");
    EXPECT_EQ(Validate("fm.teal.feed.play", R"({"$type":"fm.teal.feed.play","trackName":""})"),
              "trackName: must be at least 1 bytes (UTF-8), got 0");
    EXPECT_EQ(Validate("fm.teal.feed.play", R"({"$type":"fm.teal.feed.play","trackName":"x","artists":[{}]})"),
              "artists[0].artistName: required field is missing");
    EXPECT_EQ(Validate("fm.teal.actor.status", R"({"$type":"fm.teal.actor.status","time":"2026-01-01T12:00:00Z",
      "expiry":"2026-01-01T12:10:00Z","item":{"trackName":"Night Drive","artists":[{"artistName":"Alice"}]}})"),
              "ok");
    EXPECT_EQ(Validate("fm.teal.actor.status", R"({"$type":"fm.teal.actor.status","time":"2026-01-01T12:00:00Z",
      "item":{"trackName":"Night Drive"}})"),
              "item.artists: required field is missing");
}

TEST(ReferenceLexicons, StrongRefLabelsAndProfiles) {
    EXPECT_TRUE(ValidateValue(RepoCatalog(), "com.atproto.repo.strongRef", ToValue(StrongRef())));
    EXPECT_EQ(
        ErrorMessage(ValidateValue(RepoCatalog(), "com.atproto.repo.strongRef", ToValue(R"({"uri":"at://x.test"})"))),
        "cid: required field is missing");
    EXPECT_TRUE(ValidateValue(RepoCatalog(), "com.atproto.label.defs#selfLabels",
                              ToValue(R"({"values":[{"val":"porn"},{"val":"custom-thing"}]})")));
    EXPECT_EQ(ErrorMessage(ValidateValue(RepoCatalog(), "com.atproto.label.defs#selfLabels",
                                         ToValue(R"({"values":[{},{},{},{},{},{},{},{},{},{},{}]})"))),
              "values: must have at most 10 items, got 11");
    EXPECT_EQ(Validate("app.bsky.actor.profile", R"({"$type":"app.bsky.actor.profile","displayName":"Alice",
      "description":"makes music","avatar":)" + Blob("image/png", 1000) +
                                                     "}"),
              "ok");
    EXPECT_EQ(Validate("app.bsky.actor.profile",
                       R"({"$type":"app.bsky.actor.profile","avatar":)" + Blob("image/webp", 1000) + "}"),
              "avatar: blob type image/webp is not accepted (accepted: image/png, image/jpeg)");
}

// Records as they arrive from the network: DAG-CBOR decoded, not JSON.
TEST(ReferenceLexicons, RealRecordsDecodedFromDagCbor) {
    // A real Bluesky post (indigo testdata, MIT/Apache-2.0).
    auto post = DecodeDagCbor(
        testing::ReadFile(testing::RepoPath("tests/data/indigo/atproto/atdata/testdata/feedpost_record.cbor")));
    ASSERT_TRUE(post) << post.error().ToString();
    EXPECT_EQ(ErrorMessage(ValidateRecord(RepoCatalog(), "app.bsky.feed.post", *post)), "ok");

    // The project's generated DAG-CBOR records for a post and a teal play.
    auto vectors = testing::ReadJson(testing::RepoPath("tests/data/atproto-generated/vectors.json"));
    int checked = 0;
    for (const auto& c : vectors.at("dag_cbor_records").as_array()) {
        const auto& json = c.at("json").as_object();
        const auto* type = json.if_contains("$type");
        if (type == nullptr || RepoCatalog().Find(type->as_string()) == nullptr) continue;
        auto bytes = core::HexDecode(c.at("cbor_hex").as_string());
        ASSERT_TRUE(bytes);
        auto value = DecodeDagCbor(*bytes);
        ASSERT_TRUE(value) << value.error().ToString();
        std::string nsid(type->as_string());
        EXPECT_EQ(ErrorMessage(ValidateRecord(RepoCatalog(), nsid, *value)), "ok") << nsid;
        ++checked;
    }
    EXPECT_EQ(checked, 2);  // app.bsky.feed.post, fm.teal.feed.play
}

TEST(ReferenceLexicons, ConcurrentValidationAgreesAcrossThreads) {
    const Value track = ToValue(ValidTrack());
    const Value bad = ToValue(R"({"$type":"app.bsky.feed.post","text":")" + std::string(301, 'a') +
                              R"(","createdAt":"2026-01-01T12:00:00Z"})");
    std::vector<std::thread> threads;
    std::vector<int> failures(4, 0);
    for (std::size_t t = 0; t < failures.size(); ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                if (!ValidateRecord(RepoCatalog(), "fm.plyr.track", track)) ++failures[t];
                if (ValidateRecord(RepoCatalog(), "app.bsky.feed.post", bad)) ++failures[t];
            }
        });
    }
    for (auto& thread : threads) thread.join();
    for (int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
}  // namespace plyr::atproto::lexicon
