#include "http/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "http/json.hpp"
#include "http/range.hpp"
#include "http/router.hpp"
#include "http/uri.hpp"

namespace plyr::http {
namespace {

constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string_view TrimOws(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::string_view StripWeak(std::string_view tag) {
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
}

// If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
bool IfNoneMatchHits(std::string_view header, std::string_view etag) {
    header = TrimOws(header);
    if (header == "*") return true;
    while (!header.empty()) {
        auto comma = header.find(',');
        std::string_view candidate = TrimOws(header.substr(0, comma));
        if (!candidate.empty() && StripWeak(candidate) == etag) return true;
        if (comma == std::string_view::npos) break;
        header.remove_prefix(comma + 1);
    }
    return false;
}

// If-Range keeps the Range only when its validator is strong and still current (RFC 9110 §13.1.5).
bool IfRangeAllowsRange(std::optional<std::string_view> header, std::string_view etag, std::int64_t mtime_seconds) {
    if (!header) return true;
    std::string_view value = TrimOws(*header);
    if (value.starts_with("W/")) return false;
    if (value.starts_with('"')) return value == etag;
    auto date = ParseHttpDate(value);
    return date && *date == mtime_seconds;
}

bool AcceptsHtml(const Request& request) {
    auto accept = request.Header("Accept");
    if (!accept) return false;
    std::string lower(*accept);
    for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return lower.find("text/html") != std::string::npos;
}

int ParseDigits(std::string_view text) {
    int value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return -1;
        value = value * 10 + (c - '0');
    }
    return value;
}

std::string ToLower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
}

}  // namespace

std::string StrongEtag(const FileInfo& info) {
    return fmt::format("\"{:x}-{:x}\"", info.size, static_cast<std::uint64_t>(info.mtime_ns));
}

std::string FormatHttpDate(std::int64_t unix_seconds) {
    using namespace std::chrono;
    sys_seconds tp{seconds{unix_seconds}};
    sys_days day = floor<days>(tp);
    year_month_day ymd{day};
    hh_mm_ss hms{tp - day};
    weekday wd{day};
    return fmt::format("{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} GMT", kDays[wd.c_encoding()],
                       static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                       static_cast<int>(ymd.year()), hms.hours().count(), hms.minutes().count(), hms.seconds().count());
}

std::optional<std::int64_t> ParseHttpDate(std::string_view text) {
    using namespace std::chrono;
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    if (text.size() != 29 || text.substr(3, 2) != ", " || text[7] != ' ' || text[11] != ' ' || text[16] != ' ' ||
        text[19] != ':' || text[22] != ':' || text.substr(25) != " GMT") {
        return std::nullopt;
    }
    int day_of_month = ParseDigits(text.substr(5, 2));
    int year_number = ParseDigits(text.substr(12, 4));
    int hour = ParseDigits(text.substr(17, 2));
    int minute = ParseDigits(text.substr(20, 2));
    int second = ParseDigits(text.substr(23, 2));
    std::string_view month_name = text.substr(8, 3);
    unsigned month_number = 0;
    for (unsigned i = 0; i < kMonths.size(); ++i) {
        if (kMonths[i] == month_name) month_number = i + 1;
    }
    if (day_of_month < 1 || year_number < 0 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 ||
        second > 60 || month_number == 0) {
        return std::nullopt;
    }
    year_month_day ymd{year{year_number}, month{month_number}, day{static_cast<unsigned>(day_of_month)}};
    if (!ymd.ok()) return std::nullopt;
    sys_seconds tp = sys_days{ymd} + hours{hour} + minutes{minute} + seconds{second};
    return tp.time_since_epoch().count();
}

std::string_view ContentTypeForPath(std::string_view path) {
    auto slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    auto dot = name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string ext = ToLower(name.substr(dot + 1));
    struct Entry {
        std::string_view ext;
        std::string_view type;
    };
    static constexpr std::array<Entry, 31> kTypes{{
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"mjs", "text/javascript; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"json", "application/json"},
        {"map", "application/json"},
        {"webmanifest", "application/manifest+json"},
        {"txt", "text/plain; charset=utf-8"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"wasm", "application/wasm"},
        {"mp3", "audio/mpeg"},
        {"flac", "audio/flac"},
        {"ogg", "audio/ogg"},
        {"opus", "audio/ogg"},
        {"m4a", "audio/mp4"},
        {"aac", "audio/aac"},
        {"wav", "audio/wav"},
        {"pdf", "application/pdf"},
    }};
    for (const auto& entry : kTypes) {
        if (entry.ext == ext) return entry.type;
    }
    return "application/octet-stream";
}

Response ServeFile(const Request& request, const std::filesystem::path& path, std::string_view content_type,
                   std::string_view cache_control) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno != ENOENT && errno != ENOTDIR) {
            log::Warn("http_file_open_failed", {{"path", path.string()}, {"errno", errno}});
        }
        return ErrorResponse(404, "not_found", "not found");
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return ErrorResponse(404, "not_found", "not found");
    FileInfo info{static_cast<std::uint64_t>(st.st_size),
                  static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    return ServeFile(request, std::move(fd), info, content_type, cache_control);
}

Response ServeFile(const Request& request, UniqueFd fd, FileInfo info, std::string_view content_type,
                   std::string_view cache_control) {
    FileServeOptions options;
    options.content_type = content_type;
    options.cache_control = cache_control;
    return ServeFile(request, std::move(fd), info, options);
}

Result<FileInfo> StatFile(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return Fail(ErrorCode::kNotFound, "not found");
    return FileInfo{static_cast<std::uint64_t>(st.st_size),
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::string QuotedEtag(std::string_view opaque) {
    std::string out;
    out.reserve(opaque.size() + 2);
    out += '"';
    out += opaque;
    out += '"';
    return out;
}

Response ServeFile(const Request& request, UniqueFd fd, FileInfo info, const FileServeOptions& options) {
    const std::string etag = options.etag.empty() ? StrongEtag(info) : std::string(options.etag);
    const std::string_view content_type = options.content_type;
    const std::string_view cache_control = options.cache_control;
    const std::int64_t mtime_seconds = info.mtime_ns / 1'000'000'000;
    const std::string last_modified = FormatHttpDate(mtime_seconds);

    auto set_validators = [&](Response& response) {
        response.headers.Set("ETag", etag);
        response.headers.Set("Last-Modified", last_modified);
        if (!cache_control.empty()) response.headers.Set("Cache-Control", cache_control);
        if (!options.content_disposition.empty()) {
            response.headers.Set("Content-Disposition", options.content_disposition);
        }
        response.headers.Set("Accept-Ranges", "bytes");
    };

    bool not_modified = false;
    if (auto inm = request.Header("If-None-Match")) {
        not_modified = IfNoneMatchHits(*inm, etag);
    } else if (auto ims = request.Header("If-Modified-Since")) {
        auto since = ParseHttpDate(TrimOws(*ims));
        not_modified = since && mtime_seconds <= *since;
    }
    if (not_modified) {
        Response response(304);
        set_validators(response);
        return response;
    }

    RangeResult range;
    if (IfRangeAllowsRange(request.Header("If-Range"), etag, mtime_seconds)) {
        range = ParseRange(request.Header("Range"), info.size);
    }
    if (range.kind == RangeKind::kUnsatisfiable) {
        Response response = ErrorResponse(416, "range_not_satisfiable", "range not satisfiable");
        response.headers.Set("Content-Range", fmt::format("bytes */{}", info.size));
        response.headers.Set("Accept-Ranges", "bytes");
        return response;
    }

    Response response(range.kind == RangeKind::kSatisfiable ? 206 : 200);
    set_validators(response);
    response.headers.Set("Content-Type", content_type);
    FileBody body;
    body.fd = std::make_shared<UniqueFd>(std::move(fd));
    if (range.kind == RangeKind::kSatisfiable) {
        response.headers.Set("Content-Range", fmt::format("bytes {}-{}/{}", range.first, range.last(), info.size));
        body.offset = range.first;
        body.length = range.length;
    } else {
        body.length = info.size;
    }
    response.file = std::move(body);
    return response;
}

Result<std::string> SafeRelativePath(std::string_view encoded_path) {
    if (encoded_path.empty() || encoded_path.front() != '/') {
        return Fail(ErrorCode::kInvalidArgument, "path must be absolute");
    }
    std::string out;
    std::vector<std::string_view> segments = SplitPath(encoded_path);
    for (std::size_t i = 0; i < segments.size(); ++i) {
        std::string_view raw = segments[i];
        if (raw.empty()) {
            if (i + 1 == segments.size()) break;  // a trailing slash
            return Fail(ErrorCode::kInvalidArgument, "empty path segment");
        }
        auto decoded = PercentDecode(raw);
        if (!decoded) return Fail(ErrorCode::kInvalidArgument, "bad percent-encoding");
        if (decoded->front() == '.' || decoded->find_first_of(std::string_view("/\\\0", 3)) != std::string::npos) {
            return Fail(ErrorCode::kInvalidArgument, "unsafe path segment");
        }
        if (!out.empty()) out += '/';
        out += *decoded;
    }
    return out;
}

std::vector<std::string> InlineScriptHashes(std::string_view html) {
    std::vector<std::string> out;
    std::string lower = ToLower(html);
    std::size_t pos = 0;
    while ((pos = lower.find("<script", pos)) != std::string::npos) {
        std::size_t tag_end = lower.find('>', pos);
        if (tag_end == std::string::npos) break;
        std::string_view tag = std::string_view(lower).substr(pos, tag_end - pos);
        std::size_t close = lower.find("</script", tag_end);
        if (close == std::string::npos) break;
        bool external = tag.find(" src=") != std::string_view::npos || tag.find("\tsrc=") != std::string_view::npos ||
                        tag.find("\nsrc=") != std::string_view::npos;
        if (!external) {
            std::string_view content = html.substr(tag_end + 1, close - tag_end - 1);
            auto digest = core::Sha256(content);
            std::string raw(reinterpret_cast<const char*>(digest.data()), digest.size());
            out.push_back("'sha256-" + core::Base64Encode(raw) + "'");
        }
        pos = close + 1;
    }
    return out;
}

// --- StaticSite ---

Result<std::shared_ptr<const StaticSite>> StaticSite::Create(const std::filesystem::path& root) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(root, ec);
    if (ec || !std::filesystem::is_directory(canonical, ec)) {
        return Fail(ErrorCode::kNotFound, "static directory not found", root.string());
    }
    return std::make_shared<const StaticSite>(canonical);
}

Result<std::pair<UniqueFd, FileInfo>> StaticSite::Open(std::string_view encoded_path) const {
    auto relative = SafeRelativePath(encoded_path);
    if (!relative) return Fail(relative.error());
    std::filesystem::path full = relative->empty() ? root_ / "index.html" : root_ / *relative;
    UniqueFd fd(::open(full.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Fail(ErrorCode::kNotFound, "not found");
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Fail(ErrorCode::kNotFound, "not found");
    // Where the descriptor really points, after every symlink: it must still be inside the root.
    std::array<char, 4096> buffer{};
    std::string link = fmt::format("/proc/self/fd/{}", fd.get());
    ssize_t n = ::readlink(link.c_str(), buffer.data(), buffer.size() - 1);
    if (n <= 0) return Fail(ErrorCode::kNotFound, "not found", "readlink failed");
    std::string_view real(buffer.data(), static_cast<std::size_t>(n));
    const std::string& root = root_.native();
    if (!(real.size() > root.size() && real.starts_with(root) && (root.back() == '/' || real[root.size()] == '/'))) {
        return Fail(ErrorCode::kPermissionDenied, "not found", "outside static root");
    }
    FileInfo info{static_cast<std::uint64_t>(st.st_size),
                  static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
    return std::make_pair(std::move(fd), info);
}

Response StaticSite::ServeIndex(const Request& request) const {
    auto opened = Open("/");
    if (!opened) return ErrorResponse(404, "not_found", "not found");
    return ServeFile(request, std::move(opened->first), opened->second, "text/html; charset=utf-8", "no-cache");
}

Response StaticSite::Serve(const Request& request) const {
    if (request.method != "GET" && request.method != "HEAD") {
        Response response = ErrorResponse(405, "method_not_allowed", "method not allowed");
        response.headers.Set("Allow", "GET, HEAD");
        return response;
    }
    auto opened = Open(request.path);
    if (opened) {
        std::string_view cache = request.path.starts_with("/_app/immutable/") ? kImmutableCacheControl : "no-cache";
        std::string_view type = request.path.ends_with('/') || request.path == "/"
                                    ? std::string_view("text/html; charset=utf-8")
                                    : ContentTypeForPath(request.path);
        return ServeFile(request, std::move(opened->first), opened->second, type, cache);
    }
    if (opened.error().code == ErrorCode::kNotFound && AcceptsHtml(request) && !IsApiPath(request.path)) {
        return ServeIndex(request);
    }
    return ErrorResponse(404, "not_found", "not found");
}

namespace {

boost::asio::awaitable<Response> ServeAsync(std::shared_ptr<const StaticSite> site, Request& request) {
    co_return site->Serve(request);
}

}  // namespace

Handler StaticSite::AsHandler() const {
    // The site is owned by a shared_ptr (Create); the handler keeps it alive.
    auto self = std::shared_ptr<const StaticSite>(shared_from_this());
    return [self](Request& request) { return ServeAsync(self, request); };
}

}  // namespace plyr::http
