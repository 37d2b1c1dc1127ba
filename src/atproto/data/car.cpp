#include "atproto/data/car.hpp"

namespace plyr::atproto {

Result<CarReader> CarReader::Open(std::string_view bytes, const CarLimits& limits) {
    CarReader reader(bytes, limits);
    std::size_t n = 0;
    auto length = ReadVarint(bytes, n);
    if (!length) return Fail(ErrorCode::kInvalidArgument, "malformed CAR header length", length.error().message);
    if (*length > limits.max_header_bytes) return Fail(ErrorCode::kTooLarge, "CAR header too large");
    if (*length > bytes.size() - n) return Fail(ErrorCode::kInvalidArgument, "truncated CAR header");
    auto header = DecodeDagCbor(bytes.substr(n, *length));
    if (!header) return Fail(ErrorCode::kInvalidArgument, "malformed CAR header", header.error().message);
    const Value* version = header->Find("version");
    if (version == nullptr || version->AsInteger() == nullptr || *version->AsInteger() != 1) {
        return Fail(ErrorCode::kInvalidArgument, "CAR header version must be 1");
    }
    const Value* roots = header->Find("roots");
    if (roots == nullptr || !roots->IsArray()) return Fail(ErrorCode::kInvalidArgument, "CAR header needs roots");
    for (const auto& root : roots->GetArray()) {
        if (!root.IsLink()) return Fail(ErrorCode::kInvalidArgument, "CAR roots must be cid-links");
        reader.roots_.push_back(root.GetLink());
    }
    reader.pos_ = n + *length;
    return reader;
}

Result<std::optional<CarBlock>> CarReader::Next() {
    if (pos_ == in_.size()) return std::optional<CarBlock>();
    if (blocks_read_ >= limits_.max_blocks) return Fail(ErrorCode::kTooLarge, "too many CAR blocks");
    std::string_view rest = in_.substr(pos_);
    std::size_t n = 0;
    auto length = ReadVarint(rest, n);
    if (!length) return Fail(ErrorCode::kInvalidArgument, "malformed CAR section length", length.error().message);
    if (*length > rest.size() - n) return Fail(ErrorCode::kInvalidArgument, "truncated CAR section");
    std::string_view section = rest.substr(n, *length);
    std::size_t cid_length = 0;
    auto cid = CidFromBytesPrefix(section, cid_length);
    if (!cid) return Fail(ErrorCode::kInvalidArgument, "malformed CID in CAR section", cid.error().message);
    std::string_view data = section.substr(cid_length);
    if (data.size() > limits_.max_block_bytes) return Fail(ErrorCode::kTooLarge, "CAR block too large");
    auto verified = VerifyCidMatches(*cid, data);
    if (!verified) return Fail(verified.error());
    pos_ += n + *length;
    ++blocks_read_;
    return std::optional<CarBlock>(CarBlock{std::move(*cid), data});
}

Result<Car> ReadCar(std::string_view bytes, const CarLimits& limits) {
    auto reader = CarReader::Open(bytes, limits);
    if (!reader) return Fail(reader.error());
    Car car;
    car.roots = reader->roots();
    while (true) {
        auto block = reader->Next();
        if (!block) return Fail(block.error());
        if (!block->has_value()) break;
        car.blocks.emplace((*block)->cid, std::string((*block)->data));
    }
    return car;
}

std::string WriteCar(const std::vector<Cid>& roots, const std::map<Cid, std::string>& blocks) {
    Value::Array root_links(roots.begin(), roots.end());
    std::string header = EncodeDagCbor(Value(Value::Map{{"roots", Value(std::move(root_links))}, {"version", 1}}));
    std::string out;
    AppendVarint(out, header.size());
    out += header;
    for (const auto& [cid, data] : blocks) {
        std::string cid_bytes = cid.Bytes();
        AppendVarint(out, cid_bytes.size() + data.size());
        out += cid_bytes;
        out += data;
    }
    return out;
}

}  // namespace plyr::atproto
