#include "http/router.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "http/uri.hpp"

namespace plyr::http {
namespace {

constexpr std::array<std::string_view, 7> kMethods{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

bool IsKnownMethod(std::string_view method) {
    return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

std::size_t MethodRank(std::string_view method) {
    return static_cast<std::size_t>(std::find(kMethods.begin(), kMethods.end(), method) - kMethods.begin());
}

bool IsParamNameChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Drops one trailing slash so `/tracks/` and `/tracks` are the same resource ("/" stays "/").
std::string_view StripTrailingSlash(std::string_view path) {
    if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    return path;
}

}  // namespace

bool IsApiPath(std::string_view path) {
    for (std::string_view prefix : kApiPrefixes) {
        if (prefix.back() == '/') {
            if (path.starts_with(prefix) || path == prefix.substr(0, prefix.size() - 1)) return true;
        } else if (path == prefix || (path.starts_with(prefix) && path[prefix.size()] == '/')) {
            return true;
        }
    }
    return false;
}

struct Router::Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
    std::unique_ptr<Node> param;
    std::map<std::string, const Route*, std::less<>> methods;
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Status Router::Add(std::string method, std::string pattern, Handler handler, RouteDoc doc) {
    RouteSpec spec;
    spec.method = std::move(method);
    spec.pattern = std::move(pattern);
    spec.handler = std::move(handler);
    spec.doc = std::move(doc);
    return Add(std::move(spec));
}

Status Router::Add(RouteSpec spec) {
    if (!IsKnownMethod(spec.method)) {
        return Fail(ErrorCode::kInvalidArgument, "unknown http method", spec.method);
    }
    if (!spec.handler) return Fail(ErrorCode::kInvalidArgument, "route without handler", spec.pattern);
    if (spec.pattern.empty() || spec.pattern.front() != '/') {
        return Fail(ErrorCode::kInvalidArgument, "route pattern must start with /", spec.pattern);
    }
    auto route = std::make_unique<Route>();
    Node* node = root_.get();
    std::string_view normalized = StripTrailingSlash(spec.pattern);
    if (normalized != "/") {
        for (std::string_view segment : SplitPath(normalized)) {
            if (segment.empty()) return Fail(ErrorCode::kInvalidArgument, "empty segment in route", spec.pattern);
            if (segment.front() == '{') {
                std::string_view name = segment.substr(1);
                if (name.empty() || name.back() != '}') {
                    return Fail(ErrorCode::kInvalidArgument, "malformed route parameter", spec.pattern);
                }
                name.remove_suffix(1);
                if (name.empty() || !std::all_of(name.begin(), name.end(), IsParamNameChar)) {
                    return Fail(ErrorCode::kInvalidArgument, "malformed route parameter", spec.pattern);
                }
                if (std::find(route->param_names.begin(), route->param_names.end(), name) != route->param_names.end()) {
                    return Fail(ErrorCode::kInvalidArgument, "duplicate route parameter", spec.pattern);
                }
                route->param_names.emplace_back(name);
                if (!node->param) node->param = std::make_unique<Node>();
                node = node->param.get();
            } else {
                if (segment.find_first_of("{}") != std::string_view::npos) {
                    return Fail(ErrorCode::kInvalidArgument, "braces inside a literal segment", spec.pattern);
                }
                auto decoded = PercentDecode(segment);
                if (!decoded) return Fail(ErrorCode::kInvalidArgument, "bad escape in route", spec.pattern);
                auto it = node->literals.find(*decoded);
                if (it == node->literals.end()) {
                    it = node->literals.emplace(std::move(*decoded), std::make_unique<Node>()).first;
                }
                node = it->second.get();
            }
        }
    }
    if (node->methods.contains(spec.method)) {
        return Fail(ErrorCode::kAlreadyExists, "duplicate route", fmt::format("{} {}", spec.method, spec.pattern));
    }
    route->spec = std::move(spec);
    node->methods.emplace(route->spec.method, route.get());
    routes_.push_back(std::move(route));
    return Ok();
}

Match Router::Find(std::string_view method, std::string_view path) const {
    Match match;
    std::string_view normalized = StripTrailingSlash(path);
    std::vector<std::string> segments;
    if (normalized != "/") {
        for (std::string_view raw : SplitPath(normalized)) {
            if (raw.empty()) return match;
            auto decoded = PercentDecode(raw);
            if (!decoded) return match;
            segments.push_back(std::move(*decoded));
        }
    }

    // Depth-first, literal before parameter: candidates arrive in priority order.
    std::vector<std::pair<const Node*, std::vector<std::string>>> found;
    std::vector<std::string> values;
    auto walk = [&](auto&& self, const Node* node, std::size_t depth) -> void {
        if (depth == segments.size()) {
            if (!node->methods.empty()) found.emplace_back(node, values);
            return;
        }
        auto it = node->literals.find(segments[depth]);
        if (it != node->literals.end()) self(self, it->second.get(), depth + 1);
        if (node->param) {
            values.push_back(segments[depth]);
            self(self, node->param.get(), depth + 1);
            values.pop_back();
        }
    };
    walk(walk, root_.get(), 0);
    if (found.empty()) return match;

    for (auto& [node, node_values] : found) {
        auto it = node->methods.find(method);
        if (it == node->methods.end() && method == "HEAD") it = node->methods.find("GET");
        if (it == node->methods.end()) continue;
        match.kind = MatchKind::kFound;
        match.route = it->second;
        for (std::size_t i = 0; i < node_values.size(); ++i) {
            match.params.emplace_back(it->second->param_names[i], std::move(node_values[i]));
        }
        return match;
    }

    std::vector<std::string_view> allowed;
    for (const auto& [node, node_values] : found) {
        for (const auto& [name, route] : node->methods) {
            allowed.push_back(name);
            if (name == "GET") allowed.push_back("HEAD");
        }
    }
    std::sort(allowed.begin(), allowed.end(),
              [](std::string_view a, std::string_view b) { return MethodRank(a) < MethodRank(b); });
    allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
    match.kind = MatchKind::kMethodNotAllowed;
    match.allow = fmt::format("{}", fmt::join(allowed, ", "));
    return match;
}

}  // namespace plyr::http
