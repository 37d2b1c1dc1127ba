// Cross-check of plyr's lexicon validator (atproto/lexicon) with the reference @atproto/lexicon
// (Lexicons.assertValidRecord): the same lexicons (the repo's lexicons/ folder) and the same records give the
// same verdict. Records: plyr's own record types, valid ones and one mutation per rule their schemas use
// (required, string byte and grapheme limits, formats, integer bounds, array length, refs, unions, blob accept
// and maxSize, $type). Skipped when the pinned node install is not in the environment (js_bridge.hpp).

#include <gtest/gtest.h>

#include <iostream>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"
#include "integration/jscheck/js_bridge.hpp"

namespace plyr::jscheck {
namespace {

namespace json = boost::json;

struct Case {
    std::string nsid;
    std::string json;
    bool valid;  // what the schema says; both implementations must agree with it
    // Set where @atproto/lexicon is lenient by design and accepts what the schema/spec refuses (plyr refuses):
    // the reason, printed as a note; JS's verdict is then not asserted.
    const char* js_lenient = nullptr;
};

std::string Repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

const std::string kBlobRef = R"({"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"})";
const std::string kStrongRef =
    R"({"uri":"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/fm.plyr.track/3jwdwj2ctlk26","cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"})";
const std::string kNow = R"("createdAt":"2026-11-25T14:00:00.000Z")";

std::vector<Case> Cases() {
    auto track = [](const std::string& fields) {
        return Case{"fm.plyr.track", R"({"$type":"fm.plyr.track",)" + fields + "}", true};
    };
    const std::string base = R"("title":"Night Drive","artist":"Tape Loop","fileType":"mp3",)" + kNow;
    auto invalid = [](Case c) {
        c.valid = false;
        return c;
    };
    auto lenient = [](Case c, const char* why) {
        c.js_lenient = why;
        return c;
    };
    const std::string e_acute = "e\xcc\x81";  // e + combining acute: one grapheme, 3 bytes
    return {
        track(base),
        track(
            base +
            R"(,"duration":0,"album":"","audioUrl":"https://plyr.example/a.mp3","features":[{"did":"did:plc:abc","handle":"bob.test"}],"audioBlob":{"$type":"blob","ref":)" +
            kBlobRef +
            R"(,"mimeType":"audio/mpeg","size":1000},"labels":{"$type":"com.atproto.label.defs#selfLabels","values":[{"val":"nudity"}]},"supportGate":{"type":"any"},"somethingNew":1)"),
        track(R"("title":")" + Repeat("x", 256) + R"(","artist":"a","fileType":"mp3",)" + kNow),
        invalid(track(R"("title":")" + Repeat("x", 257) + R"(","artist":"a","fileType":"mp3",)" + kNow)),
        // maxLength counts UTF-8 bytes: 129 × "é" is 258 bytes.
        invalid(track(R"("title":")" + Repeat("é", 129) + R"(","artist":"a","fileType":"mp3",)" + kNow)),
        track(R"("title":")" + Repeat("é", 128) + R"(","artist":"a","fileType":"mp3",)" + kNow),
        invalid(track(R"("title":"","artist":"a","fileType":"mp3",)" + kNow)),
        invalid(track(R"("artist":"a","fileType":"mp3",)" + kNow)),
        invalid(track(R"("title":7,"artist":"a","fileType":"mp3",)" + kNow)),
        invalid(track(base + R"(,"duration":-1)")),
        invalid(track(base + R"(,"duration":"60")")),
        invalid(track(R"("title":"t","artist":"a","fileType":"mp3","createdAt":"2026-11-25")")),
        lenient(invalid(track(R"("title":"t","artist":"a","fileType":"mp3","createdAt":"2026-11-25T14:00:00")")),
                "datetime without timezone (JS validates datetime with isDatetimeStringLenient)"),
        invalid(track(base + R"(,"audioUrl":"not a uri")")),
        invalid(track(base + R"(,"features":[{"did":"plc:abc"}])")),
        invalid(track(base + R"(,"features":[{"handle":"bob.test"}])")),
        invalid(
            track(base + R"(,"features":[)" + Repeat(R"({"did":"did:plc:abc"},)", 10) + R"({"did":"did:plc:abc"}])")),
        track(base + R"(,"features":[)" + Repeat(R"({"did":"did:plc:abc"},)", 9) + R"({"did":"did:plc:abc"}])"),
        lenient(invalid(track(base + R"(,"audioBlob":{"$type":"blob","ref":)" + kBlobRef +
                              R"(,"mimeType":"image/png","size":1000})")),
                "blob mimeType outside accept (JS's blob validator only checks the BlobRef shape)"),
        lenient(invalid(track(base + R"(,"audioBlob":{"$type":"blob","ref":)" + kBlobRef +
                              R"(,"mimeType":"audio/mpeg","size":104857601})")),
                "blob size over maxSize (JS's blob validator only checks the BlobRef shape)"),
        track(base + R"(,"audioBlob":{"$type":"blob","ref":)" + kBlobRef +
              R"(,"mimeType":"audio/flac","size":104857600})"),
        invalid(track(base + R"(,"audioBlob":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy")")),
        invalid(track(base + R"(,"labels":{"values":[{"val":"nudity"}]})")),
        invalid(track(base + R"(,"supportGate":{})")),
        invalid(Case{"fm.plyr.track", R"({"$type":"fm.plyr.like",)" + base + "}", true}),

        Case{"fm.plyr.like", R"({"$type":"fm.plyr.like","subject":)" + kStrongRef + "," + kNow + "}", true},
        invalid(Case{"fm.plyr.like", R"({"$type":"fm.plyr.like",)" + kNow + "}", true}),
        invalid(Case{
            "fm.plyr.like",
            R"({"$type":"fm.plyr.like","subject":{"uri":"at://did:plc:abc/fm.plyr.track/3jwdwj2ctlk26"},)" + kNow + "}",
            true}),
        invalid(Case{
            "fm.plyr.like",
            R"({"$type":"fm.plyr.like","subject":{"uri":"https://example.com/x","cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},)" +
                kNow + "}",
            true}),
        invalid(Case{
            "fm.plyr.like",
            R"({"$type":"fm.plyr.like","subject":{"uri":"at://did:plc:abc/fm.plyr.track/3jwdwj2ctlk26","cid":"not-a-cid"},)" +
                kNow + "}",
            true}),

        Case{"fm.plyr.comment",
             R"({"$type":"fm.plyr.comment","subject":)" + kStrongRef + R"(,"text":"nice drop 🎵","timestampMs":61000,)" +
                 kNow + "}",
             true},
        invalid(Case{
            "fm.plyr.comment",
            R"({"$type":"fm.plyr.comment","subject":)" + kStrongRef + R"(,"text":"","timestampMs":0,)" + kNow + "}",
            true}),
        invalid(Case{
            "fm.plyr.comment",
            R"({"$type":"fm.plyr.comment","subject":)" + kStrongRef + R"(,"text":"x","timestampMs":-1,)" + kNow + "}",
            true}),
        invalid(Case{"fm.plyr.comment",
                     R"({"$type":"fm.plyr.comment","subject":)" + kStrongRef + R"(,"text":")" + Repeat("x", 1001) +
                         R"(","timestampMs":0,)" + kNow + "}",
                     true}),

        // maxGraphemes 64 (and maxLength 256 bytes): 64 decomposed é = 192 bytes is fine, 65 is not.
        Case{"fm.plyr.list",
             R"({"$type":"fm.plyr.list","name":")" + Repeat(e_acute, 64) +
                 R"(","listType":"mixtape","items":[{"subject":)" + kStrongRef + "}]," + kNow + "}",
             true},
        invalid(Case{"fm.plyr.list",
                     R"({"$type":"fm.plyr.list","name":")" + Repeat(e_acute, 65) + R"(","items":[],)" + kNow + "}",
                     true}),
        invalid(Case{
            "fm.plyr.list",
            R"({"$type":"fm.plyr.list","items":[{"subject":{"uri":"at://did:plc:abc/x.y.z/1"}}],)" + kNow + "}", true}),
        invalid(Case{"fm.plyr.list", R"({"$type":"fm.plyr.list",)" + kNow + "}", true}),

        Case{"fm.plyr.actor.profile",
             R"({"$type":"fm.plyr.actor.profile","bio":")" + Repeat("b", 256) + R"(",)" + kNow + "}", true},
        invalid(Case{"fm.plyr.actor.profile",
                     R"({"$type":"fm.plyr.actor.profile","bio":")" + Repeat("b", 257) + R"(",)" + kNow + "}", true}),
        invalid(Case{"fm.plyr.actor.profile", R"({"$type":"fm.plyr.actor.profile","bio":"hi"})", true}),
    };
}

class LexiconCrossCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        auto env = FindJsEnv();
        if (!env) GTEST_SKIP() << "TESTNET_NODE / TESTNET_NODE_MODULES not set (scripts/testnet.sh start)";
        env_ = *env;
    }

    JsEnv env_;
};

TEST_F(LexiconCrossCheck, PlyrAndAtprotoLexiconGiveTheSameVerdicts) {
    const std::string lexicon_dir = std::string(PLYR_SOURCE_DIR) + "/lexicons";
    auto catalog = atproto::lexicon::LoadCatalog(lexicon_dir);
    ASSERT_TRUE(catalog) << catalog.error().message;
    const auto cases = Cases();
    json::array ops;
    for (const auto& c : cases) {
        ops.push_back(
            json::object{{"op", "lex_validate"}, {"lexicon_dir", lexicon_dir}, {"nsid", c.nsid}, {"json", c.json}});
    }
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    // Every lexicon file loaded on the JS side too (a skipped one would turn its refs into failures).
    ASSERT_FALSE((*results)[0].as_object().contains("error"));
    EXPECT_TRUE((*results)[0].as_object().at("skipped").as_array().empty())
        << json::serialize((*results)[0].as_object().at("skipped"));

    int valid = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& c = cases[i];
        SCOPED_TRACE("case " + std::to_string(i) + " " + c.nsid + " " + c.json.substr(0, 300));
        const auto& js = (*results)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        ASSERT_TRUE(js.at("valid").is_bool());
        auto plyr = atproto::lexicon::ValidateRecordJson(*catalog, c.nsid, c.json);
        EXPECT_EQ(plyr.has_value(), c.valid) << (plyr ? std::string("plyr: valid") : "plyr: " + plyr.error().message);
        if (c.js_lenient == nullptr) {
            EXPECT_EQ(js.at("valid").as_bool(), c.valid) << "@atproto/lexicon: " << Str(js, "message");
        } else if (js.at("valid").as_bool() == c.valid) {
            std::cout << "note: @atproto/lexicon now agrees on: " << c.js_lenient << "\n";
        }
        if (!plyr) {
            EXPECT_EQ(plyr.error().code, ErrorCode::kInvalidArgument) << plyr.error().message;
        }
        valid += c.valid ? 1 : 0;
    }
    EXPECT_GT(valid, 5);
    EXPECT_GT(static_cast<int>(cases.size()) - valid, 20);
}

}  // namespace
}  // namespace plyr::jscheck
