#pragma once
// plyr::atproto::Value — the atproto data model (atproto.md §4.1) as one C++ value type.
//
// Kinds: null, bool, integer (int64), string (UTF-8 bytes as given), bytes, cid-link, array, map, blob ref.
// There are no floats: the data model forbids them. Maps have string keys and keep them in DAG-CBOR
// canonical order (shorter key first, then bytewise), so iteration, JSON output and CBOR output are all
// deterministic and identical for equal values. A blob ref is its own kind (BlobRef) so that validators
// can recognise it; JSON {"$type":"blob",…} and the equivalent CBOR map convert to it (json.hpp, cbor.hpp).
//
// Value is a std::variant underneath: moves are cheap (no deep copy), copies are deep. Accessors come in two
// forms: AsX() returns a pointer or nullptr when the kind differs (use on untrusted data), GetX() asserts the
// kind (use only where the kind is already known). Thread-safety: a plain value; concurrent const access is
// safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "atproto/data/cid.hpp"

namespace plyr::atproto {

// Byte string (CBOR major type 2, JSON {"$bytes": base64}). A distinct type so it never mixes with text.
struct Bytes {
    std::string data;
    friend bool operator==(const Bytes&, const Bytes&) = default;
};

// {"$type":"blob","ref":{"$link":cid},"mimeType":…,"size":…}
struct BlobRef {
    Cid ref;
    std::string mime_type;
    std::int64_t size = 0;
    friend bool operator==(const BlobRef&, const BlobRef&) = default;
};

// DAG-CBOR canonical key order: length first, then bytewise (unsigned) comparison.
struct MapKeyLess {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const {
        if (a.size() != b.size()) return a.size() < b.size();
        return a < b;  // std::char_traits<char>::compare is unsigned-bytewise (memcmp)
    }
};

class Value {
  public:
    enum class Kind { kNull, kBool, kInteger, kString, kBytes, kLink, kArray, kMap, kBlob };
    using Array = std::vector<Value>;
    using Map = std::map<std::string, Value, MapKeyLess>;

    Value() = default;  // null
    Value(std::nullptr_t) {}
    Value(bool b) : v_(b) {}
    template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool> &&
             (std::is_signed_v<T> || sizeof(T) < sizeof(std::int64_t))) Value(T i)
        : v_(static_cast<std::int64_t>(i)) {}
    Value(std::string s) : v_(std::move(s)) {}
    Value(std::string_view s) : v_(std::string(s)) {}
    Value(const char* s) : v_(std::string(s)) {}
    Value(Bytes b) : v_(std::move(b)) {}
    Value(Cid c) : v_(std::move(c)) {}
    Value(Array a) : v_(std::move(a)) {}
    Value(Map m) : v_(std::move(m)) {}
    Value(BlobRef b) : v_(std::move(b)) {}

    Kind kind() const { return static_cast<Kind>(v_.index()); }
    bool IsNull() const { return kind() == Kind::kNull; }
    bool IsBool() const { return kind() == Kind::kBool; }
    bool IsInteger() const { return kind() == Kind::kInteger; }
    bool IsString() const { return kind() == Kind::kString; }
    bool IsBytes() const { return kind() == Kind::kBytes; }
    bool IsLink() const { return kind() == Kind::kLink; }
    bool IsArray() const { return kind() == Kind::kArray; }
    bool IsMap() const { return kind() == Kind::kMap; }
    bool IsBlob() const { return kind() == Kind::kBlob; }

    const bool* AsBool() const { return std::get_if<bool>(&v_); }
    const std::int64_t* AsInteger() const { return std::get_if<std::int64_t>(&v_); }
    const std::string* AsString() const { return std::get_if<std::string>(&v_); }
    const Bytes* AsBytes() const { return std::get_if<Bytes>(&v_); }
    const Cid* AsLink() const { return std::get_if<Cid>(&v_); }
    const Array* AsArray() const { return std::get_if<Array>(&v_); }
    const Map* AsMap() const { return std::get_if<Map>(&v_); }
    const BlobRef* AsBlob() const { return std::get_if<BlobRef>(&v_); }
    Array* AsArray() { return std::get_if<Array>(&v_); }
    Map* AsMap() { return std::get_if<Map>(&v_); }

    // Kind-asserting accessors (std::bad_variant_access on misuse: a programming error).
    bool GetBool() const { return std::get<bool>(v_); }
    std::int64_t GetInteger() const { return std::get<std::int64_t>(v_); }
    const std::string& GetString() const { return std::get<std::string>(v_); }
    const Bytes& GetBytes() const { return std::get<Bytes>(v_); }
    const Cid& GetLink() const { return std::get<Cid>(v_); }
    const Array& GetArray() const { return std::get<Array>(v_); }
    const Map& GetMap() const { return std::get<Map>(v_); }
    const BlobRef& GetBlob() const { return std::get<BlobRef>(v_); }

    // Map lookup; nullptr when this is not a map or the key is absent (absent ≠ null).
    const Value* Find(std::string_view key) const;
    // The record/object type: the string under "$type" of a map, or nullptr.
    const std::string* Type() const;

    friend bool operator==(const Value& a, const Value& b);

  private:
    // Order must match Kind.
    std::variant<std::monostate, bool, std::int64_t, std::string, Bytes, Cid, Array, Map, BlobRef> v_;
};

std::string_view KindName(Value::Kind kind);

}  // namespace plyr::atproto
