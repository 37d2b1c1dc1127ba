#pragma once
// atproto identifier and string-format syntax (docs/atproto-syntax.md; spec pages did, handle, nsid,
// record-key, tid, at-uri-scheme, lexicon "string formats").
//
// What: byte-level ASCII validators for every atproto string format, plus typed parsers for the ones other
// modules take apart (DID, handle, NSID, record key, at-identifier, AT-URI, datetime). TIDs live in tid.hpp.
// Every format has `bool IsValidX(std::string_view)`; the parsers return Result<T> whose error is
// ErrorCode::kInvalidArgument with a user-safe message naming the broken rule. Input is never trimmed or
// case-folded silently: the only normalisation is the documented one (handles and NSID authorities are
// case-insensitive and lowercased by Normalize*/Normalized()).
// Syntax validity is not support: `did:key:…` is a valid DID whose method plyr cannot resolve
// (CheckSupportedDid → kUnsupported), `laptop.local` is a valid handle that must never be resolved
// (CheckHandleResolvable → kPermissionDenied).
// Thread-safety: pure functions over values; safe from any thread.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::syntax {

// ---- DID -------------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxDidLength = 2048;

// A syntactically valid DID, exactly as given (DIDs are case-sensitive; never case-folded).
struct Did {
    std::string value;

    std::string_view Method() const;      // "plc" for "did:plc:abc"
    std::string_view Identifier() const;  // "abc" for "did:plc:abc"
    bool operator==(const Did&) const = default;
};

// Generic atproto DID syntax: `did:` + method `[a-z]+` + `:` + identifier `[a-zA-Z0-9._:%-]*`, not ending
// in `:` or `%`, ≤ 2048 bytes. Percent-escapes are not checked for hex digits (the reference parsers
// accept `%` anywhere but at the end; stricter would reject records the rest of the network accepts).
Result<Did> ParseDid(std::string_view text);
bool IsValidDid(std::string_view text);

// Method-specific rules for the methods plyr resolves:
//  did:plc: exactly 24 chars of [a-z2-7];
//  did:web: a hostname in handle syntax (no path segments, no port), or `localhost` with an optional
//           port written `%3A<port>` (development only; the resolver decides whether to allow it).
// kInvalidArgument: not a valid DID, or a plc/web DID breaking its method's rules.
// kUnsupported: a syntactically valid DID of another method (did:key, did:ethr, …).
Status CheckSupportedDid(std::string_view text);
bool IsValidPlcDid(std::string_view text);
bool IsValidWebDid(std::string_view text);

// ---- Handle ----------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxHandleLength = 253;
// Sentinel meaning "this DID has no verified handle"; never resolve it, never log in with it.
inline constexpr std::string_view kInvalidHandle = "handle.invalid";

// A syntactically valid handle in normal form (ASCII-lowercase).
struct Handle {
    std::string value;
    bool operator==(const Handle&) const = default;
};

// Handle syntax (≤ 253 bytes, ≥ 2 dot-separated labels of 1–63 [a-zA-Z0-9-] not starting/ending with `-`,
// last label not starting with a digit). Accepts any case and returns the lowercase form.
Result<Handle> ParseHandle(std::string_view text);
bool IsValidHandle(std::string_view text);
// ASCII-lowercases; does not validate.
std::string NormalizeHandle(std::string_view text);

// Whether a (valid) handle may be resolved or registered: refuses the reserved TLDs `.alt .arpa .example
// .internal .invalid .local .localhost .onion` (kPermissionDenied) and `.test` unless allow_test_tld
// (the local testnet's handles). Case-insensitive. kInvalidArgument if the text is not a valid handle.
Status CheckHandleResolvable(std::string_view handle, bool allow_test_tld);

// ---- NSID ------------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxNsidLength = 317;

// A syntactically valid NSID, exactly as given. E.g. "fm.teal.feed.play": segments "fm.teal.feed" (the
// authority, reversed domain) and name "play".
struct Nsid {
    std::string value;

    std::string_view AuthoritySegments() const;  // "fm.teal.feed" (as written, NSID order)
    std::string_view Name() const;               // "play" (case-sensitive)
    std::string DomainAuthority() const;         // "feed.teal.fm" (reversed, lowercased)
    std::string LexiconTxtName() const;          // "_lexicon.feed.teal.fm" (DNS TXT for schema lookup)
    std::string Normalized() const;              // authority lowercased, name untouched
    bool operator==(const Nsid&) const = default;
};

// ≥ 3 segments, ≤ 317 bytes; authority segments like handle labels (first one not starting with a digit);
// name 1–63 of [a-zA-Z0-9] starting with a letter. Globs (`a.b.*`) are not NSIDs.
Result<Nsid> ParseNsid(std::string_view text);
bool IsValidNsid(std::string_view text);

// ---- Record key ------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxRecordKeyLength = 512;

struct RecordKey {
    std::string value;
    bool operator==(const RecordKey&) const = default;
};

// 1–512 bytes of [A-Za-z0-9._:~-], not "." or "..". Case-sensitive.
Result<RecordKey> ParseRecordKey(std::string_view text);
bool IsValidRecordKey(std::string_view text);

// ---- at-identifier (handle or DID) -----------------------------------------------------------------------

// A DID (kept as given) or a handle (kept as given; Normalized() lowercases handles).
struct AtIdentifier {
    std::string value;
    bool is_did = false;

    std::string Normalized() const;
    bool operator==(const AtIdentifier&) const = default;
};

// Text starting with "did:" must be a valid DID; anything else must be a valid handle.
Result<AtIdentifier> ParseAtIdentifier(std::string_view text);
bool IsValidAtIdentifier(std::string_view text);

// ---- AT-URI ----------------------------------------------------------------------------------------------

inline constexpr std::size_t kMaxAtUriLength = 8 * 1024;

// The strict (Lexicon `at-uri`) form `at://AUTHORITY[/COLLECTION[/RKEY]]`: authority an at-identifier,
// collection an NSID, rkey a record key; no query, fragment, trailing slash, userinfo or port.
struct AtUri {
    AtIdentifier authority;
    std::string collection;  // empty = absent
    std::string rkey;        // empty = absent (only present when collection is)

    std::string ToString() const;    // exactly the parsed text
    std::string Normalized() const;  // lowercase handle authority and NSID authority; rkey untouched
    bool operator==(const AtUri&) const = default;
};

Result<AtUri> ParseAtUri(std::string_view text);
bool IsValidAtUri(std::string_view text);

// ---- Datetime --------------------------------------------------------------------------------------------

using UtcMicros = std::chrono::sys_time<std::chrono::microseconds>;

// Lexicon `datetime`: `YYYY-MM-DDTHH:MM:SS[.F+](Z|±HH:MM)`, ≤ 64 bytes, uppercase T/Z, `-00:00` refused,
// real calendar date (leap years), hour ≤ 23, minute ≤ 59, second ≤ 60 (a leap second maps to the next
// second), offset ≤ 23:59, and the UTC instant within years 0000–9999.
// Returns the UTC instant truncated to microseconds. Keep the original string when re-emitting someone
// else's record: re-formatting changes the CBOR bytes and therefore the CID.
Result<UtcMicros> ParseDatetime(std::string_view text);
bool IsValidDatetime(std::string_view text);

// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, millisecond precision, the form atproto recommends emitting).
// Requires 0000 ≤ year ≤ 9999 (callers pass real clocks; out-of-range instants are clamped).
std::string FormatDatetime(UtcMicros instant);
std::string FormatDatetimeNow(const core::Clock& clock);

// ---- Other Lexicon string formats ------------------------------------------------------------------------

// `cid`: CID string syntax only (no decoding): 8–256 bytes of [a-zA-Z0-9+=], not a CIDv0 (`Qm…`).
bool IsValidCid(std::string_view text);
Status ValidateCid(std::string_view text);

// `language`: a BCP-47 (RFC 5646) tag: langtag with a 2–3 letter lowercase primary language, optional
// extlangs, script, region, variants, extensions and private use; a bare private-use tag (`x-…`); or one of
// the grandfathered tags. Repeated variants or extension singletons (case-insensitive) are refused.
bool IsValidLanguage(std::string_view text);
Status ValidateLanguage(std::string_view text);

// `uri`: an RFC 3986 scheme (`[a-zA-Z][a-zA-Z0-9+.-]*`) + `:` + at least one printable non-space ASCII
// byte, ≤ 8 KiB.
inline constexpr std::size_t kMaxUriLength = 8 * 1024;
bool IsValidUri(std::string_view text);
Status ValidateUri(std::string_view text);

// Validates `value` against a Lexicon string format by name: "at-identifier", "at-uri", "cid", "datetime",
// "did", "handle", "nsid", "record-key", "tid", "uri", "language". kUnsupported for an unknown format
// name, kInvalidArgument when the value does not match.
Status ValidateFormat(std::string_view format, std::string_view value);

}  // namespace plyr::atproto::syntax
