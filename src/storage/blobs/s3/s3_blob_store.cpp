#include "storage/blobs/s3/s3_blob_store.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <map>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "storage/blobs/file_util.hpp"
#include "storage/blobs/s3/sigv4.hpp"

namespace plyr::storage::blobs {
namespace {

constexpr std::size_t kMaxCollectedBody = 1 << 20;  // XML answers are small; never buffer an object
constexpr std::uint64_t kMaxParts = 10000;
constexpr std::chrono::seconds kMaxPresignExpiry{7 * 24 * 3600};

std::string Lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string XmlUnescape(std::string_view text) {
    static constexpr std::pair<std::string_view, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size();) {
        bool replaced = false;
        if (text[i] == '&') {
            for (const auto& [entity, ch] : kEntities) {
                if (text.substr(i, entity.size()) == entity) {
                    out += ch;
                    i += entity.size();
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced) out += text[i++];
    }
    return out;
}

std::string XmlEscape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '&') {
            out += "&amp;";
        } else if (c == '<') {
            out += "&lt;";
        } else if (c == '>') {
            out += "&gt;";
        } else {
            out += c;
        }
    }
    return out;
}

// The text of the first <tag>…</tag> in an S3 XML answer (S3's answers are flat enough for this).
std::string XmlText(std::string_view xml, std::string_view tag) {
    std::string open = fmt::format("<{}>", tag);
    std::string close = fmt::format("</{}>", tag);
    std::size_t start = xml.find(open);
    if (start == std::string_view::npos) return {};
    start += open.size();
    std::size_t end = xml.find(close, start);
    if (end == std::string_view::npos) return {};
    return XmlUnescape(xml.substr(start, end - start));
}

// RFC 7231 IMF-fixdate, e.g. "Wed, 25 Nov 2026 13:39:43 GMT".
std::optional<std::chrono::sys_seconds> ParseHttpDate(std::string_view text) {
    static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::string copy(text);
    int day = 0, year = 0, hour = 0, minute = 0, second = 0;
    char month_name[4] = {};
    if (std::sscanf(copy.c_str(), "%*3s, %2d %3s %4d %2d:%2d:%2d GMT", &day, month_name, &year, &hour, &minute,
                    &second) != 6) {
        return std::nullopt;
    }
    unsigned month = 0;
    for (unsigned i = 0; i < 12; ++i) {
        if (kMonths[i] == month_name) month = i + 1;
    }
    std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                    std::chrono::day(static_cast<unsigned>(day))};
    if (month == 0 || !ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    return std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
           std::chrono::seconds(second);
}

std::optional<std::uint64_t> ParseUint(std::string_view text) {
    if (text.empty() || text.size() > 19) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

struct TransferState {
    CURL* curl = nullptr;
    // response
    const ChunkSink* sink = nullptr;
    std::optional<ByteRange> clip;  // deliver only this part of a 200 body (a server that ignored Range)
    std::uint64_t position = 0;
    std::optional<Error> sink_error;
    std::map<std::string, std::string> headers;
    std::string body;
    // request body
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t remaining = 0;
    std::string_view memory;
    std::optional<Error> read_error;
};

long ResponseCode(CURL* curl) {
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* state = static_cast<TransferState*>(user);
    std::string_view line(data, size * count);
    // A new status line starts a new header block (after a 100 Continue, for instance).
    if (line.starts_with("HTTP/")) {
        state->headers.clear();
        return line.size();
    }
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
        state->headers[Lower(Trim(line.substr(0, colon)))] = std::string(Trim(line.substr(colon + 1)));
    }
    return line.size();
}

size_t OnWrite(char* data, size_t size, size_t count, void* user) {
    auto* state = static_cast<TransferState*>(user);
    std::size_t length = size * count;
    long code = ResponseCode(state->curl);
    if (state->sink != nullptr && code >= 200 && code < 300) {
        std::string_view chunk(data, length);
        if (state->clip && code == 200) {
            std::uint64_t begin = state->clip->offset;
            std::uint64_t end = begin + state->clip->length;
            std::uint64_t from = std::max(begin, state->position);
            std::uint64_t to = std::min(end, state->position + length);
            chunk = from < to ? chunk.substr(from - state->position, to - from) : std::string_view();
        }
        state->position += length;
        if (!chunk.empty()) {
            Status delivered = (*state->sink)(chunk);
            if (!delivered) {
                state->sink_error = std::move(delivered.error());
                return 0;  // makes curl stop with CURLE_WRITE_ERROR
            }
        }
        return length;
    }
    if (state->body.size() < kMaxCollectedBody) {
        state->body.append(data, std::min(length, kMaxCollectedBody - state->body.size()));
    }
    return length;
}

size_t OnRead(char* buffer, size_t size, size_t count, void* user) {
    auto* state = static_cast<TransferState*>(user);
    std::size_t capacity = size * count;
    if (state->fd < 0) {
        std::size_t n = std::min(capacity, state->memory.size());
        std::copy_n(state->memory.data(), n, buffer);
        state->memory.remove_prefix(n);
        return n;
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, state->remaining));
    if (want == 0) return 0;
    while (true) {
        ssize_t n = ::pread(state->fd, buffer, want, static_cast<off_t>(state->offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            state->read_error = detail::ErrnoError(errno, "read upload source");
            return CURL_READFUNC_ABORT;
        }
        if (n == 0) {
            state->read_error = Error{ErrorCode::kIo, "storage i/o error", "upload source shrank while being sent"};
            return CURL_READFUNC_ABORT;
        }
        state->offset += static_cast<std::uint64_t>(n);
        state->remaining -= static_cast<std::uint64_t>(n);
        return static_cast<size_t>(n);
    }
}

}  // namespace

struct S3BlobStore::Request {
    std::string method = "GET";
    std::string key;  // empty = the bucket itself
    sigv4::Params query;
    sigv4::Params headers;  // signed and sent, besides host and the signer's own
    std::string payload_hash = std::string(sigv4::kUnsignedPayload);
    std::optional<std::string_view> memory_body;
    int body_fd = -1;  // file body: body_length bytes from body_offset
    std::uint64_t body_offset = 0;
    std::uint64_t body_length = 0;
    const ChunkSink* sink = nullptr;  // 2xx bodies go here; else they are collected (capped)
    std::optional<ByteRange> range;
    Timing timing = Timing::kShort;
    std::string_view what;  // operation name for errors
};

struct S3BlobStore::Response {
    long status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
};

class S3BlobStore::HandlePool {
  public:
    HandlePool() = default;
    ~HandlePool() {
        for (CURL* handle : idle_) curl_easy_cleanup(handle);
    }
    HandlePool(const HandlePool&) = delete;
    HandlePool& operator=(const HandlePool&) = delete;

    CURL* Acquire() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                CURL* handle = idle_.back();
                idle_.pop_back();
                return handle;
            }
        }
        return curl_easy_init();
    }
    // Reset keeps the handle's connection cache, so the next request can reuse a live connection.
    void Release(CURL* handle) {
        curl_easy_reset(handle);
        std::lock_guard lock(mutex_);
        if (idle_.size() < kMaxIdle) {
            idle_.push_back(handle);
            return;
        }
        curl_easy_cleanup(handle);
    }

  private:
    static constexpr std::size_t kMaxIdle = 8;
    std::mutex mutex_;
    std::vector<CURL*> idle_;
};

namespace {

Error HttpError(long status, const std::string& body, std::string_view what) {
    std::string code = XmlText(body, "Code");
    std::string detail = fmt::format("S3 {}: HTTP {} {} {}", what, status, code, XmlText(body, "Message"));
    if (status == 404) {
        if (code == "NoSuchBucket") return Error{ErrorCode::kConfig, "storage bucket does not exist", detail};
        return Error{ErrorCode::kNotFound, "object not found", detail};
    }
    if (status == 416) return Error{ErrorCode::kInvalidArgument, "range not satisfiable", detail};
    if (status >= 500) return Error{ErrorCode::kUnavailable, "storage service unavailable", detail};
    return Error{ErrorCode::kProtocol, "storage request rejected", detail};
}

ObjectInfo InfoFromHeaders(const std::map<std::string, std::string>& headers) {
    auto get = [&](const char* name) -> std::string_view {
        auto it = headers.find(name);
        return it == headers.end() ? std::string_view() : std::string_view(it->second);
    };
    ObjectInfo info;
    std::string_view content_range = get("content-range");  // "bytes 0-9/1234"
    std::size_t slash = content_range.rfind('/');
    if (slash != std::string_view::npos) {
        info.size = ParseUint(content_range.substr(slash + 1)).value_or(0);
    } else {
        info.size = ParseUint(get("content-length")).value_or(0);
    }
    std::string_view etag = get("etag");
    if (etag.starts_with("W/")) etag.remove_prefix(2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    info.etag = std::string(etag);
    info.content_type = std::string(get("content-type"));
    info.last_modified = ParseHttpDate(get("last-modified")).value_or(std::chrono::sys_seconds{});
    return info;
}

std::string TrimTrailingSlashes(std::string text) {
    while (!text.empty() && text.back() == '/') text.pop_back();
    return text;
}

}  // namespace

S3BlobStore::S3BlobStore(S3Options options, Endpoint endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), pool_(std::make_unique<HandlePool>()) {}

S3BlobStore::~S3BlobStore() = default;

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(S3Options options) {
    auto bad = [](std::string message) { return Fail(ErrorCode::kConfig, std::move(message)); };
    auto parsed = boost::urls::parse_uri(options.endpoint);
    if (!parsed) return bad("S3 endpoint is not a URL");
    Endpoint endpoint;
    endpoint.scheme = Lower(parsed->scheme());
    if (endpoint.scheme != "http" && endpoint.scheme != "https") return bad("S3 endpoint must be http or https");
    if (parsed->has_userinfo() || parsed->has_query() || parsed->has_fragment()) {
        return bad("S3 endpoint must not carry credentials, a query or a fragment");
    }
    endpoint.host = Lower(std::string_view(parsed->encoded_host()));
    if (endpoint.host.empty()) return bad("S3 endpoint has no host");
    endpoint.host_is_ip =
        parsed->host_type() == boost::urls::host_type::ipv4 || parsed->host_type() == boost::urls::host_type::ipv6;
    endpoint.port = std::string(parsed->port());
    endpoint.base_path = TrimTrailingSlashes(std::string(std::string_view(parsed->encoded_path())));
    if (options.bucket.empty()) return bad("S3 bucket is empty");
    if (options.access_key_id.empty() || options.secret_access_key.empty()) return bad("S3 credentials are empty");
    if (options.region.empty()) return bad("S3 region is empty");
    if (options.part_size < kMinPartSize) return bad("S3 multipart part size is below 5 MiB");
    if (options.multipart_threshold == 0) return bad("S3 multipart threshold is zero");
    options.public_base_url = TrimTrailingSlashes(std::move(options.public_base_url));
    if (!options.clock) options.clock = std::make_shared<core::SystemClock>();
    // curl_global_init is not thread-safe on every build; do it once, before any handle exists.
    static std::once_flag curl_init;
    std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    return std::unique_ptr<S3BlobStore>(new S3BlobStore(std::move(options), std::move(endpoint)));
}

bool S3BlobStore::PathStyle() const { return options_.force_path_style || endpoint_.host_is_ip; }

std::string S3BlobStore::Authority() const {
    std::string authority = PathStyle() ? endpoint_.host : options_.bucket + "." + endpoint_.host;
    if (!endpoint_.port.empty()) authority += ":" + endpoint_.port;
    return authority;
}

std::string S3BlobStore::Path(std::string_view key) const {
    std::string bucket_path =
        PathStyle() ? endpoint_.base_path + "/" + sigv4::UriEncode(options_.bucket, false) : endpoint_.base_path;
    if (key.empty()) return bucket_path.empty() ? "/" : bucket_path;
    return bucket_path + sigv4::EncodeS3Path(key);
}

std::string S3BlobStore::ObjectUrl(std::string_view key) const {
    return endpoint_.scheme + "://" + Authority() + Path(key);
}

std::chrono::sys_seconds S3BlobStore::Now() const {
    return std::chrono::floor<std::chrono::seconds>(
        std::chrono::sys_time<std::chrono::microseconds>(std::chrono::microseconds(options_.clock->NowMicros())));
}

Result<S3BlobStore::Response> S3BlobStore::Perform(const Request& request) const {
    std::string authority = Authority();
    std::string path = Path(request.key);
    sigv4::Request to_sign{request.method, path, request.query, {{"host", authority}}, request.payload_hash};
    to_sign.headers.insert(to_sign.headers.end(), request.headers.begin(), request.headers.end());
    sigv4::Signature signature =
        sigv4::SignHeaders(to_sign, {options_.access_key_id, options_.secret_access_key}, {options_.region}, Now());

    std::string url = endpoint_.scheme + "://" + authority + path;
    if (!request.query.empty()) url += "?" + sigv4::CanonicalQuery(request.query);

    struct SlistDeleter {
        void operator()(curl_slist* list) const { curl_slist_free_all(list); }
    };
    std::unique_ptr<curl_slist, SlistDeleter> header_list;
    bool headers_ok = true;
    auto add_header = [&](const std::string& line) {
        // curl_slist_append returns the (unchanged) head, or null when it could not allocate.
        curl_slist* head = curl_slist_append(header_list.get(), line.c_str());
        if (head == nullptr) {
            headers_ok = false;
        } else if (!header_list) {
            header_list.reset(head);
        }
    };
    add_header("Host: " + authority);
    bool has_content_type = false;
    for (const auto& [name, value] : request.headers) {
        has_content_type = has_content_type || Lower(name) == "content-type";
        add_header(name + ": " + value);
    }
    for (const auto& [name, value] : signature.headers) add_header(name + ": " + value);
    // No "Expect: 100-continue" round trip, and no curl-invented Content-Type on POST.
    add_header("Expect:");
    if (!has_content_type) add_header("Content-Type:");
    if (!headers_ok) return Fail(ErrorCode::kInternal, "storage client error", "out of memory building headers");

    CURL* curl = pool_->Acquire();
    if (curl == nullptr) return Fail(ErrorCode::kInternal, "storage client error", "curl_easy_init failed");
    struct Lease {
        HandlePool* pool;
        CURL* curl;
        ~Lease() { pool->Release(curl); }
    } lease{pool_.get(), curl};

    TransferState state;
    state.curl = curl;
    state.sink = request.sink;
    state.clip = request.range;
    char error_buffer[CURL_ERROR_SIZE] = {};

    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
    auto total_ms = [](std::chrono::seconds limit) {
        return static_cast<long>(std::chrono::milliseconds(limit).count());
    };
    switch (request.timing) {
        case Timing::kShort:
            curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms(options_.request_timeout));
            break;
        case Timing::kStream:
            curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit);
            curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.low_speed_time.count()));
            break;
        case Timing::kAssemble:
            // S3 may assemble a large object for minutes, sending only whitespace meanwhile: no low-speed limit.
            curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, total_ms(options_.assemble_timeout));
            break;
    }
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);

    std::uint64_t body_length = 0;
    if (request.memory_body) {
        state.memory = *request.memory_body;
        body_length = request.memory_body->size();
    } else if (request.body_fd >= 0) {
        state.fd = request.body_fd;
        state.offset = request.body_offset;
        state.remaining = request.body_length;
        body_length = request.body_length;
    }
    if (request.method == "GET") {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "PUT") {
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_length));
    } else if (request.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_length));
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (request.method == "PUT" || request.method == "POST") {
        curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
        curl_easy_setopt(curl, CURLOPT_READDATA, &state);
    }

    CURLcode rc = curl_easy_perform(curl);
    if (state.sink_error) return Fail(std::move(*state.sink_error));
    if (state.read_error) return Fail(std::move(*state.read_error));
    if (rc != CURLE_OK) {
        return Fail(ErrorCode::kUnavailable, "storage service unavailable",
                    fmt::format("S3 {}: {} ({})", request.what, curl_easy_strerror(rc), error_buffer));
    }
    Response response;
    response.status = ResponseCode(curl);
    response.headers = std::move(state.headers);
    response.body = std::move(state.body);
    log::Debug("s3_request", {{"op", request.what},
                              {"bucket", options_.bucket},
                              {"key", request.key},
                              {"status", static_cast<std::int64_t>(response.status)}});
    return response;
}

Status S3BlobStore::PutBytes(std::string_view key, std::string_view bytes, std::string_view content_type) {
    PLYR_TRY_STATUS(ValidateKey(key));
    PLYR_TRY_STATUS(ValidateContentType(content_type));
    Request request;
    request.method = "PUT";
    request.key = std::string(key);
    request.headers = {{"Content-Type", std::string(content_type.empty() ? ContentTypeForKey(key) : content_type)}};
    request.payload_hash = core::Sha256Hex(bytes);
    request.memory_body = bytes;
    request.timing = Timing::kStream;
    request.what = "put";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status != 200) return Fail(HttpError(response->status, response->body, request.what));
    return Ok();
}

Status S3BlobStore::PutFile(std::string_view key, const std::filesystem::path& path, std::string_view content_type) {
    PLYR_TRY_STATUS(ValidateKey(key));
    PLYR_TRY_STATUS(ValidateContentType(content_type));
    detail::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "source file not found");
        return Fail(detail::ErrnoError(errno, "open source file"));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Fail(detail::ErrnoError(errno, "stat source file"));
    if (!S_ISREG(st.st_mode)) return Fail(ErrorCode::kInvalidArgument, "source is not a regular file");
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::string type(content_type.empty() ? ContentTypeForKey(key) : content_type);
    if (size > options_.multipart_threshold) return PutMultipart(key, fd.get(), size, type);

    Request request;
    request.method = "PUT";
    request.key = std::string(key);
    request.headers = {{"Content-Type", type}};
    request.body_fd = fd.get();
    request.body_length = size;
    request.timing = Timing::kStream;
    request.what = "put";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status != 200) return Fail(HttpError(response->status, response->body, request.what));
    return Ok();
}

Status S3BlobStore::PutMultipart(std::string_view key, int fd, std::uint64_t size, const std::string& content_type) {
    std::uint64_t part_size = std::max(options_.part_size, (size + kMaxParts - 1) / kMaxParts);

    Request initiate;
    initiate.method = "POST";
    initiate.key = std::string(key);
    initiate.query = {{"uploads", ""}};
    initiate.headers = {{"Content-Type", content_type}};
    initiate.payload_hash = std::string(sigv4::kEmptyPayloadSha256);
    initiate.memory_body = std::string_view();
    initiate.what = "create multipart upload";
    auto created = Perform(initiate);
    if (!created) return Fail(std::move(created.error()));
    if (created->status != 200) return Fail(HttpError(created->status, created->body, initiate.what));
    std::string upload_id = XmlText(created->body, "UploadId");
    if (upload_id.empty()) {
        return Fail(ErrorCode::kProtocol, "storage request rejected", "S3 create multipart upload: no UploadId");
    }

    auto fail = [&](Error error) -> Status {
        AbortMultipart(key, upload_id);
        return Fail(std::move(error));
    };
    std::string complete_xml = "<CompleteMultipartUpload>";
    std::uint64_t part_number = 1;
    for (std::uint64_t offset = 0; offset < size; offset += part_size, ++part_number) {
        Request part;
        part.method = "PUT";
        part.key = std::string(key);
        part.query = {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}};
        part.body_fd = fd;
        part.body_offset = offset;
        part.body_length = std::min(part_size, size - offset);
        part.timing = Timing::kStream;
        part.what = "upload part";
        auto uploaded = Perform(part);
        if (!uploaded) return fail(std::move(uploaded.error()));
        if (uploaded->status != 200) return fail(HttpError(uploaded->status, uploaded->body, part.what));
        auto etag = uploaded->headers.find("etag");
        if (etag == uploaded->headers.end() || etag->second.empty()) {
            return fail(Error{ErrorCode::kProtocol, "storage request rejected", "S3 upload part: no ETag"});
        }
        complete_xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", part_number,
                                    XmlEscape(etag->second));
    }
    complete_xml += "</CompleteMultipartUpload>";

    Request complete;
    complete.method = "POST";
    complete.key = std::string(key);
    complete.query = {{"uploadId", upload_id}};
    complete.headers = {{"Content-Type", "application/xml"}};
    complete.payload_hash = core::Sha256Hex(complete_xml);
    complete.memory_body = complete_xml;
    complete.timing = Timing::kAssemble;
    complete.what = "complete multipart upload";
    auto completed = Perform(complete);
    if (!completed) return fail(std::move(completed.error()));
    // S3 can answer 200 and still report an error in the body.
    if (completed->status != 200 || completed->body.find("<Error>") != std::string::npos) {
        return fail(HttpError(completed->status == 200 ? 500 : completed->status, completed->body, complete.what));
    }
    multipart_uploads_.fetch_add(1);
    return Ok();
}

void S3BlobStore::AbortMultipart(std::string_view key, const std::string& upload_id) const {
    Request abort;
    abort.method = "DELETE";
    abort.key = std::string(key);
    abort.query = {{"uploadId", upload_id}};
    abort.what = "abort multipart upload";
    auto response = Perform(abort);
    if (!response || (response->status != 204 && response->status != 200)) {
        // Parts left behind cost storage until the bucket's lifecycle rule removes them; the object itself
        // never appeared.
        log::Warn("s3_abort_multipart_failed",
                  {{"bucket", options_.bucket},
                   {"key", key},
                   {"detail", response ? fmt::format("HTTP {}", response->status) : response.error().detail}});
    }
}

Result<ObjectInfo> S3BlobStore::Get(std::string_view key, std::optional<ByteRange> range, const ChunkSink& sink) {
    PLYR_TRY_STATUS(ValidateKey(key));
    if (range && range->length == 0) return Fail(ErrorCode::kInvalidArgument, "empty byte range");
    Request request;
    request.method = "GET";
    request.key = std::string(key);
    if (range) {
        std::uint64_t last =
            range->offset + std::min(range->length - 1, std::numeric_limits<std::uint64_t>::max() - range->offset);
        request.headers = {{"Range", fmt::format("bytes={}-{}", range->offset, last)}};
        request.range = range;
    }
    request.sink = &sink;
    request.timing = Timing::kStream;
    request.what = "get";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status != 200 && response->status != 206) {
        return Fail(HttpError(response->status, response->body, request.what));
    }
    ObjectInfo info = InfoFromHeaders(response->headers);
    if (range && response->status == 200 && range->offset >= info.size) {
        return Fail(ErrorCode::kInvalidArgument, "range not satisfiable");
    }
    return info;
}

Result<ObjectInfo> S3BlobStore::Head(std::string_view key) {
    PLYR_TRY_STATUS(ValidateKey(key));
    Request request;
    request.method = "HEAD";
    request.key = std::string(key);
    request.what = "head";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status != 200) return Fail(HttpError(response->status, response->body, request.what));
    return InfoFromHeaders(response->headers);
}

Status S3BlobStore::Delete(std::string_view key) {
    PLYR_TRY_STATUS(ValidateKey(key));
    Request request;
    request.method = "DELETE";
    request.key = std::string(key);
    request.what = "delete";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status == 200 || response->status == 204) return Ok();
    Error error = HttpError(response->status, response->body, request.what);
    if (error.code == ErrorCode::kNotFound) return Ok();
    return Fail(std::move(error));
}

std::optional<std::string> S3BlobStore::Url(std::string_view key, std::chrono::seconds expires) {
    if (!ValidateKey(key)) return std::nullopt;
    if (!options_.public_base_url.empty()) return options_.public_base_url + sigv4::EncodeS3Path(key);
    expires = std::clamp(expires, std::chrono::seconds(1), kMaxPresignExpiry);
    std::string authority = Authority();
    std::string path = Path(key);
    sigv4::Request request{"GET", path, {}, {{"host", authority}}, std::string(sigv4::kUnsignedPayload)};
    sigv4::Presigned presigned = sigv4::Presign(request, {options_.access_key_id, options_.secret_access_key},
                                                {options_.region}, Now(), expires);
    return endpoint_.scheme + "://" + authority + path + "?" + presigned.query;
}

std::optional<std::filesystem::path> S3BlobStore::LocalPath(std::string_view) { return std::nullopt; }

Status S3BlobStore::Check() {
    Request request;
    request.method = "HEAD";
    request.what = "head bucket";
    auto response = Perform(request);
    if (!response) return Fail(std::move(response.error()));
    if (response->status == 200) return Ok();
    // HEAD answers carry no body, so a 404 here can only mean the bucket.
    if (response->status == 404) {
        return Fail(ErrorCode::kConfig, "storage bucket does not exist", fmt::format("bucket {}", options_.bucket));
    }
    return Fail(HttpError(response->status, response->body, request.what));
}

}  // namespace plyr::storage::blobs
