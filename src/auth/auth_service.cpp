#include "auth/auth_service.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "atproto/crypto/oauth_jwt.hpp"
#include "atproto/data/json.hpp"
#include "atproto/oauth/client_metadata.hpp"
#include "atproto/oauth/pkce.hpp"
#include "atproto/oauth/scope.hpp"
#include "atproto/syntax/syntax.hpp"
#include "atproto/xrpc/repo.hpp"
#include "core/encoding.hpp"
#include "core/log.hpp"
#include "pds/outbox.hpp"
#include "storage/repos/artist_repo.hpp"

namespace plyr::auth {

namespace oauth = atproto::oauth;
namespace crypto = atproto::crypto;
namespace identity = atproto::identity;
namespace repos = storage::repos;
namespace json = boost::json;

namespace {

constexpr std::int64_t kSecond = 1'000'000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kDay = 24 * 60 * kMinute;
constexpr std::int64_t kConfidentialLifetime = 180 * kDay;
constexpr std::int64_t kPublicLifetime = 14 * kDay;
constexpr std::int64_t kRefreshMargin = 60 * kSecond;
constexpr std::int64_t kRefreshLease = 30 * kSecond;
constexpr std::int64_t kTouchInterval = kMinute;
constexpr std::int64_t kPendingLifetime = 10 * kMinute;

std::string Str(const json::object& obj, std::string_view key) {
    const auto* v = obj.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}
std::int64_t Int(const json::object& obj, std::string_view key) {
    const auto* v = obj.if_contains(key);
    if (v && v->is_int64()) return v->as_int64();
    if (v && v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    return 0;
}

// The encrypted `oauth` bundle of a session (product.md §5.2 user_sessions.oauth).
struct Bundle {
    std::string access_token;
    std::string refresh_token;
    std::int64_t access_expires_at = 0;
    json::object dpop_jwk;
    std::string issuer;
    std::string token_endpoint;
    std::string revocation_endpoint;
    std::string pds_url;
    std::string client_id;
    std::string kid;
    std::string auth_method;  // private_key_jwt | none

    std::string Serialize() const {
        json::object o;
        o["access_token"] = access_token;
        o["refresh_token"] = refresh_token;
        o["access_expires_at"] = access_expires_at;
        o["dpop_jwk"] = dpop_jwk;
        o["issuer"] = issuer;
        o["token_endpoint"] = token_endpoint;
        o["revocation_endpoint"] = revocation_endpoint;
        o["pds_url"] = pds_url;
        o["client_id"] = client_id;
        o["kid"] = kid;
        o["auth_method"] = auth_method;
        return json::serialize(o);
    }
    static Result<Bundle> Parse(std::string_view text) {
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        if (ec || !v.is_object()) return Fail(ErrorCode::kProtocol, "session bundle is corrupt");
        const auto& o = v.as_object();
        Bundle b;
        b.access_token = Str(o, "access_token");
        b.refresh_token = Str(o, "refresh_token");
        b.access_expires_at = Int(o, "access_expires_at");
        if (const auto* k = o.if_contains("dpop_jwk"); k && k->is_object()) b.dpop_jwk = k->as_object();
        b.issuer = Str(o, "issuer");
        b.token_endpoint = Str(o, "token_endpoint");
        b.revocation_endpoint = Str(o, "revocation_endpoint");
        b.pds_url = Str(o, "pds_url");
        b.client_id = Str(o, "client_id");
        b.kid = Str(o, "kid");
        b.auth_method = Str(o, "auth_method");
        return b;
    }
    AuthServerEndpoints Endpoints() const { return {issuer, token_endpoint, revocation_endpoint}; }
};

// The encrypted `secrets` of an oauth_states row.
struct StateSecrets {
    std::string verifier;
    json::object dpop_jwk;
    std::string binding_hash;
    std::string token_endpoint;
    std::string revocation_endpoint;

    std::string Serialize() const {
        json::object o;
        o["verifier"] = verifier;
        o["dpop_jwk"] = dpop_jwk;
        o["binding_hash"] = binding_hash;
        o["token_endpoint"] = token_endpoint;
        o["revocation_endpoint"] = revocation_endpoint;
        return json::serialize(o);
    }
    static Result<StateSecrets> Parse(std::string_view text) {
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        if (ec || !v.is_object()) return Fail(ErrorCode::kProtocol, "state secrets are corrupt");
        const auto& o = v.as_object();
        StateSecrets s;
        s.verifier = Str(o, "verifier");
        if (const auto* k = o.if_contains("dpop_jwk"); k && k->is_object()) s.dpop_jwk = k->as_object();
        s.binding_hash = Str(o, "binding_hash");
        s.token_endpoint = Str(o, "token_endpoint");
        s.revocation_endpoint = Str(o, "revocation_endpoint");
        return s;
    }
};

AuthError Internal(const Error& error) { return AuthError{500, "internal_error", "internal error", error.ToString()}; }

std::string NewSessionId() { return core::Base64UrlEncode(core::RandomBytes(32)); }

bool CoversTeal(const oauth::Scope& granted, const AuthSettings& s) {
    return oauth::Covers(granted, oauth::TealExtraScope(s.teal_collections));
}
bool CoversBskyPost(const oauth::Scope& granted) {
    return oauth::Covers(granted, std::string(oauth::kBlueskyPostExtraScope));
}

// `requested`: the JSON list of extras of a pending scope upgrade (["teal", "bsky_post"]).
bool GrantsRequestedExtras(const oauth::Scope& granted, std::string_view requested, const AuthSettings& settings) {
    boost::system::error_code ec;
    auto list = json::parse(requested, ec);
    if (ec || !list.is_array()) return false;
    for (const auto& item : list.as_array()) {
        if (!item.is_string()) return false;
        if (item.as_string() == "teal" && !CoversTeal(granted, settings)) return false;
        if (item.as_string() == "bsky_post" && !CoversBskyPost(granted)) return false;
    }
    return true;
}

// Adds `query` to the query of `target`, before any fragment (a `return_to` may carry one: after it, the
// exchange token would never reach the web app's query string).
std::string AppendQuery(std::string target, std::string_view query) {
    std::string fragment;
    if (auto hash = target.find('#'); hash != std::string::npos) {
        fragment = target.substr(hash);
        target.resize(hash);
    }
    target += target.find('?') == std::string::npos ? '?' : '&';
    target += query;
    return target + fragment;
}

std::string LoginError(std::string_view code) { return fmt::format("/login?auth_error={}", code); }

std::string IsoTime(std::int64_t micros) {
    auto seconds = micros / kSecond;
    std::time_t t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                       tm.tm_min, tm.tm_sec);
}

// http://127.0.0.1…, http://[::1]… or http://localhost…: development mode (product.md §6.1).
bool IsLoopbackHttpUrl(std::string_view url) {
    if (!url.starts_with("http://")) return false;
    std::string_view rest = url.substr(7);
    for (std::string_view host : {"127.0.0.1", "[::1]", "localhost"}) {
        if (rest.starts_with(host)) {
            std::string_view after = rest.substr(host.size());
            if (after.empty() || after[0] == ':' || after[0] == '/') return true;
        }
    }
    return false;
}

}  // namespace

// ---- free functions ----

std::string FormatTimestamp(std::int64_t micros) { return IsoTime(micros); }

std::string_view FlowName(Flow flow) {
    switch (flow) {
        case Flow::kLogin:
            return "login";
        case Flow::kAddAccount:
            return "add_account";
        case Flow::kDevToken:
            return "dev_token";
        case Flow::kScopeUpgrade:
            return "scope_upgrade";
    }
    return "login";
}

std::optional<std::string> SanitizeReturnTo(std::string_view return_to) {
    if (return_to.empty() || return_to.size() > 2048) return std::nullopt;
    if (return_to[0] != '/') return std::nullopt;
    if (return_to.size() > 1 && (return_to[1] == '/' || return_to[1] == '\\')) return std::nullopt;
    for (unsigned char c : return_to) {
        if (c == '\\' || c < 0x20 || c == 0x7f) return std::nullopt;
    }
    // A scheme can only appear before the first '/', and the first character is '/': none possible. Still,
    // refuse an encoded slash/backslash right after the leading '/' (`/%2F…` decoded by some clients).
    std::string lower;
    for (char c : return_to.substr(0, 4)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.starts_with("/%2f") || lower.starts_with("/%5c")) return std::nullopt;
    return std::string(return_to);
}

Result<identity::Identity> ResolverIdentitySource::Resolve(std::string_view at_identifier, bool fresh) {
    identity::ResolveOptions options;
    options.no_cache = fresh;
    if (!fresh) options.max_age = std::chrono::seconds(600);
    return resolver_.Resolve(at_identifier, options);
}

Result<AuthSettings> AuthSettings::FromConfig(const core::Config& config) {
    AuthSettings s;
    s.public_url = config.public_url;
    while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
    s.client_name = config.name;
    s.app_namespace = config.atproto_app_namespace;
    s.use_permission_sets = config.atproto_use_permission_sets;
    s.teal_enabled = config.teal_enabled;
    s.development_mode = IsLoopbackHttpUrl(s.public_url);
    s.allow_test_handles = !config.allow_private_network.empty() && config.allow_private_network != "false";
    s.scope_override = config.atproto_scope_override;
    s.developer_token_max_days = config.auth_developer_token_max_days;
    s.admin_dids = config.admin_dids;
    if (!config.oauth_jwk.empty()) {
        boost::system::error_code ec;
        auto jwk = json::parse(config.oauth_jwk, ec);
        if (ec || !jwk.is_object()) return Fail(ErrorCode::kConfig, "OAUTH_JWK is not a JSON object");
        auto key = crypto::PrivateKey::FromJwk(jwk.as_object());
        if (!key || key->curve() != crypto::Curve::kP256) {
            return Fail(ErrorCode::kConfig, "OAUTH_JWK must be an ES256 (P-256) private JWK");
        }
        s.client_key = *key;
        s.client_kid = !config.oauth_jwk_kid.empty() ? config.oauth_jwk_kid : Str(jwk.as_object(), "kid");
        if (s.client_kid.empty()) s.client_kid = key->Public().JwkThumbprint();
    }
    return s;
}

// ---- implementation ----

struct AuthService::Impl {
    AuthService& self;
    storage::db::Db& db;
    const core::SecretBox& box;
    net::HttpClient& http;
    IdentitySource& identity;
    OAuthBackend& backend;
    const core::Clock& clock;
    net::BlockingPool& pool;
    repos::SessionRepository sessions;
    repos::OAuthStateRepository states;
    repos::ExchangeTokenRepository exchanges;
    repos::PendingRepository pending;
    repos::ArtistRepository artists;
    std::string required_scope;  // what every authenticated request must hold

    Impl(AuthService& s, storage::db::Db& d, const core::SecretBox& b, net::HttpClient& h, IdentitySource& i,
         OAuthBackend& o, const core::Clock& c, net::BlockingPool& p)
        : self(s),
          db(d),
          box(b),
          http(h),
          identity(i),
          backend(o),
          clock(c),
          pool(p),
          sessions(d, b),
          states(d, b),
          exchanges(d, b),
          pending(d),
          artists(d) {}

    std::int64_t Now() const { return clock.NowMicros(); }
    bool Confidential() const { return self.settings_.client_key.has_value(); }
    std::int64_t SessionLifetime() const { return Confidential() ? kConfidentialLifetime : kPublicLifetime; }

    OAuthClient Client() const {
        OAuthClient c;
        c.client_id = self.client_id_;
        c.redirect_uri = self.redirect_uri_;
        if (Confidential()) {
            c.key = &*self.settings_.client_key;
            c.kid = self.settings_.client_kid;
        }
        return c;
    }

    // ---- start ----

    struct Target {
        std::string pds_url;
        std::optional<std::string> expected_did;
        std::optional<std::string> login_hint;
    };

    AuthResult<Target> ResolveInput(std::string_view raw) {
        std::string input(raw);
        while (!input.empty() && (input.back() == ' ' || input.back() == '\t')) input.pop_back();
        while (!input.empty() && (input.front() == ' ' || input.front() == '\t')) input.erase(0, 1);
        if (input.starts_with('@')) input.erase(0, 1);
        auto invalid = [] { return AuthFail(400, "invalid_handle", "enter a valid handle, did or pds url"); };
        if (input.empty() || input.size() > 2048) return invalid();
        Target target;
        if (input.starts_with("https://") || input.starts_with("http://")) {
            // Plain http only for a loopback PDS while private networks are allowed (the local test PDS).
            bool http_ok = http.policy().permits_http() && IsLoopbackHttpUrl(input);
            if (input.starts_with("http://") && !http_ok) return invalid();
            auto origin = oauth::OriginOf(input);
            if (!origin) return invalid();
            std::string rest = input.substr(origin->size());
            if (!(rest.empty() || rest == "/")) return invalid();
            target.pds_url = *origin;
            return target;
        }
        if (input.starts_with("did:")) {
            if (!atproto::syntax::IsValidPlcDid(input) && !atproto::syntax::IsValidWebDid(input)) return invalid();
        } else {
            auto handle = atproto::syntax::ParseHandle(input);
            if (!handle) return invalid();
            if (!atproto::syntax::CheckHandleResolvable(handle->value, self.settings_.allow_test_handles)) {
                return invalid();
            }
            input = handle->value;
        }
        auto resolved = identity.Resolve(input, false);
        if (!resolved) {
            std::string code(identity::IdentityErrorName(resolved.error()));
            if (code == "identity_not_found") code = "invalid_handle";
            return AuthFail(400, code, "could not resolve that account", resolved.error().ToString());
        }
        if (!resolved->pds_endpoint || resolved->pds_endpoint->empty()) {
            return AuthFail(400, "invalid_did_document", "the account's did document names no pds");
        }
        target.pds_url = *resolved->pds_endpoint;
        target.expected_did = resolved->did;
        target.login_hint = input;
        return target;
    }

    struct StartOptions {
        Flow flow = Flow::kLogin;
        std::string input;
        std::optional<std::string> return_to;
        std::optional<std::string> prompt;
        bool send_hint = true;
        std::string scope;
        // Flow-specific pending row, inserted under the same state.
        std::function<Status(std::string_view state)> insert_pending;
    };

    AuthResult<StartResult> Start(StartOptions options) {
        auto target = ResolveInput(options.input);
        if (!target) return tl::unexpected(target.error());
        auto discovery = backend.Discover(target->pds_url);
        if (!discovery && !target->expected_did && discovery.error().code == ErrorCode::kProtocol) {
            // A typed server URL that is not a resource server may be the authorization server itself
            // (atproto.md §6.3 step 4, e.g. an entryway). The callback still checks that the account's own PDS
            // names this issuer. When neither works, the resource-server error is the one reported. Transport
            // failures and SSRF refusals are final (no second wait on a dead or forbidden host).
            if (auto as_issuer = backend.DiscoverIssuer(target->pds_url)) discovery = std::move(as_issuer);
        }
        if (!discovery) {
            const auto& e = discovery.error();
            if (e.detail.starts_with(oauth::kAuthServerInvalid)) {
                return AuthFail(400, "auth_server_invalid", "the account's authorization server is invalid",
                                e.ToString());
            }
            if (e.detail.starts_with("ssrf_blocked")) {
                return AuthFail(400, "identity_unreachable", "the account's server is not reachable", e.ToString());
            }
            return AuthFail(502, "pds_error", "the account's server did not answer", e.ToString());
        }
        auto pkce = oauth::GeneratePkce();
        auto dpop_key = crypto::PrivateKey::Generate(crypto::Curve::kP256);
        if (!pkce || !dpop_key) return tl::unexpected(Internal(!pkce ? pkce.error() : dpop_key.error()));
        std::string state = oauth::GenerateState();
        std::string binding = core::Base64UrlEncode(core::RandomBytes(32));

        oauth::ParRequest par;
        par.client_id = self.client_id_;
        par.redirect_uri = self.redirect_uri_;
        par.scope = options.scope;
        par.state = state;
        par.code_challenge = pkce->challenge;
        if (options.send_hint && target->login_hint) par.login_hint = target->login_hint;
        par.prompt = options.prompt;
        if (Confidential()) par.client_auth = oauth::ClientAuth{&*self.settings_.client_key, self.settings_.client_kid};
        auto pushed = backend.PushAuthorization(discovery->server, par, *dpop_key);
        if (!pushed) {
            return AuthFail(502, "pds_error", "the authorization server refused the sign-in request",
                            pushed.error().ToString());
        }

        StateSecrets secrets;
        secrets.verifier = pkce->verifier;
        secrets.dpop_jwk = dpop_key->ToJwk();
        secrets.binding_hash = repos::HashToken(binding);
        secrets.token_endpoint = discovery->server.token_endpoint;
        secrets.revocation_endpoint = discovery->server.revocation_endpoint;
        repos::OAuthState row;
        row.flow = std::string(FlowName(options.flow));
        row.issuer = discovery->server.issuer;
        row.expected_did = target->expected_did;
        row.login_input = options.input;
        row.pds_url = target->pds_url;
        row.secrets = secrets.Serialize();
        row.requested_scope = options.scope;
        row.return_to = options.return_to;
        row.created_at = Now();
        row.expires_at = row.created_at + kStateLifetime();
        if (options.insert_pending) {
            if (auto st = options.insert_pending(state); !st) return tl::unexpected(Internal(st.error()));
        }
        if (auto st = states.Insert(state, row); !st) return tl::unexpected(Internal(st.error()));
        log::Info("auth.start", {{"flow", row.flow}, {"issuer", row.issuer}});
        return StartResult{oauth::AuthorizationRedirectUrl(discovery->server, self.client_id_, pushed->request_uri),
                           binding};
    }

    static constexpr std::int64_t kStateLifetime() { return kStateLifetimeMicros; }

    // ---- callback ----

    // Background work in flight (best-effort revocations). The destructor waits for it; a task the pool drops
    // unrun (pool stopped) is released with its handler, so the wait cannot hang on it.
    struct InFlight {
        std::mutex mu;
        std::condition_variable cv;
        int count = 0;
    };
    std::shared_ptr<InFlight> in_flight = std::make_shared<InFlight>();

    void WaitForBackground() {
        std::unique_lock lock(in_flight->mu);
        in_flight->cv.wait(lock, [&] { return in_flight->count == 0; });
    }

    void RevokeInBackground(AuthServerEndpoints server, std::string token, json::object dpop_jwk) {
        OAuthClient client = Client();
        {
            std::lock_guard lock(in_flight->mu);
            ++in_flight->count;
        }
        // Decrements when the last copy of the handler is destroyed, whether it ran or not.
        auto guard = std::shared_ptr<void>(nullptr, [state = in_flight](void*) {
            std::lock_guard lock(state->mu);
            --state->count;
            state->cv.notify_all();
        });
        boost::asio::post(pool.executor(), [this, guard, server = std::move(server), token = std::move(token),
                                            dpop_jwk = std::move(dpop_jwk), client]() {
            auto key = crypto::PrivateKey::FromJwk(dpop_jwk);
            if (!key) return;
            auto st = backend.Revoke(server, client, token, *key);
            if (!st) log::Warn("auth.revoke_failed", {{"error", st.error().ToString()}});
        });
    }

    void RevokeNow(const AuthServerEndpoints& server, const TokenSet& tokens, const crypto::PrivateKey& key) {
        auto st = backend.Revoke(server, Client(),
                                 tokens.refresh_token.empty() ? tokens.access_token : tokens.refresh_token, key);
        if (!st) log::Warn("auth.revoke_failed", {{"error", st.error().ToString()}});
    }

    // Best effort: display name and avatar from app.bsky.actor.profile/self on the user's PDS.
    void ImportProfile(const std::string& did, const std::string& pds_url) {
        atproto::xrpc::XrpcOptions options;
        options.max_retries = 0;
        options.timeout = std::chrono::milliseconds(5'000);
        atproto::xrpc::XrpcClient client(pds_url, http, options);
        auto record = atproto::xrpc::GetRecord(client, did, "app.bsky.actor.profile", "self");
        if (!record) return;
        auto value = atproto::ValueToJson(record->value);
        if (!value.is_object()) return;
        const auto& obj = value.as_object();
        std::string name = Str(obj, "displayName");
        std::optional<std::string> avatar;
        if (const auto* a = obj.if_contains("avatar"); a && a->is_object()) {
            if (const auto* ref = a->as_object().if_contains("ref"); ref && ref->is_object()) {
                std::string cid = Str(ref->as_object(), "$link");
                if (!cid.empty()) {
                    avatar = fmt::format("{}/xrpc/com.atproto.sync.getBlob?did={}&cid={}", pds_url,
                                         atproto::xrpc::PercentEncode(did), atproto::xrpc::PercentEncode(cid));
                }
            }
        }
        if (name.empty() && !avatar) return;
        if (name.size() > 640) name.resize(640);
        auto st = artists.SetProfileFromBsky(did, name, avatar, Now());
        if (!st) log::Warn("auth.profile_import_failed", {{"error", st.error().ToString()}});
    }

    std::string Callback(const CallbackParams& params) {
        if (!params.state || params.state->empty()) return LoginError("expired");
        auto consumed = states.Consume(*params.state, Now());
        if (!consumed) {
            log::Warn("auth.callback_state_failed", {{"error", consumed.error().ToString()}});
            return LoginError("expired");
        }
        if (!*consumed) return LoginError("expired");
        repos::OAuthState row = std::move(**consumed);
        const std::string& state = *params.state;

        // Flow-specific pending rows are consumed with the state, whatever the outcome.
        std::optional<repos::PendingAddAccount> add;
        std::optional<repos::PendingDevToken> dev;
        std::optional<repos::PendingScopeUpgrade> upgrade;
        bool pending_ok = true;
        if (row.flow == "add_account") {
            auto p = pending.ConsumeAddAccount(state, Now());
            pending_ok = p && *p;
            if (pending_ok) add = **p;
        } else if (row.flow == "dev_token") {
            auto p = pending.ConsumeDevToken(state, Now());
            pending_ok = p && *p;
            if (pending_ok) dev = **p;
        } else if (row.flow == "scope_upgrade") {
            auto p = pending.ConsumeScopeUpgrade(state, Now());
            pending_ok = p && *p;
            if (pending_ok) upgrade = **p;
        }

        auto secrets = StateSecrets::Parse(row.secrets);
        if (!secrets) return LoginError("failed");
        if (!params.binding || repos::HashToken(*params.binding) != secrets->binding_hash) {
            log::Warn("auth.callback_unbound", {{"flow", row.flow}});
            return LoginError("expired");
        }
        if (!pending_ok) return LoginError("expired");
        std::string upgrade_target = upgrade ? upgrade->return_to.value_or("/settings") : std::string("/settings");
        if (params.error) {
            if (upgrade) return AppendQuery(upgrade_target, "scope_upgrade_error=refused");
            return LoginError(*params.error == "access_denied" ? "denied" : "failed");
        }
        if (!params.iss || *params.iss != row.issuer) {
            log::Warn("auth.callback_issuer_mismatch", {{"flow", row.flow}});
            return LoginError("failed");
        }
        if (!params.code || params.code->empty()) return LoginError("failed");

        auto dpop_key = crypto::PrivateKey::FromJwk(secrets->dpop_jwk);
        if (!dpop_key) return LoginError("failed");
        AuthServerEndpoints server{row.issuer, secrets->token_endpoint, secrets->revocation_endpoint};
        auto tokens = backend.ExchangeCode(server, Client(), *params.code, secrets->verifier, *dpop_key);
        if (!tokens) {
            log::Warn("auth.token_exchange_failed", {{"flow", row.flow}, {"error", tokens.error().ToString()}});
            return LoginError("failed");
        }
        // Developer tokens and scope upgrades belong to the account that asked (§6.3).
        std::string expected_owner = dev ? dev->did : upgrade ? upgrade->did : std::string();
        if (!expected_owner.empty() && tokens->sub != expected_owner) {
            RevokeNow(server, *tokens, *dpop_key);
            if (upgrade) return AppendQuery(upgrade_target, "scope_upgrade_error=account_mismatch");
            return LoginError("account_mismatch");
        }
        if (row.expected_did && tokens->sub != *row.expected_did) {
            RevokeNow(server, *tokens, *dpop_key);
            log::Warn("auth.sub_mismatch", {{"flow", row.flow}});
            return LoginError("failed");
        }
        // sub ⇄ issuer: a fresh resolution of sub must lead back to this authorization server.
        auto sub_identity = identity.Resolve(tokens->sub, true);
        std::optional<std::string> pds_url;
        if (sub_identity && sub_identity->pds_endpoint) pds_url = *sub_identity->pds_endpoint;
        bool issuer_ok = false;
        if (pds_url) {
            auto issuer = backend.IssuerForPds(*pds_url);
            issuer_ok = issuer && *issuer == row.issuer;
        }
        if (!issuer_ok) {
            RevokeNow(server, *tokens, *dpop_key);
            log::Warn("auth.sub_issuer_mismatch", {{"flow", row.flow}});
            return LoginError("failed");
        }
        auto granted = oauth::ParseScope(tokens->scope);
        if (!oauth::Covers(granted, required_scope)) {
            RevokeNow(server, *tokens, *dpop_key);
            if (upgrade) return AppendQuery(upgrade_target, "scope_upgrade_error=scope_mismatch");
            return LoginError("scope_mismatch");
        }
        // An upgrade whose extras were deselected at consent is a refusal: the old session, with what it had,
        // stays (product.md §6.3) instead of being replaced by one that reports scope_upgraded=true.
        if (upgrade && !GrantsRequestedExtras(granted, upgrade->requested, self.settings_)) {
            RevokeNow(server, *tokens, *dpop_key);
            return AppendQuery(upgrade_target, "scope_upgrade_error=refused");
        }

        std::string handle = sub_identity->handle;
        auto upserted = artists.UpsertOnSignIn(tokens->sub, handle, *pds_url, Now());
        if (!upserted) {
            log::Error("auth.artist_upsert_failed", {{"error", upserted.error().ToString()}});
            RevokeNow(server, *tokens, *dpop_key);
            return LoginError("failed");
        }
        if (upserted->created) ImportProfile(tokens->sub, *pds_url);

        std::int64_t now = Now();
        Bundle bundle;
        bundle.access_token = tokens->access_token;
        bundle.refresh_token = tokens->refresh_token;
        bundle.access_expires_at = now + std::max<std::int64_t>(tokens->expires_in, 0) * kSecond;
        bundle.dpop_jwk = secrets->dpop_jwk;
        bundle.issuer = row.issuer;
        bundle.token_endpoint = secrets->token_endpoint;
        bundle.revocation_endpoint = secrets->revocation_endpoint;
        bundle.pds_url = *pds_url;
        bundle.client_id = self.client_id_;
        bundle.kid = Confidential() ? self.settings_.client_kid : std::string();
        bundle.auth_method = Confidential() ? "private_key_jwt" : "none";

        repos::NewSession ns;
        ns.session_id = NewSessionId();
        ns.did = tokens->sub;
        ns.handle = handle;
        ns.oauth = bundle.Serialize();
        ns.granted_scope = tokens->scope;
        ns.refresh_expires_at = now + SessionLifetime();
        ns.expires_at = *ns.refresh_expires_at;
        ns.now = now;
        std::optional<std::string> delete_after;
        if (add) {
            ns.group_id = add->group_id;
            auto members = sessions.ListByGroup(add->group_id, now);
            if (!members) {
                log::Error("auth.group_read_failed", {{"error", members.error().ToString()}});
                RevokeNow(server, *tokens, *dpop_key);
                return LoginError("failed");
            }
            int others = 0;
            for (const auto& m : *members) {
                if (m.did == ns.did) {
                    delete_after = m.session_hash;  // re-adding replaces the old session
                } else {
                    ++others;
                }
            }
            // Checked at start too; two add-account flows started together must not both get in.
            if (others >= self.settings_.max_accounts_per_group) {
                RevokeNow(server, *tokens, *dpop_key);
                return LoginError("failed");
            }
        } else if (dev) {
            ns.is_developer_token = true;
            ns.token_name = dev->token_name;
            ns.token_prefix = ns.session_id.substr(0, 8);
            ns.expires_at = std::min(now + dev->expires_in_days * kDay, *ns.refresh_expires_at);
        } else if (upgrade) {
            auto old = sessions.Get(upgrade->old_session_hash, now);
            if (old && *old && (*old)->group_id) ns.group_id = (*old)->group_id;
            if (!ns.group_id) ns.group_id = core::RandomUuid();
            delete_after = upgrade->old_session_hash;
        } else {
            ns.group_id = core::RandomUuid();
        }
        auto created = sessions.Create(ns);
        if (!created) {
            log::Error("auth.session_create_failed", {{"error", created.error().ToString()}});
            RevokeNow(server, *tokens, *dpop_key);
            return LoginError("failed");
        }
        if (delete_after) {
            if (auto old = sessions.Get(*delete_after, now); old && *old) RevokeSession(**old);
            (void)sessions.Delete(*delete_after);
        }
        // Writes parked for want of a usable grant can go now (product.md §6.5 "released at the next sign-in").
        // Best effort: a failure here must not undo the sign-in; the entries wait for the next one.
        if (auto released = pds::ReleaseBlocked(db, ns.did, now); !released) {
            log::Error("auth.outbox_release_failed", {{"did", ns.did}, {"error", released.error().ToString()}});
        } else if (*released > 0) {
            log::Info("auth.outbox_released", {{"did", ns.did}, {"entries", *released}});
        }
        std::string exchange = core::Base64UrlEncode(core::RandomBytes(32));
        if (auto st = exchanges.Insert(exchange, ns.session_id, ns.is_developer_token, now,
                                       now + kExchangeLifetimeMicros, secrets->binding_hash);
            !st) {
            log::Error("auth.exchange_insert_failed", {{"error", st.error().ToString()}});
            return LoginError("failed");
        }
        log::Info("auth.signed_in", {{"flow", row.flow}, {"did", ns.did}});
        std::string token_query = "exchange_token=" + exchange;
        if (add) return "/portal?account_added=true&" + token_query;
        if (dev) return "/settings?" + token_query + "&dev_token=true";
        if (upgrade) return AppendQuery(upgrade_target, "scope_upgraded=true&" + token_query);
        std::string target;
        if (row.return_to) {
            target = *row.return_to;
        } else if (upserted->created && !upserted->artist.profile_completed) {
            target = "/profile/setup";
        } else if (upserted->artist.profile_completed) {
            target = "/portal";
        } else {
            target = "/";
        }
        return AppendQuery(target, token_query);
    }

    void RevokeSession(const repos::Session& session) {
        auto bundle = Bundle::Parse(session.oauth);
        if (!bundle) return;
        std::string token = bundle->refresh_token.empty() ? bundle->access_token : bundle->refresh_token;
        RevokeInBackground(bundle->Endpoints(), token, bundle->dpop_jwk);
    }

    // ---- sessions ----

    AuthResult<AuthenticatedSession> Authenticate(std::optional<std::string_view> cookie,
                                                  std::optional<std::string_view> bearer, bool require_scope) {
        std::string id;
        bool via_cookie = false;
        if (cookie && !cookie->empty()) {
            id = std::string(*cookie);
            via_cookie = true;
        } else if (bearer && !bearer->empty()) {
            id = std::string(*bearer);
        } else {
            return AuthFail(401, "authentication_required", "sign in first");
        }
        if (id.size() > 256) return AuthFail(401, "authentication_required", "sign in first");
        std::string hash = repos::HashToken(id);
        std::int64_t now = Now();
        auto probe = repos::ProbeSession(db, hash);
        if (!probe) return tl::unexpected(Internal(probe.error()));
        if (!*probe) return AuthFail(401, "authentication_required", "sign in first");
        if ((*probe)->ExpiredAt(now)) {
            (void)sessions.Delete(hash);
            return AuthFail(401, "session_expired", "your session expired: sign in again");
        }
        auto session = sessions.Get(hash, now);
        if (!session) {
            if (session.error().code == ErrorCode::kPermissionDenied) {
                (void)sessions.Delete(hash);
                return AuthFail(401, "session_expired", "your session expired: sign in again");
            }
            return tl::unexpected(Internal(session.error()));
        }
        if (!*session) return AuthFail(401, "session_expired", "your session expired: sign in again");
        if (!Bundle::Parse((*session)->oauth)) {
            (void)sessions.Delete(hash);
            return AuthFail(401, "session_expired", "your session expired: sign in again");
        }
        if (now - (*session)->last_used_at >= kTouchInterval) {
            (void)sessions.Touch(hash, now);
            (*session)->last_used_at = now;
        }
        if (require_scope && !oauth::Covers(oauth::ParseScope((*session)->granted_scope), required_scope)) {
            return AuthFail(403, "scope_upgrade_required", "sign in again to grant the permissions plyr needs");
        }
        return AuthenticatedSession{std::move(id), std::move(**session), via_cookie};
    }

    AuthResult<std::optional<repos::Session>> LiveGroupMember(const repos::Session& current, std::string_view did,
                                                              bool remove_dead) {
        if (!current.group_id) return std::optional<repos::Session>{};
        auto members = repos::ProbeGroup(db, *current.group_id);
        if (!members) return tl::unexpected(Internal(members.error()));
        std::int64_t now = Now();
        for (const auto& m : *members) {
            if (m.did != did || m.is_developer_token || m.session_hash == current.session_hash) continue;
            if (m.ExpiredAt(now)) {
                if (remove_dead) (void)sessions.Delete(m.session_hash);
                return AuthFail(401, "session_expired", "that account's session expired: sign in to it again");
            }
            auto s = sessions.Get(m.session_hash, now);
            if (!s || !*s) {
                if (remove_dead) (void)sessions.Delete(m.session_hash);
                return AuthFail(401, "session_expired", "that account's session expired: sign in to it again");
            }
            return std::optional<repos::Session>(std::move(**s));
        }
        return std::optional<repos::Session>{};
    }

    AuthResult<SessionRef> RotateInto(const repos::Session& target) {
        std::string new_id = NewSessionId();
        auto rotated = sessions.RotateId(target.session_hash, new_id);
        if (!rotated) return tl::unexpected(Internal(rotated.error()));
        if (!*rotated) return AuthFail(401, "session_expired", "that account's session expired: sign in to it again");
        return SessionRef{new_id, target.did, target.handle, target.expires_at};
    }

    // ---- outbox ----

    // product.md §9 row 44: when the DID's last usable grant died, its queued PDS writes wait for the next sign-in
    // (which releases them) instead of being tried and failing one by one. Best effort: the worker reaches the same
    // state on its own when it finds no session.
    void BlockOutboxWithoutSession(const std::string& did) {
        const std::int64_t now = Now();
        auto live = db.ReadValue<std::int64_t>([&](storage::db::Connection& c) -> Result<std::int64_t> {
            auto rows = c.Query(
                "SELECT COUNT(*) FROM user_sessions WHERE did = $1 AND expires_at > $2 AND (refresh_expires_at IS "
                "NULL OR refresh_expires_at > $2) AND NOT deleting",
                {did, now});
            if (!rows) return Fail(std::move(rows.error()));
            return rows->front().Int(0);
        });
        if (!live || *live > 0) return;
        if (auto n = pds::BlockPending(db, did, now); !n) {
            log::Error("auth.outbox_block_failed", {{"did", did}, {"error", n.error().ToString()}});
        }
    }

    // ---- refresh ----

    // Refreshes the session's tokens under its lease. `observed_access` is the access token the caller saw:
    // when the row holds another one, someone else refreshed meanwhile and that result is used.
    AuthResult<Bundle> Refresh(const std::string& session_hash, const std::string& did,
                               const std::string& observed_access) {
        std::int64_t now = Now();
        std::int64_t lease_until = now + kRefreshLease;
        // Two rounds: when the holder gives the lease back without new tokens (its refresh failed), try once more.
        for (int round = 0;; ++round) {
            now = Now();
            lease_until = now + kRefreshLease;
            auto locked = sessions.TryLockRefresh(session_hash, now, lease_until);
            if (!locked) return tl::unexpected(Internal(locked.error()));
            if (*locked) break;
            // Another request (or process) is refreshing: wait ≤ 5 s for its result.
            bool released = false;
            for (int i = 0; i < 100 && !released; ++i) {
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                auto s = sessions.Get(session_hash, Now());
                if (!s) return tl::unexpected(Internal(s.error()));
                if (!*s) return AuthFail(401, "session_expired", "your session expired: sign in again");
                auto b = Bundle::Parse((*s)->oauth);
                if (!b) return tl::unexpected(Internal(b.error()));
                if (b->access_token != observed_access) return *b;
                released = !(*s)->refresh_lock_until || *(*s)->refresh_lock_until <= Now();
            }
            if (!released || round == 1) {
                return AuthFail(503, "pds_error", "the session is being refreshed: try again");
            }
        }
        auto unlock = [&] { (void)sessions.UnlockRefresh(session_hash, lease_until); };
        auto s = sessions.Get(session_hash, now);
        if (!s || !*s) {
            unlock();
            if (!s) return tl::unexpected(Internal(s.error()));
            return AuthFail(401, "session_expired", "your session expired: sign in again");
        }
        auto bundle = Bundle::Parse((*s)->oauth);
        if (!bundle) {
            unlock();
            return tl::unexpected(Internal(bundle.error()));
        }
        if (bundle->access_token != observed_access) {
            unlock();
            return *bundle;
        }
        auto key = crypto::PrivateKey::FromJwk(bundle->dpop_jwk);
        if (!key) {
            unlock();
            return tl::unexpected(Internal(key.error()));
        }
        // atproto §6.9: the account must still be served by this session's authorization server. An account
        // that moved elsewhere has a dead session; its old server must not keep minting tokens for it.
        auto fresh = identity.Resolve(did, true);
        std::optional<std::string> now_issuer;
        if (fresh && fresh->pds_endpoint && !fresh->pds_endpoint->empty()) {
            auto issuer = backend.IssuerForPds(*fresh->pds_endpoint);
            if (issuer) now_issuer = std::move(*issuer);
        }
        if (!now_issuer) {
            unlock();
            return AuthFail(502, "pds_error", "could not check the account before refreshing the session",
                            fresh ? std::string("no issuer for the account's pds") : fresh.error().ToString());
        }
        if (*now_issuer != bundle->issuer) {
            RevokeInBackground(bundle->Endpoints(), bundle->refresh_token, bundle->dpop_jwk);
            (void)sessions.Delete(session_hash);
            log::Info("auth.issuer_changed", {{"did", did}});
            return AuthFail(401, "session_expired", "your session expired: sign in again");
        }
        auto tokens = backend.Refresh(bundle->Endpoints(), Client(), bundle->refresh_token, *key);
        if (!tokens) {
            if (IsInvalidGrant(tokens.error())) {
                // The grant is gone: this session is its only holder.
                (void)sessions.Delete(session_hash);
                log::Info("auth.grant_invalid", {{"did", did}});
                BlockOutboxWithoutSession(did);
                return AuthFail(401, "session_expired", "your session expired: sign in again");
            }
            unlock();
            return AuthFail(502, "pds_error", "could not refresh the session", tokens.error().ToString());
        }
        if (tokens->sub != did) {
            (void)sessions.Delete(session_hash);
            return AuthFail(401, "session_expired", "your session expired: sign in again");
        }
        bundle->access_token = tokens->access_token;
        if (!tokens->refresh_token.empty()) bundle->refresh_token = tokens->refresh_token;
        bundle->access_expires_at = Now() + std::max<std::int64_t>(tokens->expires_in, 0) * kSecond;
        auto st = sessions.UpdateOAuth(session_hash, bundle->Serialize(), tokens->scope, std::nullopt, std::nullopt);
        unlock();
        if (!st) return tl::unexpected(Internal(st.error()));
        return *bundle;
    }
};

// ---- PDS session ----

namespace {

// The storage side of atproto::oauth::PdsSession: credentials from the session row, refreshes under its lease.
class SessionCredentials final : public atproto::oauth::CredentialSource {
  public:
    SessionCredentials(AuthService::Impl& impl, std::string session_hash, std::string did)
        : impl_(impl), session_hash_(std::move(session_hash)), did_(std::move(did)) {}

    Result<atproto::oauth::Credentials> Current() override {
        auto session = impl_.sessions.Get(session_hash_, impl_.Now());
        if (!session) return Fail(session.error());
        if (!*session) return Expired();
        auto bundle = Bundle::Parse((*session)->oauth);
        if (!bundle) return Fail(bundle.error());
        if (bundle->access_expires_at - impl_.Now() < kRefreshMargin) {
            auto refreshed = impl_.Refresh(session_hash_, did_, bundle->access_token);
            if (!refreshed) return FromAuthError(refreshed.error());
            bundle = std::move(*refreshed);
        }
        return ToCredentials(*bundle);
    }

    Result<atproto::oauth::Credentials> Refresh(const atproto::oauth::Credentials& stale) override {
        auto refreshed = impl_.Refresh(session_hash_, did_, stale.access_token);
        if (!refreshed) return FromAuthError(refreshed.error());
        return ToCredentials(*refreshed);
    }

  private:
    static tl::unexpected<Error> Expired() {
        return Fail(ErrorCode::kPermissionDenied, "your session expired: sign in again",
                    std::string(atproto::oauth::kSessionExpired) + ": session gone");
    }
    static tl::unexpected<Error> FromAuthError(const AuthError& error) {
        // The grant is gone (the row was deleted): PdsSession reports it as session_expired.
        if (error.code == "session_expired") {
            return Fail(ErrorCode::kPermissionDenied, error.message, "invalid_grant: " + error.detail);
        }
        return Fail(ErrorCode::kUnavailable, error.message, error.code + ": " + error.detail);
    }
    static Result<atproto::oauth::Credentials> ToCredentials(const Bundle& bundle) {
        auto key = crypto::PrivateKey::FromJwk(bundle.dpop_jwk);
        if (!key) return Fail(key.error());
        return atproto::oauth::Credentials{bundle.access_token, *key, bundle.access_expires_at};
    }

    AuthService::Impl& impl_;
    std::string session_hash_;
    std::string did_;
};

class BoundPdsSession final : public PdsSession {
  public:
    BoundPdsSession(AuthService::Impl& impl, const repos::Session& session, std::string pds_url)
        : did_(session.did),
          pds_url_(std::move(pds_url)),
          credentials_(impl, session.session_hash, session.did),
          session_(impl.http, pds_url_, credentials_, impl.backend.nonces(), impl.clock) {}

    const std::string& did() const override { return did_; }
    const std::string& pds_url() const override { return pds_url_; }
    const atproto::oauth::PdsSession& session() const override { return session_; }

  private:
    std::string did_;
    std::string pds_url_;
    SessionCredentials credentials_;
    atproto::oauth::PdsSession session_;
};

}  // namespace

// ---- AuthService ----

AuthService::AuthService(AuthSettings settings, storage::db::Db& db, const core::SecretBox& box, net::HttpClient& http,
                         IdentitySource& identity, OAuthBackend& oauth_backend, const core::Clock& clock,
                         net::BlockingPool& pool)
    : settings_(std::move(settings)) {
    impl_ = std::make_unique<Impl>(*this, db, box, http, identity, oauth_backend, clock, pool);
    while (!settings_.public_url.empty() && settings_.public_url.back() == '/') settings_.public_url.pop_back();
    base_scope_ = !settings_.scope_override.empty() ? settings_.scope_override
                  : settings_.use_permission_sets   ? oauth::PermissionSetBaseScope(settings_.app_namespace)
                                                    : oauth::BaseScope(settings_.app_namespace);
    // The set expands into the concrete granular tokens; checks need those (include: is not verifiable).
    impl_->required_scope =
        !settings_.scope_override.empty() ? settings_.scope_override : oauth::BaseScope(settings_.app_namespace);
    std::vector<std::string> all{base_scope_};
    if (settings_.teal_enabled) all.push_back(oauth::TealExtraScope(settings_.teal_collections));
    all.emplace_back(oauth::kBlueskyPostExtraScope);
    scope_universe_ = oauth::JoinScopes(all);
    redirect_uri_ = settings_.public_url + "/auth/callback";
    if (client_kind() == ClientKind::kLoopbackPublic) {
        auto id = oauth::BuildLoopbackClientId({redirect_uri_}, scope_universe_);
        client_id_ = id ? *id : std::string("http://localhost");
    } else {
        auto id = oauth::ConfidentialClientId(settings_.public_url, settings_.development_mode);
        client_id_ = id ? *id : settings_.public_url + std::string(oauth::kClientMetadataPath);
    }
}

AuthService::~AuthService() {
    if (impl_) impl_->WaitForBackground();
}

ClientKind AuthService::client_kind() const {
    if (settings_.client_key) return ClientKind::kConfidential;
    return settings_.development_mode ? ClientKind::kLoopbackPublic : ClientKind::kPublic;
}

std::optional<json::object> AuthService::ClientMetadata() const {
    if (client_kind() == ClientKind::kLoopbackPublic) return std::nullopt;
    oauth::ConfidentialClientOptions options;
    options.public_url = settings_.public_url;
    options.client_name = settings_.client_name;
    options.redirect_uris = {redirect_uri_};
    options.scope = scope_universe_;
    options.allow_http = settings_.development_mode;
    auto metadata = oauth::BuildConfidentialClientMetadata(options);
    if (!metadata) return std::nullopt;
    if (client_kind() == ClientKind::kPublic) {
        // A web public client: no keys, no client authentication (atproto.md §6.2; 14-day sessions).
        metadata->erase("jwks_uri");
        metadata->erase("token_endpoint_auth_signing_alg");
        (*metadata)["token_endpoint_auth_method"] = "none";
    }
    return *metadata;
}

std::optional<json::object> AuthService::Jwks() const {
    if (!settings_.client_key) return std::nullopt;
    auto jwks = oauth::BuildJwks({{settings_.client_kid, settings_.client_key->Public()}});
    if (!jwks) return std::nullopt;
    return *jwks;
}

AuthResult<StartResult> AuthService::StartLogin(std::string_view input, std::optional<std::string_view> return_to) {
    Impl::StartOptions options;
    options.flow = Flow::kLogin;
    options.input = std::string(input);
    if (return_to) options.return_to = SanitizeReturnTo(*return_to);
    options.scope = base_scope_;
    return impl_->Start(std::move(options));
}

AuthResult<StartResult> AuthService::StartAddAccount(const AuthenticatedSession& current,
                                                     std::optional<std::string_view> handle) {
    std::int64_t now = impl_->clock.NowMicros();
    std::string group = current.session.group_id.value_or("");
    if (!group.empty()) {
        auto members = impl_->sessions.ListByGroup(group, now);
        if (!members) return tl::unexpected(Internal(members.error()));
        if (static_cast<int>(members->size()) >= settings_.max_accounts_per_group) {
            return AuthFail(409, "too_many_accounts",
                            fmt::format("at most {} accounts can be linked", settings_.max_accounts_per_group));
        }
    }
    Impl::StartOptions options;
    options.flow = Flow::kAddAccount;
    if (handle && !handle->empty()) {
        options.input = std::string(*handle);
    } else {
        // No account named yet: start at the current account's PDS; prompt=login lets the user pick another.
        auto bundle = Bundle::Parse(current.session.oauth);
        if (!bundle) return tl::unexpected(Internal(bundle.error()));
        options.input = bundle->pds_url;
    }
    options.prompt = "login";
    options.send_hint = false;
    options.scope = base_scope_;
    std::string initiator = current.session.session_hash;
    options.insert_pending = [this, &group, initiator, now](std::string_view state) -> Status {
        if (group.empty()) {
            // The current session gets a group id on its first add-account (sessions without one predate groups).
            group = core::RandomUuid();
            auto st = impl_->db.Write([&](storage::db::Connection& c) -> Status {
                auto n = c.Exec("UPDATE user_sessions SET group_id = $1 WHERE session_hash = $2", {group, initiator});
                if (!n) return Fail(std::move(n.error()));
                return Ok();
            });
            PLYR_TRY_STATUS(st);
        }
        repos::PendingAddAccount row{group, initiator, now, now + kPendingLifetime};
        return impl_->pending.InsertAddAccount(state, row);
    };
    return impl_->Start(std::move(options));
}

AuthResult<StartResult> AuthService::StartDeveloperToken(const AuthenticatedSession& current, std::string_view name,
                                                         std::int64_t expires_in_days) {
    if (name.empty() || name.size() > 64) return AuthFail(400, "invalid_name", "name must be 1 to 64 characters");
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7f) return AuthFail(400, "invalid_name", "name must not contain control characters");
    }
    if (expires_in_days < 1 || expires_in_days > settings_.developer_token_max_days) {
        return AuthFail(400, "invalid_expiry",
                        fmt::format("expires_in_days must be 1 to {}", settings_.developer_token_max_days));
    }
    if (current.session.is_developer_token) {
        return AuthFail(403, "developer_token_not_allowed", "developer tokens cannot create developer tokens");
    }
    std::int64_t now = impl_->clock.NowMicros();
    Impl::StartOptions options;
    options.flow = Flow::kDevToken;
    options.input = current.session.handle != atproto::syntax::kInvalidHandle && !current.session.handle.empty()
                        ? current.session.handle
                        : current.session.did;
    options.scope = base_scope_;
    repos::PendingDevToken row{current.session.did, std::string(name), expires_in_days, now, now + kPendingLifetime};
    options.insert_pending = [this, row](std::string_view state) { return impl_->pending.InsertDevToken(state, row); };
    return impl_->Start(std::move(options));
}

AuthResult<StartResult> AuthService::StartScopeUpgrade(const AuthenticatedSession& current,
                                                       const std::vector<std::string>& include,
                                                       std::optional<std::string_view> return_to) {
    if (include.empty()) return AuthFail(400, "invalid_scope_request", "include names no scope");
    auto granted = oauth::ParseScope(current.session.granted_scope);
    std::vector<std::string> scopes{base_scope_};
    bool teal = CoversTeal(granted, settings_);
    bool bsky = CoversBskyPost(granted);
    json::array requested;
    for (const auto& item : include) {
        if (item == "teal" && settings_.teal_enabled) {
            teal = true;
        } else if (item == "bsky_post") {
            bsky = true;
        } else {
            return AuthFail(400, "invalid_scope_request", "include may name teal and bsky_post only");
        }
        requested.emplace_back(item);
    }
    if (teal) scopes.push_back(oauth::TealExtraScope(settings_.teal_collections));
    if (bsky) scopes.emplace_back(oauth::kBlueskyPostExtraScope);
    std::int64_t now = impl_->clock.NowMicros();
    Impl::StartOptions options;
    options.flow = Flow::kScopeUpgrade;
    options.input = current.session.handle != atproto::syntax::kInvalidHandle && !current.session.handle.empty()
                        ? current.session.handle
                        : current.session.did;
    options.scope = oauth::JoinScopes(scopes);
    std::optional<std::string> target = return_to ? SanitizeReturnTo(*return_to) : std::nullopt;
    repos::PendingScopeUpgrade row{
        current.session.did,   current.session.session_hash, json::serialize(requested), target, now,
        now + kPendingLifetime};
    options.insert_pending = [this, row](std::string_view state) {
        return impl_->pending.InsertScopeUpgrade(state, row);
    };
    return impl_->Start(std::move(options));
}

std::string AuthService::Callback(const CallbackParams& params) { return impl_->Callback(params); }

AuthResult<ExchangeResult> AuthService::Exchange(std::string_view exchange_token,
                                                 std::optional<std::string_view> browser_binding) {
    if (exchange_token.empty() || exchange_token.size() > 256) {
        return AuthFail(400, "invalid_exchange_token", "the exchange token is invalid or used");
    }
    std::int64_t now = impl_->clock.NowMicros();
    auto redeemed = impl_->exchanges.Redeem(exchange_token, now);
    if (!redeemed) return tl::unexpected(Internal(redeemed.error()));
    if (!*redeemed) return AuthFail(400, "invalid_exchange_token", "the exchange token is invalid or used");
    if (browser_binding && !(*redeemed)->is_dev_token && !(*redeemed)->binding_hash.empty() &&
        repos::HashToken(*browser_binding) != (*redeemed)->binding_hash) {
        log::Warn("auth.exchange_unbound");
        // Nobody can hold this session any more: end it rather than leave an orphan grant.
        if (auto orphan = impl_->sessions.Get((*redeemed)->session_hash, now); orphan && *orphan) {
            impl_->RevokeSession(**orphan);
        }
        (void)impl_->sessions.Delete((*redeemed)->session_hash);
        return AuthFail(400, "invalid_exchange_token", "the exchange token is invalid or used");
    }
    auto session = impl_->sessions.Get((*redeemed)->session_hash, now);
    if (!session) return tl::unexpected(Internal(session.error()));
    if (!*session) return AuthFail(400, "invalid_exchange_token", "the exchange token is invalid or used");
    return ExchangeResult{(*redeemed)->session_id, (*session)->did, (*session)->handle, (*redeemed)->is_dev_token,
                          (*session)->expires_at};
}

AuthResult<AuthenticatedSession> AuthService::Authenticate(std::optional<std::string_view> cookie,
                                                           std::optional<std::string_view> bearer,
                                                           bool require_base_scope) {
    return impl_->Authenticate(cookie, bearer, require_base_scope);
}

AuthResult<json::object> AuthService::Me(const AuthenticatedSession& current) {
    const auto& s = current.session;
    auto artist = impl_->artists.Get(s.did);
    if (!artist) return tl::unexpected(Internal(artist.error()));
    json::object out;
    out["did"] = s.did;
    out["handle"] = s.handle;
    out["display_name"] = *artist && !(*artist)->display_name.empty() ? (*artist)->display_name : s.handle;
    out["avatar_url"] = *artist && (*artist)->avatar_url ? json::value(*(*artist)->avatar_url) : json::value(nullptr);
    out["is_admin"] =
        std::find(settings_.admin_dids.begin(), settings_.admin_dids.end(), s.did) != settings_.admin_dids.end();
    out["profile_completed"] = *artist && (*artist)->profile_completed;
    json::array linked;
    if (s.group_id && !s.is_developer_token) {
        auto members = impl_->sessions.ListByGroup(*s.group_id, impl_->clock.NowMicros());
        if (!members) return tl::unexpected(Internal(members.error()));
        for (const auto& m : *members) {
            if (m.is_developer_token) continue;
            auto a = impl_->artists.Get(m.did);
            json::object entry;
            entry["did"] = m.did;
            entry["handle"] = m.handle;
            entry["avatar_url"] = a && *a && (*a)->avatar_url ? json::value(*(*a)->avatar_url) : json::value(nullptr);
            entry["active"] = m.session_hash == s.session_hash;
            linked.push_back(std::move(entry));
        }
    }
    out["linked_accounts"] = std::move(linked);
    auto granted = oauth::ParseScope(s.granted_scope);
    out["granted"] = json::object{{"teal", CoversTeal(granted, settings_)}, {"bsky_post", CoversBskyPost(granted)}};
    out["session"] = json::object{{"expires_at", IsoTime(s.expires_at)}, {"is_developer_token", s.is_developer_token}};
    return out;
}

AuthResult<std::optional<SessionRef>> AuthService::Logout(const AuthenticatedSession& current,
                                                          std::optional<std::string_view> switch_to) {
    std::optional<repos::Session> target;
    if (switch_to && !switch_to->empty()) {
        auto member = impl_->LiveGroupMember(current.session, *switch_to, false);
        if (!member) {
            if (member.error().code != "session_expired") return tl::unexpected(member.error());
        } else {
            target = std::move(*member);
        }
        if (!target) return AuthFail(404, "account_not_linked", "that account is not linked to this session");
    }
    impl_->RevokeSession(current.session);
    if (auto st = impl_->sessions.Delete(current.session.session_hash); !st) {
        return tl::unexpected(Internal(st.error()));
    }
    if (!target) return std::optional<SessionRef>{};
    auto ref = impl_->RotateInto(*target);
    if (!ref) return tl::unexpected(ref.error());
    return std::optional<SessionRef>(std::move(*ref));
}

AuthResult<std::int64_t> AuthService::LogoutAll(const AuthenticatedSession& current) {
    std::vector<repos::Session> victims;
    if (current.session.group_id && !current.session.is_developer_token) {
        auto members = impl_->sessions.ListByGroup(*current.session.group_id, impl_->clock.NowMicros());
        if (!members) return tl::unexpected(Internal(members.error()));
        for (auto& m : *members) {
            if (!m.is_developer_token) victims.push_back(std::move(m));
        }
    }
    if (victims.empty()) victims.push_back(current.session);
    std::int64_t count = 0;
    for (const auto& v : victims) {
        impl_->RevokeSession(v);
        auto deleted = impl_->sessions.Delete(v.session_hash);
        if (!deleted) return tl::unexpected(Internal(deleted.error()));
        if (*deleted) ++count;
    }
    return count;
}

AuthResult<SessionRef> AuthService::SwitchAccount(const AuthenticatedSession& current, std::string_view did) {
    if (current.session.is_developer_token) {
        return AuthFail(404, "account_not_linked", "that account is not linked to this session");
    }
    if (did == current.session.did) {
        return SessionRef{current.session_id, current.session.did, current.session.handle, current.session.expires_at};
    }
    auto member = impl_->LiveGroupMember(current.session, did, true);
    if (!member) return tl::unexpected(member.error());
    if (!*member) return AuthFail(404, "account_not_linked", "that account is not linked to this session");
    return impl_->RotateInto(**member);
}

AuthResult<std::vector<DeveloperTokenInfo>> AuthService::ListDeveloperTokens(const AuthenticatedSession& current) {
    auto all = impl_->sessions.ListByDid(current.session.did, impl_->clock.NowMicros());
    if (!all) return tl::unexpected(Internal(all.error()));
    std::vector<DeveloperTokenInfo> out;
    for (const auto& s : *all) {
        if (!s.is_developer_token) continue;
        out.push_back(
            {s.token_prefix.value_or(""), s.token_name.value_or(""), s.created_at, s.expires_at, s.last_used_at});
    }
    return out;
}

AuthResult<void> AuthService::RevokeDeveloperToken(const AuthenticatedSession& current, std::string_view token_id) {
    if (token_id.empty() || token_id.size() > 64) return AuthFail(404, "not_found", "no such developer token");
    auto all = impl_->sessions.ListByDid(current.session.did, impl_->clock.NowMicros());
    if (!all) return tl::unexpected(Internal(all.error()));
    std::vector<const repos::Session*> matches;
    for (const auto& s : *all) {
        if (s.is_developer_token && s.token_prefix && s.token_prefix->starts_with(token_id.substr(0, 8)) &&
            token_id.size() <= 8) {
            matches.push_back(&s);
        }
    }
    if (matches.empty()) return AuthFail(404, "not_found", "no such developer token");
    if (matches.size() > 1) {
        return AuthFail(400, "ambiguous_token_id", "several developer tokens start with that id");
    }
    impl_->RevokeSession(*matches.front());
    if (auto st = impl_->sessions.Delete(matches.front()->session_hash); !st) {
        return tl::unexpected(Internal(st.error()));
    }
    return {};
}

AuthResult<std::unique_ptr<PdsSession>> AuthService::OpenPdsSession(const AuthenticatedSession& current) {
    auto bundle = Bundle::Parse(current.session.oauth);
    if (!bundle) return tl::unexpected(Internal(bundle.error()));
    return std::unique_ptr<PdsSession>(std::make_unique<BoundPdsSession>(*impl_, current.session, bundle->pds_url));
}

Result<std::unique_ptr<PdsSession>> AuthService::OpenPdsSessionForDid(std::string_view did) {
    const std::int64_t now = impl_->clock.NowMicros();
    // Browser sessions before developer tokens, then the most recently used; never a session being deleted.
    auto hashes = impl_->db.ReadValue<std::vector<std::string>>([&](storage::db::Connection& c)
                                                                    -> Result<std::vector<std::string>> {
        auto rows = c.Query(
            "SELECT session_hash FROM user_sessions WHERE did = $1 AND expires_at > $2 AND (refresh_expires_at IS NULL "
            "OR refresh_expires_at > $2) AND NOT deleting ORDER BY is_developer_token, last_used_at DESC, created_at "
            "DESC",
            {std::string(did), now});
        if (!rows) return Fail(std::move(rows.error()));
        std::vector<std::string> out;
        for (const auto& row : *rows) out.push_back(row.Text(0));
        return out;
    });
    if (!hashes) return Fail(std::move(hashes.error()));
    for (const auto& hash : *hashes) {
        auto session = impl_->sessions.Get(hash, now);
        // A row that cannot be decrypted (rotated key) or parsed is unusable, not fatal: try the next one.
        if (!session) {
            if (session.error().code == ErrorCode::kPermissionDenied) continue;
            return Fail(std::move(session.error()));
        }
        if (!*session || (*session)->deleting) continue;
        auto bundle = Bundle::Parse((*session)->oauth);
        if (!bundle) continue;
        return std::unique_ptr<PdsSession>(std::make_unique<BoundPdsSession>(*impl_, **session, bundle->pds_url));
    }
    return tl::unexpected(pds::NoSessionError(did));
}

AuthResult<void> AuthService::ForceRefresh(const AuthenticatedSession& current) {
    auto s = impl_->sessions.Get(current.session.session_hash, impl_->clock.NowMicros());
    if (!s) return tl::unexpected(Internal(s.error()));
    if (!*s) return AuthFail(401, "session_expired", "your session expired: sign in again");
    auto bundle = Bundle::Parse((*s)->oauth);
    if (!bundle) return tl::unexpected(Internal(bundle.error()));
    auto refreshed = impl_->Refresh(current.session.session_hash, current.session.did, bundle->access_token);
    if (!refreshed) return tl::unexpected(refreshed.error());
    return {};
}

Result<std::int64_t> AuthService::CleanupExpired() {
    std::int64_t now = impl_->clock.NowMicros();
    std::int64_t total = 0;
    auto a = impl_->states.DeleteExpired(now);
    if (!a) return Fail(a.error());
    auto b = impl_->pending.DeleteExpired(now);
    if (!b) return Fail(b.error());
    auto c = impl_->exchanges.DeleteExpired(now);
    if (!c) return Fail(c.error());
    auto d = impl_->sessions.DeleteExpired(now);
    if (!d) return Fail(d.error());
    total = *a + *b + *c + *d;
    return total;
}

}  // namespace plyr::auth
