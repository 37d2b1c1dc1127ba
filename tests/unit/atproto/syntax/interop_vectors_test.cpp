// Every atproto-interop syntax vector (tests/data/atproto-interop/syntax, CC0): each line of a *_valid.txt
// must be accepted and each line of a *_invalid.txt rejected by the matching validator.
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "atproto/syntax/syntax.hpp"
#include "atproto/syntax/tid.hpp"

namespace plyr::atproto::syntax {
namespace {

// Vector rule: skip blank lines and lines starting with '#'; never trim (trailing spaces are test cases).
std::vector<std::string> ReadVectors(const std::string& name) {
    std::ifstream in(std::string(PLYR_SOURCE_DIR) + "/tests/data/atproto-interop/syntax/" + name, std::ios::binary);
    EXPECT_TRUE(in.good()) << "missing vector file " << name;
    std::vector<std::string> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        out.push_back(line);
    }
    return out;
}

using Validator = std::function<bool(std::string_view)>;

void ExpectAll(const std::string& file, const Validator& valid, bool expected) {
    auto lines = ReadVectors(file);
    ASSERT_FALSE(lines.empty()) << file;
    for (const auto& line : lines) {
        EXPECT_EQ(valid(line), expected) << file << ": \"" << line << "\"";
    }
}

TEST(InteropSyntaxVectors, DidValidAndInvalid) {
    ExpectAll("did_syntax_valid.txt", IsValidDid, true);
    ExpectAll("did_syntax_invalid.txt", IsValidDid, false);
}

TEST(InteropSyntaxVectors, HandleValidAndInvalid) {
    ExpectAll("handle_syntax_valid.txt", IsValidHandle, true);
    ExpectAll("handle_syntax_invalid.txt", IsValidHandle, false);
}

TEST(InteropSyntaxVectors, NsidValidAndInvalid) {
    ExpectAll("nsid_syntax_valid.txt", IsValidNsid, true);
    ExpectAll("nsid_syntax_invalid.txt", IsValidNsid, false);
}

TEST(InteropSyntaxVectors, RecordKeyValidAndInvalid) {
    ExpectAll("recordkey_syntax_valid.txt", IsValidRecordKey, true);
    ExpectAll("recordkey_syntax_invalid.txt", IsValidRecordKey, false);
    // Swallowed by the comment rule in the vector file (docs/atproto.md §10.1), so asserted by hand.
    EXPECT_FALSE(IsValidRecordKey("#extra"));
}

TEST(InteropSyntaxVectors, AtIdentifierValidAndInvalid) {
    ExpectAll("atidentifier_syntax_valid.txt", IsValidAtIdentifier, true);
    ExpectAll("atidentifier_syntax_invalid.txt", IsValidAtIdentifier, false);
}

TEST(InteropSyntaxVectors, TidValidAndInvalid) {
    ExpectAll("tid_syntax_valid.txt", IsValidTid, true);
    ExpectAll("tid_syntax_invalid.txt", IsValidTid, false);
    ExpectAll(
        "tid_syntax_valid.txt", [](std::string_view t) { return ParseTid(t).has_value(); }, true);
    ExpectAll(
        "tid_syntax_invalid.txt", [](std::string_view t) { return ParseTid(t).has_value(); }, false);
}

TEST(InteropSyntaxVectors, AtUriValidAndInvalid) {
    ExpectAll("aturi_syntax_valid.txt", IsValidAtUri, true);
    ExpectAll("aturi_syntax_invalid.txt", IsValidAtUri, false);
}

TEST(InteropSyntaxVectors, DatetimeValidAndInvalidIncludingSemanticallyInvalid) {
    ExpectAll("datetime_syntax_valid.txt", IsValidDatetime, true);
    ExpectAll("datetime_syntax_invalid.txt", IsValidDatetime, false);
    ExpectAll("datetime_parse_invalid.txt", IsValidDatetime, false);
}

TEST(InteropSyntaxVectors, CidValidAndInvalid) {
    ExpectAll("cid_syntax_valid.txt", IsValidCid, true);
    ExpectAll("cid_syntax_invalid.txt", IsValidCid, false);
}

TEST(InteropSyntaxVectors, LanguageValidAndInvalidIncludingRepeatedSubtags) {
    ExpectAll("language_syntax_valid.txt", IsValidLanguage, true);
    ExpectAll("language_syntax_invalid.txt", IsValidLanguage, false);
    ExpectAll("language_parse_invalid.txt", IsValidLanguage, false);
}

TEST(InteropSyntaxVectors, UriValidAndInvalid) {
    ExpectAll("uri_syntax_valid.txt", IsValidUri, true);
    ExpectAll("uri_syntax_invalid.txt", IsValidUri, false);
}

// The by-name dispatcher the lexicon validator uses must agree with the individual validators.
TEST(InteropSyntaxVectors, ValidateFormatAgreesWithEveryVectorFile) {
    const std::pair<const char*, const char*> kFiles[] = {{"at-identifier", "atidentifier"},
                                                          {"at-uri", "aturi"},
                                                          {"cid", "cid"},
                                                          {"datetime", "datetime"},
                                                          {"did", "did"},
                                                          {"handle", "handle"},
                                                          {"nsid", "nsid"},
                                                          {"record-key", "recordkey"},
                                                          {"tid", "tid"},
                                                          {"uri", "uri"},
                                                          {"language", "language"}};
    for (const auto& [format, prefix] : kFiles) {
        auto valid = [format = std::string(format)](std::string_view v) {
            return ValidateFormat(format, v).has_value();
        };
        ExpectAll(std::string(prefix) + "_syntax_valid.txt", valid, true);
        ExpectAll(std::string(prefix) + "_syntax_invalid.txt", valid, false);
    }
    ExpectAll(
        "datetime_parse_invalid.txt", [](std::string_view v) { return ValidateFormat("datetime", v).has_value(); },
        false);
    ExpectAll(
        "language_parse_invalid.txt", [](std::string_view v) { return ValidateFormat("language", v).has_value(); },
        false);
    auto unknown = ValidateFormat("color", "red");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace plyr::atproto::syntax
