// Cross-check of plyr's data model (JSON ⇄ Value, DAG-CBOR, CID) with the reference JavaScript libraries
// (@atproto/lex-json strict parse, @atproto/lex-cbor encode/decode/cidForLex): the same JSON gives the same
// bytes and CID on both sides, and bytes made by either side decode on the other and re-encode identically.
// Skipped when the pinned node install is not in the environment (js_bridge.hpp).

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "atproto/data/cbor.hpp"
#include "atproto/data/cid.hpp"
#include "atproto/data/json.hpp"
#include "atproto/data/value.hpp"
#include "core/encoding.hpp"
#include "integration/jscheck/js_bridge.hpp"

namespace plyr::jscheck {
namespace {

namespace json = boost::json;
using atproto::Value;
using core::Base64Decode;
using core::Base64Encode;

// Pieces of UTF-8 the random strings and keys are made of: ASCII, 2-, 3- and 4-byte sequences (their UTF-8
// and UTF-16 lengths differ, which is what canonical key order is sensitive to), NUL, quote, backslash.
const std::vector<std::string> kPieces = {
    "a", "b", "z", "A", "0", "_", "-", " ", "é", "ß", "ж", "中", "🎵", "𝄞", std::string(1, '\0'), "\"", "\\"};
// Head-size boundaries of CBOR integers, within JavaScript's safe-integer range (lex-cbor's domain).
const std::vector<std::int64_t> kInts = {0,
                                         1,
                                         -1,
                                         23,
                                         24,
                                         -24,
                                         -25,
                                         255,
                                         256,
                                         -256,
                                         -257,
                                         65535,
                                         65536,
                                         4294967295,
                                         4294967296,
                                         9007199254740991,
                                         -9007199254740991};

class RecordGen {
  public:
    explicit RecordGen(std::uint64_t seed) : rng_(seed) {}

    // A record in the shapes plyr writes (fm.plyr.track / like / comment) plus random extra fields.
    json::object Record() {
        json::object rec;
        switch (Pick(3)) {
            case 0:
                rec["$type"] = "fm.plyr.track";
                rec["title"] = String(40);
                rec["artist"] = String(20);
                rec["audioUrl"] = "https://plyr.example/audio/" + atproto::CidForRaw(Blob(16)).ToString();
                rec["fileType"] = "mp3";
                rec["duration"] = Int();
                rec["audioBlob"] = BlobJson();
                rec["features"] = json::array{json::object{{"name", String(10)}, {"did", "did:plc:abc"}}};
                break;
            case 1:
                rec["$type"] = "fm.plyr.like";
                rec["subject"] = json::object{{"uri", "at://did:plc:abc/fm.plyr.track/3k" + String(4)},
                                              {"cid", atproto::CidForDagCbor(Blob(16)).ToString()}};
                break;
            default:
                rec["$type"] = "fm.plyr.comment";
                rec["text"] = String(60);
                rec["timestampMs"] = Int();
                break;
        }
        rec["createdAt"] = "2026-11-25T14:00:00.123Z";
        const int extra = Pick(6);
        for (int i = 0; i < extra; ++i) rec[Key()] = Any(1);
        return rec;
    }

  private:
    int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    std::string String(int max_pieces) {
        std::string s;
        const int n = Pick(max_pieces + 1);
        for (int i = 0; i < n; ++i) s += kPieces[static_cast<std::size_t>(Pick(static_cast<int>(kPieces.size())))];
        return s;
    }

    std::string Key() {
        std::string k = String(6);
        if (k == "$link" || k == "$bytes" || k == "$type") k += "x";
        return k;
    }

    std::string Blob(int max_len) {
        std::string b(static_cast<std::size_t>(Pick(max_len + 1)), '\0');
        for (auto& c : b) c = static_cast<char>(Pick(256));
        return b;
    }

    std::int64_t Int() {
        if (Pick(2) == 0) return kInts[static_cast<std::size_t>(Pick(static_cast<int>(kInts.size())))];
        return std::uniform_int_distribution<std::int64_t>(-(std::int64_t{1} << 40), std::int64_t{1} << 40)(rng_);
    }

    json::object BlobJson() {
        return json::object{{"$type", "blob"},
                            {"ref", json::object{{"$link", atproto::CidForRaw(Blob(64)).ToString()}}},
                            {"mimeType", "audio/mpeg"},
                            {"size", Int() & 0x3fffffff}};
    }

    json::value Any(int depth) {
        switch (Pick(depth > 3 ? 7 : 9)) {
            case 0:
                return nullptr;
            case 1:
                return Pick(2) == 0;
            case 2:
                return Int();
            case 3:
                return json::string(String(12));
            case 4:
                return json::object{{"$bytes", atproto::EncodeBytesBase64(Blob(24))}};
            case 5: {
                auto cid = Pick(3) == 0 ? atproto::CidForRaw(Blob(40)) : atproto::CidForDagCbor(Blob(40));
                return json::object{{"$link", cid.ToString()}};
            }
            case 6:
                return BlobJson();
            case 7: {
                json::array a;
                const int n = Pick(5);
                for (int i = 0; i < n; ++i) a.push_back(Any(depth + 1));
                return a;
            }
            default: {
                json::object m;
                const int n = Pick(6);
                for (int i = 0; i < n; ++i) m[Key()] = Any(depth + 1);
                return m;
            }
        }
    }

    std::mt19937_64 rng_;
};

// Fixed records that pin the cases most likely to differ: key order by UTF-8 length ("é" is 2 bytes and sorts
// with "ab", after "z"), empty containers, every integer head size, nested links/bytes/blobs.
const std::vector<std::string> kFixedRecords = {
    R"({"$type":"fm.plyr.track","z":1,"é":2,"ab":3,"a":4,"":5,"🎵":6,"中":7,"aaa":8})",
    R"({"$type":"fm.plyr.like","a":[],"b":{},"c":"","d":{"$bytes":""},"e":null,"f":false,"g":true})",
    R"({"$type":"x.y.z","i":[0,23,24,255,256,65535,65536,4294967295,4294967296,9007199254740991,-1,-24,-25,-256,-257,-65536,-65537,-4294967296,-4294967297,-9007199254740991]})",
    R"({"$type":"fm.plyr.track","audioBlob":{"$type":"blob","ref":{"$link":"bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},"mimeType":"audio/mpeg","size":12345678},"nested":{"deep":[{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"},{"$bytes":"AAECAwQ"}]}})",
};

class CborCrossCheck : public ::testing::Test {
  protected:
    void SetUp() override {
        auto env = FindJsEnv();
        if (!env) GTEST_SKIP() << "TESTNET_NODE / TESTNET_NODE_MODULES not set (scripts/testnet.sh start)";
        env_ = *env;
    }

    // Fixed records plus `count` random ones from `seed`, as JSON text (members in generation order, which is
    // not the canonical order: both sides must sort).
    static std::vector<std::string> Records(std::uint64_t seed, int count) {
        std::vector<std::string> out = kFixedRecords;
        RecordGen gen(seed);
        for (int i = 0; i < count; ++i) out.push_back(json::serialize(gen.Record()));
        return out;
    }

    JsEnv env_;
};

TEST_F(CborCrossCheck, SameJsonGivesSameDagCborBytesAndCidAsLexCbor) {
    const auto records = Records(20261125, 150);
    json::array ops;
    for (const auto& text : records) ops.push_back(json::object{{"op", "lex_encode"}, {"json", text}});
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    for (std::size_t i = 0; i < records.size(); ++i) {
        SCOPED_TRACE("record " + std::to_string(i) + ": " + records[i]);
        const auto& js = (*results)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        auto value = atproto::ValueFromJsonText(records[i]);
        ASSERT_TRUE(value) << value.error().message;
        const std::string cbor = atproto::EncodeDagCbor(*value);
        EXPECT_EQ(Base64Encode(cbor), Str(js, "cbor"));
        EXPECT_EQ(atproto::CidForDagCbor(cbor).ToString(), Str(js, "cid"));
        // The JSON lex-json writes back means the same value to plyr.
        auto back = atproto::ValueFromJsonText(Str(js, "json"));
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_TRUE(*back == *value);
    }
}

TEST_F(CborCrossCheck, PlyrDagCborDecodesInLexCborAndReencodesByteIdentically) {
    const auto records = Records(77, 150);
    std::vector<std::string> encoded;
    json::array ops;
    for (const auto& text : records) {
        auto value = atproto::ValueFromJsonText(text);
        ASSERT_TRUE(value) << text << ": " << value.error().message;
        encoded.push_back(atproto::EncodeDagCbor(*value));
        ops.push_back(json::object{{"op", "lex_decode"}, {"cbor", Base64Encode(encoded.back())}});
    }
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    for (std::size_t i = 0; i < records.size(); ++i) {
        SCOPED_TRACE("record " + std::to_string(i) + ": " + records[i]);
        const auto& js = (*results)[i].as_object();
        ASSERT_FALSE(js.contains("error")) << Str(js, "error");
        EXPECT_EQ(Str(js, "cbor"), Base64Encode(encoded[i]));
        EXPECT_EQ(Str(js, "cid"), atproto::CidForDagCbor(encoded[i]).ToString());
        auto original = atproto::ValueFromJsonText(records[i]);
        auto seen_by_js = atproto::ValueFromJsonText(Str(js, "json"));
        ASSERT_TRUE(seen_by_js) << seen_by_js.error().message;
        EXPECT_TRUE(*seen_by_js == *original);
    }
}

TEST_F(CborCrossCheck, LexCborRecordsDecodeInPlyrAndReencodeByteIdentically) {
    json::array ops{json::object{{"op", "random"}, {"seed", 4242}, {"count", 200}},
                    json::object{{"op", "random"}, {"seed", 7}, {"count", 100}}};
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    std::size_t checked = 0;
    for (const auto& batch : *results) {
        ASSERT_FALSE(batch.as_object().contains("error")) << Str(batch.as_object(), "error");
        for (const auto& item : batch.as_object().at("records").as_array()) {
            const auto& js = item.as_object();
            SCOPED_TRACE("JS record " + Str(js, "json"));
            auto bytes = Base64Decode(Str(js, "cbor"));
            ASSERT_TRUE(bytes.has_value());
            auto decoded = atproto::DecodeDagCbor(*bytes);
            ASSERT_TRUE(decoded) << decoded.error().message;
            EXPECT_EQ(atproto::EncodeDagCbor(*decoded), *bytes);
            EXPECT_EQ(atproto::CidForDagCbor(*bytes).ToString(), Str(js, "cid"));
            // lex-json's JSON of the record parses in plyr to the same value, and plyr's CID of it agrees.
            auto from_json = atproto::ValueFromJsonText(Str(js, "json"));
            ASSERT_TRUE(from_json) << from_json.error().message;
            EXPECT_TRUE(*from_json == *decoded);
            EXPECT_EQ(atproto::CidForDagCbor(atproto::EncodeDagCbor(*from_json)).ToString(), Str(js, "cid"));
            ++checked;
        }
    }
    EXPECT_EQ(checked, 300u);
}

// Non-canonical or non-data-model encodings of one-key maps {"a": …}.
struct BadCbor {
    const char* name;
    const char* hex;
};
// Both strict decoders refuse these.
const std::vector<BadCbor> kBothReject = {
    {"duplicate key", "a2616101616102"},
    {"non-minimal integer", "a161611801"},
    {"non-minimal string length", "a178016101"},
    {"indefinite-length map", "bf616101ff"},
    {"indefinite-length string", "a161617f616161ff"},
    {"tag other than 42", "a16161c11a00000001"},
    {"trailing bytes", "a161610100"},
    {"integer map key", "a10101"},
    {"tag 42 without the 0x00 prefix", "a16161d82a4401711220"},
};
// lex-cbor 0.1.6 accepts these (cborg's options do not check them); the data model forbids them and plyr refuses
// them, which is the safe side of the difference (plyr never accepts a block the reference would re-encode
// differently).
const std::vector<BadCbor> kOnlyPlyrRejects = {
    {"unsorted keys", "a2616202616101"}, {"keys sorted bytewise, not length-first", "a262616101616202"},
    {"half float", "a16161f93c00"},      {"double float", "a16161fb3ff0000000000000"},
    {"undefined", "a16161f7"},           {"integer 2^63", "a161611b8000000000000000"},
    {"invalid UTF-8", "a1616162c328"},
};

TEST_F(CborCrossCheck, NonCanonicalInputIsRefusedByPlyrAndWhereStrictByLexCborToo) {
    json::array ops;
    for (const auto* list : {&kBothReject, &kOnlyPlyrRejects}) {
        for (const auto& bad : *list) {
            ops.push_back(json::object{{"op", "lex_decode_only"}, {"cbor", Base64Encode(*core::HexDecode(bad.hex))}});
        }
    }
    auto results = RunJs(env_, ops);
    ASSERT_TRUE(results) << results.error().message;

    std::size_t i = 0;
    for (const auto& bad : kBothReject) {
        SCOPED_TRACE(bad.name);
        EXPECT_FALSE(atproto::DecodeDagCbor(*core::HexDecode(bad.hex)));
        EXPECT_TRUE((*results)[i++].as_object().contains("error")) << "lex-cbor accepted it";
    }
    for (const auto& bad : kOnlyPlyrRejects) {
        SCOPED_TRACE(bad.name);
        EXPECT_FALSE(atproto::DecodeDagCbor(*core::HexDecode(bad.hex)));
        const auto& js = (*results)[i++].as_object();
        if (js.contains("error")) std::cout << "note: lex-cbor now refuses " << bad.name << " too\n";
    }
}

}  // namespace
}  // namespace plyr::jscheck
