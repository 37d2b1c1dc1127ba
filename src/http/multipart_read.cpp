// ReadMultipart: the coroutine half of multipart.hpp, in its own TU so fuzz builds can instrument the pure
// parser (clang 14 cannot instrument coroutine TUs).
#include <algorithm>

#include "http/multipart.hpp"

namespace plyr::http {
namespace {

// Records the parser's events during one Feed so the coroutine can replay them to the asynchronous sink.
// Holds at most one input's worth of file bytes plus the parser's carry.
class Recorder final : public MultipartEvents {
  public:
    enum class Type { kBegin, kData, kEnd };
    struct Event {
        Type type;
        PartKind kind;
        PartInfo part;      // kBegin, kEnd
        std::string bytes;  // kData: file bytes; kEnd: the field value
    };

    explicit Recorder(MultipartSink& sink) : sink_(sink) {}

    MultipartResult<PartKind> OnPartBegin(const PartInfo& part) override {
        auto kind = sink_.Classify(part);
        if (!kind) return kind;
        kind_ = *kind;
        events_.push_back(Event{Type::kBegin, kind_, part, {}});
        return kind;
    }
    MultipartStatus OnFileData(std::string_view chunk) override {
        if (events_.empty() || events_.back().type != Type::kData) {
            events_.push_back(Event{Type::kData, kind_, {}, {}});
        }
        events_.back().bytes.append(chunk);
        return {};
    }
    MultipartStatus OnPartEnd(const PartInfo& part, std::string value) override {
        events_.push_back(Event{Type::kEnd, kind_, part, std::move(value)});
        return {};
    }

    std::vector<Event>& events() { return events_; }

  private:
    MultipartSink& sink_;
    PartKind kind_ = PartKind::kSkip;
    std::vector<Event> events_;
};

MultipartError Error(int status, std::string_view code, std::string message, std::string detail) {
    return MultipartError{status, std::string(code), std::move(message), std::move(detail), std::nullopt};
}

MultipartError ReadError(const plyr::Error& error) {
    MultipartError out;
    switch (error.code) {
        case ErrorCode::kTooLarge:
            out = Error(413, "file_too_large", "the upload is too large", error.ToString());
            break;
        case ErrorCode::kProtocol:
            out = Error(400, "bad_request", "malformed request body", error.ToString());
            break;
        case ErrorCode::kTimeout:
            out = Error(408, "request_timeout", "the request body timed out", error.ToString());
            break;
        default:
            out = Error(400, "client_disconnected", "the client went away", error.ToString());
            break;
    }
    out.cause = error.code;
    return out;
}

}  // namespace

boost::asio::awaitable<MultipartStatus> ReadMultipart(BodyReader& body, std::optional<std::string_view> content_type,
                                                      MultipartLimits limits, MultipartSink& sink,
                                                      MultipartReadOptions options) {
    auto boundary = MultipartBoundary(content_type);
    if (!boundary) co_return tl::unexpected<MultipartError>(boundary.error());
    const std::size_t chunk_bytes = std::max<std::size_t>(options.chunk_bytes, 1);
    Recorder recorder(sink);
    MultipartParser parser(*boundary, limits, recorder);
    std::vector<char> buffer(std::max<std::size_t>(options.read_bytes, 1));
    std::string chunk;
    for (;;) {
        auto n = co_await body.Read(std::span<char>(buffer));
        if (!n) co_return tl::unexpected<MultipartError>(ReadError(n.error()));
        if (*n == 0) break;
        auto fed = parser.Feed(std::string_view(buffer.data(), *n));
        if (!fed) co_return fed;
        for (auto& event : recorder.events()) {
            if (event.type == Recorder::Type::kBegin) {
                if (event.kind != PartKind::kFile) continue;
                chunk.clear();
                if (chunk.capacity() < chunk_bytes) chunk.reserve(chunk_bytes);
                auto begun = co_await sink.OnFileBegin(event.part);
                if (!begun) co_return begun;
            } else if (event.type == Recorder::Type::kData) {
                std::string_view rest = event.bytes;
                while (!rest.empty()) {
                    std::size_t take = std::min(chunk_bytes - chunk.size(), rest.size());
                    chunk.append(rest.substr(0, take));
                    rest.remove_prefix(take);
                    if (chunk.size() == chunk_bytes) {
                        auto wrote = co_await sink.OnFileChunk(std::span<const char>(chunk.data(), chunk.size()));
                        if (!wrote) co_return wrote;
                        chunk.clear();
                    }
                }
            } else if (event.kind == PartKind::kFile) {
                if (!chunk.empty()) {
                    auto wrote = co_await sink.OnFileChunk(std::span<const char>(chunk.data(), chunk.size()));
                    if (!wrote) co_return wrote;
                    chunk.clear();
                }
                auto ended = co_await sink.OnFileEnd(event.part);
                if (!ended) co_return ended;
            } else if (event.kind == PartKind::kField) {
                auto field = co_await sink.OnField(event.part, std::move(event.bytes));
                if (!field) co_return field;
            }
        }
        recorder.events().clear();
    }
    co_return parser.Finish();
}

namespace {

class EmptyBody final : public BodyReader {
  public:
    boost::asio::awaitable<Result<std::size_t>> Read(std::span<char>) override { co_return std::size_t{0}; }
    std::optional<std::uint64_t> content_length() const override { return 0; }
};

}  // namespace

boost::asio::awaitable<MultipartStatus> ReadMultipart(Request& request, MultipartLimits limits, MultipartSink& sink,
                                                      MultipartReadOptions options) {
    EmptyBody empty;
    BodyReader& body = request.body_reader != nullptr ? *request.body_reader : empty;
    co_return co_await ReadMultipart(body, request.Header("Content-Type"), limits, sink, options);
}

}  // namespace plyr::http
