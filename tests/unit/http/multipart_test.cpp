#include "http/multipart.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "net/offload.hpp"

#if defined(__SANITIZE_ADDRESS__)
// From the ASan runtime (sanitizer/allocator_interface.h, which g++ 12 does not ship).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace plyr::http {
namespace {

constexpr std::string_view kBoundary = "----WebKitFormBoundaryX3b9";

struct Part {
    PartInfo info;
    PartKind kind = PartKind::kSkip;
    std::string content;  // field value or file bytes
    bool ended = false;
};

class Collect final : public MultipartEvents {
  public:
    std::function<MultipartResult<PartKind>(const PartInfo&)> classify = [](const PartInfo& p) {
        return MultipartResult<PartKind>(DefaultPartKind(p));
    };
    std::vector<Part> parts;

    MultipartResult<PartKind> OnPartBegin(const PartInfo& part) override {
        auto kind = classify(part);
        if (!kind) return kind;
        parts.push_back(Part{part, *kind, {}, false});
        return kind;
    }
    MultipartStatus OnFileData(std::string_view chunk) override {
        EXPECT_FALSE(chunk.empty());
        EXPECT_EQ(parts.back().kind, PartKind::kFile);
        parts.back().content.append(chunk);
        return {};
    }
    MultipartStatus OnPartEnd(const PartInfo& part, std::string value) override {
        EXPECT_EQ(part.index, parts.size() - 1);
        if (parts.back().kind == PartKind::kField) parts.back().content = std::move(value);
        parts.back().ended = true;
        return {};
    }
};

// Feeds `body` cut at the given positions (sorted, inside the body) and finishes.
MultipartResult<std::vector<Part>> ParseCut(std::string_view body, const std::vector<std::size_t>& cuts,
                                            MultipartLimits limits = {}, std::string_view boundary = kBoundary) {
    Collect collect;
    MultipartParser parser(boundary, limits, collect);
    std::size_t at = 0;
    for (std::size_t cut : cuts) {
        auto r = parser.Feed(body.substr(at, cut - at));
        if (!r) return tl::unexpected<MultipartError>(r.error());
        at = cut;
    }
    auto r = parser.Feed(body.substr(at));
    if (!r) return tl::unexpected<MultipartError>(r.error());
    auto f = parser.Finish();
    if (!f) return tl::unexpected<MultipartError>(f.error());
    return std::move(collect.parts);
}

MultipartResult<std::vector<Part>> Parse(std::string_view body, MultipartLimits limits = {},
                                         std::string_view boundary = kBoundary) {
    return ParseCut(body, {}, limits, boundary);
}

// A part: header lines (each without its CRLF) and content.
std::string RawPart(std::vector<std::string> headers, std::string_view content) {
    std::string out;
    for (const auto& h : headers) out += h + "\r\n";
    out += "\r\n";
    out.append(content);
    return out;
}

std::string FieldPart(std::string_view name, std::string_view value) {
    return RawPart({"Content-Disposition: form-data; name=\"" + std::string(name) + "\""}, value);
}

std::string FilePart(std::string_view name, std::string_view filename, std::string_view content,
                     std::string_view type = "audio/mpeg") {
    return RawPart({"Content-Disposition: form-data; name=\"" + std::string(name) + "\"; filename=\"" +
                        std::string(filename) + "\"",
                    "Content-Type: " + std::string(type)},
                   content);
}

std::string Body(const std::vector<std::string>& parts, std::string_view boundary = kBoundary) {
    std::string out;
    for (const auto& p : parts) out += "--" + std::string(boundary) + "\r\n" + p + "\r\n";
    out += "--" + std::string(boundary) + "--\r\n";
    return out;
}

// Content that looks like the delimiter without being one, CRs and LFs at every position.
std::string TrickyContent() {
    std::string b(kBoundary);
    return "\r\n--" + b.substr(0, b.size() - 1) + "Y\r\r\n\r\n-\r\n--\r\n--" + b.substr(0, 5) + "\r" +
           std::string("\0\xff\r", 3);
}

std::string SampleBody() {
    return Body({FieldPart("title", "Night Drive"), FilePart("file", "song.mp3", TrickyContent()),
                 FieldPart("tags", "[\"synth\",\"\\\"quoted\\\"\"]"), FieldPart("empty", "")});
}

void ExpectSample(const MultipartResult<std::vector<Part>>& r, const std::string& label) {
    ASSERT_TRUE(r.has_value()) << label << ": " << r.error().code << " " << r.error().message;
    ASSERT_EQ(r->size(), 4u) << label;
    EXPECT_EQ((*r)[0].info.name, "title");
    EXPECT_EQ((*r)[0].kind, PartKind::kField);
    EXPECT_EQ((*r)[0].content, "Night Drive") << label;
    EXPECT_EQ((*r)[1].info.name, "file");
    EXPECT_EQ((*r)[1].info.filename, "song.mp3");
    EXPECT_EQ((*r)[1].info.content_type, "audio/mpeg");
    EXPECT_EQ((*r)[1].kind, PartKind::kFile);
    EXPECT_EQ((*r)[1].content, TrickyContent()) << label;
    EXPECT_EQ((*r)[2].content, "[\"synth\",\"\\\"quoted\\\"\"]") << label;
    EXPECT_EQ((*r)[3].content, "") << label;
    for (const auto& p : *r) EXPECT_TRUE(p.ended) << label;
}

void ExpectError(const MultipartResult<std::vector<Part>>& r, int status, std::string_view code) {
    ASSERT_FALSE(r.has_value()) << "expected " << code;
    EXPECT_EQ(r.error().status, status);
    EXPECT_EQ(r.error().code, code) << r.error().message;
}

// ---- boundary from Content-Type ----

TEST(MultipartBoundary, AcceptsTokenAndQuotedBoundaries) {
    EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=abc123").value(), "abc123");
    EXPECT_EQ(MultipartBoundary("Multipart/Form-Data;boundary=\"a b:c?\"").value(), "a b:c?");
    EXPECT_EQ(MultipartBoundary("multipart/form-data; charset=utf-8; BOUNDARY=x").value(), "x");
    EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=" + std::string(70, 'z')).value(), std::string(70, 'z'));
}

TEST(MultipartBoundary, MissingOrInvalidBoundaryIsMalformedMultipart) {
    for (std::string ct : std::vector<std::string>{
             "multipart/form-data", "multipart/form-data;", "multipart/form-data; charset=utf-8",
             "multipart/form-data; boundary=", "multipart/form-data; boundary=\"\"",
             "multipart/form-data; boundary=" + std::string(71, 'z'),
             "multipart/form-data; boundary=\"ends in space \"", "multipart/form-data; boundary=a@b",
             "multipart/form-data; boundary=\"unterminated"}) {
        auto r = MultipartBoundary(ct);
        ASSERT_FALSE(r.has_value()) << ct;
        EXPECT_EQ(r.error().status, 400) << ct;
        EXPECT_EQ(r.error().code, "malformed_multipart") << ct;
    }
}

TEST(MultipartBoundary, OtherMediaTypesAreUnsupported) {
    for (auto ct : {std::optional<std::string_view>{}, std::optional<std::string_view>{"application/json"},
                    std::optional<std::string_view>{"multipart/mixed; boundary=x"}}) {
        auto r = MultipartBoundary(ct);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().status, 415);
        EXPECT_EQ(r.error().code, "unsupported_media_type");
    }
}

// ---- parsing, at every chunking ----

TEST(MultipartParser, ParsesFieldsAndFileInOneChunk) { ExpectSample(Parse(SampleBody()), "whole"); }

TEST(MultipartParser, ParsesByteByByte) {
    std::string body = SampleBody();
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < body.size(); ++i) cuts.push_back(i);
    ExpectSample(ParseCut(body, cuts), "byte by byte");
}

TEST(MultipartParser, ParsesWithASplitAtEveryPosition) {
    std::string body = SampleBody();
    for (std::size_t i = 0; i <= body.size(); ++i) ExpectSample(ParseCut(body, {i}), "split at " + std::to_string(i));
}

TEST(MultipartParser, ParsesWithTwoSplitsAtEveryPositionPair) {
    std::string body = Body({FilePart("file", "a.wav", TrickyContent())});
    for (std::size_t i = 0; i <= body.size(); ++i) {
        for (std::size_t j = i; j <= body.size(); ++j) {
            auto r = ParseCut(body, {i, j});
            ASSERT_TRUE(r.has_value()) << i << "," << j;
            ASSERT_EQ(r->size(), 1u);
            ASSERT_EQ((*r)[0].content, TrickyContent()) << i << "," << j;
        }
    }
}

TEST(MultipartParser, ParsesWithRandomChunkSizes) {
    std::string body = SampleBody();
    std::mt19937 rng(12345);
    for (int round = 0; round < 500; ++round) {
        std::vector<std::size_t> cuts;
        std::size_t at = 0;
        std::uniform_int_distribution<std::size_t> step(1, round % 2 ? 7 : 64);
        while ((at += step(rng)) < body.size()) cuts.push_back(at);
        ExpectSample(ParseCut(body, cuts), "round " + std::to_string(round));
    }
}

TEST(MultipartParser, IgnoresPreambleAndEpilogue) {
    std::string body = "This is the preamble.\r\n--not-it\r\n" + SampleBody() + "epilogue\r\n--" +
                       std::string(kBoundary) + "\r\ngarbage";
    ExpectSample(Parse(body), "preamble");
    for (std::size_t i = 0; i <= body.size(); ++i) ExpectSample(ParseCut(body, {i}), "split " + std::to_string(i));
}

TEST(MultipartParser, AcceptsBodyWithoutFinalCrlfAndTransportPadding) {
    std::string b(kBoundary);
    std::string body = "--" + b + " \t\r\n" + FieldPart("title", "x") + "\r\n--" + b + "\t\r\n" +
                       FieldPart("album", "y") + "\r\n--" + b + "--";
    auto r = Parse(body);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].content, "x");
    EXPECT_EQ((*r)[1].content, "y");
}

TEST(MultipartParser, ToleratesBareLfInHeadersAndAfterBoundary) {
    std::string b(kBoundary);
    std::string body = "--" + b + "\nContent-Disposition: form-data; name=\"title\"\n\nhello\r\n--" + b + "--\r\n";
    auto r = Parse(body);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].content, "hello");
}

TEST(MultipartParser, AcceptsAFormWithNoParts) {
    auto r = Parse("--" + std::string(kBoundary) + "--\r\n");
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->empty());
}

TEST(MultipartParser, EmptyFileIsAFilePartWithNoData) {
    auto r = Parse(Body({FilePart("file", "", "", "application/octet-stream")}));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].kind, PartKind::kFile);
    EXPECT_EQ((*r)[0].info.filename, "");
    EXPECT_EQ((*r)[0].content, "");
    EXPECT_TRUE((*r)[0].ended);
}

// ---- part headers ----

MultipartResult<PartInfo> OnePart(std::vector<std::string> headers) {
    auto r = Parse(Body({RawPart(std::move(headers), "v")}));
    if (!r) return tl::unexpected<MultipartError>(r.error());
    if (r->size() != 1) return MultipartFail(500, "test", "expected one part");
    return (*r)[0].info;
}

TEST(MultipartHeaders, DecodesQuotedStringEscapes) {
    auto p = OnePart({R"(Content-Disposition: form-data; name="a\"b\\c"; filename="x \"y\".mp3")"});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->name, "a\"b\\c");
    EXPECT_EQ(p->filename, "x \"y\".mp3");
}

TEST(MultipartHeaders, AcceptsTokenValuesAndAnyCase) {
    auto p = OnePart({"content-disposition:FORM-DATA;NAME=title ;  FileName=song.mp3", "CONTENT-TYPE:  audio/wav  "});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->name, "title");
    EXPECT_EQ(p->filename, "song.mp3");
    EXPECT_EQ(p->content_type, "audio/wav");
    EXPECT_TRUE(p->is_file());
}

TEST(MultipartHeaders, KeepsTheLastPathSegmentOfWindowsAndUnixPaths) {
    auto p = OnePart({R"(Content-Disposition: form-data; name="file"; filename="C:\Music\Mix\song.flac")"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->filename, "song.flac");
    p = OnePart({R"(Content-Disposition: form-data; name="file"; filename="../../etc/passwd")"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->filename, "passwd");
}

TEST(MultipartHeaders, ExtendedFilenameWinsWhenItDecodes) {
    auto p =
        OnePart({"Content-Disposition: form-data; name=\"file\"; filename=\"fallback.mp3\"; "
                 "filename*=UTF-8''%E2%82%AC%20rates.mp3"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->filename, "\xE2\x82\xAC rates.mp3");
    p = OnePart({"Content-Disposition: form-data; name=\"file\"; filename*=iso-8859-1'en'caf%E9.mp3"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->filename, "caf\xC3\xA9.mp3");
    p = OnePart({"Content-Disposition: form-data; name=\"file\"; filename=\"ok.mp3\"; filename*=koi8-r''x%ZZ"});
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->filename, "ok.mp3");
}

TEST(MultipartHeaders, JoinsFoldedHeaderLines) {
    auto p = OnePart({"Content-Disposition: form-data;", "\tname=\"folded\""});
    ASSERT_TRUE(p.has_value()) << p.error().message;
    EXPECT_EQ(p->name, "folded");
    EXPECT_EQ(p->headers.size(), 1u);
}

TEST(MultipartHeaders, FieldWithoutFilenameIsAField) {
    auto p = OnePart({"Content-Disposition: form-data; name=\"title\"", "Content-Type: text/plain; charset=utf-8"});
    ASSERT_TRUE(p.has_value());
    EXPECT_FALSE(p->is_file());
    EXPECT_EQ(p->content_type, "text/plain; charset=utf-8");
}

TEST(MultipartHeaders, RejectsPartsWithoutAUsableDisposition) {
    for (std::vector<std::string> headers : std::vector<std::vector<std::string>>{
             {},
             {"Content-Type: text/plain"},
             {"Content-Disposition: attachment; name=\"x\""},
             {"Content-Disposition: form-data"},
             {"Content-Disposition: form-data; filename=\"a.mp3\""},
             {"Content-Disposition: form-data; name=\"unterminated"},
             {"Content-Disposition: form-data; name=\"x\" junk"},
             {"no colon here"},
             {": empty name"},
             {"Bad Name: x", "Content-Disposition: form-data; name=\"x\""},
             {"\tfolded first line"},
             {"Content-Disposition: form-data; name=\"x\"", "X-A: a\rb"},
         }) {
        auto p = OnePart(headers);
        ASSERT_FALSE(p.has_value()) << (headers.empty() ? "" : headers[0]);
        EXPECT_EQ(p.error().status, 400);
        EXPECT_EQ(p.error().code, "malformed_multipart") << (headers.empty() ? "" : headers[0]);
    }
}

TEST(MultipartHeaders, HeaderBlockOverTheCapIsMalformed) {
    MultipartLimits limits;
    limits.max_header_bytes = 256;
    std::string disposition = "Content-Disposition: form-data; name=\"x\"";
    auto fits = Parse(Body({RawPart({disposition, "X-Pad: " + std::string(100, 'p')}, "v")}), limits);
    EXPECT_TRUE(fits.has_value());
    ExpectError(Parse(Body({RawPart({disposition, "X-Pad: " + std::string(300, 'p')}, "v")}), limits), 400,
                "malformed_multipart");
    // Many small lines count too, and an endless line without LF is cut at the cap.
    std::vector<std::string> many{disposition};
    for (int i = 0; i < 40; ++i) many.push_back("X-" + std::to_string(i) + ": v");
    ExpectError(Parse(Body({RawPart(many, "v")}), limits), 400, "malformed_multipart");
    Collect collect;
    MultipartParser parser(kBoundary, limits, collect);
    ASSERT_TRUE(parser.Feed("--" + std::string(kBoundary) + "\r\nX: ").has_value());
    MultipartStatus r;
    for (int i = 0; i < 1000 && r.has_value(); ++i) r = parser.Feed(std::string(64, 'a'));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "malformed_multipart");
    EXPECT_LE(parser.buffered_bytes(), 256u + 64u);
}

// ---- malformed bodies ----

TEST(MultipartParser, UnterminatedBodiesAreMalformed) {
    std::string body = SampleBody();
    std::string closing = "--" + std::string(kBoundary) + "--";
    std::size_t close_at = body.rfind(closing);
    // Every prefix that stops before the end of the close delimiter.
    for (std::size_t n = 0; n < close_at + closing.size(); ++n) {
        auto r = Parse(body.substr(0, n));
        ASSERT_FALSE(r.has_value()) << "prefix " << n;
        EXPECT_EQ(r.error().code, "malformed_multipart") << "prefix " << n;
        EXPECT_EQ(r.error().status, 400);
    }
}

TEST(MultipartParser, GarbageIsMalformed) {
    std::string b(kBoundary);
    for (std::string body :
         {std::string("just some bytes"), "--" + b + "X\r\n" + FieldPart("a", "b") + "\r\n--" + b + "--",
          "--" + b + "\r\n" + FieldPart("a", "b") + "\r\n--" + b + "-x",
          "--" + b + "\r\n" + FieldPart("a", "b") + "\r\n--" + b + "\rX",
          "--" + b + "\r\n" + FieldPart("a", "b") + "\r\n--" + b + "  x\r\n", "--" + b + "\r\n" + FieldPart("a", "b"),
          std::string(200, '\0')}) {
        auto r = Parse(body);
        ASSERT_FALSE(r.has_value()) << body;
        EXPECT_EQ(r.error().code, "malformed_multipart") << body;
    }
}

TEST(MultipartParser, StaysFailedAfterAnError) {
    Collect collect;
    MultipartParser parser(kBoundary, {}, collect);
    ASSERT_FALSE(parser.Feed("--" + std::string(kBoundary) + "!").has_value());
    EXPECT_TRUE(parser.failed());
    auto again = parser.Feed("\r\n");
    ASSERT_FALSE(again.has_value());
    EXPECT_EQ(again.error().code, "malformed_multipart");
    EXPECT_FALSE(parser.Finish().has_value());
}

// ---- limits ----

TEST(MultipartLimits, TenThousandPartsAreTooManyParts) {
    std::vector<std::string> parts;
    for (int i = 0; i < 10000; ++i) parts.push_back(FieldPart("f" + std::to_string(i), "v"));
    std::string body = Body(parts);
    Collect collect;
    MultipartParser parser(kBoundary, {}, collect);
    auto r = parser.Feed(body);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 400);
    EXPECT_EQ(r.error().code, "too_many_parts");
    EXPECT_EQ(collect.parts.size(), 20u);  // stopped at part 21 without looking further
}

TEST(MultipartLimits, ExactlyMaxPartsIsAccepted) {
    std::vector<std::string> parts;
    for (int i = 0; i < 20; ++i) parts.push_back(FieldPart("f" + std::to_string(i), "v"));
    auto r = Parse(Body(parts));
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->size(), 20u);
    parts.push_back(FieldPart("one_more", "v"));
    ExpectError(Parse(Body(parts)), 400, "too_many_parts");
}

TEST(MultipartLimits, OneMegabyteTextFieldIsFieldTooLarge) {
    ExpectError(Parse(Body({FieldPart("description", std::string(1 << 20, 'd'))})), 413, "field_too_large");
    auto at_cap = Parse(Body({FieldPart("description", std::string(16 * 1024, 'd'))}));
    ASSERT_TRUE(at_cap.has_value());
    EXPECT_EQ((*at_cap)[0].content.size(), 16u * 1024u);
    ExpectError(Parse(Body({FieldPart("description", std::string(16 * 1024 + 1, 'd'))})), 413, "field_too_large");
}

TEST(MultipartLimits, FieldCapHoldsWhenFedByteByByte) {
    std::string body = Body({FieldPart("description", std::string(20000, 'd'))});
    Collect collect;
    MultipartParser parser(kBoundary, {}, collect);
    MultipartStatus r;
    std::size_t max_buffered = 0;
    for (std::size_t i = 0; i < body.size() && r.has_value(); ++i) {
        r = parser.Feed(body.substr(i, 1));
        max_buffered = std::max(max_buffered, parser.buffered_bytes());
    }
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "field_too_large");
    EXPECT_LE(max_buffered, 16u * 1024u + kBoundary.size() + 4);
}

TEST(MultipartLimits, BodyCapFailsAtCapPlusOneByte) {
    std::string body = Body({FieldPart("title", "t"), FilePart("file", "a.mp3", std::string(5000, 'a'))});
    MultipartLimits limits;
    limits.max_body_bytes = body.size();
    EXPECT_TRUE(Parse(body, limits).has_value());
    limits.max_body_bytes = body.size() - 1;
    ExpectError(Parse(body, limits), 413, "file_too_large");
    // Streaming: the byte that crosses the cap is the one that fails.
    Collect collect;
    MultipartParser parser(kBoundary, limits, collect);
    for (std::size_t i = 0; i + 1 < body.size(); ++i) ASSERT_TRUE(parser.Feed(body.substr(i, 1)).has_value()) << i;
    auto r = parser.Feed(body.substr(body.size() - 1));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "file_too_large");
    EXPECT_EQ(r.error().status, 413);
}

TEST(MultipartLimits, PerFileCapFailsAtCapPlusOneByte) {
    MultipartLimits limits;
    limits.max_file_bytes = 1000;
    EXPECT_TRUE(Parse(Body({FilePart("file", "a.mp3", std::string(1000, 'a'))}), limits).has_value());
    ExpectError(Parse(Body({FilePart("file", "a.mp3", std::string(1001, 'a'))}), limits), 413, "file_too_large");
}

TEST(MultipartParser, ConsumerErrorsStopParsing) {
    Collect collect;
    collect.classify = [](const PartInfo& p) -> MultipartResult<PartKind> {
        if (p.name == "bad") return MultipartFail(400, "unknown_field", "unknown field");
        return DefaultPartKind(p);
    };
    MultipartParser parser(kBoundary, {}, collect);
    auto r = parser.Feed(Body({FieldPart("title", "t"), FieldPart("bad", "x"), FieldPart("never", "y")}));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "unknown_field");
    EXPECT_EQ(collect.parts.size(), 1u);
}

TEST(MultipartParser, SkippedPartsAreNotDelivered) {
    Collect collect;
    collect.classify = [](const PartInfo&) -> MultipartResult<PartKind> { return PartKind::kSkip; };
    MultipartParser parser(kBoundary, {}, collect);
    ASSERT_TRUE(parser.Feed(Body({FieldPart("x", std::string(100000, 'x'))})).has_value());
    ASSERT_TRUE(parser.Finish().has_value());
    ASSERT_EQ(collect.parts.size(), 1u);
    EXPECT_EQ(collect.parts[0].content, "");
}

// ---- bounded memory ----

class CountingEvents final : public MultipartEvents {
  public:
    std::uint64_t bytes = 0;
    std::uint64_t checksum = 0;
    MultipartResult<PartKind> OnPartBegin(const PartInfo& part) override { return DefaultPartKind(part); }
    MultipartStatus OnFileData(std::string_view chunk) override {
        bytes += chunk.size();
        for (unsigned char c : chunk) checksum = checksum * 31 + c;
        return {};
    }
    MultipartStatus OnPartEnd(const PartInfo&, std::string) override { return {}; }
};

TEST(MultipartMemory, HundredMegabytePartStreamsThroughBoundedMemory) {
    constexpr std::uint64_t kSize = 100ull * 1024 * 1024;
    std::string head = "--" + std::string(kBoundary) + "\r\n" + FilePart("file", "big.wav", "");
    std::string tail = "\r\n--" + std::string(kBoundary) + "--\r\n";
    CountingEvents events;
    MultipartParser parser(kBoundary, {}, events);
    ASSERT_TRUE(parser.Feed(head).has_value());
    // Content full of CRs and delimiter prefixes, generated chunk by chunk (never held whole).
    std::string pattern = "\r\n--" + std::string(kBoundary).substr(0, 10) + "\r\r\n-abc";
    std::string chunk;
    while (chunk.size() < 65536) chunk += pattern;
    std::uint64_t expected_checksum = 0;
    std::uint64_t sent = 0;
    std::size_t max_buffered = 0;
    std::mt19937 rng(7);
    std::uniform_int_distribution<std::size_t> size(1, chunk.size());
    while (sent < kSize) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size(rng), kSize - sent));
        std::string_view piece(chunk.data(), n);
        for (unsigned char c : piece) expected_checksum = expected_checksum * 31 + c;
        ASSERT_TRUE(parser.Feed(piece).has_value());
        max_buffered = std::max(max_buffered, parser.buffered_bytes());
        sent += n;
    }
    ASSERT_TRUE(parser.Feed(tail).has_value());
    ASSERT_TRUE(parser.Finish().has_value());
    EXPECT_EQ(events.bytes, kSize);
    EXPECT_EQ(events.checksum, expected_checksum);
    EXPECT_LT(max_buffered, 4 + kBoundary.size());  // only a delimiter-prefix carry is ever held
}

// ---- ReadMultipart (coroutine driver) ----

class ChunkedBody final : public BodyReader {
  public:
    ChunkedBody(std::string body, std::uint32_t seed, std::size_t max_chunk)
        : body_(std::move(body)), rng_(seed), size_(1, max_chunk) {}
    std::optional<Error> fail_at_end;

    boost::asio::awaitable<Result<std::size_t>> Read(std::span<char> out) override {
        if (at_ == body_.size()) {
            if (fail_at_end) co_return Fail(*fail_at_end);
            co_return std::size_t{0};
        }
        std::size_t n = std::min({size_(rng_), out.size(), body_.size() - at_});
        std::copy_n(body_.data() + at_, n, out.data());
        at_ += n;
        co_return n;
    }
    std::optional<std::uint64_t> content_length() const override { return body_.size(); }

  private:
    std::string body_;
    std::size_t at_ = 0;
    std::mt19937 rng_;
    std::uniform_int_distribution<std::size_t> size_;
};

// Writes file parts to disk through the blocking pool, like the upload handler.
class DiskSink final : public MultipartSink {
  public:
    DiskSink(net::BlockingPool& pool, std::filesystem::path dir) : pool_(pool), dir_(std::move(dir)) {}

    std::vector<std::pair<std::string, std::string>> fields;
    std::vector<std::size_t> chunk_sizes;
    std::vector<std::filesystem::path> files;
    std::optional<MultipartError> fail_chunk;

    boost::asio::awaitable<MultipartStatus> OnFileBegin(const PartInfo& part) override {
        files.push_back(dir_ / (part.name + ".bin"));
        bool opened = co_await net::Offload(pool_, [this] {
            out_.open(files.back(), std::ios::binary | std::ios::trunc);
            return out_.is_open();
        });
        if (!opened) co_return MultipartFail(500, "internal_error", "cannot open");
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnFileChunk(std::span<const char> chunk) override {
        chunk_sizes.push_back(chunk.size());
        if (fail_chunk) co_return tl::unexpected<MultipartError>(*fail_chunk);
        bool ok = co_await net::Offload(pool_, [this, chunk] {
            out_.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            return out_.good();
        });
        if (!ok)
            co_return tl::unexpected<MultipartError>(
                MultipartErrorFrom(Error{ErrorCode::kStorageFull, "disk full", {}}));
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnFileEnd(const PartInfo&) override {
        co_await net::Offload(pool_, [this] { out_.close(); });
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnField(const PartInfo& part, std::string value) override {
        fields.emplace_back(part.name, std::move(value));
        co_return MultipartStatus{};
    }

  private:
    net::BlockingPool& pool_;
    std::filesystem::path dir_;
    std::ofstream out_;
};

class ReadMultipartTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ =
            std::filesystem::temp_directory_path() / ("plyr_multipart_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    MultipartStatus Run(BodyReader& body, std::optional<std::string_view> content_type, MultipartSink& sink,
                        MultipartLimits limits = {}, MultipartReadOptions options = {}) {
        boost::asio::io_context io;
        auto future = boost::asio::co_spawn(io, ReadMultipart(body, content_type, limits, sink, options),
                                            boost::asio::use_future);
        io.run();
        return future.get();
    }

    static std::string ReadFile(const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }

    std::filesystem::path dir_;
    net::BlockingPool pool_{2};
    const std::string content_type_ = "multipart/form-data; boundary=\"" + std::string(kBoundary) + "\"";
};

TEST_F(ReadMultipartTest, StreamsFilesInFixedChunksAndDeliversFields) {
    std::string audio;
    std::mt19937 rng(99);
    for (int i = 0; i < 300000; ++i) audio.push_back(static_cast<char>(rng() & 0xff));
    audio += TrickyContent();
    std::string body =
        "preamble\r\n" + Body({FieldPart("title", "Song"), FilePart("file", "a.mp3", audio),
                               FilePart("image", "c.png", "PNGDATA", "image/png"), FieldPart("album", "LP")});
    for (std::uint32_t seed : {1u, 2u, 3u}) {
        ChunkedBody reader(body, seed, seed == 1 ? 3 : 70000);
        DiskSink sink(pool_, dir_);
        MultipartReadOptions options;
        options.read_bytes = 4096;
        options.chunk_bytes = 65536;
        auto r = Run(reader, content_type_, sink, {}, options);
        ASSERT_TRUE(r.has_value()) << r.error().code << " " << r.error().message;
        ASSERT_EQ(sink.files.size(), 2u);
        EXPECT_EQ(ReadFile(sink.files[0]), audio);
        EXPECT_EQ(ReadFile(sink.files[1]), "PNGDATA");
        ASSERT_EQ(sink.fields.size(), 2u);
        EXPECT_EQ(sink.fields[0], (std::pair<std::string, std::string>{"title", "Song"}));
        EXPECT_EQ(sink.fields[1], (std::pair<std::string, std::string>{"album", "LP"}));
        // Every chunk but the last of each file is exactly chunk_bytes.
        std::size_t full = audio.size() / options.chunk_bytes;
        ASSERT_EQ(sink.chunk_sizes.size(), full + 2);
        for (std::size_t i = 0; i < full; ++i) EXPECT_EQ(sink.chunk_sizes[i], options.chunk_bytes);
        EXPECT_EQ(sink.chunk_sizes[full], audio.size() % options.chunk_bytes);
        EXPECT_EQ(sink.chunk_sizes[full + 1], 7u);
    }
}

TEST_F(ReadMultipartTest, ContentTypeProblemsFailBeforeReading) {
    ChunkedBody reader(SampleBody(), 1, 100);
    DiskSink sink(pool_, dir_);
    auto r = Run(reader, std::nullopt, sink);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "unsupported_media_type");
    r = Run(reader, "multipart/form-data", sink);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "malformed_multipart");
    EXPECT_TRUE(sink.files.empty());
}

TEST_F(ReadMultipartTest, UnterminatedBodyIsMalformed) {
    std::string body = SampleBody();
    ChunkedBody reader(body.substr(0, body.size() - 10), 1, 100);
    DiskSink sink(pool_, dir_);
    auto r = Run(reader, content_type_, sink);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, "malformed_multipart");
    EXPECT_EQ(r.error().status, 400);
}

TEST_F(ReadMultipartTest, TransportFailuresMapToProductCodes) {
    struct Case {
        ErrorCode code;
        int status;
        std::string_view product;
    };
    for (Case c :
         {Case{ErrorCode::kTooLarge, 413, "file_too_large"}, Case{ErrorCode::kProtocol, 400, "bad_request"},
          Case{ErrorCode::kTimeout, 408, "request_timeout"}, Case{ErrorCode::kIo, 400, "client_disconnected"}}) {
        std::string body = SampleBody();
        ChunkedBody reader(body.substr(0, body.size() / 2), 5, 50);
        reader.fail_at_end = Error{c.code, "x", {}};
        DiskSink sink(pool_, dir_);
        auto r = Run(reader, content_type_, sink);
        ASSERT_FALSE(r.has_value());
        EXPECT_EQ(r.error().status, c.status);
        EXPECT_EQ(r.error().code, c.product);
        EXPECT_EQ(r.error().cause, c.code);
    }
}

TEST_F(ReadMultipartTest, SinkErrorsStopTheUpload) {
    ChunkedBody reader(Body({FilePart("file", "a.mp3", std::string(10000, 'a'))}), 3, 1000);
    DiskSink sink(pool_, dir_);
    sink.fail_chunk = MultipartErrorFrom(Error{ErrorCode::kStorageFull, "disk full", {}});
    MultipartReadOptions options;
    options.chunk_bytes = 1000;
    auto r = Run(reader, content_type_, sink, {}, options);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 507);
    EXPECT_EQ(r.error().code, "insufficient_storage");
    EXPECT_EQ(sink.chunk_sizes.size(), 1u);
}

TEST_F(ReadMultipartTest, BodyCapAppliesToBytesActuallyRead) {
    std::string body = Body({FilePart("file", "a.mp3", std::string(100000, 'a'))});
    MultipartLimits limits;
    limits.max_body_bytes = body.size() - 1;
    ChunkedBody reader(body, 4, 5000);
    DiskSink sink(pool_, dir_);
    auto r = Run(reader, content_type_, sink, limits);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().status, 413);
    EXPECT_EQ(r.error().code, "file_too_large");
}

// Live heap bytes of the process (ASan builds; 0 elsewhere, where the memory check is skipped).
std::size_t HeapInUse() {
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return 0;
#endif
}

// A body produced on the fly: head, `size` file bytes, tail. Never holds the whole body.
class GeneratedBody final : public BodyReader {
  public:
    GeneratedBody(std::string head, std::uint64_t size, std::string tail)
        : head_(std::move(head)), tail_(std::move(tail)), size_(size) {
        std::string pattern = "\r\n--" + std::string(kBoundary).substr(0, 9) + "\r\r\n-\x00\xff";
        while (block_.size() < 65536) block_ += pattern;
    }

    boost::asio::awaitable<Result<std::size_t>> Read(std::span<char> out) override {
        // Piecewise: head, then the file from a repeating block with CRs and delimiter prefixes, then tail.
        std::uint64_t file_end = head_.size() + size_;
        std::size_t n = 0;
        if (at_ < head_.size()) {
            n = std::min(out.size(), head_.size() - static_cast<std::size_t>(at_));
            std::memcpy(out.data(), head_.data() + at_, n);
        } else if (at_ < file_end) {
            std::uint64_t offset = (at_ - head_.size()) % block_.size();
            n = static_cast<std::size_t>(std::min<std::uint64_t>({out.size(), block_.size() - offset, file_end - at_}));
            std::memcpy(out.data(), block_.data() + offset, n);
        } else {
            std::size_t offset = static_cast<std::size_t>(at_ - file_end);
            n = std::min(out.size(), tail_.size() - offset);
            std::memcpy(out.data(), tail_.data() + offset, n);
        }
        at_ += n;
        co_return n;
    }
    std::optional<std::uint64_t> content_length() const override { return std::nullopt; }

  private:
    std::string head_;
    std::string tail_;
    std::string block_;
    std::uint64_t size_;
    std::uint64_t at_ = 0;
};

class CountingSink final : public MultipartSink {
  public:
    std::uint64_t bytes = 0;
    std::size_t chunks = 0;
    std::size_t baseline = HeapInUse();
    std::size_t peak_over_baseline = 0;

    boost::asio::awaitable<MultipartStatus> OnFileBegin(const PartInfo&) override { co_return MultipartStatus{}; }
    boost::asio::awaitable<MultipartStatus> OnFileChunk(std::span<const char> chunk) override {
        bytes += chunk.size();
        ++chunks;
        std::size_t now = HeapInUse();
        if (now > baseline) peak_over_baseline = std::max(peak_over_baseline, now - baseline);
        co_return MultipartStatus{};
    }
    boost::asio::awaitable<MultipartStatus> OnFileEnd(const PartInfo&) override { co_return MultipartStatus{}; }
    boost::asio::awaitable<MultipartStatus> OnField(const PartInfo&, std::string) override {
        co_return MultipartStatus{};
    }
};

TEST_F(ReadMultipartTest, HundredMegabyteUploadStreamsThroughACountingSinkInBoundedMemory) {
    constexpr std::uint64_t kSize = 100ull * 1024 * 1024;
    GeneratedBody body("--" + std::string(kBoundary) + "\r\n" + FilePart("file", "big.wav", ""), kSize,
                       "\r\n--" + std::string(kBoundary) + "--\r\n");
    CountingSink sink;
    MultipartLimits limits;
    limits.max_body_bytes = kSize + 4096;
    auto r = Run(body, content_type_, sink, limits);
    ASSERT_TRUE(r.has_value()) << r.error().code;
    EXPECT_EQ(sink.bytes, kSize);
    EXPECT_EQ(sink.chunks, kSize / (1024 * 1024));  // 1 MiB chunks
#if defined(__SANITIZE_ADDRESS__)
    // Read buffer (64 KiB) + chunk buffer (1 MiB) + one Feed's recorded events: far below 8 MiB.
    EXPECT_LT(sink.peak_over_baseline, 8u * 1024 * 1024);
    EXPECT_GT(sink.peak_over_baseline, 1024u * 1024u);  // the measurement is live: the 1 MiB chunk buffer shows
#endif
}

TEST(MultipartErrors, ResponseHasTheProductShape) {
    MultipartError e{413, "field_too_large", "a form field is too large", "internal", std::nullopt};
    Response response = MultipartErrorResponse(e);
    EXPECT_EQ(response.status, 413);
    EXPECT_NE(response.body.find("\"error\":\"field_too_large\""), std::string::npos) << response.body;
    EXPECT_EQ(response.body.find("internal"), std::string::npos);
}

}  // namespace
}  // namespace plyr::http
