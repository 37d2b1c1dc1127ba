#include "atproto/xrpc/xrpc_client.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <mutex>
#include <random>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "atproto/data/json.hpp"
#include "atproto/syntax/syntax.hpp"
#include "core/encoding.hpp"

namespace plyr::atproto::xrpc {
namespace {

constexpr std::size_t kMaxErrorNameLength = 128;
constexpr std::size_t kMaxErrorMessageLength = 1024;
constexpr std::size_t kMaxErrorBodyRead = 64 * 1024;
constexpr std::size_t kBodySnippetLength = 200;
constexpr std::chrono::seconds kMaxRetryAfter{24 * 3600};

bool IsErrorToken(std::string_view name) {
    if (name.empty() || name.size() > kMaxErrorNameLength) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f;
    });
}

// Printable ASCII only: bodies of failed calls go to logs, never raw.
std::string Snippet(std::string_view body) {
    std::string out;
    for (char c : body.substr(0, kBodySnippetLength)) {
        auto u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    if (body.size() > kBodySnippetLength) out += "...";
    return out;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
    // Only the delta-seconds form; an HTTP-date is rare on XRPC services and then ignored.
    if (value.empty() || value.size() > 9) return std::nullopt;
    std::int64_t seconds = 0;
    for (char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        seconds = seconds * 10 + (c - '0');
    }
    return std::min(std::chrono::seconds(seconds), kMaxRetryAfter);
}

std::string HeaderOr(const net::HttpResponse& response, std::string_view name) {
    auto value = response.Header(name);
    return value ? std::string(*value) : std::string();
}

}  // namespace

XrpcError ErrorFromResponse(std::string_view nsid, const net::HttpResponse& response, std::string_view body) {
    XrpcError error;
    error.status = response.status;
    error.www_authenticate = HeaderOr(response, "www-authenticate");
    error.dpop_nonce = HeaderOr(response, "dpop-nonce");
    if (auto retry_after = response.Header("retry-after")) error.retry_after = ParseRetryAfter(*retry_after);

    boost::system::error_code ec;
    boost::json::value json = boost::json::parse(body, ec);
    bool parsed = false;
    if (!ec && json.is_object()) {
        const auto& object = json.get_object();
        if (auto it = object.find("error"); it != object.end() && it->value().is_string()) {
            std::string_view name = it->value().get_string();
            if (IsErrorToken(name)) {
                error.error = std::string(name);
                parsed = true;
            }
        }
        if (auto it = object.find("message"); it != object.end() && it->value().is_string()) {
            std::string_view message = it->value().get_string();
            if (message.size() > kMaxErrorMessageLength) {
                // Cut on a UTF-8 character boundary (never inside a multi-byte sequence).
                std::size_t cut = kMaxErrorMessageLength;
                while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
                message = message.substr(0, cut);
            }
            error.message = std::string(message);
        }
    }
    if (error.message.empty()) {
        error.message = error.error.empty() ? fmt::format("http status {}", response.status) : error.error;
    }
    error.detail = fmt::format("xrpc {} status {}", nsid, response.status);
    if (!parsed && !body.empty()) error.detail += " body: " + Snippet(body);
    error.code = CodeForXrpcError(response.status, error.error);
    return error;
}

namespace {

bool IsUseDpopNonce(const XrpcError& error) {
    if (error.error == "use_dpop_nonce") return true;
    return error.status == 401 && error.www_authenticate.find("use_dpop_nonce") != std::string::npos;
}

bool IsRetryableStatus(int status) { return status == 500 || status == 502 || status == 503 || status == 504; }

bool IsRetryableTransport(ErrorCode code) { return code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout; }

std::string ReadHead(const std::filesystem::path& path, std::size_t max) {
    std::ifstream in(path, std::ios::binary);
    std::string out(max, '\0');
    in.read(out.data(), static_cast<std::streamsize>(max));
    out.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
    return out;
}

std::string EncodeParams(const Params& params) {
    std::string out;
    for (const auto& [key, value] : params) {
        if (!out.empty()) out.push_back('&');
        out += PercentEncode(key);
        out.push_back('=');
        out += PercentEncode(value);
    }
    return out;
}

}  // namespace

Error XrpcError::ToError() const {
    std::string safe = error.empty() ? message : fmt::format("{}: {}", error, message);
    return Error{code, std::move(safe), ToString()};
}

std::string XrpcError::ToString() const {
    std::string out = fmt::format("{} status={}", ErrorCodeName(code), status);
    if (!error.empty()) out += " error=" + error;
    if (!message.empty()) out += " message=" + message;
    if (!detail.empty()) out += " (" + detail + ")";
    return out;
}

XrpcError FromError(const Error& error) {
    XrpcError out;
    out.code = error.code;
    out.message = error.message;
    out.detail = error.detail;
    return out;
}

ErrorCode CodeForXrpcError(int status, std::string_view name) {
    struct Named {
        std::string_view name;
        ErrorCode code;
    };
    static constexpr Named kNamed[] = {
        {"RecordNotFound", ErrorCode::kNotFound},
        {"BlobNotFound", ErrorCode::kNotFound},
        {"RepoNotFound", ErrorCode::kNotFound},
        {"NotFound", ErrorCode::kNotFound},
        {"InvalidSwap", ErrorCode::kConflict},
        {"ExpiredToken", ErrorCode::kPermissionDenied},
        {"InvalidToken", ErrorCode::kPermissionDenied},
        {"AuthMissing", ErrorCode::kPermissionDenied},
        {"AuthenticationRequired", ErrorCode::kPermissionDenied},
        {"AccountTakedown", ErrorCode::kPermissionDenied},
        {"use_dpop_nonce", ErrorCode::kPermissionDenied},
        {"invalid_token", ErrorCode::kPermissionDenied},
        {"RateLimitExceeded", ErrorCode::kBusy},
        {"PayloadTooLarge", ErrorCode::kTooLarge},
        {"BlobTooLarge", ErrorCode::kTooLarge},
        {"MethodNotImplemented", ErrorCode::kUnsupported},
    };
    for (const auto& named : kNamed) {
        if (named.name == name) return named.code;
    }
    if (status >= 300 && status < 400) return ErrorCode::kProtocol;
    switch (status) {
        case 401:
        case 403:
            return ErrorCode::kPermissionDenied;
        case 404:
            return ErrorCode::kNotFound;
        case 409:
            return ErrorCode::kConflict;
        case 413:
            return ErrorCode::kTooLarge;
        case 429:
            return ErrorCode::kBusy;
        case 501:
            return ErrorCode::kUnsupported;
        default:
            break;
    }
    if (status >= 400 && status < 500) return ErrorCode::kInvalidArgument;
    if (status >= 500 && status < 600) return ErrorCode::kUnavailable;
    return ErrorCode::kProtocol;
}

std::string PercentEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
            out.push_back(c);
        } else {
            out.push_back('%');
            out.push_back(kHex[u >> 4]);
            out.push_back(kHex[u & 0x0f]);
        }
    }
    return out;
}

Body Body::Json(const Value& input) { return Body{"application/json", ValueToJsonText(input), {}}; }
Body Body::Raw(std::string data, std::string content_type) {
    return Body{std::move(content_type), std::move(data), {}};
}
Body Body::File(std::filesystem::path file, std::string content_type) {
    return Body{std::move(content_type), {}, std::move(file)};
}

struct XrpcClient::Jitter {
    std::mutex mutex;
    std::mt19937_64 engine{std::random_device{}()};
};

struct XrpcClient::Call {
    enum class Output { kJson, kBytes, kFile };
    std::string_view method;
    std::string_view nsid;
    const Params* params = nullptr;
    const Body* body = nullptr;  // nullptr: no body (GET)
    bool idempotent = false;
    const net::HeaderList* headers = nullptr;
    Output output = Output::kJson;
    std::uint64_t max_bytes = 0;
    std::filesystem::path destination;  // kFile
    const FileVerifier* verify = nullptr;
    std::chrono::milliseconds timeout{0};
};

struct XrpcClient::Raw {
    int status = 0;
    std::string body;             // kJson, kBytes
    std::uint64_t file_size = 0;  // kFile
};

XrpcClient::XrpcClient(std::string service_url, net::HttpClient& http, XrpcOptions options)
    : service_url_(std::move(service_url)),
      http_(http),
      options_(std::move(options)),
      jitter_(std::make_shared<Jitter>()) {
    while (!service_url_.empty() && service_url_.back() == '/') service_url_.pop_back();
}

std::chrono::milliseconds XrpcClient::Backoff(int retry) const {
    // "Equal jitter": the delay grows with each retry but never synchronises concurrent clients.
    std::int64_t ceiling = options_.backoff_base.count();
    for (int i = 0; i < retry && ceiling < options_.backoff_cap.count(); ++i) ceiling *= 2;
    ceiling = std::clamp<std::int64_t>(ceiling, 0, options_.backoff_cap.count());
    std::int64_t half = ceiling / 2;
    std::lock_guard lock(jitter_->mutex);
    std::uniform_int_distribution<std::int64_t> spread(0, ceiling - half);
    return std::chrono::milliseconds(half + spread(jitter_->engine));
}

XrpcResult<XrpcClient::Raw> XrpcClient::Execute(const Call& call) const {
    if (!syntax::IsValidNsid(call.nsid)) {
        return XrpcFail(ErrorCode::kInvalidArgument, "invalid xrpc method name", std::string(call.nsid));
    }
    const std::string htu = fmt::format("{}/xrpc/{}", service_url_, call.nsid);
    std::string url = htu;
    if (call.params != nullptr && !call.params->empty()) url += "?" + EncodeParams(*call.params);

    std::filesystem::path temp;
    if (call.output == Call::Output::kFile) {
        temp = call.destination.parent_path() /
               fmt::format(".{}.{}.part", call.destination.filename().string(), core::RandomHex(6));
    }
    auto sleep = [this](std::chrono::milliseconds delay) {
        if (options_.sleep) {
            options_.sleep(delay);
        } else {
            std::this_thread::sleep_for(delay);
        }
    };

    std::string nonce;
    std::string nonce_challenge;  // WWW-Authenticate of the use_dpop_nonce response being answered
    bool nonce_retried = false;
    int retries = 0;
    for (int attempt = 0;; ++attempt) {
        net::HttpRequest request;
        request.method = std::string(call.method);
        request.url = url;
        request.timeout = call.timeout;
        request.max_response_bytes = call.max_bytes;
        if (call.headers != nullptr) request.headers = *call.headers;
        if (call.output == Call::Output::kJson) request.headers.emplace_back("Accept", "application/json");
        if (call.body != nullptr) {
            request.headers.emplace_back("Content-Type", call.body->content_type);
            if (call.body->file.empty()) {
                request.body = call.body->data;
            } else {
                request.body_file = call.body->file;
            }
        }
        if (options_.auth) {
            AuthContext context{call.method, url, htu, call.nsid, attempt, nonce, nonce_challenge};
            auto auth_headers = options_.auth(context);
            if (!auth_headers) return XrpcFail(FromError(auth_headers.error()));
            for (auto& header : *auth_headers) request.headers.push_back(std::move(header));
        }
        if (call.output == Call::Output::kFile) request.response_file = temp;
        nonce_challenge.clear();

        auto response = http_.Send(request);
        if (!response) {
            XrpcError error = FromError(response.error());
            error.detail = fmt::format("xrpc {}: {}", call.nsid, error.detail);
            if (call.idempotent && IsRetryableTransport(error.code) && retries < options_.max_retries) {
                sleep(Backoff(retries++));
                continue;
            }
            return XrpcFail(std::move(error));
        }

        if (auto fresh = response->Header("dpop-nonce"); fresh && !fresh->empty()) {
            nonce = std::string(*fresh);
            if (options_.on_dpop_nonce) options_.on_dpop_nonce(nonce);
        }

        if (response->status >= 200 && response->status < 300) {
            Raw raw;
            raw.status = response->status;
            if (call.output != Call::Output::kFile) {
                raw.body = std::move(response->body);
                return raw;
            }
            std::error_code ec;
            raw.file_size = std::filesystem::file_size(temp, ec);
            if (ec) return XrpcFail(ErrorCode::kIo, "download failed", ec.message());
            if (call.verify != nullptr && *call.verify) {
                if (auto verified = (*call.verify)(temp); !verified) {
                    std::filesystem::remove(temp, ec);
                    XrpcError error = FromError(verified.error());
                    error.status = response->status;
                    return XrpcFail(std::move(error));
                }
            }
            std::filesystem::rename(temp, call.destination, ec);
            if (ec) {
                std::error_code ignored;
                std::filesystem::remove(temp, ignored);
                return XrpcFail(ErrorCode::kIo, "could not store the download", ec.message());
            }
            return raw;
        }

        std::string error_body;
        if (call.output == Call::Output::kFile) {
            error_body = ReadHead(temp, kMaxErrorBodyRead);
            std::error_code ignored;
            std::filesystem::remove(temp, ignored);
        } else {
            error_body = std::move(response->body);
        }
        XrpcError error = ErrorFromResponse(call.nsid, *response, error_body);

        if (options_.auth && !nonce_retried && IsUseDpopNonce(error) && !error.dpop_nonce.empty()) {
            // The server refused before processing anything: one more try with the nonce is always safe.
            nonce_retried = true;
            nonce_challenge = error.www_authenticate;
            continue;
        }
        if (call.idempotent && IsRetryableStatus(response->status) && retries < options_.max_retries) {
            std::chrono::milliseconds delay = Backoff(retries++);
            if (error.retry_after) {
                delay = std::min<std::chrono::milliseconds>(*error.retry_after, options_.backoff_cap);
            }
            sleep(delay);
            continue;
        }
        return XrpcFail(std::move(error));
    }
}

namespace {

XrpcResult<Value> ParseJsonOutput(std::string_view nsid, int status, std::string_view body) {
    if (body.empty()) return Value();
    auto value = ValueFromJsonText(body);
    if (!value) {
        XrpcError error;
        error.code = ErrorCode::kProtocol;
        error.status = status;
        error.message = "malformed xrpc output";
        error.detail = fmt::format("xrpc {}: {}; body: {}", nsid, value.error().ToString(), Snippet(body));
        return XrpcFail(std::move(error));
    }
    return std::move(*value);
}

}  // namespace

XrpcResult<Value> XrpcClient::Query(std::string_view nsid, const Params& params, const CallOptions& call) const {
    Call c;
    c.method = "GET";
    c.nsid = nsid;
    c.params = &params;
    c.idempotent = true;
    c.headers = &call.headers;
    c.max_bytes = options_.max_json_bytes;
    c.timeout = options_.timeout;
    auto raw = Execute(c);
    if (!raw) return XrpcFail(std::move(raw.error()));
    return ParseJsonOutput(nsid, raw->status, raw->body);
}

XrpcResult<Value> XrpcClient::Procedure(std::string_view nsid, const Body& body, const CallOptions& call) const {
    return Procedure(nsid, Params{}, body, call);
}

XrpcResult<Value> XrpcClient::Procedure(std::string_view nsid, const Params& params, const Body& body,
                                        const CallOptions& call) const {
    Call c;
    c.method = "POST";
    c.nsid = nsid;
    c.params = &params;
    c.body = &body;
    c.idempotent = call.idempotent;
    c.headers = &call.headers;
    c.max_bytes = options_.max_json_bytes;
    c.timeout = body.file.empty() ? options_.timeout : options_.transfer_timeout;
    auto raw = Execute(c);
    if (!raw) return XrpcFail(std::move(raw.error()));
    return ParseJsonOutput(nsid, raw->status, raw->body);
}

XrpcResult<std::string> XrpcClient::QueryBytes(std::string_view nsid, const Params& params, std::uint64_t max_bytes,
                                               const CallOptions& call) const {
    Call c;
    c.method = "GET";
    c.nsid = nsid;
    c.params = &params;
    c.idempotent = true;
    c.headers = &call.headers;
    c.output = Call::Output::kBytes;
    c.max_bytes = max_bytes;
    c.timeout = options_.transfer_timeout;
    auto raw = Execute(c);
    if (!raw) return XrpcFail(std::move(raw.error()));
    return std::move(raw->body);
}

XrpcResult<std::uint64_t> XrpcClient::QueryToFile(std::string_view nsid, const Params& params,
                                                  const std::filesystem::path& destination, std::uint64_t max_bytes,
                                                  const FileVerifier& verify, const CallOptions& call) const {
    if (destination.empty() || !destination.has_filename()) {
        return XrpcFail(ErrorCode::kInvalidArgument, "invalid download destination", destination.string());
    }
    Call c;
    c.method = "GET";
    c.nsid = nsid;
    c.params = &params;
    c.idempotent = true;
    c.headers = &call.headers;
    c.output = Call::Output::kFile;
    c.max_bytes = max_bytes;
    c.destination = destination;
    c.verify = &verify;
    c.timeout = options_.transfer_timeout;
    auto raw = Execute(c);
    if (!raw) return XrpcFail(std::move(raw.error()));
    return raw->file_size;
}

}  // namespace plyr::atproto::xrpc
