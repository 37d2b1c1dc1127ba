#pragma once
// Test doubles for the auth service suites (tests/auth, tests/api): the identity source, the OAuth backend
// (discovery, PAR, token endpoint, revocation, issuer lookup) and an offline HTTP client.

#include <gtest/gtest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "atproto/oauth/scope.hpp"
#include "auth/auth_service.hpp"
#include "auth/oauth_backend.hpp"

namespace plyr::auth::fakes {

namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;
namespace repos = storage::repos;

inline constexpr std::string_view kIssuer = "https://as.example";
inline constexpr std::string_view kPds = "https://pds.example";
inline constexpr std::int64_t kSecond = 1'000'000;
inline constexpr std::int64_t kDay = 86'400 * kSecond;

inline const std::string kAlice = "did:plc:aliceaaaaaaaaaaaaaaaaaaa";
inline const std::string kBob = "did:plc:bobbbbbbbbbbbbbbbbbbbbbb";

inline std::string GrantedBase() { return oauth::BaseScope("fm.plyr"); }

class FakeIdentity final : public IdentitySource {
  public:
    Result<atproto::identity::Identity> Resolve(std::string_view id, bool fresh) override {
        std::lock_guard lock(mu);
        if (fresh) ++fresh_calls;
        std::string key(id);
        auto it = by_key.find(key);
        if (it == by_key.end()) return Fail(ErrorCode::kNotFound, "no such account");
        atproto::identity::Identity out;
        out.did = it->second.first;
        out.handle = handles[out.did];
        out.handle_verified = true;
        out.pds_endpoint = fresh && fresh_pds.count(out.did) ? fresh_pds[out.did] : it->second.second;
        return out;
    }
    void Add(const std::string& did, const std::string& handle, std::string pds = std::string(kPds)) {
        by_key[handle] = {did, pds};
        by_key[did] = {did, pds};
        handles[did] = handle;
    }
    std::mutex mu;
    std::map<std::string, std::pair<std::string, std::string>> by_key;
    std::map<std::string, std::string> handles;
    std::map<std::string, std::string> fresh_pds;  // what a fresh (no-cache) resolution answers
    int fresh_calls = 0;
};

class FakeBackend final : public OAuthBackend {
  public:
    Result<oauth::Discovery> Discover(std::string_view pds_url) override {
        if (issuer_only.count(std::string(pds_url))) {
            return Fail(ErrorCode::kProtocol, "no resource server here",
                        std::string(oauth::kAuthServerInvalid) + ": protected resource document status 400");
        }
        oauth::Discovery d;
        d.pds_origin = std::string(pds_url);
        d.server.issuer = std::string(kIssuer);
        d.server.authorization_endpoint = std::string(kIssuer) + "/oauth/authorize";
        d.server.token_endpoint = std::string(kIssuer) + "/oauth/token";
        d.server.pushed_authorization_request_endpoint = std::string(kIssuer) + "/oauth/par";
        d.server.revocation_endpoint = std::string(kIssuer) + "/oauth/revoke";
        return d;
    }
    Result<oauth::Discovery> DiscoverIssuer(std::string_view issuer_url) override {
        std::lock_guard lock(mu);
        issuer_discoveries.emplace_back(issuer_url);
        if (!issuer_only.count(std::string(issuer_url))) return Fail(ErrorCode::kNotFound, "no metadata");
        oauth::Discovery d;
        d.server.issuer = std::string(kIssuer);
        d.server.authorization_endpoint = std::string(kIssuer) + "/oauth/authorize";
        d.server.token_endpoint = std::string(kIssuer) + "/oauth/token";
        d.server.pushed_authorization_request_endpoint = std::string(kIssuer) + "/oauth/par";
        d.server.revocation_endpoint = std::string(kIssuer) + "/oauth/revoke";
        return d;
    }
    Result<oauth::ParResponse> PushAuthorization(const oauth::AuthServerMetadata&, const oauth::ParRequest& request,
                                                 const crypto::PrivateKey&) override {
        std::lock_guard lock(mu);
        pars.push_back(request);
        return oauth::ParResponse{"urn:ietf:params:oauth:request_uri:req-" + std::to_string(pars.size()), 60, {}};
    }
    Result<TokenSet> ExchangeCode(const AuthServerEndpoints&, const OAuthClient&, std::string_view code,
                                  std::string_view, const crypto::PrivateKey&) override {
        std::lock_guard lock(mu);
        ++exchanges;
        auto it = codes.find(std::string(code));
        if (it == codes.end()) return Fail(ErrorCode::kPermissionDenied, "bad code", "invalid_grant: Invalid code");
        TokenSet t = it->second;
        codes.erase(it);
        return t;
    }
    Result<TokenSet> Refresh(const AuthServerEndpoints&, const OAuthClient&, std::string_view refresh_token,
                             const crypto::PrivateKey&) override {
        {
            std::unique_lock lock(mu);
            ++refreshes;
            if (refresh_gate) {
                refresh_entered = true;
                cv.notify_all();
                cv.wait(lock, [&] { return !refresh_gate; });
            }
            if (refresh_fail_once) {
                refresh_fail_once = false;
                return Fail(ErrorCode::kUnavailable, "the authorization server is down");
            }
            if (refresh_invalid_grant) {
                return Fail(ErrorCode::kPermissionDenied, "gone", "invalid_grant: Refresh token replayed");
            }
        }
        TokenSet t;
        t.access_token = "AT-refreshed-" + std::string(refresh_token);
        t.refresh_token = "RT-next-" + std::to_string(refreshes);
        t.scope = refreshed_scope;
        t.sub = refresh_sub;
        t.expires_in = 3600;
        return t;
    }
    Status Revoke(const AuthServerEndpoints&, const OAuthClient&, std::string_view token,
                  const crypto::PrivateKey&) override {
        std::lock_guard lock(mu);
        revoked.emplace_back(token);
        cv.notify_all();
        return Ok();
    }
    Result<std::string> IssuerForPds(std::string_view pds_url) override {
        std::lock_guard lock(mu);
        auto it = issuers.find(std::string(pds_url));
        if (it != issuers.end()) return it->second;
        return std::string(kIssuer);
    }
    oauth::DpopNonceCache& nonces() override { return nonce_cache; }

    std::size_t RevokedCount() {
        std::lock_guard lock(mu);
        return revoked.size();
    }
    bool WaitForRevokes(std::size_t n) {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, std::chrono::seconds(5), [&] { return revoked.size() >= n; });
    }

    oauth::DpopNonceCache nonce_cache;
    std::mutex mu;
    std::condition_variable cv;
    std::vector<oauth::ParRequest> pars;
    std::set<std::string> issuer_only;  // server URLs that are authorization servers, not resource servers
    std::vector<std::string> issuer_discoveries;
    std::map<std::string, TokenSet> codes;
    std::map<std::string, std::string> issuers;
    std::vector<std::string> revoked;
    int exchanges = 0;
    int refreshes = 0;
    bool refresh_gate = false;
    bool refresh_entered = false;
    bool refresh_invalid_grant = false;
    bool refresh_fail_once = false;
    std::string refreshed_scope = GrantedBase();
    std::string refresh_sub = kAlice;
};

// Any HTTP the service makes on its own (the profile record read) fails: best effort must not matter.
class OfflineHttp final : public net::HttpClient {
  public:
    Result<net::HttpResponse> Send(const net::HttpRequest&) override {
        return Fail(ErrorCode::kUnavailable, "offline in tests");
    }
    const net::PrivateNetworkPolicy& policy() const override { return policy_; }

  private:
    net::PrivateNetworkPolicy policy_;
};

inline std::map<std::string, std::string> QueryOf(const std::string& location) {
    std::map<std::string, std::string> out;
    auto q = location.find('?');
    if (q == std::string::npos) return out;
    std::string rest = location.substr(q + 1);
    std::size_t pos = 0;
    while (pos <= rest.size()) {
        auto amp = rest.find('&', pos);
        std::string pair = rest.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
        auto eq = pair.find('=');
        if (eq != std::string::npos) out[pair.substr(0, eq)] = pair.substr(eq + 1);
        if (amp == std::string::npos) break;
        pos = amp + 1;
    }
    return out;
}

inline std::string PathOf(const std::string& location) { return location.substr(0, location.find('?')); }

}  // namespace plyr::auth::fakes
