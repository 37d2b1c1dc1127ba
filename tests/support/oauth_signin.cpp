#include "support/oauth_signin.hpp"

#include <cctype>
#include <chrono>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "support/web_client.hpp"

namespace plyr::testing {
namespace {

constexpr std::string_view kUserAgent = "plyr-test-signin";

struct StepResponse {
    long status = 0;
    std::vector<std::string> set_cookies;
    std::string location;
    std::string body;
};

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

using HeaderLines = std::vector<std::string>;

// One request through the suite's browser-like client (redirects not followed, every header kept); the cookies
// come from the caller's SignInCookieJar as an explicit Cookie header, so the WebClient's own jar stays unused.
Result<StepResponse> Send(const std::string& method, const std::string& url, const HeaderLines& headers,
                          const std::string* body, long timeout_ms) {
    plyr::testing::Headers fields;
    for (const auto& line : headers) {
        const auto colon = line.find(':');
        fields[line.substr(0, colon)] = std::string(Trim(std::string_view(line).substr(colon + 1)));
    }
    fields["User-Agent"] = std::string(kUserAgent);
    WebClient client;
    auto answer = client.Request(method, url, fields, body != nullptr ? *body : std::string(),
                                 std::chrono::milliseconds(timeout_ms));
    if (!answer) return Fail(ErrorCode::kUnavailable, "sign-in request failed", method + " " + url);
    StepResponse response;
    response.status = answer->status;
    response.set_cookies = answer->Headers("set-cookie");
    response.location = answer->Header("location");
    response.body = std::move(answer->body);
    return response;
}

tl::unexpected<Error> StepFailed(std::string_view step, const StepResponse& response) {
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
    auto cookie = ParseSetCookie(std::string(set_cookie));
    if (!cookie || cookie->name.empty()) return;
    if (cookie->value.empty() || cookie->Clears()) {
        cookies_.erase(cookie->name);
    } else {
        cookies_[cookie->name] = cookie->value;
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
    auto keep_cookies = [&](const StepResponse& r) {
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
                   std::optional<std::string> bearer) -> Result<StepResponse> {
        HeaderLines headers = {"Content-Type: application/json",
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
    auto json_of = [](const StepResponse& r) -> std::optional<boost::json::object> {
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
