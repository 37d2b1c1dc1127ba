#include "atproto/data/json.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "atproto/data/map_rules.hpp"
#include "core/encoding.hpp"

namespace plyr::atproto {
namespace {

namespace json = boost::json;

// Integer-valued doubles are only exact up to 2^53; beyond that "123.0"-style input may already be rounded.
constexpr double kMaxExactDouble = 9007199254740992.0;

Result<Value> Convert(const json::value& in, std::size_t depth, const JsonLimits& limits) {
    if (depth > limits.max_depth) return Fail(ErrorCode::kTooLarge, "JSON nesting too deep");
    switch (in.kind()) {
        case json::kind::null:
            return Value();
        case json::kind::bool_:
            return Value(in.get_bool());
        case json::kind::int64:
            return Value(in.get_int64());
        case json::kind::uint64:
            // Boost.JSON only uses uint64 for values above INT64_MAX.
            return Fail(ErrorCode::kInvalidArgument, "integer out of int64 range");
        case json::kind::double_: {
            double d = in.get_double();
            if (!std::isfinite(d) || std::trunc(d) != d || std::fabs(d) > kMaxExactDouble) {
                return Fail(ErrorCode::kInvalidArgument, "floats are not allowed in the atproto data model");
            }
            return Value(static_cast<std::int64_t>(d));
        }
        case json::kind::string:
            return Value(std::string(in.get_string()));
        case json::kind::array: {
            const auto& arr = in.get_array();
            Value::Array out;
            out.reserve(arr.size());
            for (const auto& item : arr) {
                auto v = Convert(item, depth + 1, limits);
                if (!v) return v;
                out.push_back(std::move(*v));
            }
            return Value(std::move(out));
        }
        case json::kind::object: {
            const auto& obj = in.get_object();
            if (obj.size() == 1) {
                const auto& [key, item] = *obj.begin();
                if (key == "$link") {
                    if (!item.is_string()) return Fail(ErrorCode::kInvalidArgument, "$link must be a string");
                    auto cid = ParseCid(item.get_string());
                    if (!cid) return Fail(ErrorCode::kInvalidArgument, "$link is not a valid CID", cid.error().detail);
                    return Value(std::move(*cid));
                }
                if (key == "$bytes") {
                    if (!item.is_string()) return Fail(ErrorCode::kInvalidArgument, "$bytes must be a string");
                    auto bytes = DecodeBytesBase64(item.get_string());
                    if (!bytes) return Fail(bytes.error());
                    return Value(Bytes{std::move(*bytes)});
                }
            }
            Value::Map out;
            for (const auto& [key, item] : obj) {
                auto v = Convert(item, depth + 1, limits);
                if (!v) return v;
                if (!out.emplace(std::string(key), std::move(*v)).second) {
                    return Fail(ErrorCode::kInvalidArgument, "duplicate object key");
                }
            }
            return detail::FinishMap(std::move(out));
        }
    }
    return Fail(ErrorCode::kInternal, "unknown JSON kind");
}

json::value LinkJson(const Cid& cid) { return json::object{{"$link", cid.ToString()}}; }

}  // namespace

Result<std::string> DecodeBytesBase64(std::string_view text) {
    std::string padded(text);
    if (text.find('=') == std::string_view::npos) {
        if (padded.size() % 4 == 1) return Fail(ErrorCode::kInvalidArgument, "invalid base64 length");
        padded.append((4 - padded.size() % 4) % 4, '=');
    }
    // The spare low bits of the last character are ignored, as the Go and TypeScript references do (the
    // interop lexicon vectors carry {"$bytes": "123"}): clear them so the strict decoder accepts the value.
    // Re-encoding always yields the canonical spelling.
    std::size_t pad = padded.size() - padded.find_last_not_of('=') - 1;
    if ((pad == 1 || pad == 2) && padded.size() > pad) {
        static constexpr std::string_view kAlphabet =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char& last = padded[padded.size() - pad - 1];
        std::size_t index = kAlphabet.find(last);
        if (index != std::string_view::npos) last = kAlphabet[index & (pad == 1 ? 0x3c : 0x30)];
    }
    auto bytes = core::Base64Decode(padded);
    if (!bytes) return Fail(ErrorCode::kInvalidArgument, "$bytes is not valid base64");
    return std::move(*bytes);
}

std::string EncodeBytesBase64(std::string_view bytes) {
    std::string out = core::Base64Encode(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    return out;
}

Result<Value> ValueFromJson(const json::value& json, const JsonLimits& limits) { return Convert(json, 0, limits); }

Result<Value> ValueFromJsonText(std::string_view text, const JsonLimits& limits) {
    json::parse_options options;
    // Boost's own default (32) would cut below our limit; +1 because Boost counts the outermost container.
    options.max_depth = limits.max_depth + 1;
    std::error_code ec;
    json::value parsed = json::parse(text, ec, {}, options);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "invalid JSON", ec.message());
    return Convert(parsed, 0, limits);
}

json::value ValueToJson(const Value& value) {
    switch (value.kind()) {
        case Value::Kind::kNull:
            return nullptr;
        case Value::Kind::kBool:
            return value.GetBool();
        case Value::Kind::kInteger:
            return value.GetInteger();
        case Value::Kind::kString:
            return json::string(value.GetString());
        case Value::Kind::kBytes:
            return json::object{{"$bytes", EncodeBytesBase64(value.GetBytes().data)}};
        case Value::Kind::kLink:
            return LinkJson(value.GetLink());
        case Value::Kind::kArray: {
            json::array out;
            out.reserve(value.GetArray().size());
            for (const auto& item : value.GetArray()) out.push_back(ValueToJson(item));
            return out;
        }
        case Value::Kind::kMap: {
            json::object out;
            out.reserve(value.GetMap().size());
            for (const auto& [key, item] : value.GetMap()) out.emplace(key, ValueToJson(item));
            return out;
        }
        case Value::Kind::kBlob: {
            const BlobRef& blob = value.GetBlob();
            json::object out;
            out.emplace("$type", "blob");
            out.emplace("ref", LinkJson(blob.ref));
            out.emplace("mimeType", blob.mime_type);
            out.emplace("size", blob.size);
            return out;
        }
    }
    return nullptr;
}

std::string ValueToJsonText(const Value& value) { return json::serialize(ValueToJson(value)); }

Status ValidateRecordShape(const Value& value) {
    if (!value.IsMap()) return Fail(ErrorCode::kInvalidArgument, "record must be an object");
    const std::string* type = value.Type();
    if (type == nullptr || type->empty()) return Fail(ErrorCode::kInvalidArgument, "record needs a non-empty $type");
    return Ok();
}

}  // namespace plyr::atproto
