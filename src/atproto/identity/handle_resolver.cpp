#include "atproto/identity/handle_resolver.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "atproto/identity/dns_txt.hpp"
#include "atproto/identity/fetch.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::identity {
namespace {

constexpr std::uint64_t kMaxWellKnownBytes = 4 * 1024;
constexpr std::uint64_t kMaxServiceBytes = 16 * 1024;

tl::unexpected<Error> NotFound(std::string detail) {
    return Fail(ErrorCode::kNotFound, "handle not found", std::move(detail));
}

bool EndsWith(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view TrimSpace(std::string_view text) {
    auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!text.empty() && space(text.front())) text.remove_prefix(1);
    while (!text.empty() && space(text.back())) text.remove_suffix(1);
    return text;
}

Result<std::string> CheckDid(std::string_view text, std::string_view source) {
    if (!syntax::IsValidDid(text)) return NotFound(std::string(source) + " answered something that is not a DID");
    return std::string(text);
}

}  // namespace

Result<std::string> DidFromTxtRecords(const std::vector<std::string>& records) {
    std::optional<std::string_view> found;
    for (const auto& record : records) {
        std::string_view text = record;
        if (text.substr(0, 4) != "did=") continue;
        // Two `did=` records make the answer ambiguous: no result (reference dns-handle-resolver).
        if (found) return NotFound("more than one did= TXT record");
        found = text.substr(4);
    }
    if (!found) return NotFound("no did= TXT record");
    return CheckDid(*found, "dns");
}

DefaultHandleResolver::DefaultHandleResolver(net::HttpClient& client, HandleResolverOptions options)
    : client_(client), options_(std::move(options)) {
    while (!options_.service_url.empty() && options_.service_url.back() == '/') options_.service_url.pop_back();
}

Result<std::string> DefaultHandleResolver::ResolveDns(const std::string& handle) {
    const std::string name = "_atproto." + handle;
    auto records = options_.txt_lookup ? options_.txt_lookup(name) : LookupTxt(name, options_.timeout);
    if (!records) return Fail(std::move(records.error()));
    return DidFromTxtRecords(*records);
}

Result<std::string> DefaultHandleResolver::ResolveWellKnown(const std::string& handle) {
    net::HttpRequest request;
    request.url = options_.well_known_scheme + "://" + handle;
    if (options_.well_known_port != 0) request.url += ":" + std::to_string(options_.well_known_port);
    request.url += "/.well-known/atproto-did";
    request.max_response_bytes = kMaxWellKnownBytes;
    request.timeout = options_.timeout;
    request.max_redirects = 0;
    auto response = client_.Send(request);
    if (!response) return Fail(detail::TransportError(std::move(response.error())));
    if (response->status < 200 || response->status > 299) {
        return NotFound("well-known answered " + std::to_string(response->status));
    }
    std::string_view body = response->body;
    body = body.substr(0, body.find('\n'));
    return CheckDid(TrimSpace(body), "well-known");
}

Result<std::string> DefaultHandleResolver::ResolveService(const std::string& handle) {
    if (options_.service_url.empty()) return NotFound("no handle resolver service configured");
    net::HttpRequest request;
    // A valid handle is [a-z0-9.-] only: nothing to escape in the query.
    request.url = options_.service_url + "/xrpc/com.atproto.identity.resolveHandle?handle=" + handle;
    request.headers = {{"Accept", "application/json"}};
    request.max_response_bytes = kMaxServiceBytes;
    request.timeout = options_.timeout;
    auto response = client_.Send(request);
    if (!response) return Fail(detail::TransportError(std::move(response.error())));
    if (response->status == 400 || response->status == 404) {
        return NotFound("resolveHandle answered " + std::to_string(response->status));
    }
    if (response->status != 200) {
        return Fail(ErrorCode::kUnavailable, "handle resolver unavailable",
                    "resolveHandle answered " + std::to_string(response->status));
    }
    boost::system::error_code ec;
    auto json = boost::json::parse(response->body, ec);
    const boost::json::value* did = (!ec && json.is_object()) ? json.get_object().if_contains("did") : nullptr;
    if (did == nullptr || !did->is_string()) {
        return Fail(ErrorCode::kUnavailable, "handle resolver unavailable", "resolveHandle answer has no did");
    }
    return CheckDid(did->get_string(), "resolveHandle");
}

Result<std::string> DefaultHandleResolver::Resolve(std::string_view input) {
    const bool dev = client_.policy().permits_http();
    auto resolvable = syntax::CheckHandleResolvable(input, dev);
    if (!resolvable) {
        return Fail(ErrorCode::kInvalidArgument, "invalid handle", resolvable.error().message);
    }
    const std::string handle = syntax::NormalizeHandle(input);
    if (handle == syntax::kInvalidHandle) return Fail(ErrorCode::kInvalidArgument, "invalid handle", "handle.invalid");

    std::optional<Error> unreachable;  // the first transport failure, reported when nothing answered
    auto consider = [&](Result<std::string> result) -> std::optional<std::string> {
        if (result) return std::move(*result);
        if (result.error().code != ErrorCode::kNotFound && !unreachable) unreachable = std::move(result.error());
        return std::nullopt;
    };

    const bool service_only = EndsWith(handle, ".test") && !options_.service_url.empty();
    if (!service_only) {
        if (options_.use_dns) {
            if (auto did = consider(ResolveDns(handle))) return std::move(*did);
        }
        if (auto did = consider(ResolveWellKnown(handle))) return std::move(*did);
    }
    if (!options_.service_url.empty()) {
        if (auto did = consider(ResolveService(handle))) return std::move(*did);
    }
    if (unreachable) return Fail(std::move(*unreachable));
    return NotFound("no method resolved " + handle);
}

}  // namespace plyr::atproto::identity
