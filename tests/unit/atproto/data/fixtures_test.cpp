// Interop vectors (atproto-interop/data-model), project vectors (atproto-generated/vectors.json) and the real
// indigo post record: JSON → Value → DAG-CBOR → CID byte-for-byte, and back; a repo CAR recorded from the reference
// PDS.
#include <gtest/gtest.h>

#include "atproto/data/car.hpp"
#include "atproto/data/cbor.hpp"
#include "atproto/data/json.hpp"
#include "core/encoding.hpp"
#include "test_data.hpp"

namespace plyr::atproto {
namespace {

namespace json = boost::json;
using testing::ReadFileBytes;
using testing::ReadJson;

std::string Base64Any(std::string_view text) {
    auto bytes = DecodeBytesBase64(text);
    EXPECT_TRUE(bytes) << text;
    return bytes ? *bytes : std::string();
}

TEST(DataModelFixtures, JsonEncodesToFixtureCborAndCid) {
    auto fixtures = ReadJson("atproto-interop/data-model/data-model-fixtures.json").as_array();
    ASSERT_EQ(fixtures.size(), 3u);
    for (const auto& fixture : fixtures) {
        const auto& obj = fixture.as_object();
        auto value = ValueFromJson(obj.at("json"));
        ASSERT_TRUE(value) << value.error().ToString();
        std::string cbor = EncodeDagCbor(*value);
        EXPECT_EQ(core::HexEncode(cbor), core::HexEncode(Base64Any(obj.at("cbor_base64").as_string())));
        EXPECT_EQ(CidForDagCbor(cbor).ToString(), obj.at("cid").as_string());
    }
}

TEST(DataModelFixtures, CborDecodesBackToFixtureJson) {
    auto fixtures = ReadJson("atproto-interop/data-model/data-model-fixtures.json").as_array();
    for (const auto& fixture : fixtures) {
        const auto& obj = fixture.as_object();
        auto decoded = DecodeDagCbor(Base64Any(obj.at("cbor_base64").as_string()));
        ASSERT_TRUE(decoded) << decoded.error().ToString();
        // Object key order differs (canonical vs. fixture), so compare as JSON values, which ignore order.
        EXPECT_EQ(ValueToJson(*decoded), obj.at("json")) << ValueToJsonText(*decoded);
        auto from_json = ValueFromJson(obj.at("json"));
        ASSERT_TRUE(from_json);
        EXPECT_EQ(*decoded, *from_json);
    }
}

TEST(DataModelFixtures, ValidJsonIsAccepted) {
    auto fixtures = ReadJson("atproto-interop/data-model/data-model-valid.json").as_array();
    ASSERT_EQ(fixtures.size(), 5u);
    for (const auto& fixture : fixtures) {
        const auto& obj = fixture.as_object();
        auto value = ValueFromJson(obj.at("json"));
        EXPECT_TRUE(value && value->IsMap()) << obj.at("note").as_string();
        if (value) {
            auto round = DecodeDagCbor(EncodeDagCbor(*value));
            ASSERT_TRUE(round);
            EXPECT_EQ(*round, *value);
        }
    }
}

TEST(DataModelFixtures, IntegerLikeFloatBecomesInteger) {
    auto value = ValueFromJsonText(R"({"a": 123.0})");
    ASSERT_TRUE(value);
    ASSERT_NE(value->Find("a"), nullptr);
    EXPECT_EQ(value->Find("a")->GetInteger(), 123);
}

TEST(DataModelFixtures, InvalidJsonIsRejected) {
    auto fixtures = ReadJson("atproto-interop/data-model/data-model-invalid.json").as_array();
    ASSERT_EQ(fixtures.size(), 12u);
    for (const auto& fixture : fixtures) {
        const auto& obj = fixture.as_object();
        auto value = ValueFromJson(obj.at("json"));
        // The interop harnesses require a top-level object ("top-level not an object").
        bool accepted = value && value->IsMap();
        EXPECT_FALSE(accepted) << obj.at("note").as_string();
    }
}

TEST(GeneratedVectors, DagCborRecordsMatchBytesAndCid) {
    auto vectors = ReadJson("atproto-generated/vectors.json").as_object();
    const auto& records = vectors.at("dag_cbor_records").as_array();
    ASSERT_EQ(records.size(), 5u);
    for (const auto& record : records) {
        const auto& obj = record.as_object();
        SCOPED_TRACE(std::string(obj.at("name").as_string()));
        auto value = ValueFromJson(obj.at("json"));
        ASSERT_TRUE(value) << value.error().ToString();
        std::string cbor = EncodeDagCbor(*value);
        EXPECT_EQ(core::HexEncode(cbor), obj.at("cbor_hex").as_string());
        EXPECT_EQ(CidForDagCbor(cbor).ToString(), obj.at("cid").as_string());
        auto decoded = DecodeDagCbor(cbor);
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, *value);
    }
}

TEST(GeneratedVectors, BlobCidsMatch) {
    auto vectors = ReadJson("atproto-generated/vectors.json").as_object();
    const auto& blobs = vectors.at("blob_cids").as_array();
    ASSERT_EQ(blobs.size(), 2u);
    for (const auto& blob : blobs) {
        const auto& obj = blob.as_object();
        EXPECT_EQ(CidForRaw(obj.at("bytes_utf8").as_string()).ToString(), obj.at("cid").as_string());
    }
}

TEST(GeneratedVectors, LabelsEncodeToExpectedCborAndHash) {
    auto vectors = ReadJson("atproto-generated/vectors.json").as_object();
    const auto& labels = vectors.at("label_signing").as_object();
    auto label = ValueFromJson(labels.at("unsigned_label"));
    ASSERT_TRUE(label);
    std::string cbor = EncodeDagCbor(*label);
    EXPECT_EQ(core::HexEncode(cbor), labels.at("unsigned_label_cbor_hex").as_string());
    EXPECT_EQ(core::Sha256Hex(cbor), labels.at("sha256_hex").as_string());

    auto negation = ValueFromJson(labels.at("negation_label_unsigned"));
    ASSERT_TRUE(negation);
    EXPECT_EQ(core::HexEncode(EncodeDagCbor(*negation)), labels.at("negation_label_cbor_hex").as_string());

    auto sig = ValueFromJson(labels.at("signature_json_bytes"));
    ASSERT_TRUE(sig);
    ASSERT_TRUE(sig->IsBytes());
    EXPECT_EQ(sig->GetBytes().data, Base64Any(labels.at("signature_base64").as_string()));
}

TEST(GeneratedVectors, RealPostRecordRoundTripsByteForByte) {
    auto vectors = ReadJson("atproto-generated/vectors.json").as_object();
    const auto& expected = vectors.at("real_record_roundtrip").as_object();
    std::string original = ReadFileBytes("indigo/atproto/atdata/testdata/feedpost_record.cbor");
    ASSERT_EQ(original.size(), static_cast<std::size_t>(expected.at("byte_length").as_int64()));
    auto decoded = DecodeDagCbor(original);
    ASSERT_TRUE(decoded) << decoded.error().ToString();
    ASSERT_NE(decoded->Type(), nullptr);
    EXPECT_EQ(*decoded->Type(), "app.bsky.feed.post");
    EXPECT_EQ(EncodeDagCbor(*decoded), original);
    EXPECT_EQ(CidForDagCbor(original).ToString(), expected.at("cid").as_string());
    // Through JSON and back: same bytes again.
    auto via_json = ValueFromJsonText(ValueToJsonText(*decoded));
    ASSERT_TRUE(via_json) << via_json.error().ToString();
    EXPECT_EQ(EncodeDagCbor(*via_json), original);
}

TEST(TestnetRepoCar, EveryBlockVerifiesDecodesStrictlyAndReencodesIdentically) {
    std::string bytes = ReadFileBytes("atproto-testnet/repo.car");
    ASSERT_FALSE(bytes.empty());
    auto car = ReadCar(bytes);
    ASSERT_TRUE(car) << car.error().ToString();
    ASSERT_EQ(car->roots.size(), 1u);
    std::size_t dag_cbor_blocks = 0;
    for (const auto& [cid, block] : car->blocks) {
        EXPECT_TRUE(cid.IsBlessed()) << cid.ToString();
        if (cid.codec != kCodecDagCbor) continue;
        auto value = DecodeDagCbor(block);
        ASSERT_TRUE(value) << cid.ToString() << ": " << value.error().ToString();
        EXPECT_EQ(EncodeDagCbor(*value), block) << cid.ToString();
        ++dag_cbor_blocks;
    }
    // Commit + MST node(s) + three records.
    EXPECT_GE(dag_cbor_blocks, 5u);
}

TEST(TestnetRepoCar, CommitPointsAtTheRepoOfTheRecordedDid) {
    auto expected = ReadJson("atproto-testnet/repo.json").as_object();
    auto car = ReadCar(ReadFileBytes("atproto-testnet/repo.car"));
    ASSERT_TRUE(car);
    auto commit = DecodeDagCbor(car->blocks.at(car->roots.at(0)));
    ASSERT_TRUE(commit);
    ASSERT_NE(commit->Find("did"), nullptr);
    EXPECT_EQ(commit->Find("did")->GetString(), expected.at("did").as_string());
    EXPECT_EQ(commit->Find("version")->GetInteger(), 3);
    ASSERT_TRUE(commit->Find("data")->IsLink());
    EXPECT_TRUE(car->blocks.contains(commit->Find("data")->GetLink()));
    ASSERT_TRUE(commit->Find("sig")->IsBytes());
    EXPECT_EQ(commit->Find("sig")->GetBytes().data.size(), 64u);
}

TEST(TestnetRepoCar, RecordCidsComputedFromJsonEqualThePdsAndTheCarBlocks) {
    auto expected = ReadJson("atproto-testnet/repo.json").as_object();
    auto car = ReadCar(ReadFileBytes("atproto-testnet/repo.car"));
    ASSERT_TRUE(car);
    const auto& records = expected.at("records").as_array();
    ASSERT_EQ(records.size(), 3u);
    for (const auto& entry : records) {
        const auto& obj = entry.as_object();
        SCOPED_TRACE(std::string(obj.at("uri").as_string()));
        auto value = ValueFromJson(obj.at("record"));
        ASSERT_TRUE(value) << value.error().ToString();
        Cid cid = CidForDagCbor(EncodeDagCbor(*value));
        EXPECT_EQ(cid.ToString(), obj.at("cid").as_string());
        auto block = car->blocks.find(cid);
        ASSERT_NE(block, car->blocks.end());
        auto decoded = DecodeDagCbor(block->second);
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, *value);
    }
    auto blob = ValueFromJson(expected.at("blob"));
    ASSERT_TRUE(blob && blob->IsBlob());
    auto first = ValueFromJson(records.at(0).as_object().at("record"));
    ASSERT_TRUE(first);
    ASSERT_NE(first->Find("audioBlob"), nullptr);
    EXPECT_EQ(*first->Find("audioBlob"), *blob);
    EXPECT_EQ(blob->GetBlob().ref.codec, kCodecRaw);
}

}  // namespace
}  // namespace plyr::atproto
