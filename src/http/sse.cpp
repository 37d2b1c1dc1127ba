#include "http/sse.hpp"

#include <charconv>

namespace plyr::http {
namespace {

std::string WithoutBreaks(std::string_view text, bool drop_nul) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\r' || c == '\n' || (drop_nul && c == '\0')) continue;
        out.push_back(c);
    }
    return out;
}

}  // namespace

std::string FormatSseEvent(const SseEvent& event) {
    std::string out;
    out.reserve(event.data.size() + 32);
    if (event.id) {
        out += "id: ";
        out += WithoutBreaks(*event.id, true);
        out += '\n';
    }
    if (event.event) {
        out += "event: ";
        out += WithoutBreaks(*event.event, false);
        out += '\n';
    }
    if (event.retry_ms && *event.retry_ms >= 0) {
        out += "retry: ";
        out += std::to_string(*event.retry_ms);
        out += '\n';
    }
    // The SSE grammar ends a line at CRLF, LF or CR alike: each piece becomes its own data line.
    std::string_view data = event.data;
    while (true) {
        auto end = data.find_first_of("\r\n");
        out += "data: ";
        out.append(data.substr(0, end));
        out += '\n';
        if (end == std::string_view::npos) break;
        std::size_t skip = (data[end] == '\r' && end + 1 < data.size() && data[end + 1] == '\n') ? 2 : 1;
        data.remove_prefix(end + skip);
    }
    out += '\n';
    return out;
}

std::string FormatSseComment(std::string_view text) { return ": " + WithoutBreaks(text, false) + "\n\n"; }

void SseHeaders(Response& response) {
    response.headers.Set("Content-Type", "text/event-stream");
    response.headers.Set("Cache-Control", "no-store");
    response.headers.Set("X-Accel-Buffering", "no");
}

Response SseResponse(StreamNext next) {
    Response response(200);
    SseHeaders(response);
    response.stream = StreamBody{std::move(next), std::nullopt, true};
    return response;
}

std::optional<std::uint64_t> LastEventId(const Request& request) {
    auto header = request.Header("Last-Event-ID");
    if (!header || header->empty()) return std::nullopt;
    std::uint64_t value = 0;
    auto [end, ec] = std::from_chars(header->data(), header->data() + header->size(), value);
    if (ec != std::errc() || end != header->data() + header->size()) return std::nullopt;
    if (value > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return value;
}

}  // namespace plyr::http
