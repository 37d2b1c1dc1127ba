// DID, handle, NSID, record key and at-identifier syntax (docs/atproto.md §1.1–1.4, §1.8).
#include <array>
#include <vector>

#include <fmt/format.h>

#include "atproto/syntax/ascii.hpp"
#include "atproto/syntax/invalid.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::syntax {

tl::unexpected<Error> detail::Invalid(std::string_view kind, std::string_view why, std::string_view input) {
    constexpr std::size_t kMaxEcho = 200;
    std::string echo(input.substr(0, kMaxEcho));
    if (input.size() > kMaxEcho) echo += "...";
    return Fail(ErrorCode::kInvalidArgument, fmt::format("invalid {}: {}", kind, why), fmt::format("input {:?}", echo));
}

using detail::IsAlnum;
using detail::IsAlpha;
using detail::IsDigit;
using detail::IsLower;

namespace {

constexpr bool IsDidIdentifierChar(char c) {
    return IsAlnum(c) || c == '.' || c == '_' || c == ':' || c == '%' || c == '-';
}

// A DNS-style label: 1–63 of [a-zA-Z0-9-], not starting or ending with '-'. Returns the failed rule.
const char* CheckLabel(std::string_view label) {
    if (label.empty()) return "empty label";
    if (label.size() > 63) return "label longer than 63 characters";
    for (char c : label) {
        if (!IsAlnum(c) && c != '-') return "label has a character outside [a-zA-Z0-9-]";
    }
    if (label.front() == '-' || label.back() == '-') return "label starts or ends with a hyphen";
    return nullptr;
}

// Calls fn(segment) for every '.'-separated segment (empty ones included); stops when fn returns a
// non-null reason and returns it.
template <typename Fn>
const char* ForEachSegment(std::string_view text, Fn&& fn) {
    std::size_t start = 0;
    while (true) {
        std::size_t dot = text.find('.', start);
        std::string_view segment = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (const char* why = fn(segment)) return why;
        if (dot == std::string_view::npos) return nullptr;
        start = dot + 1;
    }
}

const char* CheckDid(std::string_view text) {
    if (text.size() > kMaxDidLength) return "longer than 2048 characters";
    if (text.substr(0, 4) != "did:") return "must start with \"did:\"";
    std::size_t pos = 4;
    while (pos < text.size() && IsLower(text[pos])) ++pos;
    if (pos == 4) return "method must be one or more lowercase letters";
    if (pos == text.size() || text[pos] != ':') return "method must be lowercase letters followed by ':'";
    std::string_view id = text.substr(pos + 1);
    if (id.empty()) return "empty method-specific identifier";
    for (char c : id) {
        if (!IsDidIdentifierChar(c)) return "identifier has a character outside [a-zA-Z0-9._:%-]";
    }
    if (id.back() == ':' || id.back() == '%') return "must not end with ':' or '%'";
    return nullptr;
}

const char* CheckHandle(std::string_view text) {
    if (text.size() > kMaxHandleLength) return "longer than 253 characters";
    std::size_t labels = 0;
    std::string_view last;
    const char* why = ForEachSegment(text, [&](std::string_view label) {
        ++labels;
        last = label;
        return CheckLabel(label);
    });
    if (why) return why;
    if (labels < 2) return "needs at least two labels";
    if (IsDigit(last.front())) return "top-level label starts with a digit";
    return nullptr;
}

const char* CheckNsid(std::string_view text) {
    if (text.size() > kMaxNsidLength) return "longer than 317 characters";
    std::size_t last_dot = text.rfind('.');
    if (last_dot == std::string_view::npos) return "needs at least three segments";
    std::string_view authority = text.substr(0, last_dot);
    std::string_view name = text.substr(last_dot + 1);
    // No separate 253-byte authority cap: the interop vectors accept a 283-byte authority (spec: 317 overall).
    std::size_t segments = 0;
    const char* why = ForEachSegment(authority, [&](std::string_view segment) -> const char* {
        if (const char* bad = CheckLabel(segment)) return bad;
        if (segments++ == 0 && IsDigit(segment.front())) return "first segment starts with a digit";
        return nullptr;
    });
    if (why) return why;
    if (segments < 2) return "needs at least three segments";
    if (name.empty()) return "empty name";
    if (name.size() > 63) return "name longer than 63 characters";
    if (!IsAlpha(name.front())) return "name must start with a letter";
    for (char c : name) {
        if (!IsAlnum(c)) return "name has a character outside [a-zA-Z0-9]";
    }
    return nullptr;
}

const char* CheckRecordKey(std::string_view text) {
    if (text.empty()) return "empty";
    if (text.size() > kMaxRecordKeyLength) return "longer than 512 characters";
    for (char c : text) {
        if (!IsAlnum(c) && c != '.' && c != '_' && c != ':' && c != '~' && c != '-') {
            return "has a character outside [A-Za-z0-9._:~-]";
        }
    }
    if (text == "." || text == "..") return "must not be \".\" or \"..\"";
    return nullptr;
}

// did:web host part: a hostname in handle syntax, or localhost with an optional %3A-encoded port.
const char* CheckWebDidHost(std::string_view host) {
    if (detail::EqualsIgnoreCase(host.substr(0, 9), "localhost")) {
        std::string_view rest = host.substr(9);
        if (rest.empty()) return nullptr;
        if (!detail::EqualsIgnoreCase(rest.substr(0, 3), "%3A")) return "localhost port must be written %3A<port>";
        std::string_view port = rest.substr(3);
        if (port.empty() || port.size() > 5 || port.front() == '0') return "bad localhost port";
        unsigned value = 0;
        for (char c : port) {
            if (!IsDigit(c)) return "bad localhost port";
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value > 65535) return "bad localhost port";
        return nullptr;
    }
    if (host.find(':') != std::string_view::npos) return "did:web must not contain path segments";
    if (host.find('%') != std::string_view::npos) return "did:web ports are only allowed for localhost";
    if (CheckHandle(host)) return "did:web host is not a valid hostname";
    return nullptr;
}

}  // namespace

// ---- DID ----

std::string_view Did::Method() const {
    std::string_view v = value;
    if (v.size() < 4) return {};
    std::size_t colon = v.find(':', 4);
    return colon == std::string_view::npos ? std::string_view{} : v.substr(4, colon - 4);
}

std::string_view Did::Identifier() const {
    std::string_view v = value;
    if (v.size() < 4) return {};
    std::size_t colon = v.find(':', 4);
    return colon == std::string_view::npos ? std::string_view{} : v.substr(colon + 1);
}

Result<Did> ParseDid(std::string_view text) {
    if (const char* why = CheckDid(text)) return detail::Invalid("did", why, text);
    return Did{std::string(text)};
}

bool IsValidDid(std::string_view text) { return CheckDid(text) == nullptr; }

bool IsValidPlcDid(std::string_view text) {
    if (text.size() != 32 || text.substr(0, 8) != "did:plc:") return false;
    for (char c : text.substr(8)) {
        if (!IsLower(c) && !(c >= '2' && c <= '7')) return false;
    }
    return true;
}

bool IsValidWebDid(std::string_view text) {
    return text.substr(0, 8) == "did:web:" && CheckDid(text) == nullptr && CheckWebDidHost(text.substr(8)) == nullptr;
}

Status CheckSupportedDid(std::string_view text) {
    if (const char* why = CheckDid(text)) return detail::Invalid("did", why, text);
    Did did{std::string(text)};
    if (did.Method() == "plc") {
        if (!IsValidPlcDid(text))
            return detail::Invalid("did:plc", "must be did:plc: and 24 characters of [a-z2-7]", text);
        return Ok();
    }
    if (did.Method() == "web") {
        if (const char* why = CheckWebDidHost(did.Identifier())) return detail::Invalid("did:web", why, text);
        return Ok();
    }
    return Fail(ErrorCode::kUnsupported, "unsupported did method", fmt::format("method {}", did.Method()));
}

// ---- Handle ----

Result<Handle> ParseHandle(std::string_view text) {
    if (const char* why = CheckHandle(text)) return detail::Invalid("handle", why, text);
    return Handle{NormalizeHandle(text)};
}

bool IsValidHandle(std::string_view text) { return CheckHandle(text) == nullptr; }

std::string NormalizeHandle(std::string_view text) { return detail::AsciiLower(text); }

Status CheckHandleResolvable(std::string_view handle, bool allow_test_tld) {
    if (const char* why = CheckHandle(handle)) return detail::Invalid("handle", why, handle);
    static constexpr std::array<std::string_view, 8> kReserved = {".alt",     ".arpa",  ".example",   ".internal",
                                                                  ".invalid", ".local", ".localhost", ".onion"};
    for (std::string_view tld : kReserved) {
        if (detail::EndsWithIgnoreCase(handle, tld)) {
            return Fail(ErrorCode::kPermissionDenied, "handle uses a reserved top-level domain",
                        fmt::format("tld {}", tld));
        }
    }
    if (!allow_test_tld && detail::EndsWithIgnoreCase(handle, ".test")) {
        return Fail(ErrorCode::kPermissionDenied, "handle uses a reserved top-level domain", "tld .test");
    }
    return Ok();
}

// ---- NSID ----

std::string_view Nsid::AuthoritySegments() const {
    std::size_t dot = value.rfind('.');
    return dot == std::string::npos ? std::string_view{} : std::string_view(value).substr(0, dot);
}

std::string_view Nsid::Name() const {
    std::size_t dot = value.rfind('.');
    return dot == std::string::npos ? std::string_view(value) : std::string_view(value).substr(dot + 1);
}

std::string Nsid::DomainAuthority() const {
    std::vector<std::string_view> segments;
    ForEachSegment(AuthoritySegments(), [&](std::string_view segment) -> const char* {
        segments.push_back(segment);
        return nullptr;
    });
    std::string out;
    for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (!out.empty()) out += '.';
        out += detail::AsciiLower(*it);
    }
    return out;
}

std::string Nsid::LexiconTxtName() const { return "_lexicon." + DomainAuthority(); }

std::string Nsid::Normalized() const {
    std::string_view authority = AuthoritySegments();
    return detail::AsciiLower(authority) + std::string(value.substr(authority.size()));
}

Result<Nsid> ParseNsid(std::string_view text) {
    if (const char* why = CheckNsid(text)) return detail::Invalid("nsid", why, text);
    return Nsid{std::string(text)};
}

bool IsValidNsid(std::string_view text) { return CheckNsid(text) == nullptr; }

// ---- Record key ----

Result<RecordKey> ParseRecordKey(std::string_view text) {
    if (const char* why = CheckRecordKey(text)) return detail::Invalid("record key", why, text);
    return RecordKey{std::string(text)};
}

bool IsValidRecordKey(std::string_view text) { return CheckRecordKey(text) == nullptr; }

// ---- at-identifier ----

std::string AtIdentifier::Normalized() const { return is_did ? value : NormalizeHandle(value); }

Result<AtIdentifier> ParseAtIdentifier(std::string_view text) {
    if (text.substr(0, 4) == "did:") {
        if (const char* why = CheckDid(text)) return detail::Invalid("at-identifier", why, text);
        return AtIdentifier{std::string(text), true};
    }
    if (const char* why = CheckHandle(text)) return detail::Invalid("at-identifier", why, text);
    return AtIdentifier{std::string(text), false};
}

bool IsValidAtIdentifier(std::string_view text) {
    return text.substr(0, 4) == "did:" ? CheckDid(text) == nullptr : CheckHandle(text) == nullptr;
}

}  // namespace plyr::atproto::syntax
