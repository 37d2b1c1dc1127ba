#include "atproto/data/cid.hpp"

#include <array>

#include "core/encoding.hpp"

namespace plyr::atproto {
namespace {

constexpr std::string_view kBase32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
// Ten 7-bit groups would exceed 64 bits; multiformats caps unsigned varints at 9 bytes (63 bits).
constexpr std::size_t kMaxVarintBytes = 9;

int Base32Index(char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= '2' && c <= '7') return 26 + (c - '2');
    return -1;
}

}  // namespace

void AppendVarint(std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
        out.push_back(static_cast<char>((value & 0x7f) | 0x80));
        value >>= 7;
    }
    out.push_back(static_cast<char>(value));
}

Result<std::uint64_t> ReadVarint(std::string_view bytes, std::size_t& consumed) {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < bytes.size() && i < kMaxVarintBytes; ++i) {
        auto byte = static_cast<std::uint8_t>(bytes[i]);
        value |= static_cast<std::uint64_t>(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            // A final zero byte after the first means the encoding was padded (non-minimal).
            if (byte == 0 && i > 0) return Fail(ErrorCode::kInvalidArgument, "non-minimal varint");
            consumed = i + 1;
            return value;
        }
    }
    if (bytes.size() >= kMaxVarintBytes) return Fail(ErrorCode::kInvalidArgument, "varint too long");
    return Fail(ErrorCode::kInvalidArgument, "truncated varint");
}

std::string Base32LowerEncode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : bytes) {
        buffer = (buffer << 8) | static_cast<std::uint8_t>(c);
        bits += 8;
        while (bits >= 5) {
            out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 0x1f]);
            bits -= 5;
        }
    }
    if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 0x1f]);
    return out;
}

Result<std::string> Base32LowerDecode(std::string_view text) {
    // Lengths whose last group carries 1, 3 or 6 bits cannot come from whole bytes.
    std::size_t rem = text.size() % 8;
    if (rem == 1 || rem == 3 || rem == 6) return Fail(ErrorCode::kInvalidArgument, "invalid base32 length");
    std::string out;
    out.reserve(text.size() * 5 / 8);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        int index = Base32Index(c);
        if (index < 0) return Fail(ErrorCode::kInvalidArgument, "invalid base32 character");
        buffer = (buffer << 5) | static_cast<std::uint32_t>(index);
        bits += 5;
        if (bits >= 8) {
            out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
            bits -= 8;
        }
    }
    if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) {
        return Fail(ErrorCode::kInvalidArgument, "non-canonical base32 trailing bits");
    }
    return out;
}

std::string Cid::Bytes() const {
    std::string out;
    out.reserve(4 + digest.size());
    AppendVarint(out, version);
    AppendVarint(out, codec);
    AppendVarint(out, hash_code);
    AppendVarint(out, digest.size());
    out += digest;
    return out;
}

std::string Cid::ToString() const { return "b" + Base32LowerEncode(Bytes()); }

bool Cid::IsBlessed() const {
    return version == 1 && (codec == kCodecDagCbor || codec == kCodecRaw) && hash_code == kHashSha256 &&
           digest.size() == kSha256Length;
}

Result<Cid> CidFromBytesPrefix(std::string_view bytes, std::size_t& consumed) {
    if (bytes.size() >= 2 && static_cast<std::uint8_t>(bytes[0]) == 0x12 &&
        static_cast<std::uint8_t>(bytes[1]) == 0x20) {
        return Fail(ErrorCode::kInvalidArgument, "CIDv0 is not allowed");
    }
    std::size_t pos = 0;
    std::uint64_t fields[4] = {};
    for (auto& field : fields) {
        std::size_t n = 0;
        auto value = ReadVarint(bytes.substr(pos), n);
        if (!value) return Fail(ErrorCode::kInvalidArgument, "malformed CID", value.error().message);
        field = *value;
        pos += n;
    }
    if (fields[0] != 1) return Fail(ErrorCode::kInvalidArgument, "unsupported CID version");
    if (fields[3] > kMaxDigestLength) return Fail(ErrorCode::kInvalidArgument, "CID digest too long");
    if (bytes.size() - pos < fields[3]) return Fail(ErrorCode::kInvalidArgument, "truncated CID digest");
    Cid cid{fields[0], fields[1], fields[2], std::string(bytes.substr(pos, fields[3]))};
    consumed = pos + fields[3];
    return cid;
}

Result<Cid> CidFromBytes(std::string_view bytes) {
    std::size_t consumed = 0;
    auto cid = CidFromBytesPrefix(bytes, consumed);
    if (!cid) return cid;
    if (consumed != bytes.size()) return Fail(ErrorCode::kInvalidArgument, "trailing bytes after CID");
    return cid;
}

Result<Cid> ParseCid(std::string_view text) {
    if (text.empty() || text[0] != 'b') return Fail(ErrorCode::kInvalidArgument, "CID must be base32 ('b' prefix)");
    auto bytes = Base32LowerDecode(text.substr(1));
    if (!bytes) return Fail(ErrorCode::kInvalidArgument, "invalid CID string", bytes.error().message);
    return CidFromBytes(*bytes);
}

Cid CidForDagCbor(std::string_view cbor_bytes) {
    return Cid{1, kCodecDagCbor, kHashSha256, core::DigestToString(core::Sha256(cbor_bytes))};
}

Cid CidForRaw(std::string_view bytes) {
    return Cid{1, kCodecRaw, kHashSha256, core::DigestToString(core::Sha256(bytes))};
}

Status VerifyCidMatches(const Cid& cid, std::string_view block) {
    if (cid.hash_code != kHashSha256) return Fail(ErrorCode::kUnsupported, "unsupported CID hash function");
    if (cid.digest.size() != kSha256Length) return Fail(ErrorCode::kInvalidArgument, "bad sha2-256 digest length");
    if (core::DigestToString(core::Sha256(block)) != cid.digest) {
        return Fail(ErrorCode::kInvalidArgument, "block does not match its CID", cid.ToString());
    }
    return Ok();
}

}  // namespace plyr::atproto
