#include "atproto/identity/did_resolver.hpp"

#include "atproto/identity/fetch.hpp"
#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::identity {

HttpDidResolver::HttpDidResolver(net::HttpClient& client, DidResolverOptions options)
    : client_(client), options_(std::move(options)) {
    while (!options_.plc_url.empty() && options_.plc_url.back() == '/') options_.plc_url.pop_back();
}

Result<std::string> HttpDidResolver::DocumentUrl(std::string_view did) const {
    auto supported = syntax::CheckSupportedDid(did);
    if (!supported) return Fail(std::move(supported.error()));
    syntax::Did parsed{std::string(did)};
    if (parsed.Method() == "plc") {
        // did:plc identifiers are [a-z2-7]: nothing to escape in the path.
        return options_.plc_url + "/" + parsed.value;
    }
    const bool dev = client_.policy().permits_http();
    std::string_view host = parsed.Identifier();
    if (host.size() > 9 && (host.substr(0, 12) == "localhost%3A" || host.substr(0, 12) == "localhost%3a")) {
        if (!dev) {
            return Fail(ErrorCode::kInvalidArgument, "invalid did",
                        "did:web with a port is only allowed for local development");
        }
        return "http://localhost:" + std::string(host.substr(12)) + "/.well-known/did.json";
    }
    if (host == "localhost") {
        if (!dev) return Fail(ErrorCode::kInvalidArgument, "invalid did", "did:web:localhost outside development");
        return std::string("http://localhost/.well-known/did.json");
    }
    auto resolvable = syntax::CheckHandleResolvable(host, dev);
    if (!resolvable) return Fail(ErrorCode::kInvalidArgument, "invalid did", resolvable.error().message);
    return "https://" + syntax::NormalizeHandle(host) + "/.well-known/did.json";
}

Result<DidDocument> HttpDidResolver::Resolve(std::string_view did) {
    auto url = DocumentUrl(did);
    if (!url) return Fail(std::move(url.error()));
    net::HttpRequest request;
    request.url = std::move(*url);
    request.headers = {{"Accept", "application/did+ld+json, application/json"}};
    request.max_response_bytes = options_.max_document_bytes;
    request.timeout = options_.timeout;
    request.max_redirects = 0;
    auto response = client_.Send(request);
    if (!response) return Fail(detail::TransportError(std::move(response.error())));
    if (response->status == 404 || response->status == 410) {
        return Fail(ErrorCode::kNotFound, "did not found",
                    "did document fetch answered " + std::to_string(response->status));
    }
    if (response->status >= 300 && response->status <= 399) {
        return Fail(ErrorCode::kUnavailable, "identity unreachable", "did document fetch redirected (refused)");
    }
    if (response->status != 200) {
        return Fail(ErrorCode::kUnavailable, "identity unreachable",
                    "did document fetch answered " + std::to_string(response->status));
    }
    DidDocumentOptions parse_options;
    parse_options.max_bytes = options_.max_document_bytes;
    parse_options.allow_http_endpoints = client_.policy().permits_http();
    return ParseDidDocument(response->body, did, parse_options);
}

}  // namespace plyr::atproto::identity
