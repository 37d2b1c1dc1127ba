#include "api/auth_routes.hpp"

#include <cstdlib>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "atproto/data/json.hpp"
#include "atproto/oauth/pds_session.hpp"
#include "atproto/xrpc/repo.hpp"
#include "core/log.hpp"
#include "http/cookies.hpp"
#include "http/json.hpp"

namespace plyr::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;

constexpr std::int64_t kBindingMaxAgeSeconds = 600;
// After the callback the binding cookie only has to outlive the exchange token (60 s).
constexpr std::int64_t kExchangeBindingMaxAgeSeconds = 120;

struct Context {
    auth::AuthService& service;
    net::BlockingPool& pool;
    const core::Clock& clock;
    AuthRoutesOptions options;
    http::CsrfPolicy csrf;

    http::CookieOptions CookieOpts(std::optional<std::int64_t> max_age) const {
        http::CookieOptions o;
        o.path = "/";
        o.http_only = true;
        o.secure = options.secure_cookies;
        o.same_site = http::SameSite::kLax;
        o.max_age_seconds = max_age;
        return o;
    }
    void SetSessionCookie(Response& response, const std::string& session_id, std::int64_t expires_at) const {
        std::int64_t seconds = std::max<std::int64_t>((expires_at - clock.NowMicros()) / 1'000'000, 0);
        auto cookie = http::BuildSetCookie(auth::kSessionCookie, session_id, CookieOpts(seconds));
        if (cookie) response.headers.Add("Set-Cookie", *cookie);
    }
    void ClearSessionCookie(Response& response) const {
        response.headers.Add("Set-Cookie", http::BuildClearCookie(auth::kSessionCookie, CookieOpts(0)));
    }
    void SetBindingCookie(Response& response, const std::string& binding,
                          std::int64_t max_age = kBindingMaxAgeSeconds) const {
        auto cookie = http::BuildSetCookie(auth::kBindingCookie, binding, CookieOpts(max_age));
        if (cookie) response.headers.Add("Set-Cookie", *cookie);
    }
};

Response Error(const auth::AuthError& error) {
    if (error.status >= 500) log::Error("auth.error", {{"code", error.code}, {"detail", error.detail}});
    return http::ErrorResponse(error.status, error.code, error.message);
}

std::optional<std::string> BearerToken(const Request& request) {
    auto header = request.Header("Authorization");
    if (!header) return std::nullopt;
    std::string_view value = *header;
    if (value.size() > 7 && http::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) {
        return std::string(value.substr(7));
    }
    return std::nullopt;
}

bool WantsJson(const Request& request) {
    return request.Header("Accept").value_or("").find("application/json") != std::string_view::npos;
}

// A sign-in started by another site's navigation (link, form, window.open) is refused: the binding cookie
// would be set in this browser for a flow the attacker chose (login CSRF through an authorization server
// that approves without asking). A credentialed origin's pages may still start it (Referer names them).
bool CrossSiteStart(const Context& ctx, const Request& request) {
    auto site = request.Header("Sec-Fetch-Site");
    if (!site || !http::EqualsIgnoreCase(*site, "cross-site")) return false;
    auto referer = request.Header("Referer");
    if (!referer) return true;
    auto origin = http::NormalizedOrigin(*referer);
    return !origin || !ctx.csrf.IsCredentialedOrigin(*origin);
}

Response Redirect(std::string location) {
    Response r(303);
    r.headers.Set("Location", location);
    r.headers.Set("Cache-Control", "no-store");
    return r;
}

enum class Need { kAny, kCookie };

// Authenticates (on the blocking pool), applies CSRF to cookie-authenticated mutations, then runs `inner`.
using AuthedFn = std::function<asio::awaitable<Response>(Request&, auth::AuthenticatedSession&)>;

http::Handler Authed(std::shared_ptr<Context> ctx, AuthedFn inner, bool require_scope = true, Need need = Need::kAny) {
    return [ctx, inner = std::move(inner), require_scope, need](Request& request) -> asio::awaitable<Response> {
        auto cookie = http::FindCookie(request, auth::kSessionCookie);
        auto bearer = BearerToken(request);
        // A cookie-authenticated mutation from another site is refused before the session is even looked up:
        // the lookup itself writes (last_used_at, deleting an expired row), and row 45 of §9 changes nothing.
        if (cookie && !cookie->empty() && http::IsStateChangingMethod(request.method)) {
            if (auto rejected = ctx->csrf.Reject(request)) co_return std::move(*rejected);
        }
        auto session = co_await net::Offload(ctx->pool, [&] {
            return ctx->service.Authenticate(cookie ? std::optional<std::string_view>(*cookie) : std::nullopt,
                                             bearer ? std::optional<std::string_view>(*bearer) : std::nullopt,
                                             require_scope);
        });
        if (!session) {
            Response r = Error(session.error());
            if (session.error().code == "session_expired" && cookie) ctx->ClearSessionCookie(r);
            co_return r;
        }
        if (need == Need::kCookie && !session->via_cookie) {
            co_return http::ErrorResponse(403, "cookie_required", "this action needs the browser session");
        }
        // A developer token copied into the cookie is still a developer token: the browser-only actions would
        // let it link accounts or trade itself for a full session (scope upgrade) without its expiry.
        if (need == Need::kCookie && session->session.is_developer_token) {
            co_return http::ErrorResponse(403, "developer_token_not_allowed",
                                          "developer tokens cannot do this: use the browser session");
        }
        if (session->via_cookie) {
            if (auto rejected = ctx->csrf.Reject(request)) co_return std::move(*rejected);
        }
        co_return co_await inner(request, *session);
    };
}

// Routes in the `auth` bucket are exempt from the server-wide `default` bucket (product.md §4.1: a route is
// limited by one bucket).
Status AddLimited(http::Router& router, std::string method, std::string pattern, http::Handler handler,
                  http::RouteDoc doc) {
    http::RouteSpec spec;
    spec.method = std::move(method);
    spec.pattern = std::move(pattern);
    spec.handler = std::move(handler);
    spec.doc = std::move(doc);
    spec.default_rate_limit = false;
    return router.Add(std::move(spec));
}

http::Handler Limited(const std::shared_ptr<Context>& ctx, http::Handler inner) {
    if (!ctx->options.limiter) return inner;
    return http::RateLimited(std::move(inner), ctx->options.limiter, std::string(http::kRateBucketAuth),
                             http::KeyBy::kIp);
}

tl::expected<json::object, Response> JsonObjectBody(const Request& request, bool allow_empty) {
    if (allow_empty && request.body.empty()) return json::object{};
    auto body = http::ParseJsonBody(request);
    if (!body) return tl::unexpected(std::move(body.error()));
    if (!body->is_object()) {
        return tl::unexpected(http::ErrorResponse(400, "invalid_json", "the body must be a json object"));
    }
    return body->as_object();
}

std::optional<std::string> OptString(const json::object& obj, std::string_view key) {
    const auto* v = obj.if_contains(key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
}

Response StartResponse(const Context& ctx, const auth::StartResult& started) {
    Response r = http::JsonResponse(200, json::object{{"auth_url", started.auth_url}});
    ctx.SetBindingCookie(r, started.binding);
    return r;
}

http::RouteDoc Doc(std::string summary, std::string description, std::vector<http::ResponseDoc> responses,
                   std::string request_content_type = "") {
    http::RouteDoc doc;
    doc.summary = std::move(summary);
    doc.description = std::move(description);
    doc.tag = "auth";
    doc.responses = std::move(responses);
    doc.request_content_type = std::move(request_content_type);
    return doc;
}

}  // namespace

bool TestRoutesEnabledFromEnv() {
    const char* v = std::getenv("PLYR_ENABLE_TEST_ROUTES");
    return v != nullptr && std::string_view(v) == "1";
}

Status AddAuthRoutes(http::Router& router, auth::AuthService& service, net::BlockingPool& pool,
                     const core::Clock& clock, AuthRoutesOptions options) {
    http::CsrfPolicy csrf(options.credentialed_origins);
    auto ctx = std::make_shared<Context>(Context{service, pool, clock, std::move(options), std::move(csrf)});

    // ---- GET /auth/start ----
    {
        auto doc = Doc("start signing in",
                       "resolves the handle, did or https pds url, pushes an authorization request and redirects "
                       "to the authorization server. browsers get errors as 303 /login?auth_error=<code>; "
                       "clients sending Accept: application/json get json errors.",
                       {{303, "redirect to the authorization endpoint (or /login?auth_error=… for browsers)", ""},
                        {400,
                         "invalid_handle, handle_mismatch, identity_unreachable, invalid_did_document, "
                         "auth_server_invalid"},
                        {429, "rate_limited"},
                        {502, "pds_error"}});
        doc.params = {{"handle", "query", "handle, did or https pds url", true},
                      {"return_to", "query", "relative path to land on after sign-in", false}};
        PLYR_TRY_STATUS(AddLimited(
            router, "GET", "/auth/start",
            Limited(ctx,
                    [ctx](Request& request) -> asio::awaitable<Response> {
                        if (CrossSiteStart(*ctx, request)) {
                            if (WantsJson(request)) {
                                co_return http::ErrorResponse(403, "csrf_rejected", "cross-site request refused");
                            }
                            co_return Redirect("/login?auth_error=csrf_rejected");
                        }
                        std::string handle(request.Query("handle").value_or(""));
                        std::optional<std::string> return_to;
                        if (auto r = request.Query("return_to")) return_to = std::string(*r);
                        auto started = co_await net::Offload(ctx->pool, [&] {
                            return ctx->service.StartLogin(
                                handle, return_to ? std::optional<std::string_view>(*return_to) : std::nullopt);
                        });
                        if (!started) {
                            if (WantsJson(request)) co_return Error(started.error());
                            co_return Redirect("/login?auth_error=" + started.error().code);
                        }
                        Response r = Redirect(started->auth_url);
                        ctx->SetBindingCookie(r, started->binding);
                        co_return r;
                    }),
            doc));
    }

    // ---- GET /auth/callback ----
    {
        auto doc = Doc("authorization server callback",
                       "checks state (single use, bound to the browser that started), iss and code, exchanges the "
                       "code, verifies the account and creates the session; redirects with a one-time exchange "
                       "token.",
                       {{303,
                         "to the target with ?exchange_token=…, or /login?auth_error=expired|denied|failed|"
                         "scope_mismatch|account_mismatch",
                         ""}});
        doc.params = {{"code", "query", "authorization code", false},
                      {"state", "query", "state of the request", false},
                      {"iss", "query", "issuer of the authorization server", false},
                      {"error", "query", "error from the authorization server", false}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/auth/callback",
            [ctx](Request& request) -> asio::awaitable<Response> {
                auth::CallbackParams params;
                auto q = [&](std::string_view name) -> std::optional<std::string> {
                    if (auto v = request.Query(name)) return std::string(*v);
                    return std::nullopt;
                };
                params.code = q("code");
                params.state = q("state");
                params.iss = q("iss");
                params.error = q("error");
                params.binding = http::FindCookie(request, auth::kBindingCookie);
                auto location = co_await net::Offload(ctx->pool, [&] { return ctx->service.Callback(params); });
                Response r = Redirect(location);
                if (location.find("exchange_token=") != std::string::npos && params.binding) {
                    // Kept for the exchange, which must come from this browser (login CSRF by a forwarded link).
                    ctx->SetBindingCookie(r, *params.binding, kExchangeBindingMaxAgeSeconds);
                } else {
                    r.headers.Add("Set-Cookie", http::BuildClearCookie(auth::kBindingCookie, ctx->CookieOpts(0)));
                }
                co_return r;
            },
            doc));
    }

    // ---- POST /auth/exchange ----
    PLYR_TRY_STATUS(AddLimited(
        router, "POST", "/auth/exchange",
        Limited(ctx,
                [ctx](Request& request) -> asio::awaitable<Response> {
                    auto body = JsonObjectBody(request, false);
                    if (!body) co_return std::move(body.error());
                    auto token = OptString(*body, "exchange_token");
                    if (!token) {
                        co_return http::ErrorResponse(400, "invalid_exchange_token",
                                                      "the exchange token is invalid or used");
                    }
                    // A browser exchange (the cookie is set) must come from the browser that signed in.
                    std::optional<std::string> binding;
                    if (request.Header("Origin").has_value()) {
                        binding = http::FindCookie(request, auth::kBindingCookie).value_or("");
                    }
                    auto exchanged = co_await net::Offload(ctx->pool, [&] {
                        return ctx->service.Exchange(
                            *token, binding ? std::optional<std::string_view>(*binding) : std::nullopt);
                    });
                    if (!exchanged) co_return Error(exchanged.error());
                    json::object out{{"did", exchanged->did}, {"handle", exchanged->handle}};
                    bool browser = request.Header("Origin").has_value() && !exchanged->is_developer_token;
                    if (!browser) out["session_id"] = exchanged->session_id;
                    Response r = http::JsonResponse(200, out);
                    if (browser) ctx->SetSessionCookie(r, exchanged->session_id, exchanged->expires_at);
                    co_return r;
                }),
        Doc("exchange the one-time token for the session",
            "browsers (Origin present) get the session cookie and {did, handle}; API clients and developer tokens "
            "get {session_id, did, handle}.",
            {{200, "signed in"}, {400, "invalid_exchange_token"}, {429, "rate_limited"}}, "application/json")));

    // ---- GET /auth/me ----
    PLYR_TRY_STATUS(router.Add(
        "GET", "/auth/me",
        Authed(ctx,
               [ctx](Request&, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                   auto me = co_await net::Offload(ctx->pool, [&] { return ctx->service.Me(session); });
                   if (!me) co_return Error(me.error());
                   co_return http::JsonResponse(200, *me);
               }),
        Doc("the signed-in account", "did, handle, profile, linked accounts, granted extras and session expiry.",
            {{200, "the account"},
             {401, "authentication_required or session_expired"},
             {403, "scope_upgrade_required"}})));

    // ---- POST /auth/logout ----
    {
        auto doc = Doc("sign out of this account",
                       "revokes the grant (best effort, in the background) and deletes the session; with switch_to "
                       "the cookie moves to that linked account.",
                       {{200, "{switched_to: {did, handle[, session_id for Bearer callers]} | null}"},
                        {401, "authentication_required"},
                        {403, "csrf_rejected"},
                        {404, "account_not_linked"}});
        doc.params = {{"switch_to", "query", "did of a linked account to continue as", false}};
        PLYR_TRY_STATUS(
            router.Add("POST", "/auth/logout",
                       Authed(
                           ctx,
                           [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                               std::optional<std::string> switch_to;
                               if (auto s = request.Query("switch_to"); s && !s->empty()) switch_to = std::string(*s);
                               auto result = co_await net::Offload(ctx->pool, [&] {
                                   return ctx->service.Logout(
                                       session, switch_to ? std::optional<std::string_view>(*switch_to) : std::nullopt);
                               });
                               if (!result) co_return Error(result.error());
                               json::object out;
                               if (*result) {
                                   json::object switched{{"did", (*result)->did}, {"handle", (*result)->handle}};
                                   // The target's id was rotated: a Bearer caller has no cookie to receive it, so it
                                   // gets the new id here (as /auth/exchange answers API clients), or the linked
                                   // session would be lost.
                                   if (!session.via_cookie) switched["session_id"] = (*result)->session_id;
                                   out["switched_to"] = std::move(switched);
                               } else {
                                   out["switched_to"] = nullptr;
                               }
                               Response r = http::JsonResponse(200, out);
                               if (session.via_cookie) {
                                   if (*result) {
                                       ctx->SetSessionCookie(r, (*result)->session_id, (*result)->expires_at);
                                   } else {
                                       ctx->ClearSessionCookie(r);
                                   }
                               }
                               co_return r;
                           },
                           false),
                       doc));
    }

    // ---- POST /auth/logout-all ----
    PLYR_TRY_STATUS(
        router.Add("POST", "/auth/logout-all",
                   Authed(
                       ctx,
                       [ctx](Request&, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                           auto n = co_await net::Offload(ctx->pool, [&] { return ctx->service.LogoutAll(session); });
                           if (!n) co_return Error(n.error());
                           Response r = http::JsonResponse(200, json::object{{"logged_out", *n}});
                           if (session.via_cookie) ctx->ClearSessionCookie(r);
                           co_return r;
                       },
                       false),
                   Doc("sign out of every linked account", "developer tokens are not affected.",
                       {{200, "{logged_out: n}"}, {401, "authentication_required"}, {403, "csrf_rejected"}})));

    // ---- POST /auth/add-account/start ----
    PLYR_TRY_STATUS(AddLimited(
        router, "POST", "/auth/add-account/start",
        Limited(ctx, Authed(
                         ctx,
                         [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                             auto body = JsonObjectBody(request, true);
                             if (!body) co_return std::move(body.error());
                             auto handle = OptString(*body, "handle");
                             auto started = co_await net::Offload(ctx->pool, [&] {
                                 return ctx->service.StartAddAccount(
                                     session, handle ? std::optional<std::string_view>(*handle) : std::nullopt);
                             });
                             if (!started) co_return Error(started.error());
                             co_return StartResponse(*ctx, *started);
                         },
                         true, Need::kCookie)),
        Doc("link another account to this browser", "OAuth with prompt=login; at most 5 accounts per group.",
            {{200, "{auth_url}"}, {401, "authentication_required"}, {403, "csrf_rejected"}, {409, "too_many_accounts"}},
            "application/json")));

    // ---- POST /auth/switch-account ----
    PLYR_TRY_STATUS(router.Add(
        "POST", "/auth/switch-account",
        Authed(
            ctx,
            [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                auto body = JsonObjectBody(request, false);
                if (!body) co_return std::move(body.error());
                auto did = OptString(*body, "did");
                if (!did) co_return http::ErrorResponse(400, "invalid_did", "did is required", "did");
                auto switched =
                    co_await net::Offload(ctx->pool, [&] { return ctx->service.SwitchAccount(session, *did); });
                if (!switched) co_return Error(switched.error());
                Response r =
                    http::JsonResponse(200, json::object{{"did", switched->did}, {"handle", switched->handle}});
                ctx->SetSessionCookie(r, switched->session_id, switched->expires_at);
                co_return r;
            },
            false, Need::kCookie),
        Doc("continue as another linked account", "the target session gets a new id; the cookie is rotated.",
            {{200, "{did, handle}"},
             {401, "session_expired (the target's session is gone; it is removed from the group)"},
             {403, "csrf_rejected"},
             {404, "account_not_linked"}},
            "application/json")));

    // ---- POST /auth/developer-token/start ----
    PLYR_TRY_STATUS(AddLimited(
        router, "POST", "/auth/developer-token/start",
        Limited(ctx, Authed(
                         ctx,
                         [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                             auto body = JsonObjectBody(request, false);
                             if (!body) co_return std::move(body.error());
                             auto name = OptString(*body, "name");
                             if (!name) co_return http::ErrorResponse(400, "invalid_name", "name is required", "name");
                             std::int64_t days = ctx->options.developer_token_default_days;
                             if (const auto* v = body->if_contains("expires_in_days")) {
                                 if (!v->is_int64()) {
                                     co_return http::ErrorResponse(400, "invalid_expiry",
                                                                   "expires_in_days must be an integer",
                                                                   "expires_in_days");
                                 }
                                 days = v->as_int64();
                             }
                             auto started = co_await net::Offload(
                                 ctx->pool, [&] { return ctx->service.StartDeveloperToken(session, *name, days); });
                             if (!started) co_return Error(started.error());
                             co_return StartResponse(*ctx, *started);
                         },
                         true, Need::kCookie)),
        Doc("create a developer token", "an independent OAuth grant (login_hint = your handle) used as a Bearer token.",
            {{200, "{auth_url}"},
             {400, "invalid_name, invalid_expiry"},
             {401, "authentication_required"},
             {403, "csrf_rejected"}},
            "application/json")));

    // ---- GET /auth/developer-tokens ----
    PLYR_TRY_STATUS(router.Add(
        "GET", "/auth/developer-tokens",
        Authed(ctx,
               [ctx](Request&, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                   auto tokens =
                       co_await net::Offload(ctx->pool, [&] { return ctx->service.ListDeveloperTokens(session); });
                   if (!tokens) co_return Error(tokens.error());
                   json::array list;
                   auto iso = [](std::int64_t us) { return auth::FormatTimestamp(us); };
                   for (const auto& t : *tokens) {
                       list.push_back(json::object{{"token_id", t.token_id},
                                                   {"name", t.name},
                                                   {"created_at", iso(t.created_at)},
                                                   {"expires_at", iso(t.expires_at)},
                                                   {"last_used_at", iso(t.last_used_at)}});
                   }
                   co_return http::JsonResponse(200, json::object{{"tokens", std::move(list)}});
               }),
        Doc("your developer tokens", "token_id is the first 8 characters; times are ISO-8601 UTC.",
            {{200, "{tokens: [...]}"}, {401, "authentication_required"}})));

    // ---- DELETE /auth/developer-tokens/{token_id} ----
    PLYR_TRY_STATUS(router.Add(
        "DELETE", "/auth/developer-tokens/{token_id}",
        Authed(ctx,
               [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                   std::string id(request.PathParam("token_id").value_or(""));
                   auto revoked =
                       co_await net::Offload(ctx->pool, [&] { return ctx->service.RevokeDeveloperToken(session, id); });
                   if (!revoked) co_return Error(revoked.error());
                   co_return Response(204);
               }),
        Doc("revoke a developer token", "the grant is revoked at the authorization server (best effort).",
            {{204, "revoked", ""},
             {400, "ambiguous_token_id"},
             {401, "authentication_required"},
             {404, "not_found"}})));

    // ---- POST /auth/scope-upgrade/start ----
    PLYR_TRY_STATUS(AddLimited(
        router, "POST", "/auth/scope-upgrade/start",
        Limited(ctx, Authed(
                         ctx,
                         [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                             auto body = JsonObjectBody(request, false);
                             if (!body) co_return std::move(body.error());
                             std::vector<std::string> include;
                             const auto* inc = body->if_contains("include");
                             if (inc == nullptr || !inc->is_array()) {
                                 co_return http::ErrorResponse(400, "invalid_scope_request", "include must be a list",
                                                               "include");
                             }
                             for (const auto& v : inc->as_array()) {
                                 if (!v.is_string()) {
                                     co_return http::ErrorResponse(400, "invalid_scope_request",
                                                                   "include must list strings", "include");
                                 }
                                 include.emplace_back(v.as_string());
                             }
                             auto return_to = OptString(*body, "return_to");
                             auto started = co_await net::Offload(ctx->pool, [&] {
                                 return ctx->service.StartScopeUpgrade(
                                     session, include,
                                     return_to ? std::optional<std::string_view>(*return_to) : std::nullopt);
                             });
                             if (!started) co_return Error(started.error());
                             co_return StartResponse(*ctx, *started);
                         },
                         false, Need::kCookie)),
        Doc("grant extra permissions", "include: [\"teal\", \"bsky_post\"]; the new session replaces this one.",
            {{200, "{auth_url}"},
             {400, "invalid_scope_request"},
             {401, "authentication_required"},
             {403, "csrf_rejected"}},
            "application/json")));

    // ---- client identity ----
    {
        auto metadata = service.ClientMetadata();
        auto jwks = service.Jwks();
        http::RouteDoc meta_doc;
        meta_doc.summary = "OAuth client metadata";
        meta_doc.tag = "meta";
        meta_doc.responses = {{200, "client metadata document"}, {404, "loopback (development) client"}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/oauth-client-metadata.json",
            [metadata](Request&) -> asio::awaitable<Response> {
                if (!metadata) co_return http::ErrorResponse(404, "not_found", "this server uses a loopback client");
                Response r = http::JsonResponse(200, *metadata);
                r.headers.Set("Cache-Control", "public, max-age=600");
                co_return r;
            },
            meta_doc));
        http::RouteDoc jwks_doc;
        jwks_doc.summary = "public keys of the confidential client";
        jwks_doc.tag = "meta";
        jwks_doc.responses = {{200, "{keys: [...]}"}, {404, "public client"}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/.well-known/jwks.json",
            [jwks](Request&) -> asio::awaitable<Response> {
                if (!jwks) co_return http::ErrorResponse(404, "not_found", "this server is a public client");
                Response r = http::JsonResponse(200, *jwks);
                r.headers.Set("Cache-Control", "public, max-age=600");
                co_return r;
            },
            jwks_doc));
    }

    // ---- test-only routes ----
    if (ctx->options.enable_test_routes) {
        http::RouteDoc hidden;
        hidden.hidden = true;
        PLYR_TRY_STATUS(router.Add(
            "POST", "/auth/test/create-record",
            Authed(ctx,
                   [ctx](Request& request, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                       auto body = JsonObjectBody(request, false);
                       if (!body) co_return std::move(body.error());
                       auto collection = OptString(*body, "collection");
                       const auto* record = body->if_contains("record");
                       if (!collection || record == nullptr) {
                           co_return http::ErrorResponse(400, "invalid_request", "collection and record are required");
                       }
                       auto value = atproto::ValueFromJson(*record);
                       if (!value) co_return http::ErrorResponse(400, "invalid_request", "record is not valid data");
                       auto out = co_await net::Offload(ctx->pool, [&]() -> Response {
                           auto pds = ctx->service.OpenPdsSession(session);
                           if (!pds) return Error(pds.error());
                           atproto::xrpc::CreateRecordInput input;
                           input.repo = session.session.did;
                           input.collection = *collection;
                           input.record = *value;
                           auto created = auth::CallWithSession(**pds, [&](const atproto::xrpc::XrpcClient& client) {
                               return atproto::xrpc::CreateRecord(client, input);
                           });
                           if (!created) {
                               const auto& e = created.error();
                               if (atproto::oauth::IsSessionExpired(e)) {
                                   return http::ErrorResponse(401, "session_expired",
                                                              "your session expired: sign in again");
                               }
                               return http::ErrorResponse(502, "pds_error",
                                                          fmt::format("the pds refused: {} {}", e.status, e.error));
                           }
                           return http::JsonResponse(
                               200, json::object{{"uri", created->uri}, {"cid", created->cid.ToString()}});
                       });
                       co_return out;
                   }),
            hidden));
        PLYR_TRY_STATUS(router.Add(
            "POST", "/auth/test/refresh",
            Authed(ctx,
                   [ctx](Request&, auth::AuthenticatedSession& session) -> asio::awaitable<Response> {
                       auto refreshed =
                           co_await net::Offload(ctx->pool, [&] { return ctx->service.ForceRefresh(session); });
                       if (!refreshed) co_return Error(refreshed.error());
                       co_return http::JsonResponse(200, json::object{{"refreshed", true}});
                   }),
            hidden));
    }
    return Ok();
}

}  // namespace plyr::api
