#pragma once
// http::Router — method + path patterns → handlers, with the OpenAPI metadata of every route.
//
// Patterns are absolute paths whose segments are literals or `{name}` parameters ("/tracks/{id}/likes").
// Matching rules (product.md §4.1):
// - Request paths are split on `/` first and each segment is percent-decoded afterwards, so an encoded
//   `%2F` stays inside its segment. A segment that does not decode matches nothing.
// - A literal segment always wins over a parameter at the same position (`/tracks/top` is never read
//   as `/tracks/{id}`); when the literal branch cannot match the rest, the parameter branch is tried.
// - One trailing slash is ignored on both patterns and requests: `/tracks` ≡ `/tracks/` (no redirect).
//   Empty segments elsewhere (`/a//b`) match nothing.
// - HEAD is served by the GET route unless a HEAD route exists (the server drops the body).
// - A path that matches a pattern but not the method → kMethodNotAllowed with the Allow list.
// The router does not decide what happens to unmatched paths: the server answers 404 JSON under an API
// prefix (kApiPrefixes) and calls the fallback handler (the app's static site / SPA) elsewhere.
//
// Errors: Add() returns kInvalidArgument for a malformed pattern or unknown method, kAlreadyExists for
// a duplicate method + pattern shape. Thread-safety: build the router on one thread, then share it
// read-only (Find() is const and safe to call concurrently).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

// Reserved API prefixes of product.md §4.1. Entries ending in `/` also cover the bare collection root
// (`/tracks`); the others cover themselves and anything below (`/stats`, `/stats/costs`).
inline constexpr std::array<std::string_view, 24> kApiPrefixes{
    "/auth/",
    "/account/",
    "/artists/",
    "/tracks/",
    "/albums/",
    "/lists/",
    "/audio/",
    "/images/",
    "/search/",
    "/preferences/",
    "/queue/",
    "/users/",
    "/stats",
    "/exports/",
    "/moderation/",
    "/notifications/",
    "/admin/api/",
    "/xrpc/",
    "/health",
    "/config",
    "/metrics",
    "/openapi.json",
    "/oauth-client-metadata.json",
    "/.well-known/",
};

// True when `path` (encoded, without query) lies under one of kApiPrefixes.
bool IsApiPath(std::string_view path);

struct ParamDoc {
    std::string name;
    std::string in = "query";  // path | query | header | cookie
    std::string description;
    bool required = false;
    std::string type = "string";  // JSON Schema type: string | integer | boolean | number
};

struct ResponseDoc {
    int status = 200;
    std::string description;
    std::string content_type = "application/json";  // "" for no body
};

struct RouteDoc {
    std::string summary;
    std::string description;
    std::string tag;
    std::string operation_id;            // default: derived from method + pattern
    std::vector<ParamDoc> params;        // path parameters missing here are added automatically
    std::vector<ResponseDoc> responses;  // empty → a generic 200
    std::string request_content_type;    // "application/json", "multipart/form-data", "" = no body
    bool hidden = false;                 // left out of the OpenAPI document
};

struct RouteSpec {
    std::string method;  // GET HEAD POST PUT PATCH DELETE OPTIONS
    std::string pattern;
    Handler handler;
    RouteDoc doc;
    std::optional<std::uint64_t> body_limit;  // overrides Server Options::max_body_bytes for this route
    bool stream_body = false;                 // the handler reads the body through Request::body_reader
    // The server's `default` rate-limit bucket (ServerOptions::rate_limiter) applies to this route when it
    // lies under an API prefix. false for routes limited by a bucket of their own (http::RateLimited).
    bool default_rate_limit = true;
};

struct Route {
    RouteSpec spec;
    std::vector<std::string> param_names;  // in pattern order
};

enum class MatchKind { kFound, kMethodNotAllowed, kNotFound };

struct Match {
    MatchKind kind = MatchKind::kNotFound;
    const Route* route = nullptr;                             // kFound
    std::vector<std::pair<std::string, std::string>> params;  // kFound: decoded path parameters
    std::string allow;                                        // kMethodNotAllowed: "GET, HEAD, POST"
};

class Router {
  public:
    Router();
    ~Router();
    Router(Router&&) noexcept;
    Router& operator=(Router&&) noexcept;

    [[nodiscard]] Status Add(RouteSpec spec);
    [[nodiscard]] Status Add(std::string method, std::string pattern, Handler handler, RouteDoc doc = {});

    // Called by the server for unmatched paths outside the API prefixes.
    void SetFallback(Handler handler) { fallback_ = std::move(handler); }
    const Handler* fallback() const { return fallback_ ? &fallback_ : nullptr; }

    Match Find(std::string_view method, std::string_view path) const;

    // In registration order (the OpenAPI document follows it).
    const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

  private:
    struct Node;
    std::unique_ptr<Node> root_;
    std::vector<std::unique_ptr<Route>> routes_;
    Handler fallback_;
};

}  // namespace plyr::http
