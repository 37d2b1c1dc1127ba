#pragma once
// atproto/oauth scopes (atproto.md §6.8, product.md §3.9): building the scope strings plyr requests, and
// parsing/matching the scope an authorization server granted. Granted scopes are parsed and matched
// semantically (collection + action, mime pattern, lxm + aud), never string-compared.
//
// Contract
// - ParseGenericScope: `resource[:positional][?k=v&k…]` split, values percent-decoded; refuses non-ASCII,
//   control characters, spaces and an empty resource (kInvalidArgument).
// - ParsePermission: a token validated per the atproto permission spec (indigo's vector lists): static
//   tokens (`atproto`, `transition:generic|chat.bsky|email`) and `account`, `blob`, `identity`, `include`,
//   `repo`, `rpc` resources; case-sensitive; unknown resources/parameters/values, a positional given
//   together with its named alias, missing required parameters → kInvalidArgument.
// - ParseScope: a space-separated granted scope. Tokens that fail ParsePermission are kept in `unknown`
//   (the AS ignores such permissions, so they grant nothing) rather than failing the whole scope.
// - Covers(granted, required): true when every token of `required` is granted. `include:` tokens cannot
//   be verified offline (the AS expands them into concrete tokens from a set published on the network), so
//   a required `include:` is covered only by the identical include token; callers should require the
//   concrete tokens instead. `transition:generic` covers every repo/blob permission and rpc except
//   chat.bsky.* (which needs transition:chat.bsky as well).
// - Thread-safety: pure functions over values.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace plyr::atproto::oauth {

struct GenericScope {
    std::string resource;
    std::string positional;
    std::map<std::string, std::vector<std::string>, std::less<>> params;  // values percent-decoded
};

Result<GenericScope> ParseGenericScope(std::string_view token);

enum class PermissionKind {
    kAtproto,
    kTransitionGeneric,
    kTransitionChatBsky,
    kTransitionEmail,
    kAccount,
    kBlob,
    kIdentity,
    kInclude,
    kRepo,
    kRpc,
};

struct Permission {
    PermissionKind kind = PermissionKind::kAtproto;
    std::string token;                     // as written
    std::vector<std::string> collections;  // repo: NSIDs or "*"
    std::vector<std::string> actions;      // repo: create/update/delete (defaulted); account: read/manage
    std::vector<std::string> accept;       // blob: mime patterns
    std::vector<std::string> lxms;         // rpc: NSIDs or "*"
    std::string aud;                       // rpc/include: "*" or did#service ("" when absent on include)
    std::string attr;                      // account: email/repo; identity: handle/*
    std::string nsid;                      // include: the permission-set NSID
};

Result<Permission> ParsePermission(std::string_view token);

struct Scope {
    std::vector<Permission> permissions;
    std::vector<std::string> unknown;  // tokens that are not valid permissions (grant nothing)
};

Scope ParseScope(std::string_view scope);

// Every token of `required` (a space-separated scope; invalid tokens are never covered) is granted.
bool Covers(const Scope& granted, std::string_view required);
bool Covers(const Scope& granted, const Permission& required);

// ---- what plyr requests (product.md §3.9) ----

// `atproto blob:*/* repo:{ns}.track repo:{ns}.like repo:{ns}.comment repo:{ns}.list repo:{ns}.actor.profile`
std::string BaseScope(std::string_view app_namespace);
// `atproto blob:*/* include:{ns}.authFullApp` (blob scopes cannot live in a permission set)
std::string PermissionSetBaseScope(std::string_view app_namespace);
// `repo:<c>` for each configured teal.fm collection (e.g. fm.teal.feed.play fm.teal.actor.status)
std::string TealExtraScope(const std::vector<std::string>& teal_collections);
inline constexpr std::string_view kBlueskyPostExtraScope = "repo:app.bsky.feed.post?action=create";

// Space-separated union, first occurrence order, duplicates removed (exact token match, as the AS compares
// requested tokens against the metadata `scope`).
std::string JoinScopes(const std::vector<std::string>& scopes);

}  // namespace plyr::atproto::oauth
