#include "support/web_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <memory>
#include <mutex>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

namespace plyr::testing {
namespace {

std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
    return text;
}

std::string Trim(const std::string& text) {
    std::size_t begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) return {};
    std::size_t end = text.find_last_not_of(" \t\r\n");
    return text.substr(begin, end - begin + 1);
}

struct Capture {
    WebResponse* response;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<Capture*>(user)->response->body.append(data, size * count);
    return size * count;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
    auto* response = static_cast<Capture*>(user)->response;
    std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        response->headers.clear();  // a 100 Continue head precedes the real one
        return size * count;
    }
    std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
        response->headers.emplace_back(Lower(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1)));
    }
    return size * count;
}

void GlobalInit() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string SetCookie::Attribute(const std::string& attribute) const {
    auto it = attributes.find(Lower(attribute));
    return it == attributes.end() ? std::string() : it->second;
}

bool SetCookie::Clears() const {
    if (Has("max-age")) {
        try {
            return std::stoll(Attribute("max-age")) <= 0;
        } catch (const std::exception&) {
            return false;
        }
    }
    if (Has("expires")) {
        std::tm tm{};
        if (strptime(Attribute("expires").c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) != nullptr) {
            return timegm(&tm) <= std::time(nullptr);
        }
    }
    return false;
}

std::optional<SetCookie> ParseSetCookie(const std::string& line) {
    SetCookie cookie;
    std::size_t pos = 0;
    bool first = true;
    while (pos <= line.size()) {
        std::size_t end = line.find(';', pos);
        if (end == std::string::npos) end = line.size();
        std::string part = Trim(line.substr(pos, end - pos));
        std::size_t eq = part.find('=');
        if (first) {
            if (eq == std::string::npos || eq == 0) return std::nullopt;
            cookie.name = Trim(part.substr(0, eq));
            cookie.value = Trim(part.substr(eq + 1));
            first = false;
        } else if (!part.empty()) {
            if (eq == std::string::npos) {
                cookie.attributes[Lower(part)] = "";
            } else {
                cookie.attributes[Lower(Trim(part.substr(0, eq)))] = Trim(part.substr(eq + 1));
            }
        }
        pos = end + 1;
    }
    return cookie;
}

std::string WebResponse::Header(const std::string& name) const {
    std::string lower = Lower(name);
    for (const auto& [k, v] : headers) {
        if (k == lower) return v;
    }
    return {};
}

std::vector<std::string> WebResponse::Headers(const std::string& name) const {
    std::string lower = Lower(name);
    std::vector<std::string> out;
    for (const auto& [k, v] : headers) {
        if (k == lower) out.push_back(v);
    }
    return out;
}

std::vector<SetCookie> WebResponse::SetCookies() const {
    std::vector<SetCookie> out;
    for (const auto& line : Headers("set-cookie")) {
        if (auto cookie = ParseSetCookie(line)) out.push_back(std::move(*cookie));
    }
    return out;
}

std::optional<SetCookie> WebResponse::FindSetCookie(const std::string& name) const {
    std::optional<SetCookie> found;
    for (auto& cookie : SetCookies()) {
        if (cookie.name == name) found = std::move(cookie);  // the last one wins, as in a browser
    }
    return found;
}

boost::json::value WebResponse::Json() const {
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec) return nullptr;
    return value;
}

std::string WebResponse::ErrorCode() const {
    auto value = Json();
    if (!value.is_object()) return {};
    const auto* error = value.as_object().if_contains("error");
    if (error == nullptr || !error->is_string()) return {};
    return std::string(error->as_string());
}

std::optional<std::string> QueryParam(const std::string& url, const std::string& name) {
    auto parsed = boost::urls::parse_uri_reference(url);
    if (!parsed) return std::nullopt;
    auto params = parsed->params();
    auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    return std::string((*it).value);
}

std::string OriginOf(const std::string& url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return {};
    std::string origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host());
    if (parsed->has_port()) origin += ":" + std::string(parsed->port());
    return origin;
}

std::string PathOf(const std::string& url) {
    auto parsed = boost::urls::parse_uri_reference(url);
    if (!parsed) return {};
    std::string out = std::string(parsed->encoded_path());
    if (parsed->has_query()) out += "?" + std::string(parsed->encoded_query());
    return out;
}

std::string UrlEncode(const std::string& text) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

WebClient::WebClient(std::string base_url) : base_url_(std::move(base_url)) { GlobalInit(); }

std::optional<std::string> WebClient::Cookie(const std::string& name) const {
    auto it = jar_.find(name);
    if (it == jar_.end()) return std::nullopt;
    return it->second;
}

std::optional<WebResponse> WebClient::Request(const std::string& method, const std::string& target,
                                              const Headers& headers, const std::string& body,
                                              std::chrono::milliseconds timeout) {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) return std::nullopt;
    std::string url = !target.empty() && target.front() == '/' ? base_url_ + target : target;
    WebResponse response;
    Capture capture{&response};
    curl_slist* list = nullptr;
    bool has_cookie_header = false;
    for (const auto& [k, v] : headers) {
        if (Lower(k) == "cookie") has_cookie_header = true;
        list = curl_slist_append(list, (k + ": " + v).c_str());
    }
    if (!has_cookie_header && !jar_.empty()) {
        std::string cookie_header = "Cookie: ";
        bool first = true;
        for (const auto& [k, v] : jar_) {
            if (!first) cookie_header += "; ";
            cookie_header += k + "=" + v;
            first = false;
        }
        list = curl_slist_append(list, cookie_header.c_str());
    }
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list, &curl_slist_free_all);
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "HEAD") curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &capture);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &capture);
    if (curl_easy_perform(h) != CURLE_OK) return std::nullopt;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    response.status = static_cast<int>(status);
    for (const auto& cookie : response.SetCookies()) {
        if (cookie.Clears()) {
            jar_.erase(cookie.name);
        } else {
            jar_[cookie.name] = cookie.value;
        }
    }
    return response;
}

std::optional<WebResponse> WebClient::PostJson(const std::string& target, const std::string& json,
                                               const Headers& headers) {
    Headers all = headers;
    all.emplace("Content-Type", "application/json");
    return Request("POST", target, all, json);
}

}  // namespace plyr::testing
