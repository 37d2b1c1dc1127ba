#include "support/oauth_signin.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

namespace plyr::testing {
namespace {

constexpr std::string_view kUserAgent = "plyr-test-signin";

struct CurlResponse {
    long status = 0;
    std::vector<std::string> set_cookies;
    std::string location;
    std::string body;
};

std::string Lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string Snippet(std::string_view body) {
    std::string out;
    for (char c : body.substr(0, 300)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? ' ' : c);
    return out;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
    static_cast<CurlResponse*>(user)->body.append(data, size * count);
    return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* response = static_cast<CurlResponse*>(user);
    std::string_view line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue): start over
        response->set_cookies.clear();
        response->location.clear();
    }
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
        const std::string name = Lower(Trim(line.substr(0, colon)));
        const std::string_view value = Trim(line.substr(colon + 1));
        if (name == "set-cookie") response->set_cookies.emplace_back(value);
        if (name == "location") response->location = std::string(value);
    }
    return size * count;
}

using Headers = std::vector<std::string>;

Result<CurlResponse> Send(const std::string& method, const std::string& url, const Headers& headers,
                          const std::string* body, long timeout_ms) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) return Fail(ErrorCode::kInternal, "curl_easy_init failed");
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    list = curl_slist_append(list, "Expect:");
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> list_guard(list, &curl_slist_free_all);
    CurlResponse response;
    CURL* h = curl.get();
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (body != nullptr) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_USERAGENT, std::string(kUserAgent).c_str());
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        return Fail(ErrorCode::kUnavailable, "sign-in request failed",
                    method + " " + url + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

tl::unexpected<Error> StepFailed(std::string_view step, const CurlResponse& response) {
    return Fail(ErrorCode::kProtocol, "headless sign-in failed",
                std::string(step) + ": status " + std::to_string(response.status) + ": " + Snippet(response.body));
}

std::optional<std::string> PercentDecode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out.push_back(' ');
        } else if (text[i] == '%') {
            if (i + 2 >= text.size() || !std::isxdigit(static_cast<unsigned char>(text[i + 1])) ||
                !std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
                return std::nullopt;
            }
            out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

}  // namespace

void SignInCookieJar::Update(std::string_view set_cookie) {
    const auto semicolon = set_cookie.find(';');
    const std::string_view pair = set_cookie.substr(0, semicolon);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) return;
    const std::string name(Trim(pair.substr(0, eq)));
    const std::string value(Trim(pair.substr(eq + 1)));
    bool expired = value.empty();
    if (semicolon != std::string_view::npos) {
        std::string_view attrs = set_cookie.substr(semicolon + 1);
        while (!attrs.empty()) {
            const auto next = attrs.find(';');
            if (Lower(Trim(attrs.substr(0, next))) == "max-age=0") expired = true;
            attrs = next == std::string_view::npos ? std::string_view{} : attrs.substr(next + 1);
        }
    }
    if (name.empty()) return;
    if (expired) {
        cookies_.erase(name);
    } else {
        cookies_[name] = value;
    }
}

std::optional<std::string> SignInCookieJar::Get(std::string_view name) const {
    auto it = cookies_.find(name);
    if (it == cookies_.end()) return std::nullopt;
    return it->second;
}

std::string SignInCookieJar::Header() const {
    std::string out;
    for (const auto& [name, value] : cookies_) {
        if (!out.empty()) out += "; ";
        out += name + "=" + value;
    }
    return out;
}

Result<std::string> SignInAndConsent(std::string_view authorize_url, std::string_view username,
                                     std::string_view password, SignInOptions options) {
    auto parsed = boost::urls::parse_uri(authorize_url);
    if (!parsed || parsed->host().empty()) return Fail(ErrorCode::kInvalidArgument, "authorize url is not absolute");
    std::string origin = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host());
    if (parsed->has_port()) origin += ":" + std::string(parsed->port());
    const std::string authorize(authorize_url);

    SignInCookieJar local_jar;
    SignInCookieJar& jar = options.jar != nullptr ? *options.jar : local_jar;
    auto keep_cookies = [&](const CurlResponse& r) {
        for (const auto& c : r.set_cookies) jar.Update(c);
    };

    // 1. The authorization page, as a top-level cross-site navigation: binds the request to a device.
    auto page = Send(
        "GET", authorize,
        {"Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-Site: cross-site", "Accept: text/html"},
        nullptr, options.timeout_ms);
    if (!page) return Fail(page.error());
    keep_cookies(*page);
    if (page->status != 200) return StepFailed("GET authorize page", *page);
    if (!jar.Get("csrf-token")) return StepFailed("GET authorize page (no csrf-token cookie)", *page);

    auto api = [&](std::string_view endpoint, const boost::json::object& body,
                   std::optional<std::string> bearer) -> Result<CurlResponse> {
        Headers headers = {"Content-Type: application/json",
                           "Accept: application/json",
                           "Origin: " + origin,
                           "Referer: " + authorize,
                           "Sec-Fetch-Mode: same-origin",
                           "Sec-Fetch-Site: same-origin",
                           "Sec-Fetch-Dest: empty",
                           "X-CSRF-Token: " + jar.Get("csrf-token").value_or(""),
                           "Cookie: " + jar.Header()};
        if (bearer) headers.push_back("Authorization: Bearer " + *bearer);
        const std::string payload = boost::json::serialize(body);
        auto r = Send("POST", origin + "/@atproto/oauth-provider/~api" + std::string(endpoint), headers, &payload,
                      options.timeout_ms);
        if (r) keep_cookies(*r);
        return r;
    };
    auto json_of = [](const CurlResponse& r) -> std::optional<boost::json::object> {
        boost::system::error_code ec;
        auto value = boost::json::parse(r.body, ec);
        if (ec || !value.is_object()) return std::nullopt;
        return std::move(value.as_object());
    };

    // 2. Sign in.
    auto signed_in = api("/sign-in",
                         {{"locale", "en"},
                          {"username", std::string(username)},
                          {"password", std::string(password)},
                          {"remember", options.remember}},
                         std::nullopt);
    if (!signed_in) return Fail(signed_in.error());
    auto account = json_of(*signed_in);
    if (signed_in->status != 200 || !account || !account->contains("account") || !(*account)["account"].is_object() ||
        !(*account)["account"].as_object().contains("did") || !(*account)["account"].as_object()["did"].is_string()) {
        return StepFailed("POST ~api/sign-in", *signed_in);
    }
    const std::string did(account->at("account").as_object().at("did").as_string());
    std::optional<std::string> ephemeral;
    if (auto it = account->find("ephemeralToken"); it != account->end() && it->value().is_string()) {
        ephemeral = std::string(it->value().as_string());
    }

    // 3. Consent, or the "deny" button (~api/reject: no account needed, CSRF only).
    auto decided =
        options.deny ? api("/reject", boost::json::object{}, std::nullopt) : api("/consent", {{"did", did}}, ephemeral);
    if (!decided) return Fail(decided.error());
    auto decision = json_of(*decided);
    if (decided->status != 200 || !decision || !decision->contains("url") || !decision->at("url").is_string()) {
        return StepFailed(options.deny ? "POST ~api/reject" : "POST ~api/consent", *decided);
    }
    const std::string redirect_url(decision->at("url").as_string());

    // 4. The page navigates to the redirect endpoint, which 303s to the client's redirect_uri.
    auto redirect = Send("GET", redirect_url,
                         {"Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document", "Sec-Fetch-Site: same-origin",
                          "Accept: text/html", "Referer: " + authorize, "Cookie: " + jar.Header()},
                         nullptr, options.timeout_ms);
    if (!redirect) return Fail(redirect.error());
    keep_cookies(*redirect);
    if (redirect->status != 303 || redirect->location.empty()) return StepFailed("GET authorize redirect", *redirect);
    return redirect->location;
}

Result<std::map<std::string, std::string>> CallbackParams(std::string_view callback_url) {
    auto parsed = boost::urls::parse_uri(callback_url);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "callback url is not absolute");
    std::map<std::string, std::string> out;
    std::string_view query = parsed->encoded_query();
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = PercentDecode(part.substr(0, eq));
        auto value = PercentDecode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        if (!key || !value) return Fail(ErrorCode::kInvalidArgument, "callback url has a malformed escape");
        out.emplace(std::move(*key), std::move(*value));
    }
    return out;
}

}  // namespace plyr::testing
