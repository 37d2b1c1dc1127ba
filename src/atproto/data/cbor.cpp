#include "atproto/data/cbor.hpp"

#include <limits>

#include "atproto/data/map_rules.hpp"

namespace plyr::atproto {
namespace {

enum Major : std::uint8_t {
    kUnsigned = 0,
    kNegative = 1,
    kByteString = 2,
    kTextString = 3,
    kArray = 4,
    kMap = 5,
    kTag = 6,
    kSimple = 7,
};

constexpr std::uint64_t kCidTag = 42;
constexpr std::uint8_t kFalse = 0xf4;
constexpr std::uint8_t kTrue = 0xf5;
constexpr std::uint8_t kNull = 0xf6;

void AppendHead(std::string& out, Major major, std::uint64_t value) {
    auto mt = static_cast<std::uint8_t>(major << 5);
    int bytes = 0;
    if (value < 24) {
        out.push_back(static_cast<char>(mt | value));
        return;
    } else if (value <= 0xff) {
        out.push_back(static_cast<char>(mt | 24));
        bytes = 1;
    } else if (value <= 0xffff) {
        out.push_back(static_cast<char>(mt | 25));
        bytes = 2;
    } else if (value <= 0xffffffffull) {
        out.push_back(static_cast<char>(mt | 26));
        bytes = 4;
    } else {
        out.push_back(static_cast<char>(mt | 27));
        bytes = 8;
    }
    for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void AppendInteger(std::string& out, std::int64_t value) {
    if (value >= 0) {
        AppendHead(out, kUnsigned, static_cast<std::uint64_t>(value));
    } else {
        // -1 - value without overflow for INT64_MIN.
        AppendHead(out, kNegative, ~static_cast<std::uint64_t>(value));
    }
}

void AppendText(std::string& out, std::string_view text) {
    AppendHead(out, kTextString, text.size());
    out.append(text);
}

void AppendLink(std::string& out, const Cid& cid) {
    std::string bytes = cid.Bytes();
    AppendHead(out, kTag, kCidTag);
    AppendHead(out, kByteString, bytes.size() + 1);
    out.push_back('\0');
    out += bytes;
}

// Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<std::uint8_t>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        std::uint8_t lo = 0x80;
        std::uint8_t hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;
            if (c == 0xed) hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;
            if (c == 0xf4) hi = 0x8f;
        } else {
            return false;
        }
        if (s.size() - i < len) return false;
        auto c1 = static_cast<std::uint8_t>(s[i + 1]);
        if (c1 < lo || c1 > hi) return false;
        for (std::size_t k = 2; k < len; ++k) {
            auto ck = static_cast<std::uint8_t>(s[i + k]);
            if (ck < 0x80 || ck > 0xbf) return false;
        }
        i += len;
    }
    return true;
}

class Decoder {
  public:
    // `cut` says `input` was shortened to the size limit, so running out of bytes means "too large".
    Decoder(std::string_view input, const CborLimits& limits, bool cut) : in_(input), limits_(limits), cut_(cut) {}

    Result<Value> DecodeItem(std::size_t depth) {
        if (depth > limits_.max_depth) return Fail(ErrorCode::kTooLarge, "CBOR nesting too deep");
        if (++items_ > limits_.max_items) return Fail(ErrorCode::kTooLarge, "too many CBOR items");
        if (pos_ >= in_.size()) return Short("truncated CBOR");
        auto initial = static_cast<std::uint8_t>(in_[pos_]);
        auto major = static_cast<Major>(initial >> 5);
        std::uint8_t info = initial & 0x1f;
        if (major == kSimple) {
            ++pos_;
            switch (initial) {
                case kFalse:
                    return Value(false);
                case kTrue:
                    return Value(true);
                case kNull:
                    return Value();
                default:
                    if (info >= 25 && info <= 27) return Fail(ErrorCode::kInvalidArgument, "floats are not allowed");
                    if (info == 31) return Fail(ErrorCode::kInvalidArgument, "unexpected CBOR break");
                    return Fail(ErrorCode::kInvalidArgument, "undefined and simple values are not allowed");
            }
        }
        auto arg = ReadHead(info);
        if (!arg) return Fail(arg.error());
        std::uint64_t n = *arg;
        switch (major) {
            case kUnsigned:
                if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    return Fail(ErrorCode::kInvalidArgument, "integer out of int64 range");
                }
                return Value(static_cast<std::int64_t>(n));
            case kNegative:
                if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
                    return Fail(ErrorCode::kInvalidArgument, "integer out of int64 range");
                }
                return Value(-1 - static_cast<std::int64_t>(n));
            case kByteString: {
                auto bytes = Take(n);
                if (!bytes) return Fail(bytes.error());
                return Value(Bytes{std::string(*bytes)});
            }
            case kTextString: {
                auto text = Take(n);
                if (!text) return Fail(text.error());
                if (!IsValidUtf8(*text)) return Fail(ErrorCode::kInvalidArgument, "invalid UTF-8 in CBOR string");
                return Value(std::string(*text));
            }
            case kArray: {
                // Every element takes at least one byte: a length beyond the remaining input is a lie.
                if (n > in_.size() - pos_) return Short("CBOR array length exceeds input");
                Value::Array out;
                out.reserve(static_cast<std::size_t>(n));
                for (std::uint64_t i = 0; i < n; ++i) {
                    auto item = DecodeItem(depth + 1);
                    if (!item) return item;
                    out.push_back(std::move(*item));
                }
                return Value(std::move(out));
            }
            case kMap:
                return DecodeMap(n, depth);
            case kTag:
                return DecodeTag(n);
            case kSimple:
                break;
        }
        return Fail(ErrorCode::kInternal, "unreachable CBOR major type");
    }

    std::size_t position() const { return pos_; }

  private:
    tl::unexpected<Error> Short(const char* message) const {
        if (cut_) return Fail(ErrorCode::kTooLarge, "CBOR item exceeds the size limit");
        return Fail(ErrorCode::kInvalidArgument, message);
    }

    Result<std::uint64_t> ReadHead(std::uint8_t info) {
        ++pos_;
        if (info < 24) return info;
        if (info == 31) return Fail(ErrorCode::kInvalidArgument, "indefinite-length CBOR items are not allowed");
        if (info > 27) return Fail(ErrorCode::kInvalidArgument, "reserved CBOR additional information");
        std::size_t width = std::size_t{1} << (info - 24);
        if (in_.size() - pos_ < width) return Short("truncated CBOR head");
        std::uint64_t value = 0;
        for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<std::uint8_t>(in_[pos_ + i]);
        pos_ += width;
        static constexpr std::uint64_t kMinimum[] = {24, 0x100, 0x10000, 0x100000000ull};
        if (value < kMinimum[info - 24]) return Fail(ErrorCode::kInvalidArgument, "non-minimal CBOR integer head");
        return value;
    }

    Result<std::string_view> Take(std::uint64_t n) {
        if (n > in_.size() - pos_) return Short("CBOR string length exceeds input");
        std::string_view out = in_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }

    Result<Value> DecodeMap(std::uint64_t n, std::size_t depth) {
        // Each entry takes at least two bytes.
        if (n > (in_.size() - pos_) / 2) return Short("CBOR map length exceeds input");
        Value::Map out;
        std::string_view previous;
        MapKeyLess less;
        for (std::uint64_t i = 0; i < n; ++i) {
            if (pos_ >= in_.size()) return Short("truncated CBOR");
            auto initial = static_cast<std::uint8_t>(in_[pos_]);
            if ((initial >> 5) != kTextString)
                return Fail(ErrorCode::kInvalidArgument, "CBOR map keys must be strings");
            auto length = ReadHead(initial & 0x1f);
            if (!length) return Fail(length.error());
            auto key = Take(*length);
            if (!key) return Fail(key.error());
            if (!IsValidUtf8(*key)) return Fail(ErrorCode::kInvalidArgument, "invalid UTF-8 in CBOR map key");
            if (i > 0 && !less(previous, *key)) {
                return Fail(ErrorCode::kInvalidArgument,
                            previous == *key ? "duplicate CBOR map key" : "CBOR map keys not in canonical order");
            }
            previous = *key;
            auto item = DecodeItem(depth + 1);
            if (!item) return item;
            // Keys arrive sorted, so each insert goes at the end.
            out.emplace_hint(out.end(), std::string(*key), std::move(*item));
        }
        return detail::FinishMap(std::move(out));
    }

    Result<Value> DecodeTag(std::uint64_t tag) {
        if (tag != kCidTag) return Fail(ErrorCode::kInvalidArgument, "only CBOR tag 42 is allowed");
        if (pos_ >= in_.size()) return Short("truncated CBOR");
        auto initial = static_cast<std::uint8_t>(in_[pos_]);
        if ((initial >> 5) != kByteString) return Fail(ErrorCode::kInvalidArgument, "tag 42 must wrap a byte string");
        auto length = ReadHead(initial & 0x1f);
        if (!length) return Fail(length.error());
        auto bytes = Take(*length);
        if (!bytes) return Fail(bytes.error());
        if (bytes->empty() || (*bytes)[0] != '\0') {
            return Fail(ErrorCode::kInvalidArgument, "tag 42 bytes must start with the 0x00 multibase prefix");
        }
        auto cid = CidFromBytes(bytes->substr(1));
        if (!cid) return Fail(ErrorCode::kInvalidArgument, "malformed CID in tag 42", cid.error().message);
        return Value(std::move(*cid));
    }

    std::string_view in_;
    const CborLimits& limits_;
    bool cut_;
    std::size_t pos_ = 0;
    std::size_t items_ = 0;
};

}  // namespace

void AppendDagCbor(std::string& out, const Value& value) {
    switch (value.kind()) {
        case Value::Kind::kNull:
            out.push_back(static_cast<char>(kNull));
            return;
        case Value::Kind::kBool:
            out.push_back(static_cast<char>(value.GetBool() ? kTrue : kFalse));
            return;
        case Value::Kind::kInteger:
            AppendInteger(out, value.GetInteger());
            return;
        case Value::Kind::kString:
            AppendText(out, value.GetString());
            return;
        case Value::Kind::kBytes:
            AppendHead(out, kByteString, value.GetBytes().data.size());
            out += value.GetBytes().data;
            return;
        case Value::Kind::kLink:
            AppendLink(out, value.GetLink());
            return;
        case Value::Kind::kArray:
            AppendHead(out, kArray, value.GetArray().size());
            for (const auto& item : value.GetArray()) AppendDagCbor(out, item);
            return;
        case Value::Kind::kMap:
            // Value::Map iterates in canonical key order already.
            AppendHead(out, kMap, value.GetMap().size());
            for (const auto& [key, item] : value.GetMap()) {
                AppendText(out, key);
                AppendDagCbor(out, item);
            }
            return;
        case Value::Kind::kBlob: {
            const BlobRef& blob = value.GetBlob();
            // Canonical order of the four keys: ref, size, $type, mimeType.
            AppendHead(out, kMap, 4);
            AppendText(out, "ref");
            AppendLink(out, blob.ref);
            AppendText(out, "size");
            AppendInteger(out, blob.size);
            AppendText(out, "$type");
            AppendText(out, "blob");
            AppendText(out, "mimeType");
            AppendText(out, blob.mime_type);
            return;
        }
    }
}

std::string EncodeDagCbor(const Value& value) {
    std::string out;
    AppendDagCbor(out, value);
    return out;
}

Result<Value> DecodeDagCborPrefix(std::string_view bytes, std::size_t& consumed, const CborLimits& limits) {
    bool cut = bytes.size() > limits.max_input_bytes;
    if (cut) bytes = bytes.substr(0, limits.max_input_bytes);
    Decoder decoder(bytes, limits, cut);
    auto value = decoder.DecodeItem(0);
    if (!value) return value;
    consumed = decoder.position();
    return value;
}

Result<Value> DecodeDagCbor(std::string_view bytes, const CborLimits& limits) {
    if (bytes.size() > limits.max_input_bytes) return Fail(ErrorCode::kTooLarge, "CBOR input too large");
    std::size_t consumed = 0;
    auto value = DecodeDagCborPrefix(bytes, consumed, limits);
    if (!value) return value;
    if (consumed != bytes.size()) return Fail(ErrorCode::kInvalidArgument, "trailing bytes after CBOR item");
    return value;
}

}  // namespace plyr::atproto
