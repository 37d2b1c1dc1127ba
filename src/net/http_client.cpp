#include "net/http_client.hpp"

#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace plyr::net {
namespace {

using Clock = std::chrono::steady_clock;

std::string Lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
    return out;
}

bool IEquals(std::string_view a, std::string_view b) { return a.size() == b.size() && Lower(a) == Lower(b); }

void EnsureCurlInitialised() {
    // curl_global_init is not thread-safe; it must run once before any easy handle exists.
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long RemainingMs(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 1 ? 1L : static_cast<long>(left);
}

bool IsRedirectStatus(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool HasControlChars(std::string_view text) {
    return std::any_of(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 && c != '\t'; });
}

// getaddrinfo has no timeout of its own: it runs on a detached thread and the caller stops waiting at the
// deadline (the thread finishes on its own; the shared state keeps its result alive until then).
Result<std::vector<IpAddress>> ResolveName(const std::string& host, Clock::time_point deadline) {
    struct Lookup {
        std::mutex mutex;
        std::condition_variable done_cv;
        bool done = false;
        int rc = 0;
        std::vector<IpAddress> addresses;
    };
    auto lookup = std::make_shared<Lookup>();
    try {
        std::thread([lookup, host] {
            addrinfo hints{};
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            addrinfo* list = nullptr;
            int rc = getaddrinfo(host.c_str(), nullptr, &hints, &list);
            std::vector<IpAddress> found;
            for (addrinfo* ai = list; rc == 0 && ai != nullptr; ai = ai->ai_next) {
                IpAddress address;
                if (ai->ai_family == AF_INET) {
                    const auto* sin = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
                    std::memcpy(address.bytes.data(), &sin->sin_addr, 4);
                } else if (ai->ai_family == AF_INET6) {
                    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
                    address.v6 = true;
                    std::memcpy(address.bytes.data(), &sin6->sin6_addr, 16);
                } else {
                    continue;
                }
                if (std::find(found.begin(), found.end(), address) == found.end()) found.push_back(address);
            }
            if (list != nullptr) freeaddrinfo(list);
            std::lock_guard lock(lookup->mutex);
            lookup->rc = rc;
            lookup->addresses = std::move(found);
            lookup->done = true;
            lookup->done_cv.notify_all();
        }).detach();
    } catch (const std::system_error& e) {
        return Fail(ErrorCode::kUnavailable, "could not resolve host", std::string("resolver thread: ") + e.what());
    }
    std::unique_lock lock(lookup->mutex);
    if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) {
        return Fail(ErrorCode::kTimeout, "request timed out", "dns lookup of " + host + " timed out");
    }
    if (lookup->rc != 0) {
        return Fail(ErrorCode::kUnavailable, "could not resolve host",
                    "getaddrinfo(" + host + "): " + gai_strerror(lookup->rc));
    }
    if (lookup->addresses.empty()) {
        return Fail(ErrorCode::kUnavailable, "could not resolve host", "no addresses for " + host);
    }
    return std::move(lookup->addresses);
}

// The addresses the SSRF check approved; curl may open sockets to these only.
struct SocketGuard {
    std::vector<IpAddress> allowed;
    std::uint16_t port = 0;
    bool blocked = false;
    std::string blocked_address;
};

curl_socket_t OpenSocket(void* clientp, curlsocktype purpose, struct curl_sockaddr* address) {
    auto* guard = static_cast<SocketGuard*>(clientp);
    IpAddress target;
    std::uint16_t port = 0;
    if (purpose != CURLSOCKTYPE_IPCXN) {
        guard->blocked = true;
        guard->blocked_address = "non-ip socket";
        return CURL_SOCKET_BAD;
    }
    if (address->family == AF_INET && address->addrlen >= sizeof(sockaddr_in)) {
        const auto* sin = reinterpret_cast<const sockaddr_in*>(&address->addr);
        std::memcpy(target.bytes.data(), &sin->sin_addr, 4);
        port = ntohs(sin->sin_port);
    } else if (address->family == AF_INET6 && address->addrlen >= sizeof(sockaddr_in6)) {
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address->addr);
        target.v6 = true;
        std::memcpy(target.bytes.data(), &sin6->sin6_addr, 16);
        port = ntohs(sin6->sin6_port);
    } else {
        guard->blocked = true;
        guard->blocked_address = "unknown address family";
        return CURL_SOCKET_BAD;
    }
    if (port != guard->port ||
        std::find(guard->allowed.begin(), guard->allowed.end(), target) == guard->allowed.end()) {
        guard->blocked = true;
        guard->blocked_address = target.ToUrlHost() + ":" + std::to_string(port);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

struct Transfer {
    CURL* curl = nullptr;
    const HttpRequest* request = nullptr;
    HttpResponse* response = nullptr;
    std::FILE* out_file = nullptr;
    std::FILE* in_file = nullptr;
    std::string_view in_string;
    std::size_t in_offset = 0;
    bool follow_redirects = false;
    bool discard_body = false;
    bool decided = false;
    bool has_location = false;
    std::uint64_t received = 0;
    bool too_large = false;
    bool file_error = false;
    std::optional<Error> sink_error;
};

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    std::string_view line(data, size * count);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.rfind("HTTP/", 0) == 0) {
        // A new response (after 100 Continue): only the final one's headers count.
        t->response->headers.clear();
        t->has_location = false;
        return size * count;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return size * count;
    std::string name = Lower(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (name == "location") t->has_location = true;
    t->response->headers.emplace_back(std::move(name), std::string(value));
    return size * count;
}

std::size_t OnWrite(char* data, std::size_t size, std::size_t count, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const std::size_t n = size * count;
    if (!t->decided) {
        long status = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        // The body of a redirect we are about to follow is not the caller's response.
        t->discard_body = t->follow_redirects && IsRedirectStatus(static_cast<int>(status)) && t->has_location;
        t->decided = true;
    }
    t->received += n;
    if (t->received > t->request->max_response_bytes) {
        t->too_large = true;
        return 0;
    }
    if (t->discard_body) return n;
    std::string_view chunk(data, n);
    if (t->request->body_sink) {
        auto status = t->request->body_sink(chunk);
        if (!status) {
            t->sink_error = status.error();
            return 0;
        }
    } else if (t->out_file != nullptr) {
        if (std::fwrite(data, 1, n, t->out_file) != n) {
            t->file_error = true;
            return 0;
        }
    } else {
        t->response->body.append(chunk);
    }
    return n;
}

std::size_t OnRead(char* buffer, std::size_t size, std::size_t count, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const std::size_t capacity = size * count;
    if (t->in_file != nullptr) {
        std::size_t n = std::fread(buffer, 1, capacity, t->in_file);
        if (n == 0 && std::ferror(t->in_file)) return CURL_READFUNC_ABORT;
        return n;
    }
    std::size_t n = std::min(capacity, t->in_string.size() - t->in_offset);
    std::memcpy(buffer, t->in_string.data() + t->in_offset, n);
    t->in_offset += n;
    return n;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};

Error MapCurlError(CURLcode code, const char* message) {
    std::string detail =
        std::string(curl_easy_strerror(code)) + (message[0] != '\0' ? std::string(": ") + message : "");
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT:
            return Error{ErrorCode::kTimeout, "request timed out", detail};
        case CURLE_FILESIZE_EXCEEDED:
            return Error{ErrorCode::kTooLarge, "response too large", detail};
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_BAD_CONTENT_ENCODING:
        case CURLE_TOO_MANY_REDIRECTS:
            return Error{ErrorCode::kProtocol, "invalid response", detail};
        case CURLE_READ_ERROR:
            return Error{ErrorCode::kIo, "could not read the request body", detail};
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            return Error{ErrorCode::kInvalidArgument, "invalid url", detail};
        default:
            return Error{ErrorCode::kUnavailable, "could not reach the server", detail};
    }
}

std::string OriginOf(std::string_view scheme, std::string_view host, std::uint16_t port) {
    return std::string(scheme) + "://" + std::string(host) + ":" + std::to_string(port);
}

}  // namespace

std::optional<std::string_view> HttpResponse::Header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
        if (IEquals(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

std::string ResolveRedirect(std::string_view base_url, std::string_view location) {
    auto base = boost::urls::parse_absolute_uri(base_url);
    auto ref = boost::urls::parse_uri_reference(location);
    if (!base || !ref) return {};
    boost::urls::url dest;
    if (!boost::urls::resolve(*base, *ref, dest)) return {};
    dest.remove_fragment();
    return std::string(dest.buffer());
}

struct CurlHttpClient::Target {
    std::string url;  // fragment removed
    std::string scheme;
    std::string host;  // lowercase; IPv6 without brackets
    bool host_is_ip = false;
    std::uint16_t port = 0;
    std::vector<IpAddress> addresses;
    std::string origin;
};

CurlHttpClient::CurlHttpClient(CurlHttpClientOptions options) : options_(std::move(options)) {
    EnsureCurlInitialised();
    if (options_.metrics != nullptr) {
        blocked_ = &options_.metrics->Counter(
            "plyr_ssrf_blocked_total", "Outbound requests refused by the SSRF guard, by address class", {"reason"});
    }
}

CurlHttpClient::~CurlHttpClient() = default;

void CurlHttpClient::CountBlock(std::string_view reason) {
    if (blocked_ != nullptr) blocked_->WithLabels({std::string(reason)}).Inc();
}

Result<CurlHttpClient::Target> CurlHttpClient::Check(std::string_view url, Clock::time_point deadline) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "invalid url", "unparseable url");
    Target t;
    t.scheme = Lower(parsed->scheme());
    if (t.scheme != "http" && t.scheme != "https") {
        return Fail(ErrorCode::kInvalidArgument, "invalid url", "scheme must be http or https");
    }
    if (t.scheme == "http" && !options_.policy.permits_http()) {
        return Fail(ErrorCode::kInvalidArgument, "invalid url", "plain http is not allowed");
    }
    if (!parsed->has_authority()) return Fail(ErrorCode::kInvalidArgument, "invalid url", "url has no host");
    if (parsed->has_userinfo()) {
        return Fail(ErrorCode::kInvalidArgument, "invalid url", "credentials in urls are not allowed");
    }
    switch (parsed->host_type()) {
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            t.host = Lower(parsed->host_address());
            t.host_is_ip = true;
            break;
        case boost::urls::host_type::name: {
            std::string_view encoded = parsed->encoded_host();
            if (encoded.empty() || encoded.find('%') != std::string_view::npos) {
                return Fail(ErrorCode::kInvalidArgument, "invalid url", "bad host name");
            }
            t.host = Lower(encoded);
            break;
        }
        default:
            return Fail(ErrorCode::kInvalidArgument, "invalid url", "unsupported host form");
    }
    if (parsed->has_port()) {
        if (parsed->port().empty()) {
            t.port = t.scheme == "https" ? 443 : 80;
        } else if (parsed->port_number() == 0) {
            return Fail(ErrorCode::kInvalidArgument, "invalid url", "bad port");
        } else {
            t.port = parsed->port_number();
        }
    } else {
        t.port = t.scheme == "https" ? 443 : 80;
    }
    boost::urls::url copy(*parsed);
    copy.remove_fragment();
    // curl gets exactly the host the checks saw (and the pinned CURLOPT_RESOLVE entry names).
    if (!t.host_is_ip) copy.set_encoded_host(t.host);
    t.url = std::string(copy.buffer());
    t.origin = OriginOf(t.scheme, t.host, t.port);

    if (t.host_is_ip) {
        auto ip = IpAddress::Parse(t.host);
        if (!ip) return Fail(ErrorCode::kInvalidArgument, "invalid url", "bad ip literal");
        t.addresses.push_back(*ip);
    } else if (auto it = options_.static_hosts.find(t.host); it != options_.static_hosts.end()) {
        for (const auto& text : it->second) {
            auto ip = IpAddress::Parse(text);
            if (!ip) return Fail(ErrorCode::kConfig, "invalid static host", "static host address " + text);
            t.addresses.push_back(*ip);
        }
        if (t.addresses.empty()) return Fail(ErrorCode::kUnavailable, "could not resolve host", "empty static host");
    } else {
        auto resolved = ResolveName(t.host, deadline);
        if (!resolved) return Fail(std::move(resolved.error()));
        t.addresses = std::move(*resolved);
    }
    for (const auto& address : t.addresses) {
        if (!options_.policy.Allows(t.host, address, t.port)) {
            AddressClass c = ClassifyAddress(address);
            CountBlock(AddressClassName(c));
            return Fail(ErrorCode::kPermissionDenied, "address not allowed",
                        "ssrf_blocked: " + t.host + " -> " + address.ToString() + " (" +
                            std::string(AddressClassName(c)) + ")");
        }
    }
    return t;
}

Result<HttpResponse> CurlHttpClient::SendOnce(const HttpRequest& request, const Target& target, std::string_view method,
                                              bool with_body, const HeaderList& headers, Clock::time_point deadline) {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return Fail(ErrorCode::kInternal, "http client error", "curl_easy_init failed");
    CURL* c = curl.get();

    HttpResponse response;
    response.url = target.url;
    Transfer transfer;
    transfer.curl = c;
    transfer.request = &request;
    transfer.response = &response;
    transfer.follow_redirects = request.max_redirects > 0;

    SocketGuard guard;
    guard.allowed = target.addresses;
    guard.port = target.port;

    std::unique_ptr<curl_slist, SlistDeleter> resolve_list;
    if (!target.host_is_ip) {
        std::string entry = target.host + ":" + std::to_string(target.port) + ":";
        for (std::size_t i = 0; i < target.addresses.size(); ++i) {
            if (i > 0) entry += ",";
            entry += target.addresses[i].ToUrlHost();
        }
        resolve_list.reset(curl_slist_append(nullptr, entry.c_str()));
    }

    std::unique_ptr<curl_slist, SlistDeleter> header_list;
    auto add_header = [&](const std::string& line) {
        curl_slist* next = curl_slist_append(header_list.get(), line.c_str());
        if (next != nullptr) {
            header_list.release();
            header_list.reset(next);
        }
    };
    bool has_content_type = false;
    for (const auto& [name, value] : headers) {
        if (name.empty() || HasControlChars(name) || HasControlChars(value) || name.find(':') != std::string::npos) {
            return Fail(ErrorCode::kInvalidArgument, "invalid header", "header " + name);
        }
        if (IEquals(name, "content-type")) has_content_type = true;
        add_header(name + ": " + value);
    }
    add_header("Expect:");                                            // no 100-continue round trip
    if (with_body && !has_content_type) add_header("Content-Type:");  // curl would claim a form otherwise

    std::unique_ptr<std::FILE, FileCloser> in_file;
    curl_off_t body_size = 0;
    if (with_body) {
        if (!request.body_file.empty()) {
            std::error_code ec;
            auto size = std::filesystem::file_size(request.body_file, ec);
            in_file.reset(ec ? nullptr : std::fopen(request.body_file.c_str(), "rb"));
            if (!in_file) {
                return Fail(ErrorCode::kInvalidArgument, "could not read the request body",
                            "body_file " + request.body_file.string());
            }
            transfer.in_file = in_file.get();
            body_size = static_cast<curl_off_t>(size);
        } else {
            transfer.in_string = request.body;
            body_size = static_cast<curl_off_t>(request.body.size());
        }
    }

    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, target.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");  // "" disables proxies, including the environment's
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(c, CURLOPT_USERAGENT, options_.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     std::min(RemainingMs(deadline), static_cast<long>(request.connect_timeout.count())));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, RemainingMs(deadline));
    // A HEAD answer's Content-Length describes a body that never comes: only real bodies are capped early.
    if (method != "HEAD") {
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(request.max_response_bytes));
    }
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &guard);
    if (resolve_list) curl_easy_setopt(c, CURLOPT_RESOLVE, resolve_list.get());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnWrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);

    if (method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (with_body || method == "POST") {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, body_size);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
        curl_easy_setopt(c, CURLOPT_READDATA, &transfer);
    } else if (method == "GET") {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    // PUT, DELETE, PATCH, …: the POST machinery above (when there is a body) under another verb.
    const std::string custom_method(method);
    if (method != "POST" && method != "HEAD" && (with_body || method != "GET")) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, custom_method.c_str());
    }

    std::unique_ptr<std::FILE, FileCloser> out_file;
    if (!request.response_file.empty() && !request.body_sink) {
        out_file.reset(std::fopen(request.response_file.c_str(), "wb"));
        if (!out_file) {
            return Fail(ErrorCode::kIo, "could not write the response",
                        "response_file " + request.response_file.string());
        }
        transfer.out_file = out_file.get();
    }

    CURLcode code = curl_easy_perform(c);
    if (out_file && std::fflush(out_file.get()) != 0) transfer.file_error = true;

    if (guard.blocked) {
        CountBlock("unchecked_address");
        return Fail(ErrorCode::kPermissionDenied, "address not allowed",
                    "ssrf_blocked: socket to unchecked address " + guard.blocked_address);
    }
    if (transfer.too_large) {
        return Fail(ErrorCode::kTooLarge, "response too large",
                    "response body over " + std::to_string(request.max_response_bytes) + " bytes");
    }
    if (transfer.sink_error) return Fail(std::move(*transfer.sink_error));
    if (transfer.file_error) {
        return Fail(ErrorCode::kIo, "could not write the response", "response_file " + request.response_file.string());
    }
    if (code != CURLE_OK) return Fail(MapCurlError(code, error_buffer));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    return response;
}

Result<HttpResponse> CurlHttpClient::Send(const HttpRequest& request) {
    const auto deadline = Clock::now() + request.timeout;
    std::string url = request.url;
    std::string method = request.method.empty() ? "GET" : request.method;
    for (char ch : method) {
        if (!(ch >= 'A' && ch <= 'Z')) return Fail(ErrorCode::kInvalidArgument, "invalid method", method);
    }
    bool with_body = !request.body.empty() || !request.body_file.empty();
    HeaderList headers = request.headers;
    std::string origin;

    auto remove_output = [&] {
        if (!request.response_file.empty() && !request.body_sink) {
            std::error_code ec;
            std::filesystem::remove(request.response_file, ec);
        }
    };

    for (int hop = 0;; ++hop) {
        auto target = Check(url, deadline);
        if (!target) {
            remove_output();
            return Fail(std::move(target.error()));
        }
        if (!origin.empty() && origin != target->origin) {
            // Credentials were meant for the first origin only.
            std::erase_if(
                headers, [](const auto& h) { return IEquals(h.first, "authorization") || IEquals(h.first, "cookie"); });
        }
        origin = target->origin;
        auto response = SendOnce(request, *target, method, with_body, headers, deadline);
        if (!response) {
            remove_output();
            return response;
        }
        if (request.max_redirects <= 0 || !IsRedirectStatus(response->status)) return response;
        auto location = response->Header("location");
        if (!location) return response;
        if (hop >= request.max_redirects) {
            remove_output();
            return Fail(ErrorCode::kProtocol, "too many redirects",
                        "more than " + std::to_string(request.max_redirects) + " redirects");
        }
        std::string next = ResolveRedirect(url, *location);
        if (next.empty()) {
            remove_output();
            return Fail(ErrorCode::kProtocol, "invalid redirect", "unusable Location header");
        }
        if (response->status == 303 || ((response->status == 301 || response->status == 302) && method == "POST")) {
            if (method != "HEAD") method = "GET";
            with_body = false;
            std::erase_if(headers, [](const auto& h) { return IEquals(h.first, "content-type"); });
        }
        url = std::move(next);
    }
}

}  // namespace plyr::net
