#include "atproto/data/value.hpp"

namespace plyr::atproto {

const Value* Value::Find(std::string_view key) const {
    const Map* map = AsMap();
    if (map == nullptr) return nullptr;
    auto it = map->find(key);
    return it == map->end() ? nullptr : &it->second;
}

const std::string* Value::Type() const {
    const Value* type = Find("$type");
    return type == nullptr ? nullptr : type->AsString();
}

bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

std::string_view KindName(Value::Kind kind) {
    switch (kind) {
        case Value::Kind::kNull:
            return "null";
        case Value::Kind::kBool:
            return "boolean";
        case Value::Kind::kInteger:
            return "integer";
        case Value::Kind::kString:
            return "string";
        case Value::Kind::kBytes:
            return "bytes";
        case Value::Kind::kLink:
            return "cid-link";
        case Value::Kind::kArray:
            return "array";
        case Value::Kind::kMap:
            return "object";
        case Value::Kind::kBlob:
            return "blob";
    }
    return "unknown";
}

}  // namespace plyr::atproto
