#include "atproto/oauth/scope.hpp"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace plyr::atproto::oauth {
namespace {

std::string ReadFile(const std::string& relative) {
    std::ifstream in(std::string(PLYR_SOURCE_DIR) + "/tests/data/indigo/atproto/auth/testdata/" + relative);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

// Non-empty, non-comment lines (indigo's vector lists).
std::vector<std::string> ReadLines(const std::string& relative) {
    std::vector<std::string> out;
    std::istringstream in(ReadFile(relative));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line.front() == '#') continue;
        out.push_back(line);
    }
    return out;
}

TEST(ScopeVectors, IndigoValidPermissionsParse) {
    const auto lines = ReadLines("permission_scopes_valid.txt");
    ASSERT_GT(lines.size(), 40u);
    for (const auto& line : lines) {
        EXPECT_TRUE(ParsePermission(line).has_value()) << line;
    }
}

TEST(ScopeVectors, IndigoInvalidPermissionsAreRefused) {
    const auto lines = ReadLines("permission_scopes_invalid.txt");
    ASSERT_GT(lines.size(), 80u);
    for (const auto& line : lines) {
        auto parsed = ParsePermission(line);
        EXPECT_FALSE(parsed.has_value()) << line;
        if (!parsed) {
            EXPECT_EQ(parsed.error().code, ErrorCode::kInvalidArgument);
        }
    }
}

TEST(ScopeVectors, IndigoGenericScopesSplitAsExpected) {
    const auto cases = boost::json::parse(ReadFile("generic_scopes_valid.json")).as_array();
    ASSERT_GT(cases.size(), 10u);
    for (const auto& c : cases) {
        const auto& obj = c.as_object();
        const std::string scope(obj.at("scope").as_string());
        auto parsed = ParseGenericScope(scope);
        ASSERT_TRUE(parsed.has_value()) << scope;
        const auto& want = obj.at("generic").as_object();
        EXPECT_EQ(parsed->resource, want.at("resource").as_string()) << scope;
        EXPECT_EQ(parsed->positional, want.at("positional").as_string()) << scope;
        const auto& params = want.at("params").as_object();
        EXPECT_EQ(parsed->params.size(), params.size()) << scope;
        for (const auto& [key, values] : params) {
            auto it = parsed->params.find(std::string(key));
            ASSERT_NE(it, parsed->params.end()) << scope << " key " << key;
            std::vector<std::string> expected;
            for (const auto& v : values.as_array()) expected.emplace_back(v.as_string());
            EXPECT_EQ(it->second, expected) << scope << " key " << key;
        }
    }
}

TEST(ScopeVectors, IndigoInvalidGenericScopesAreRefused) {
    for (const auto& line : ReadLines("generic_scopes_invalid.txt")) {
        EXPECT_FALSE(ParseGenericScope(line).has_value()) << line;
    }
}

TEST(ParsePermission, RepoDefaultsToAllActionsAndDecodesNamedForm) {
    auto p = ParsePermission("repo:fm.plyr.track");
    ASSERT_TRUE(p) << p.error().ToString();
    EXPECT_EQ(p->kind, PermissionKind::kRepo);
    EXPECT_EQ(p->collections, (std::vector<std::string>{"fm.plyr.track"}));
    EXPECT_EQ(p->actions, (std::vector<std::string>{"create", "update", "delete"}));

    auto named = ParsePermission("repo?collection=a.b.c&collection=a.b.d&action=create");
    ASSERT_TRUE(named);
    EXPECT_EQ(named->collections, (std::vector<std::string>{"a.b.c", "a.b.d"}));
    EXPECT_EQ(named->actions, (std::vector<std::string>{"create"}));
}

TEST(ParsePermission, RpcAudIsPercentDecoded) {
    auto p = ParsePermission("rpc:chat.bsky.convo.sendMessage?aud=did:web:api.bsky.chat%23bsky_chat");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->lxms, (std::vector<std::string>{"chat.bsky.convo.sendMessage"}));
    EXPECT_EQ(p->aud, "did:web:api.bsky.chat#bsky_chat");
}

TEST(ParsePermission, StaticTokensAreRecognisedAndOthersAreNot) {
    EXPECT_EQ(ParsePermission("atproto")->kind, PermissionKind::kAtproto);
    EXPECT_EQ(ParsePermission("transition:generic")->kind, PermissionKind::kTransitionGeneric);
    EXPECT_EQ(ParsePermission("transition:chat.bsky")->kind, PermissionKind::kTransitionChatBsky);
    EXPECT_EQ(ParsePermission("transition:email")->kind, PermissionKind::kTransitionEmail);
    EXPECT_FALSE(ParsePermission("transition:other"));
    EXPECT_FALSE(ParsePermission("Atproto"));
}

TEST(ParseScope, KeepsInvalidTokensAsUnknownWithoutFailing) {
    const Scope s = ParseScope("atproto  repo:fm.plyr.track bogus repo:nope");
    EXPECT_EQ(s.permissions.size(), 2u);
    EXPECT_EQ(s.unknown, (std::vector<std::string>{"bogus", "repo:nope"}));
}

TEST(Covers, RepoActionsAreMatchedSemantically) {
    const Scope granted = ParseScope("atproto repo:fm.plyr.track repo:app.bsky.feed.post?action=create");
    EXPECT_TRUE(Covers(granted, "atproto"));
    EXPECT_TRUE(Covers(granted, "repo:fm.plyr.track?action=create&action=delete"));
    EXPECT_TRUE(Covers(granted, "repo?collection=fm.plyr.track"));
    EXPECT_TRUE(Covers(granted, "repo:app.bsky.feed.post?action=create"));
    EXPECT_FALSE(Covers(granted, "repo:app.bsky.feed.post"));  // needs update and delete too
    EXPECT_FALSE(Covers(granted, "repo:app.bsky.feed.post?action=delete"));
    EXPECT_FALSE(Covers(granted, "repo:fm.plyr.like"));
    EXPECT_FALSE(Covers(granted, "repo:*"));
}

TEST(Covers, RepoWildcardCoversEveryCollectionButOnlyGrantedActions) {
    const Scope granted = ParseScope("atproto repo:*?action=create");
    EXPECT_TRUE(Covers(granted, "repo:fm.teal.feed.play?action=create"));
    EXPECT_FALSE(Covers(granted, "repo:fm.teal.feed.play?action=update"));
}

TEST(Covers, BlobMimePatterns) {
    const Scope granted = ParseScope("atproto blob:audio/* blob?accept=image/png");
    EXPECT_TRUE(Covers(granted, "blob:audio/mpeg"));
    EXPECT_TRUE(Covers(granted, "blob:audio/*"));
    EXPECT_TRUE(Covers(granted, "blob:image/png"));
    EXPECT_FALSE(Covers(granted, "blob:image/jpeg"));
    EXPECT_FALSE(Covers(granted, "blob:*/*"));
    EXPECT_FALSE(Covers(granted, "blob?accept=audio/mpeg&accept=video/mp4"));
    EXPECT_TRUE(Covers(ParseScope("blob:*/*"), "blob?accept=audio/mpeg&accept=video/mp4"));
}

TEST(Covers, RpcMatchesLxmAndAud) {
    const Scope granted = ParseScope(
        "atproto rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview "
        "rpc:*?aud=did:web:x.example%23svc");
    EXPECT_TRUE(Covers(granted, "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"));
    EXPECT_FALSE(Covers(granted, "rpc:app.bsky.actor.getProfile?aud=did:web:other.example%23bsky_appview"));
    EXPECT_TRUE(Covers(granted, "rpc:com.example.anything?aud=did:web:x.example%23svc"));
    EXPECT_FALSE(Covers(granted, "rpc:app.bsky.actor.getProfile?aud=*"));
}

TEST(Covers, TransitionGenericCoversRepoBlobAndNonChatRpc) {
    const Scope granted = ParseScope("atproto transition:generic");
    EXPECT_TRUE(Covers(granted, "atproto blob:*/* repo:fm.plyr.track repo:fm.teal.feed.play"));
    EXPECT_TRUE(Covers(granted, "rpc:app.bsky.actor.getProfile?aud=did:web:api.bsky.app%23bsky_appview"));
    EXPECT_FALSE(Covers(granted, "rpc:chat.bsky.convo.sendMessage?aud=did:web:api.bsky.chat%23bsky_chat"));
    EXPECT_TRUE(Covers(ParseScope("atproto transition:generic transition:chat.bsky"),
                       "rpc:chat.bsky.convo.sendMessage?aud=did:web:api.bsky.chat%23bsky_chat"));
    EXPECT_FALSE(Covers(granted, "transition:email"));
    EXPECT_FALSE(Covers(granted, "identity:handle"));
}

TEST(Covers, AccountAndIdentity) {
    EXPECT_TRUE(Covers(ParseScope("account:email?action=manage"), "account:email"));
    EXPECT_FALSE(Covers(ParseScope("account:email"), "account:email?action=manage"));
    EXPECT_TRUE(Covers(ParseScope("transition:email"), "account:email"));
    EXPECT_TRUE(Covers(ParseScope("identity:*"), "identity:handle"));
    EXPECT_FALSE(Covers(ParseScope("identity:handle"), "identity:*"));
}

TEST(Covers, IncludeIsNotVerifiableFromTheExpandedGrant) {
    // The AS returns the set expanded into concrete tokens, so an include requirement cannot be proven.
    const Scope expanded = ParseScope("atproto blob:*/* repo:fm.plyr.track repo:fm.plyr.like");
    EXPECT_FALSE(Covers(expanded, "include:fm.plyr.authFullApp"));
    EXPECT_TRUE(Covers(ParseScope("atproto include:fm.plyr.authFullApp"), "include:fm.plyr.authFullApp"));
    EXPECT_FALSE(
        Covers(ParseScope("include:fm.plyr.authFullApp"), "include:fm.plyr.authFullApp?aud=did:web:x.example%23svc"));
}

TEST(Covers, InvalidRequiredTokensAreNeverCovered) {
    const Scope granted = ParseScope("atproto transition:generic");
    EXPECT_FALSE(Covers(granted, "atproto repo:invalid"));
    EXPECT_FALSE(Covers(granted, "bogus"));
}

TEST(ScopeBuilders, BaseScopeIsTheGranularDefault) {
    EXPECT_EQ(BaseScope("fm.plyr"),
              "atproto blob:*/* repo:fm.plyr.track repo:fm.plyr.like repo:fm.plyr.comment repo:fm.plyr.list "
              "repo:fm.plyr.actor.profile");
    const Scope parsed = ParseScope(BaseScope("fm.plyr"));
    EXPECT_TRUE(parsed.unknown.empty());
    EXPECT_EQ(parsed.permissions.size(), 7u);
}

TEST(ScopeBuilders, PermissionSetFormAndExtras) {
    EXPECT_EQ(PermissionSetBaseScope("fm.plyr"), "atproto blob:*/* include:fm.plyr.authFullApp");
    EXPECT_TRUE(ParseScope(PermissionSetBaseScope("fm.plyr")).unknown.empty());
    EXPECT_EQ(TealExtraScope({"fm.teal.feed.play", "fm.teal.actor.status"}),
              "repo:fm.teal.feed.play repo:fm.teal.actor.status");
    EXPECT_TRUE(ParsePermission(kBlueskyPostExtraScope));
}

TEST(ScopeBuilders, JoinScopesIsAnOrderedUnionWithoutDuplicates) {
    EXPECT_EQ(JoinScopes({BaseScope("fm.plyr"), PermissionSetBaseScope("fm.plyr"), "repo:fm.plyr.track x"}),
              "atproto blob:*/* repo:fm.plyr.track repo:fm.plyr.like repo:fm.plyr.comment repo:fm.plyr.list "
              "repo:fm.plyr.actor.profile include:fm.plyr.authFullApp x");
}

}  // namespace
}  // namespace plyr::atproto::oauth
