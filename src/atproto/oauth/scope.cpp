#include "atproto/oauth/scope.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::oauth {
namespace {

constexpr std::string_view kInvalidScope = "invalid scope";

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Result<std::string> PercentDecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out.push_back(text[i]);
            continue;
        }
        if (i + 2 >= text.size()) {
            return Fail(ErrorCode::kInvalidArgument, std::string(kInvalidScope), "truncated percent escape");
        }
        const int hi = HexValue(text[i + 1]);
        const int lo = HexValue(text[i + 2]);
        if (hi < 0 || lo < 0) {
            return Fail(ErrorCode::kInvalidArgument, std::string(kInvalidScope), "bad percent escape");
        }
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

tl::unexpected<Error> Invalid(std::string_view token, std::string_view why) {
    return Fail(ErrorCode::kInvalidArgument, std::string(kInvalidScope),
                std::string(why) + ": " + std::string(token.substr(0, 200)));
}

bool Contains(const std::vector<std::string>& values, std::string_view value) {
    return std::find(values.begin(), values.end(), value) != values.end();
}

// Values of a parameter that has a positional alias; both forms at once is invalid.
Result<std::vector<std::string>> Values(const GenericScope& g, std::string_view name, bool positional_alias,
                                        std::string_view token) {
    auto it = g.params.find(name);
    if (positional_alias && !g.positional.empty()) {
        if (it != g.params.end()) return Invalid(token, "positional and named parameter both given");
        return std::vector<std::string>{g.positional};
    }
    if (it == g.params.end()) return std::vector<std::string>{};
    return it->second;
}

Status OnlyParams(const GenericScope& g, std::initializer_list<std::string_view> allowed, std::string_view token) {
    for (const auto& [key, values] : g.params) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
            return Invalid(token, "unknown parameter");
        }
    }
    return Ok();
}

bool IsOneOf(std::string_view value, std::initializer_list<std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

bool IsMimeToken(std::string_view part) {
    if (part.empty()) return false;
    return std::all_of(part.begin(), part.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
    });
}

// `*/*`, `type/*` or `type/subtype`.
bool IsMimePattern(std::string_view pattern) {
    if (pattern == "*/*") return true;
    const auto slash = pattern.find('/');
    if (slash == std::string_view::npos) return false;
    const auto type = pattern.substr(0, slash);
    const auto sub = pattern.substr(slash + 1);
    return IsMimeToken(type) && (sub == "*" || IsMimeToken(sub));
}

// `did:…#service_id`: an atproto service reference.
bool IsServiceRef(std::string_view aud) {
    const auto hash = aud.find('#');
    if (hash == std::string_view::npos || hash + 1 == aud.size()) return false;
    const auto fragment = aud.substr(hash + 1);
    const bool fragment_ok = std::all_of(fragment.begin(), fragment.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.' || c == '~';
    });
    return fragment_ok && syntax::IsValidDid(aud.substr(0, hash));
}

bool IsNsidOrStar(std::string_view value) { return value == "*" || syntax::IsValidNsid(value); }

Result<Permission> ParseAccount(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"attr", "action"}, p.token));
    auto attrs = Values(g, "attr", true, p.token);
    if (!attrs) return Fail(attrs.error());
    auto actions = Values(g, "action", false, p.token);
    if (!actions) return Fail(actions.error());
    if (attrs->size() != 1 || !IsOneOf(attrs->front(), {"email", "repo"})) return Invalid(p.token, "account attr");
    if (actions->size() > 1 || (actions->size() == 1 && !IsOneOf(actions->front(), {"read", "manage"}))) {
        return Invalid(p.token, "account action");
    }
    p.attr = attrs->front();
    p.actions = actions->empty() ? std::vector<std::string>{"read"} : *actions;
    return p;
}

Result<Permission> ParseBlob(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"accept"}, p.token));
    auto accept = Values(g, "accept", true, p.token);
    if (!accept) return Fail(accept.error());
    if (accept->empty()) return Invalid(p.token, "blob without accept");
    for (const auto& pattern : *accept) {
        if (!IsMimePattern(pattern)) return Invalid(p.token, "blob mime pattern");
    }
    p.accept = std::move(*accept);
    return p;
}

Result<Permission> ParseIdentity(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"attr"}, p.token));
    auto attrs = Values(g, "attr", true, p.token);
    if (!attrs) return Fail(attrs.error());
    if (attrs->size() != 1 || !IsOneOf(attrs->front(), {"handle", "*"})) return Invalid(p.token, "identity attr");
    p.attr = attrs->front();
    return p;
}

Result<Permission> ParseInclude(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"nsid", "aud"}, p.token));
    auto nsids = Values(g, "nsid", true, p.token);
    if (!nsids) return Fail(nsids.error());
    auto auds = Values(g, "aud", false, p.token);
    if (!auds) return Fail(auds.error());
    if (nsids->size() != 1 || !syntax::IsValidNsid(nsids->front())) return Invalid(p.token, "include nsid");
    if (auds->size() > 1 || (auds->size() == 1 && !IsServiceRef(auds->front()))) {
        return Invalid(p.token, "include aud");
    }
    p.nsid = nsids->front();
    if (!auds->empty()) p.aud = auds->front();
    return p;
}

Result<Permission> ParseRepo(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"collection", "action"}, p.token));
    auto collections = Values(g, "collection", true, p.token);
    if (!collections) return Fail(collections.error());
    auto actions = Values(g, "action", false, p.token);
    if (!actions) return Fail(actions.error());
    if (collections->empty()) return Invalid(p.token, "repo without collection");
    for (const auto& c : *collections) {
        if (!IsNsidOrStar(c)) return Invalid(p.token, "repo collection");
    }
    for (const auto& a : *actions) {
        if (!IsOneOf(a, {"create", "update", "delete"})) return Invalid(p.token, "repo action");
    }
    p.collections = std::move(*collections);
    p.actions = actions->empty() ? std::vector<std::string>{"create", "update", "delete"} : std::move(*actions);
    return p;
}

Result<Permission> ParseRpc(const GenericScope& g, Permission p) {
    PLYR_TRY_STATUS(OnlyParams(g, {"lxm", "aud"}, p.token));
    auto lxms = Values(g, "lxm", true, p.token);
    if (!lxms) return Fail(lxms.error());
    auto auds = Values(g, "aud", false, p.token);
    if (!auds) return Fail(auds.error());
    if (lxms->empty()) return Invalid(p.token, "rpc without lxm");
    for (const auto& l : *lxms) {
        if (!IsNsidOrStar(l)) return Invalid(p.token, "rpc lxm");
    }
    if (auds->size() != 1 || (auds->front() != "*" && !IsServiceRef(auds->front()))) {
        return Invalid(p.token, "rpc aud");
    }
    if (auds->front() == "*" && Contains(*lxms, "*")) return Invalid(p.token, "rpc lxm and aud both *");
    p.lxms = std::move(*lxms);
    p.aud = auds->front();
    return p;
}

bool MimeCovers(std::string_view granted, std::string_view required) {
    if (granted == "*/*") return true;
    if (granted.size() >= 2 && granted.substr(granted.size() - 2) == "/*") {
        const auto prefix = granted.substr(0, granted.size() - 1);  // "type/"
        return required.substr(0, prefix.size()) == prefix && required != "*/*";
    }
    return granted == required;
}

bool Has(const Scope& granted, PermissionKind kind) {
    return std::any_of(granted.permissions.begin(), granted.permissions.end(),
                       [kind](const Permission& p) { return p.kind == kind; });
}

bool RepoCovers(const Scope& granted, std::string_view collection, std::string_view action) {
    return std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
        return g.kind == PermissionKind::kRepo &&
               (Contains(g.collections, "*") || Contains(g.collections, collection)) && Contains(g.actions, action);
    });
}

bool BlobCovers(const Scope& granted, std::string_view pattern) {
    return std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
        return g.kind == PermissionKind::kBlob &&
               std::any_of(g.accept.begin(), g.accept.end(), [&](const auto& a) { return MimeCovers(a, pattern); });
    });
}

bool RpcCovers(const Scope& granted, std::string_view lxm, std::string_view aud) {
    const bool by_grant = std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
        return g.kind == PermissionKind::kRpc && (Contains(g.lxms, "*") || Contains(g.lxms, lxm)) &&
               (g.aud == "*" || g.aud == aud);
    });
    if (by_grant) return true;
    if (!Has(granted, PermissionKind::kTransitionGeneric)) return false;
    const bool chat = lxm == "*" || lxm.substr(0, 10) == "chat.bsky.";
    return !chat || Has(granted, PermissionKind::kTransitionChatBsky);
}

}  // namespace

Result<GenericScope> ParseGenericScope(std::string_view token) {
    for (char c : token) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return Invalid(token, "non-printable or non-ASCII character");
    }
    GenericScope g;
    const auto cut = token.find_first_of(":?");
    g.resource = std::string(token.substr(0, cut));
    if (g.resource.empty()) return Invalid(token, "empty resource");
    if (cut == std::string_view::npos) return g;
    std::string_view rest = token.substr(cut);
    if (rest.front() == ':') {
        const auto q = rest.find('?');
        g.positional = std::string(rest.substr(1, q == std::string_view::npos ? std::string_view::npos : q - 1));
        rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
    }
    if (rest.empty()) return g;
    std::string_view query = rest.substr(1);  // after '?'
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto part = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = PercentDecode(part.substr(0, eq));
        if (!key) return Fail(key.error());
        auto value = PercentDecode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        if (!value) return Fail(value.error());
        g.params[*key].push_back(std::move(*value));
    }
    return g;
}

Result<Permission> ParsePermission(std::string_view token) {
    Permission p;
    p.token = std::string(token);
    if (token == "atproto") return p;
    if (token == "transition:generic") {
        p.kind = PermissionKind::kTransitionGeneric;
        return p;
    }
    if (token == "transition:chat.bsky") {
        p.kind = PermissionKind::kTransitionChatBsky;
        return p;
    }
    if (token == "transition:email") {
        p.kind = PermissionKind::kTransitionEmail;
        return p;
    }
    auto g = ParseGenericScope(token);
    if (!g) return Fail(g.error());
    if (g->resource == "account") {
        p.kind = PermissionKind::kAccount;
        return ParseAccount(*g, std::move(p));
    }
    if (g->resource == "blob") {
        p.kind = PermissionKind::kBlob;
        return ParseBlob(*g, std::move(p));
    }
    if (g->resource == "identity") {
        p.kind = PermissionKind::kIdentity;
        return ParseIdentity(*g, std::move(p));
    }
    if (g->resource == "include") {
        p.kind = PermissionKind::kInclude;
        return ParseInclude(*g, std::move(p));
    }
    if (g->resource == "repo") {
        p.kind = PermissionKind::kRepo;
        return ParseRepo(*g, std::move(p));
    }
    if (g->resource == "rpc") {
        p.kind = PermissionKind::kRpc;
        return ParseRpc(*g, std::move(p));
    }
    return Invalid(token, "unknown resource");
}

Scope ParseScope(std::string_view scope) {
    Scope out;
    while (!scope.empty()) {
        const auto space = scope.find(' ');
        const auto token = scope.substr(0, space);
        scope = space == std::string_view::npos ? std::string_view{} : scope.substr(space + 1);
        if (token.empty()) continue;
        auto p = ParsePermission(token);
        if (p) {
            out.permissions.push_back(std::move(*p));
        } else {
            out.unknown.emplace_back(token);
        }
    }
    return out;
}

bool Covers(const Scope& granted, const Permission& required) {
    switch (required.kind) {
        case PermissionKind::kAtproto:
        case PermissionKind::kTransitionGeneric:
        case PermissionKind::kTransitionChatBsky:
        case PermissionKind::kTransitionEmail:
            return Has(granted, required.kind);
        case PermissionKind::kRepo:
            if (Has(granted, PermissionKind::kTransitionGeneric)) return true;
            for (const auto& c : required.collections) {
                for (const auto& a : required.actions) {
                    if (!RepoCovers(granted, c, a)) return false;
                }
            }
            return true;
        case PermissionKind::kBlob:
            if (Has(granted, PermissionKind::kTransitionGeneric)) return true;
            return std::all_of(required.accept.begin(), required.accept.end(),
                               [&](const auto& pattern) { return BlobCovers(granted, pattern); });
        case PermissionKind::kRpc:
            return std::all_of(required.lxms.begin(), required.lxms.end(),
                               [&](const auto& lxm) { return RpcCovers(granted, lxm, required.aud); });
        case PermissionKind::kAccount:
            if (required.attr == "email" && required.actions == std::vector<std::string>{"read"} &&
                Has(granted, PermissionKind::kTransitionEmail)) {
                return true;
            }
            return std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
                return g.kind == PermissionKind::kAccount && g.attr == required.attr &&
                       (g.actions == required.actions || Contains(g.actions, "manage"));
            });
        case PermissionKind::kIdentity:
            return std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
                return g.kind == PermissionKind::kIdentity && (g.attr == "*" || g.attr == required.attr);
            });
        case PermissionKind::kInclude:
            // Not verifiable offline: the granted scope holds the set's expansion, not the include itself.
            return std::any_of(granted.permissions.begin(), granted.permissions.end(), [&](const Permission& g) {
                return g.kind == PermissionKind::kInclude && g.nsid == required.nsid && g.aud == required.aud;
            });
    }
    return false;
}

bool Covers(const Scope& granted, std::string_view required) {
    const Scope wanted = ParseScope(required);
    if (!wanted.unknown.empty()) return false;
    return std::all_of(wanted.permissions.begin(), wanted.permissions.end(),
                       [&](const Permission& p) { return Covers(granted, p); });
}

std::string BaseScope(std::string_view app_namespace) {
    const std::string ns(app_namespace);
    return "atproto blob:*/* repo:" + ns + ".track repo:" + ns + ".like repo:" + ns + ".comment repo:" + ns +
           ".list repo:" + ns + ".actor.profile";
}

std::string PermissionSetBaseScope(std::string_view app_namespace) {
    return "atproto blob:*/* include:" + std::string(app_namespace) + ".authFullApp";
}

std::string TealExtraScope(const std::vector<std::string>& teal_collections) {
    std::vector<std::string> tokens;
    tokens.reserve(teal_collections.size());
    for (const auto& c : teal_collections) tokens.push_back("repo:" + c);
    return JoinScopes(tokens);
}

std::string JoinScopes(const std::vector<std::string>& scopes) {
    std::string out;
    std::set<std::string, std::less<>> seen;
    for (const auto& scope : scopes) {
        std::string_view rest = scope;
        while (!rest.empty()) {
            const auto space = rest.find(' ');
            const auto token = rest.substr(0, space);
            rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
            if (token.empty() || !seen.emplace(token).second) continue;
            if (!out.empty()) out.push_back(' ');
            out.append(token);
        }
    }
    return out;
}

}  // namespace plyr::atproto::oauth
