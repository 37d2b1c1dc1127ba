#pragma once
// Server-sent events (product.md §4.1 "SSE"): event formatting and the response shape for progress streams.
//
// An SSE endpoint returns SseResponse(next): 200, `Content-Type: text/event-stream`, `Cache-Control: no-store`,
// `X-Accel-Buffering: no` (nginx must not buffer), and a chunked StreamBody (message.hpp) that the server ends
// cleanly at shutdown. `next` returns FormatSseEvent(...) / kSsePing strings as they become due and nullopt after
// the terminal event. Everything here is pure; thread-safe.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

struct SseEvent {
    std::optional<std::string> id;     // `id:` (product: a counter); CR, LF and NUL are dropped
    std::optional<std::string> event;  // `event:` type; CR and LF are dropped
    std::string data;                  // each line (split at CRLF, LF or CR) becomes one `data:` line
    std::optional<std::int64_t> retry_ms;
};

// "id: 3\nevent: progress\ndata: {...}\n\n". An empty `data` still yields one `data:` line, so the browser
// dispatches the event.
std::string FormatSseEvent(const SseEvent& event);
// ": text\n\n" — ignored by clients; keeps proxies and the connection alive. Line breaks in text are dropped.
std::string FormatSseComment(std::string_view text);
// The keep-alive comment product.md §4.1 sends every 15 s.
inline constexpr std::string_view kSsePing = ": ping\n\n";

// Sets the SSE response headers (content type, no-store, X-Accel-Buffering: no).
void SseHeaders(Response& response);

using StreamNext = std::function<boost::asio::awaitable<Result<std::optional<std::string>>>()>;
// 200 + SseHeaders + a chunked stream with ends_on_shutdown = true.
Response SseResponse(StreamNext next);

// The `Last-Event-ID` request header as the non-negative counter product.md uses; absent or not a decimal
// number below 2^63 → nullopt.
std::optional<std::uint64_t> LastEventId(const Request& request);

}  // namespace plyr::http
