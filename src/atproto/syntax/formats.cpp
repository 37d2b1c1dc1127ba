// Lexicon string formats without a typed parser: cid, language, uri; and the by-name dispatcher
// (docs/atproto.md §1.8).
#include <array>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "atproto/syntax/ascii.hpp"
#include "atproto/syntax/invalid.hpp"
#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"

namespace plyr::atproto::syntax {

using detail::IsAlnum;
using detail::IsAlpha;
using detail::IsDigit;

namespace {

// ---- cid ----

const char* CheckCid(std::string_view text) {
    if (text.size() < 8) return "shorter than 8 characters";
    if (text.size() > 256) return "longer than 256 characters";
    for (char c : text) {
        if (!IsAlnum(c) && c != '+' && c != '=') return "has a character outside [a-zA-Z0-9+=]";
    }
    // CIDv0 is base58 without a multibase prefix and always starts "Qm"; atproto only uses CIDv1.
    if (text.substr(0, 2) == "Qm") return "CIDv0 is not allowed";
    return nullptr;
}

// ---- language (RFC 5646 §2.1) ----

constexpr std::array<std::string_view, 26> kGrandfathered = {
    "en-GB-oed",   "i-ami",  "i-bnn",  "i-default", "i-enochian", "i-hak",     "i-klingon",  "i-lux",     "i-mingo",
    "i-navajo",    "i-pwn",  "i-tao",  "i-tay",     "i-tsu",      "sgn-BE-FR", "sgn-BE-NL",  "sgn-CH-DE", "art-lojban",
    "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu",  "zh-hakka",   "zh-min",    "zh-min-nan", "zh-xiang"};

bool AllAlpha(std::string_view s) {
    for (char c : s) {
        if (!IsAlpha(c)) return false;
    }
    return true;
}
bool AllDigit(std::string_view s) {
    for (char c : s) {
        if (!IsDigit(c)) return false;
    }
    return true;
}
bool AllAlnum(std::string_view s) {
    for (char c : s) {
        if (!IsAlnum(c)) return false;
    }
    return true;
}

const char* CheckPrivateUse(const std::vector<std::string_view>& subtags, std::size_t i) {
    if (i + 1 >= subtags.size()) return "private use needs at least one subtag after x";
    for (++i; i < subtags.size(); ++i) {
        if (subtags[i].size() > 8 || !AllAlnum(subtags[i])) return "private-use subtags are 1-8 letters or digits";
    }
    return nullptr;
}

const char* CheckLanguage(std::string_view text) {
    if (text.empty()) return "empty";
    // Grandfathered tags match exactly, as in the reference (packages/syntax/src/language.ts).
    for (std::string_view tag : kGrandfathered) {
        if (text == tag) return nullptr;
    }
    std::vector<std::string_view> subtags;
    std::size_t start = 0;
    while (true) {
        std::size_t dash = text.find('-', start);
        std::string_view subtag = text.substr(start, dash == std::string_view::npos ? dash : dash - start);
        if (subtag.empty() || subtag.size() > 8 || !AllAlnum(subtag)) return "subtags are 1-8 letters or digits";
        subtags.push_back(subtag);
        if (dash == std::string_view::npos) break;
        start = dash + 1;
    }
    std::size_t i = 0;
    if (subtags[0] == "x" || subtags[0] == "X") return CheckPrivateUse(subtags, 0);

    // The primary language must be lowercase (the interop vectors refuse "JA", as the reference does); the
    // other subtags are case-insensitive as RFC 5646 says.
    std::string_view primary = subtags[i++];
    if (primary.size() < 2 || primary.size() > 3) return "primary language must be 2-3 letters";
    for (char c : primary) {
        if (!detail::IsLower(c)) return "primary language must be 2-3 lowercase letters";
    }
    for (int extlangs = 0; extlangs < 3 && i < subtags.size() && subtags[i].size() == 3 && AllAlpha(subtags[i]);
         ++extlangs) {
        ++i;
    }
    if (i < subtags.size() && subtags[i].size() == 4 && AllAlpha(subtags[i])) ++i;  // script
    if (i < subtags.size() &&
        ((subtags[i].size() == 2 && AllAlpha(subtags[i])) || (subtags[i].size() == 3 && AllDigit(subtags[i])))) {
        ++i;  // region
    }
    std::vector<std::string> variants;
    while (i < subtags.size() && (subtags[i].size() >= 5 || (subtags[i].size() == 4 && IsDigit(subtags[i].front())))) {
        std::string variant = detail::AsciiLower(subtags[i]);
        for (const auto& seen : variants) {
            if (seen == variant) return "repeated variant subtag";
        }
        variants.push_back(std::move(variant));
        ++i;
    }
    std::string singletons;
    while (i < subtags.size() && subtags[i].size() == 1 && subtags[i] != "x" && subtags[i] != "X") {
        char singleton = detail::ToLower(subtags[i].front());
        if (singletons.find(singleton) != std::string::npos) return "repeated extension singleton";
        singletons += singleton;
        ++i;
        std::size_t first = i;
        while (i < subtags.size() && subtags[i].size() >= 2) ++i;
        if (i == first) return "extension needs at least one subtag of 2-8 characters";
    }
    if (i < subtags.size() && (subtags[i] == "x" || subtags[i] == "X")) return CheckPrivateUse(subtags, i);
    if (i != subtags.size()) return "subtags out of order or malformed";
    return nullptr;
}

// ---- uri ----

const char* CheckUri(std::string_view text) {
    if (text.size() > kMaxUriLength) return "longer than 8 KiB";
    if (text.empty() || !IsAlpha(text.front())) return "must start with a scheme";
    std::size_t i = 1;
    while (i < text.size() && (IsAlnum(text[i]) || text[i] == '+' || text[i] == '.' || text[i] == '-')) ++i;
    if (i == text.size() || text[i] != ':') return "must start with a scheme followed by ':'";
    if (i + 1 == text.size()) return "nothing after the scheme";
    for (++i; i < text.size(); ++i) {
        auto byte = static_cast<unsigned char>(text[i]);
        if (byte <= 0x20 || byte >= 0x7f) return "has whitespace, control or non-ASCII characters";
    }
    return nullptr;
}

}  // namespace

bool IsValidCid(std::string_view text) { return CheckCid(text) == nullptr; }
Status ValidateCid(std::string_view text) {
    if (const char* why = CheckCid(text)) return detail::Invalid("cid", why, text);
    return Ok();
}

bool IsValidLanguage(std::string_view text) { return CheckLanguage(text) == nullptr; }
Status ValidateLanguage(std::string_view text) {
    if (const char* why = CheckLanguage(text)) return detail::Invalid("language", why, text);
    return Ok();
}

bool IsValidUri(std::string_view text) { return CheckUri(text) == nullptr; }
Status ValidateUri(std::string_view text) {
    if (const char* why = CheckUri(text)) return detail::Invalid("uri", why, text);
    return Ok();
}

Status ValidateFormat(std::string_view format, std::string_view value) {
    auto drop = [](auto&& result) -> Status {
        if (!result) return Fail(std::move(result.error()));
        return Ok();
    };
    if (format == "at-identifier") return drop(ParseAtIdentifier(value));
    if (format == "at-uri") return drop(ParseAtUri(value));
    if (format == "cid") return ValidateCid(value);
    if (format == "datetime") return drop(ParseDatetime(value));
    if (format == "did") return drop(ParseDid(value));
    if (format == "handle") return drop(ParseHandle(value));
    if (format == "nsid") return drop(ParseNsid(value));
    if (format == "record-key") return drop(ParseRecordKey(value));
    if (format == "tid") return drop(ParseTid(value));
    if (format == "uri") return ValidateUri(value);
    if (format == "language") return ValidateLanguage(value);
    return Fail(ErrorCode::kUnsupported, "unknown string format", fmt::format("format {:?}", format));
}

}  // namespace plyr::atproto::syntax
