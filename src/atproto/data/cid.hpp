#pragma once
// CIDv1 (content identifiers) and the small encodings around them: unsigned LEB128 varints and the
// base32-lower multibase string form ('b' prefix, RFC 4648 alphabet, no padding).
//
// A Cid is a plain value {version, codec, multihash code, digest}. Parsing accepts any well-formed CIDv1
// (atproto asks for leniency on read in a few places, e.g. MST leaves); IsBlessed() says whether it is one
// of the two forms atproto writes (dag-cbor or raw, sha2-256, 32-byte digest). CIDv0 ("Qm…", or binary
// starting 0x12 0x20) is rejected everywhere, as atproto requires.
//
// Errors: malformed input → ErrorCode::kInvalidArgument. Thread-safety: pure functions on values.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace plyr::atproto {

inline constexpr std::uint64_t kCodecDagCbor = 0x71;
inline constexpr std::uint64_t kCodecRaw = 0x55;
inline constexpr std::uint64_t kHashSha256 = 0x12;
inline constexpr std::size_t kSha256Length = 32;
// Upper bound on a multihash digest we accept when parsing (sha2-512 is 64 bytes; nothing real is larger).
inline constexpr std::size_t kMaxDigestLength = 64;

struct Cid {
    std::uint64_t version = 1;
    std::uint64_t codec = kCodecDagCbor;
    std::uint64_t hash_code = kHashSha256;
    std::string digest;  // raw digest bytes

    // Binary form: varint(version) ‖ varint(codec) ‖ varint(hash_code) ‖ varint(len) ‖ digest.
    std::string Bytes() const;
    // "b" + base32-lower(Bytes()).
    std::string ToString() const;
    // v1, codec dag-cbor or raw, sha2-256 with a 32-byte digest.
    bool IsBlessed() const;

    friend bool operator==(const Cid&, const Cid&) = default;
    friend std::strong_ordering operator<=>(const Cid&, const Cid&) = default;
};

// Parses exactly one binary CIDv1 occupying all of `bytes` (minimal varints, digest length as declared).
Result<Cid> CidFromBytes(std::string_view bytes);
// Parses a binary CIDv1 at the start of `bytes`; on success `consumed` is its length (CAR sections).
Result<Cid> CidFromBytesPrefix(std::string_view bytes, std::size_t& consumed);
// Strict string parse: 'b' multibase prefix, lowercase base32 without padding, canonical trailing bits.
Result<Cid> ParseCid(std::string_view text);

// CID of a DAG-CBOR encoded block (records, commits, MST nodes): codec 0x71, sha2-256.
Cid CidForDagCbor(std::string_view cbor_bytes);
// CID of raw bytes (blobs): codec 0x55, sha2-256.
Cid CidForRaw(std::string_view bytes);
// Recomputes the hash of `block` with `cid`'s hash function; kUnsupported for hashes other than sha2-256.
Status VerifyCidMatches(const Cid& cid, std::string_view block);

// Unsigned LEB128. Decoding rejects non-minimal encodings and values above 2^63-1 (the multiformats
// spec caps varints at 9 bytes). On success `consumed` is the number of bytes read.
void AppendVarint(std::string& out, std::uint64_t value);
Result<std::uint64_t> ReadVarint(std::string_view bytes, std::size_t& consumed);

// RFC 4648 base32, lowercase alphabet, no padding (the multibase 'b' body).
std::string Base32LowerEncode(std::string_view bytes);
// Strict: lowercase only, no padding, no whitespace, non-zero trailing bits rejected.
Result<std::string> Base32LowerDecode(std::string_view text);

}  // namespace plyr::atproto
