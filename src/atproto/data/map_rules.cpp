#include "atproto/data/map_rules.hpp"

namespace plyr::atproto::detail {

Result<Value> FinishMap(Value::Map&& map) {
    if (map.contains("$link") || map.contains("$bytes")) {
        return Fail(ErrorCode::kInvalidArgument, "$link/$bytes objects must have exactly one key");
    }
    auto type = map.find("$type");
    if (type == map.end()) return Value(std::move(map));
    const std::string* type_name = type->second.AsString();
    if (type_name == nullptr || type_name->empty()) {
        return Fail(ErrorCode::kInvalidArgument, "$type must be a non-empty string");
    }
    if (*type_name != "blob") return Value(std::move(map));

    const Value* ref = map.contains("ref") ? &map.at("ref") : nullptr;
    const Value* mime = map.contains("mimeType") ? &map.at("mimeType") : nullptr;
    const Value* size = map.contains("size") ? &map.at("size") : nullptr;
    if (map.size() != 4 || ref == nullptr || mime == nullptr || size == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, "blob must have exactly $type, ref, mimeType and size");
    }
    if (!ref->IsLink()) return Fail(ErrorCode::kInvalidArgument, "blob ref must be a cid-link");
    if (mime->AsString() == nullptr || mime->AsString()->empty()) {
        return Fail(ErrorCode::kInvalidArgument, "blob mimeType must be a non-empty string");
    }
    // Size 0 is tolerated on read (atproto.md §4.1); negative sizes are meaningless.
    if (size->AsInteger() == nullptr || *size->AsInteger() < 0) {
        return Fail(ErrorCode::kInvalidArgument, "blob size must be a non-negative integer");
    }
    return Value(BlobRef{ref->GetLink(), mime->GetString(), size->GetInteger()});
}

}  // namespace plyr::atproto::detail
