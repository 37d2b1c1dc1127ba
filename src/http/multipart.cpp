#include "http/multipart.hpp"

#include <algorithm>
#include <cstring>

#include "http/json.hpp"

// Propagates a MultipartStatus failure (already recorded by the parser).
#define PLYR_TRY_MULTIPART(expr)                                                              \
    do {                                                                                      \
        auto plyr_mp_result_ = (expr);                                                        \
        if (!plyr_mp_result_) return tl::unexpected<MultipartError>(plyr_mp_result_.error()); \
    } while (false)

namespace plyr::http {
namespace {

constexpr std::string_view kWhitespace = " \t";

std::string_view Trim(std::string_view s) {
    auto first = s.find_first_not_of(kWhitespace);
    if (first == std::string_view::npos) return {};
    auto last = s.find_last_not_of(kWhitespace);
    return s.substr(first, last - first + 1);
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = Lower(c);
    return out;
}

bool IsTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsBchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

using Params = std::vector<std::pair<std::string, std::string>>;

// `; name=value; name="quoted"` after a header's first token. Names are lower-cased; the first of a
// duplicated name wins at lookup. In quoted strings `\"` and `\\` are escapes and any other backslash is
// kept, because old IE sends unescaped Windows paths as filenames.
std::optional<Params> ParseParams(std::string_view s) {
    Params params;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ';' || s[i] == ' ' || s[i] == '\t')) ++i;
        if (i >= s.size()) break;
        std::size_t name_start = i;
        while (i < s.size() && s[i] != '=' && s[i] != ';') ++i;
        std::string_view name = Trim(s.substr(name_start, i - name_start));
        if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) return std::nullopt;
        if (i >= s.size() || s[i] == ';') {
            params.emplace_back(ToLower(name), std::string());  // a parameter without a value
            continue;
        }
        ++i;  // '='
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        std::string value;
        if (i < s.size() && s[i] == '"') {
            ++i;
            bool closed = false;
            while (i < s.size()) {
                char c = s[i++];
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c == '\\' && i < s.size() && (s[i] == '"' || s[i] == '\\')) c = s[i++];
                value.push_back(c);
            }
            if (!closed) return std::nullopt;
            while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
            if (i < s.size() && s[i] != ';') return std::nullopt;
        } else {
            std::size_t value_start = i;
            while (i < s.size() && s[i] != ';') ++i;
            value = std::string(Trim(s.substr(value_start, i - value_start)));
        }
        params.emplace_back(ToLower(name), std::move(value));
    }
    return params;
}

const std::string* FindParam(const Params& params, std::string_view name) {
    for (const auto& [key, value] : params) {
        if (key == name) return &value;
    }
    return nullptr;
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// RFC 8187 ext-value: charset'[language]'pct-encoded, for UTF-8 and ISO-8859-1 (converted to UTF-8).
std::optional<std::string> DecodeExtValue(std::string_view v) {
    auto q1 = v.find('\'');
    if (q1 == std::string_view::npos) return std::nullopt;
    auto q2 = v.find('\'', q1 + 1);
    if (q2 == std::string_view::npos) return std::nullopt;
    std::string charset = ToLower(v.substr(0, q1));
    bool latin1 = charset == "iso-8859-1";
    if (charset != "utf-8" && !latin1) return std::nullopt;
    std::string out;
    for (std::size_t i = q2 + 1; i < v.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(v[i]);
        if (c == '%') {
            if (i + 2 >= v.size()) return std::nullopt;
            int hi = HexValue(v[i + 1]);
            int lo = HexValue(v[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<unsigned char>(hi * 16 + lo);
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            return std::nullopt;
        }
        if (latin1 && c >= 0x80) {
            out.push_back(static_cast<char>(0xc0 | (c >> 6)));
            out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

std::string BaseName(std::string_view filename) {
    auto slash = filename.find_last_of("/\\");
    return std::string(slash == std::string_view::npos ? filename : filename.substr(slash + 1));
}

MultipartError Error(int status, std::string_view code, std::string message, std::string detail = {}) {
    return MultipartError{status, std::string(code), std::move(message), std::move(detail), std::nullopt};
}

}  // namespace

MultipartError MultipartErrorFrom(const plyr::Error& error) {
    MultipartError out;
    switch (error.code) {
        case ErrorCode::kStorageFull:
            out = Error(507, "insufficient_storage", "the server is out of storage", error.ToString());
            break;
        case ErrorCode::kTooLarge:
            out = Error(413, "file_too_large", "the file is too large", error.ToString());
            break;
        case ErrorCode::kInvalidArgument:
            out = Error(400, "malformed_multipart", "the multipart body is malformed", error.ToString());
            break;
        default:
            out = Error(500, "internal_error", "internal error", error.ToString());
            break;
    }
    out.cause = error.code;
    return out;
}

Response MultipartErrorResponse(const MultipartError& error) {
    return ErrorResponse(error.status, error.code, error.message);
}

bool IsValidBoundary(std::string_view boundary) {
    if (boundary.empty() || boundary.size() > 70 || boundary.back() == ' ') return false;
    return std::all_of(boundary.begin(), boundary.end(), IsBchar);
}

MultipartResult<std::string> MultipartBoundary(std::optional<std::string_view> content_type) {
    if (!content_type) {
        return MultipartFail(415, "unsupported_media_type", "multipart/form-data is required");
    }
    auto semi = content_type->find(';');
    std::string_view media = Trim(content_type->substr(0, semi));
    if (!EqualsIgnoreCase(media, "multipart/form-data")) {
        return MultipartFail(415, "unsupported_media_type", "multipart/form-data is required", std::string(media));
    }
    if (semi == std::string_view::npos) {
        return MultipartFail(400, "malformed_multipart", "the multipart boundary is missing");
    }
    auto params = ParseParams(content_type->substr(semi + 1));
    if (!params) return MultipartFail(400, "malformed_multipart", "the content type is malformed");
    const std::string* boundary = FindParam(*params, "boundary");
    if (boundary == nullptr) return MultipartFail(400, "malformed_multipart", "the multipart boundary is missing");
    if (!IsValidBoundary(*boundary)) {
        return MultipartFail(400, "malformed_multipart", "the multipart boundary is invalid");
    }
    return *boundary;
}

MultipartParser::MultipartParser(std::string_view boundary, MultipartLimits limits, MultipartEvents& events)
    : delimiter_("\r\n--"), limits_(limits), events_(events) {
    delimiter_.append(boundary);
    // The first delimiter may open the body without a preceding CRLF: start as if one had been seen.
    carry_ = "\r\n";
}

tl::unexpected<MultipartError> MultipartParser::Failed(MultipartError error) {
    error_ = std::move(error);
    return tl::unexpected<MultipartError>(*error_);
}

tl::unexpected<MultipartError> MultipartParser::Malformed(std::string message, std::string detail) {
    return Failed(Error(400, "malformed_multipart", std::move(message), std::move(detail)));
}

MultipartStatus MultipartParser::Feed(std::string_view data) {
    if (error_) return tl::unexpected<MultipartError>(*error_);
    // The bytes up to the cap are parsed first, so the outcome does not depend on how the body is chunked.
    std::uint64_t room = limits_.max_body_bytes - total_;
    if (data.size() > room) {
        total_ = limits_.max_body_bytes;
        PLYR_TRY_MULTIPART(Run(data.substr(0, static_cast<std::size_t>(room))));
        return Failed(Error(413, "file_too_large", "the upload is too large"));
    }
    total_ += data.size();
    return Run(data);
}

MultipartStatus MultipartParser::Finish() {
    if (error_) return tl::unexpected<MultipartError>(*error_);
    if (state_ != State::kEpilogue) return Malformed("the multipart body is unterminated");
    return {};
}

MultipartStatus MultipartParser::Run(std::string_view data) {
    while (!data.empty()) {
        switch (state_) {
            case State::kPreamble:
            case State::kBody: {
                auto n = Scan(data);
                if (!n) return tl::unexpected<MultipartError>(n.error());
                data.remove_prefix(*n);
                break;
            }
            case State::kHeaders: {
                auto n = ConsumeHeaders(data);
                if (!n) return tl::unexpected<MultipartError>(n.error());
                data.remove_prefix(*n);
                break;
            }
            case State::kEpilogue:
                return {};
            case State::kAfterBoundary:
            case State::kCloseDash:
            case State::kPadding:
            case State::kBoundaryCr: {
                char c = data.front();
                data.remove_prefix(1);
                if (state_ == State::kCloseDash) {
                    if (c != '-') return Malformed("malformed close delimiter");
                    state_ = State::kEpilogue;
                } else if (state_ == State::kBoundaryCr) {
                    if (c != '\n') return Malformed("malformed boundary line");
                    PLYR_TRY_MULTIPART(BeginPart());
                } else if (c == '-' && state_ == State::kAfterBoundary) {
                    state_ = State::kCloseDash;
                } else if (c == ' ' || c == '\t') {
                    state_ = State::kPadding;
                } else if (c == '\r') {
                    state_ = State::kBoundaryCr;
                } else if (c == '\n') {  // a bare LF after the boundary: tolerated like in header lines
                    PLYR_TRY_MULTIPART(BeginPart());
                } else {
                    return Malformed("malformed boundary line", "the boundary occurs inside a part");
                }
                break;
            }
        }
    }
    return {};
}

MultipartResult<std::size_t> MultipartParser::Scan(std::string_view data) {
    if (!carry_.empty()) {
        std::size_t have = carry_.size();
        std::size_t need = delimiter_.size() - have;
        std::size_t n = std::min(need, data.size());
        if (data.substr(0, n) == std::string_view(delimiter_).substr(have, n)) {
            if (n < need) {
                carry_.append(data);
                return data.size();
            }
            carry_.clear();
            if (state_ == State::kBody) PLYR_TRY_MULTIPART(EndPart());
            state_ = State::kAfterBoundary;
            return n;
        }
        // Not a delimiter. The delimiter holds CR only at its start, so no later delimiter can begin
        // inside the carry: all of it is content.
        std::string content = std::move(carry_);
        carry_.clear();
        PLYR_TRY_MULTIPART(Emit(content));
    }
    auto pos = data.find(delimiter_);
    if (pos != std::string_view::npos) {
        PLYR_TRY_MULTIPART(Emit(data.substr(0, pos)));
        if (state_ == State::kBody) PLYR_TRY_MULTIPART(EndPart());
        state_ = State::kAfterBoundary;
        return pos + delimiter_.size();
    }
    // Keep a trailing proper prefix of the delimiter (it starts at the last CR) for the next input.
    std::size_t tail_from = data.size() > delimiter_.size() ? data.size() - delimiter_.size() : 0;
    auto cr = data.find('\r', tail_from);
    while (cr != std::string_view::npos && !std::string_view(delimiter_).starts_with(data.substr(cr))) {
        cr = data.find('\r', cr + 1);
    }
    std::size_t content_end = cr == std::string_view::npos ? data.size() : cr;
    PLYR_TRY_MULTIPART(Emit(data.substr(0, content_end)));
    carry_.assign(data.substr(content_end));
    return data.size();
}

MultipartStatus MultipartParser::Emit(std::string_view bytes) {
    if (bytes.empty() || state_ != State::kBody) return {};
    switch (kind_) {
        case PartKind::kField:
            if (value_.size() + bytes.size() > limits_.max_field_bytes) {
                return Failed(Error(413, "field_too_large", "a form field is too large", part_.name));
            }
            value_.append(bytes);
            return {};
        case PartKind::kFile: {
            // Bytes up to the cap are delivered before failing, whatever the chunking.
            std::uint64_t room = limits_.max_file_bytes - file_bytes_;
            std::string_view deliver = bytes.size() > room ? bytes.substr(0, static_cast<std::size_t>(room)) : bytes;
            file_bytes_ += deliver.size();
            if (!deliver.empty()) {
                auto r = events_.OnFileData(deliver);
                if (!r) return Failed(std::move(r.error()));
            }
            if (deliver.size() < bytes.size()) {
                return Failed(Error(413, "file_too_large", "the file is too large", part_.name));
            }
            return {};
        }
        case PartKind::kSkip:
            return {};
    }
    return {};
}

MultipartStatus MultipartParser::BeginPart() {
    ++parts_;
    if (parts_ > limits_.max_parts) return Failed(Error(400, "too_many_parts", "the form has too many parts"));
    part_ = PartInfo{};
    part_.index = parts_ - 1;
    header_bytes_ = 0;
    line_.clear();
    state_ = State::kHeaders;
    return {};
}

MultipartResult<std::size_t> MultipartParser::ConsumeHeaders(std::string_view data) {
    std::size_t i = 0;
    while (i < data.size() && state_ == State::kHeaders) {
        auto nl = data.find('\n', i);
        std::size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
        header_bytes_ += end - i;
        if (header_bytes_ > limits_.max_header_bytes) return Malformed("part headers are too large");
        line_.append(data.substr(i, end - i));
        i = end;
        if (nl == std::string_view::npos) break;
        std::string_view line(line_);
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            line_.clear();
            // End of the header block: the part is known.
            const std::string* disposition = nullptr;
            for (const auto& [name, value] : part_.headers) {
                if (EqualsIgnoreCase(name, "content-disposition")) {
                    disposition = &value;
                    break;
                }
            }
            if (disposition == nullptr) return Malformed("a part has no content-disposition");
            auto semi = disposition->find(';');
            std::string_view type = Trim(std::string_view(*disposition).substr(0, semi));
            if (!EqualsIgnoreCase(type, "form-data")) return Malformed("a part is not form-data");
            std::optional<Params> params;
            if (semi != std::string::npos) params = ParseParams(std::string_view(*disposition).substr(semi + 1));
            if (semi != std::string::npos && !params) return Malformed("malformed content-disposition");
            const std::string* name = params ? FindParam(*params, "name") : nullptr;
            if (name == nullptr) return Malformed("a part has no name");
            part_.name = *name;
            if (const std::string* ext = params ? FindParam(*params, "filename*") : nullptr) {
                if (auto decoded = DecodeExtValue(*ext)) part_.filename = BaseName(*decoded);
            }
            if (!part_.filename) {
                if (const std::string* plain = FindParam(*params, "filename")) part_.filename = BaseName(*plain);
            }
            for (const auto& [hname, hvalue] : part_.headers) {
                if (EqualsIgnoreCase(hname, "content-type")) {
                    part_.content_type = hvalue;
                    break;
                }
            }
            auto kind = events_.OnPartBegin(part_);
            if (!kind) return Failed(std::move(kind.error()));
            kind_ = *kind;
            value_.clear();
            file_bytes_ = 0;
            in_part_ = true;
            state_ = State::kBody;
            header_bytes_ = 0;
        } else {
            auto r = HeaderLine(line);
            line_.clear();
            if (!r) return tl::unexpected<MultipartError>(r.error());
        }
    }
    return i;
}

MultipartStatus MultipartParser::HeaderLine(std::string_view line) {
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
        return Malformed("malformed part header");
    }
    if (line.front() == ' ' || line.front() == '\t') {
        // obs-fold (RFC 5322 §2.2.3): a continuation of the previous header.
        if (part_.headers.empty()) return Malformed("malformed part header");
        auto& value = part_.headers.back().second;
        value.push_back(' ');
        value.append(Trim(line));
        return {};
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return Malformed("malformed part header");
    std::string_view name = line.substr(0, colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), IsTokenChar)) {
        return Malformed("malformed part header");
    }
    part_.headers.emplace_back(std::string(name), std::string(Trim(line.substr(colon + 1))));
    return {};
}

MultipartStatus MultipartParser::EndPart() {
    if (!in_part_) return {};
    in_part_ = false;
    std::string value = kind_ == PartKind::kField ? std::move(value_) : std::string();
    value_.clear();
    auto r = events_.OnPartEnd(part_, std::move(value));
    if (!r) return Failed(std::move(r.error()));
    return {};
}

}  // namespace plyr::http
