// Fuzz target: streaming multipart/form-data. Input: byte 0 picks a chunk size, the rest is the body (boundary
// "XyZ"); the whole input is also tried as a Content-Type. Properties: the events and the outcome do not
// depend on how the body is chunked; buffered memory stays within the limits; field values and file sizes
// respect their caps; a valid boundary from Content-Type passes IsValidBoundary.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/multipart.hpp"

namespace {

using namespace plyr::http;

constexpr std::string_view kBoundary = "XyZ";

MultipartLimits Limits() {
    MultipartLimits limits;
    limits.max_parts = 4;
    limits.max_field_bytes = 64;
    limits.max_header_bytes = 128;
    limits.max_body_bytes = 4096;
    limits.max_file_bytes = 512;
    return limits;
}

// Writes every event into a transcript; file data is recorded as a byte count plus the bytes.
class Transcript final : public MultipartEvents {
  public:
    std::string log;
    std::uint64_t file_bytes = 0;

    MultipartResult<PartKind> OnPartBegin(const PartInfo& part) override {
        log += "B" + std::to_string(part.index) + "|" + part.name + "|" + (part.filename ? *part.filename : "-") + "|" +
               part.content_type + "\n";
        // Every third part is skipped so kSkip is explored too.
        if (part.index % 3 == 2) return PartKind::kSkip;
        return DefaultPartKind(part);
    }
    MultipartStatus OnFileData(std::string_view chunk) override {
        if (chunk.empty()) std::abort();
        file_bytes += chunk.size();
        if (file_bytes > 512) std::abort();
        log.append(chunk);
        return {};
    }
    MultipartStatus OnPartEnd(const PartInfo& part, std::string value) override {
        if (value.size() > 64) std::abort();
        file_bytes = 0;
        log += "E" + std::to_string(part.index) + "|" + value + "\n";
        return {};
    }
};

std::string Run(std::string_view body, std::size_t chunk) {
    Transcript events;
    MultipartParser parser(kBoundary, Limits(), events);
    MultipartStatus status;
    for (std::size_t at = 0; at < body.size() && status; at += chunk) {
        status = parser.Feed(body.substr(at, chunk));
        // Header block + field value + delimiter carry, plus at most one input chunk past a cap.
        if (parser.buffered_bytes() > 128 + 64 + 8 + chunk) std::abort();
    }
    if (status) status = parser.Finish();
    return events.log + "#" + (status ? std::string("ok") : status.error().code);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    if (auto boundary = MultipartBoundary(input); boundary && !IsValidBoundary(*boundary)) std::abort();
    if (size == 0) return 0;
    std::size_t chunk = static_cast<std::size_t>(data[0]) % 17 + 1;
    std::string_view body = input.substr(1);
    std::string whole = Run(body, body.size() + 1);
    if (Run(body, chunk) != whole) std::abort();
    if (Run(body, 1) != whole) std::abort();
    return 0;
}
