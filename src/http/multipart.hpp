#pragma once
// Streaming multipart/form-data (RFC 7578 over RFC 2046 §5.1) for uploads: bounded memory, push-style.
//
// MultipartParser is fed the body in chunks of any size (down to one byte) and reports parts through a
// synchronous MultipartEvents interface: text fields are buffered up to a per-field cap, file parts are
// passed on chunk by chunk and never buffered. Its own memory is at most one part's header block
// (max_header_bytes), one field value (max_field_bytes) and a delimiter-sized carry.
// ReadMultipart drives a parser from a BodyReader inside a coroutine and hands file bytes, coalesced into
// chunks, to an asynchronous MultipartSink (which may Offload its disk writes).
//
// Rules (docs/http.md "Multipart"):
//   - boundary from Content-Type `multipart/form-data; boundary=…` (token or quoted-string, 1–70 bchars,
//     not ending in a space); another media type → 415 unsupported_media_type; boundary missing or
//     invalid → 400 malformed_multipart.
//   - delimiters are CRLF "--" boundary (the first may open the body); transport padding (SP/HT) after a
//     boundary is allowed; the close delimiter is "--" boundary "--"; preamble and epilogue are ignored.
//   - each part needs `Content-Disposition: form-data; name=…` (quoted or token values, `\"` and `\\`
//     escapes, a lone backslash kept — old IE sends `C:\dir\f.mp3`; `filename*=UTF-8''…` wins over
//     `filename`; the filename is reduced to its last path segment). Header lines may end in LF alone.
//   - errors: 400 malformed_multipart (syntax, header block over max_header_bytes, body ending before the
//     close delimiter), 400 too_many_parts (part max_parts + 1), 413 field_too_large (a buffered field
//     over max_field_bytes), 413 file_too_large (byte max_body_bytes + 1 of the body, or byte
//     max_file_bytes + 1 of one file part). Errors returned by the events/sink are passed through as is.
//     After an error the parser stays failed and the caller deletes whatever it staged.
// Thread-safety: a parser is a plain value used by one thread/coroutine at a time.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <tl/expected.hpp>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

// A failure with its HTTP status and product error code (product.md §4.7, §9).
struct MultipartError {
    int status = 400;
    std::string code;     // "malformed_multipart", "too_many_parts", "field_too_large", "file_too_large", …
    std::string message;  // lowercase, user-safe
    std::string detail;   // internal, for logs only
    // For failures of the body transport (BodyReader) or of a core call inside a sink: the core error code
    // (kIo = the client went away: nobody reads the answer; kTimeout: the server already closed).
    std::optional<ErrorCode> cause;
};

template <typename T>
using MultipartResult = tl::expected<T, MultipartError>;
using MultipartStatus = MultipartResult<void>;

inline tl::unexpected<MultipartError> MultipartFail(int status, std::string code, std::string message,
                                                    std::string detail = {}) {
    return tl::unexpected<MultipartError>(
        MultipartError{status, std::move(code), std::move(message), std::move(detail), std::nullopt});
}

// Maps a core Error raised inside a sink: kStorageFull → 507 insufficient_storage, kTooLarge → 413
// file_too_large, kInvalidArgument → 400 malformed_multipart, anything else → 500 internal_error.
MultipartError MultipartErrorFrom(const Error& error);

// The product error response (status, {"error","message","detail"}).
Response MultipartErrorResponse(const MultipartError& error);

struct MultipartLimits {
    std::size_t max_parts = 20;
    std::size_t max_field_bytes = 16 * 1024;
    std::size_t max_header_bytes = 8 * 1024;  // one part's header block, line ends included
    std::uint64_t max_body_bytes = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t max_file_bytes = std::numeric_limits<std::uint64_t>::max();  // per file part
};

struct PartInfo {
    std::size_t index = 0;                // 0-based position in the body
    std::string name;                     // Content-Disposition name (may be empty)
    std::optional<std::string> filename;  // present (maybe empty) when the part declared one
    std::string content_type;             // as sent, trimmed; "" when absent (RFC 7578: text/plain)
    std::vector<std::pair<std::string, std::string>> headers;  // all part headers, names as sent

    bool is_file() const { return filename.has_value(); }
};

// How a part's body is handled: buffered (≤ max_field_bytes) and delivered whole, streamed, or dropped.
enum class PartKind { kField, kFile, kSkip };

// The default classification: a part with a filename is a file, anything else a field.
inline PartKind DefaultPartKind(const PartInfo& part) { return part.is_file() ? PartKind::kFile : PartKind::kField; }

// Synchronous consumer of MultipartParser. Any error returned stops the parser with that error.
class MultipartEvents {
  public:
    virtual ~MultipartEvents() = default;
    virtual MultipartResult<PartKind> OnPartBegin(const PartInfo& part) = 0;
    // kFile parts only; chunks are views into the caller's input or a small internal carry.
    virtual MultipartStatus OnFileData(std::string_view chunk) = 0;
    // Every part; `value` is the field's content for kField parts and empty otherwise.
    virtual MultipartStatus OnPartEnd(const PartInfo& part, std::string value) = 0;
};

// Parses `multipart/form-data; boundary=…` and returns the boundary (see the rules above).
MultipartResult<std::string> MultipartBoundary(std::optional<std::string_view> content_type);

// True when `boundary` is 1–70 RFC 2046 bchars and does not end in a space.
bool IsValidBoundary(std::string_view boundary);

class MultipartParser {
  public:
    // `boundary` must be valid (IsValidBoundary); `events` must outlive the parser.
    MultipartParser(std::string_view boundary, MultipartLimits limits, MultipartEvents& events);

    // Consumes the next bytes of the body.
    MultipartStatus Feed(std::string_view data);
    // The body ended: fails with malformed_multipart unless the close delimiter was seen.
    MultipartStatus Finish();

    bool done() const { return state_ == State::kEpilogue; }
    bool failed() const { return error_.has_value(); }
    std::uint64_t bytes_fed() const { return total_; }
    std::size_t parts() const { return parts_; }
    // Bytes currently held by the parser (carry, header block, field value): bounded by the limits.
    std::size_t buffered_bytes() const { return carry_.size() + header_bytes_ + value_.size(); }

  private:
    enum class State {
        kPreamble,
        kAfterBoundary,  // just after "--boundary": "--", padding or a line end follows
        kCloseDash,      // seen the first '-' of "--"
        kPadding,        // transport padding
        kBoundaryCr,     // seen CR, want LF
        kHeaders,
        kBody,
        kEpilogue,
    };

    MultipartStatus Run(std::string_view data);
    // Scans for the delimiter in preamble/body state; returns the number of bytes consumed.
    MultipartResult<std::size_t> Scan(std::string_view data);
    MultipartStatus Emit(std::string_view bytes);
    MultipartResult<std::size_t> ConsumeHeaders(std::string_view data);
    MultipartStatus HeaderLine(std::string_view line);
    MultipartStatus BeginPart();
    MultipartStatus EndPart();
    tl::unexpected<MultipartError> Failed(MultipartError error);
    tl::unexpected<MultipartError> Malformed(std::string message, std::string detail = {});

    std::string delimiter_;  // CRLF "--" boundary
    MultipartLimits limits_;
    MultipartEvents& events_;
    State state_ = State::kPreamble;
    std::string carry_;  // a proper prefix of delimiter_ seen at the end of the last input
    std::string line_;   // the header line being read
    std::size_t header_bytes_ = 0;
    PartInfo part_;
    PartKind kind_ = PartKind::kSkip;
    bool in_part_ = false;
    std::string value_;
    std::uint64_t file_bytes_ = 0;
    std::uint64_t total_ = 0;
    std::size_t parts_ = 0;
    std::optional<MultipartError> error_;
};

// Asynchronous consumer for ReadMultipart. Calls come in body order from the reading coroutine.
class MultipartSink {
  public:
    virtual ~MultipartSink() = default;
    // Decides how the part is handled (default: DefaultPartKind). An error stops the upload.
    virtual MultipartResult<PartKind> Classify(const PartInfo& part) { return DefaultPartKind(part); }
    virtual boost::asio::awaitable<MultipartStatus> OnFileBegin(const PartInfo& part) = 0;
    // Chunks of ReadOptions::chunk_bytes (the last of a part may be shorter, never empty).
    virtual boost::asio::awaitable<MultipartStatus> OnFileChunk(std::span<const char> chunk) = 0;
    virtual boost::asio::awaitable<MultipartStatus> OnFileEnd(const PartInfo& part) = 0;
    virtual boost::asio::awaitable<MultipartStatus> OnField(const PartInfo& part, std::string value) = 0;
};

struct MultipartReadOptions {
    std::size_t read_bytes = 64 * 1024;     // one BodyReader::Read
    std::size_t chunk_bytes = 1024 * 1024;  // file bytes per OnFileChunk
};

// Reads the whole body (epilogue included) from `body` and drives `sink`. Memory: about read_bytes +
// chunk_bytes + the parser's limits. BodyReader failures map to: kTooLarge → 413 file_too_large, kProtocol
// → 400 bad_request, kTimeout → 408 request_timeout, kIo → 400 client_disconnected (each with `cause`).
// On any error the sink may hold a partly written file: the caller deletes it.
boost::asio::awaitable<MultipartStatus> ReadMultipart(BodyReader& body, std::optional<std::string_view> content_type,
                                                      MultipartLimits limits, MultipartSink& sink,
                                                      MultipartReadOptions options = {});

// The same for a stream_body route's request: its Content-Type and body_reader (no reader = the server had
// no body to stream, e.g. Content-Length: 0, read as an empty body → malformed_multipart).
boost::asio::awaitable<MultipartStatus> ReadMultipart(Request& request, MultipartLimits limits, MultipartSink& sink,
                                                      MultipartReadOptions options = {});

}  // namespace plyr::http
