#include "atproto/data/car.hpp"

#include <gtest/gtest.h>

#include "core/encoding.hpp"

namespace plyr::atproto {
namespace {

struct Built {
    std::vector<Cid> roots;
    std::map<Cid, std::string> blocks;
    std::string car;
};

Built BuildCar() {
    Built b;
    std::string record = EncodeDagCbor(Value(Value::Map{{"$type", Value("fm.plyr.track")}, {"title", Value("t")}}));
    Cid record_cid = CidForDagCbor(record);
    std::string commit = EncodeDagCbor(Value(Value::Map{{"data", Value(record_cid)}, {"version", Value(3)}}));
    Cid commit_cid = CidForDagCbor(commit);
    std::string blob = "raw audio bytes";
    b.roots = {commit_cid};
    b.blocks = {{commit_cid, commit}, {record_cid, record}, {CidForRaw(blob), blob}};
    b.car = WriteCar(b.roots, b.blocks);
    return b;
}

// Hand-assembles a CAR: header {roots, version} then the given sections (cid bytes ‖ data).
std::string AssembleCar(const Value& header, const std::vector<std::pair<std::string, std::string>>& sections) {
    std::string out;
    std::string h = EncodeDagCbor(header);
    AppendVarint(out, h.size());
    out += h;
    for (const auto& [cid, data] : sections) {
        AppendVarint(out, cid.size() + data.size());
        out += cid;
        out += data;
    }
    return out;
}

Value Header(const Cid& root) {
    return Value(Value::Map{{"roots", Value(Value::Array{Value(root)})}, {"version", Value(1)}});
}

TEST(Car, RoundTripsRootsAndBlocks) {
    Built b = BuildCar();
    auto car = ReadCar(b.car);
    ASSERT_TRUE(car) << car.error().ToString();
    EXPECT_EQ(car->roots, b.roots);
    EXPECT_EQ(car->blocks, b.blocks);
    EXPECT_EQ(WriteCar(car->roots, car->blocks), b.car);
}

TEST(Car, ReaderStreamsBlocksThenEnds) {
    Built b = BuildCar();
    auto reader = CarReader::Open(b.car);
    ASSERT_TRUE(reader);
    std::size_t count = 0;
    while (true) {
        auto block = reader->Next();
        ASSERT_TRUE(block) << block.error().ToString();
        if (!block->has_value()) break;
        EXPECT_EQ(b.blocks.at((*block)->cid), (*block)->data);
        ++count;
    }
    EXPECT_EQ(count, 3u);
}

TEST(Car, DuplicateBlocksCollapse) {
    std::string block = EncodeDagCbor(Value(1));
    Cid cid = CidForDagCbor(block);
    auto car = ReadCar(AssembleCar(Header(cid), {{cid.Bytes(), block}, {cid.Bytes(), block}}));
    ASSERT_TRUE(car);
    EXPECT_EQ(car->blocks.size(), 1u);
}

TEST(Car, RejectsBlockWhoseHashDoesNotMatch) {
    std::string block = EncodeDagCbor(Value(1));
    Cid cid = CidForDagCbor(block);
    auto car = ReadCar(AssembleCar(Header(cid), {{cid.Bytes(), EncodeDagCbor(Value(2))}}));
    ASSERT_FALSE(car);
    EXPECT_EQ(car.error().code, ErrorCode::kInvalidArgument);
}

TEST(Car, RejectsUnsupportedHash) {
    Cid cid = CidForDagCbor("x");
    cid.hash_code = 0x13;  // sha2-512 code, wrong length: we cannot verify it
    auto car = ReadCar(AssembleCar(Header(CidForDagCbor("x")), {{cid.Bytes(), "x"}}));
    ASSERT_FALSE(car);
    EXPECT_EQ(car.error().code, ErrorCode::kUnsupported);
}

TEST(Car, RejectsBadHeaders) {
    Cid cid = CidForDagCbor("x");
    EXPECT_FALSE(
        ReadCar(AssembleCar(Value(Value::Map{{"roots", Value(Value::Array{Value(cid)})}, {"version", Value(2)}}), {})));
    EXPECT_FALSE(ReadCar(AssembleCar(Value(Value::Map{{"version", Value(1)}}), {})));
    EXPECT_FALSE(
        ReadCar(AssembleCar(Value(Value::Map{{"roots", Value(Value::Array{Value("x")})}, {"version", Value(1)}}), {})));
    EXPECT_FALSE(ReadCar(AssembleCar(Value(Value::Array{}), {})));
    EXPECT_FALSE(ReadCar(""));
    EXPECT_FALSE(ReadCar("\x05\xa0"));  // header length beyond input
}

TEST(Car, RejectsTruncatedSections) {
    Built b = BuildCar();
    for (std::size_t cut = 1; cut < 40; ++cut) {
        EXPECT_FALSE(ReadCar(std::string_view(b.car).substr(0, b.car.size() - cut))) << cut;
    }
}

TEST(Car, EnforcesBlockSizeAndCountLimits) {
    Built b = BuildCar();
    auto too_many = ReadCar(b.car, CarLimits{.max_blocks = 2});
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().code, ErrorCode::kTooLarge);
    auto too_big = ReadCar(b.car, CarLimits{.max_block_bytes = 10});
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().code, ErrorCode::kTooLarge);
    auto header_big = ReadCar(b.car, CarLimits{.max_header_bytes = 4});
    ASSERT_FALSE(header_big);
    EXPECT_EQ(header_big.error().code, ErrorCode::kTooLarge);
}

TEST(Car, EmptyRootsAndNoBlocksIsValid) {
    auto car = ReadCar(AssembleCar(Value(Value::Map{{"roots", Value(Value::Array{})}, {"version", Value(1)}}), {}));
    ASSERT_TRUE(car);
    EXPECT_TRUE(car->roots.empty());
    EXPECT_TRUE(car->blocks.empty());
}

}  // namespace
}  // namespace plyr::atproto
