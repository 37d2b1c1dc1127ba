// `plyr serve`: the composition root of the HTTP API, web app and in-process workers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "api/auth_routes.hpp"
#include "api/media_routes.hpp"
#include "api/track_routes.hpp"
#include "api/upload_routes.hpp"
#include "app/build_info.hpp"
#include "app/commands.hpp"
#include "app/exit_codes.hpp"
#include "app/public_config.hpp"
#include "app/runtime.hpp"
#include "app/services.hpp"
#include "app/workers.hpp"
#include "atproto/identity/did_resolver.hpp"
#include "atproto/identity/handle_resolver.hpp"
#include "atproto/identity/identity_resolver.hpp"
#include "auth/auth_service.hpp"
#include "auth/oauth_backend.hpp"
#include "core/clock.hpp"
#include "core/keyring.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/cookies.hpp"
#include "http/files.hpp"
#include "http/json.hpp"
#include "http/middleware.hpp"
#include "http/openapi.hpp"
#include "http/rate_limit.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "net/http_client.hpp"
#include "net/offload.hpp"
#include "storage/blobs/blob_store.hpp"
#include "tracks/artwork_ingest.hpp"
#include "tracks/track_service.hpp"

namespace plyr::app {
namespace {

namespace asio = boost::asio;
using http::Request;
using http::Response;

// Shown at `/` and unknown HTML paths when no web app build is configured or found.
constexpr std::string_view kPlaceholderPage =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>plyr</title></head>"
    "<body><h1>plyr is running</h1><p>the web app is not built on this server. "
    "api: <a href=\"/openapi.json\">/openapi.json</a></p></body></html>";

// scheme://host[:port] of an absolute URL, or "" when it does not parse.
std::string UrlOrigin(const std::string& url) {
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed || parsed->encoded_host().empty()) return {};
    return std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_host_and_port());
}

// product.md §4.1: inline scripts by hash; media and fetches may also reach the public audio bucket and the S3
// endpoint (307 redirects of /audio and presigned URLs land there).
std::string ContentSecurityPolicy(const core::Config& config, const std::vector<std::string>& inline_script_hashes) {
    std::string scripts = "'self'";
    for (const auto& hash : inline_script_hashes) scripts += " " + hash;
    std::string media_origins;
    if (config.storage_kind == core::StorageKind::kS3) {
        for (const std::string* url : {&config.s3.public_bucket_url, &config.s3.endpoint_url}) {
            std::string origin = UrlOrigin(*url);
            if (!origin.empty() && media_origins.find(origin) == std::string::npos) media_origins += " " + origin;
        }
    }
    return "default-src 'self'; script-src " + scripts +
           "; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; media-src 'self' blob:" +
           media_origins + "; connect-src 'self'" + media_origins +
           "; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'";
}

// Constant-time comparison so the metrics token cannot be probed byte by byte.
bool SecretEquals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

struct Services {
    const core::Config& config;
    storage::db::Db& db;
    storage::blobs::BlobStore& blobs;
    core::metrics::Registry& metrics;
    net::BlockingPool& blocking;
};

http::RouteDoc MetaDoc(std::string summary) {
    http::RouteDoc doc;
    doc.summary = std::move(summary);
    doc.tag = "meta";
    return doc;
}

std::string StatusText(const Status& status) { return status ? "ok" : std::string(ErrorCodeName(status.error().code)); }

Status AddMetaRoutes(http::Router& router, Services services, std::shared_ptr<std::string> openapi_doc) {
    http::RouteDoc health_doc = MetaDoc("service health (database and storage)");
    health_doc.responses = {{200, "healthy"}, {503, "degraded: the database or the storage is unreachable"}};
    PLYR_TRY_STATUS(router.Add(
        "GET", "/health",
        [services](Request&) -> asio::awaitable<Response> {
            auto [db_status, storage_status] = co_await net::Offload(
                services.blocking, [services] { return std::make_pair(services.db.Ping(), services.blobs.Check()); });
            if (!db_status) log::Warn("health.db_failed", {{"error", db_status.error().ToString()}});
            if (!storage_status) log::Warn("health.storage_failed", {{"error", storage_status.error().ToString()}});
            bool healthy = db_status && storage_status;
            boost::json::object body;
            body["status"] = healthy ? "ok" : "degraded";
            body["db"] = StatusText(db_status);
            body["storage"] = StatusText(storage_status);
            body["version"] = kVersion;
            body["database_backend"] = core::ToString(services.config.database_kind);
            body["storage_backend"] = core::ToString(services.config.storage_kind);
            co_return http::JsonResponse(healthy ? 200 : 503, body);
        },
        health_doc));

    http::RouteDoc config_doc = MetaDoc("public settings the web app and clients need");
    auto public_config = std::make_shared<boost::json::object>(PublicConfigJson(services.config));
    PLYR_TRY_STATUS(router.Add(
        "GET", "/config",
        [public_config](Request&) -> asio::awaitable<Response> { co_return http::JsonResponse(200, *public_config); },
        config_doc));

    http::RouteDoc metrics_doc = MetaDoc("Prometheus metrics (METRICS_TOKEN bearer; loopback when no token is set)");
    metrics_doc.responses = {{200, "text exposition format 0.0.4", "text/plain"}, {403, "not allowed"}};
    PLYR_TRY_STATUS(router.Add(
        "GET", "/metrics",
        [services](Request& request) -> asio::awaitable<Response> {
            const std::string& token = services.config.metrics_token;
            bool allowed = false;
            if (token.empty()) {
                allowed = http::IsLoopback(request.remote_address);
            } else {
                // With a token configured it is always required: behind a reverse proxy on the same host every
                // request would look like loopback.
                auto auth = request.Header("Authorization").value_or("");
                allowed = auth.starts_with("Bearer ") && SecretEquals(auth.substr(7), token);
            }
            if (!allowed) co_return http::ErrorResponse(403, "forbidden", "metrics are not available to you");
            Response response(200);
            response.headers.Set("Content-Type", core::metrics::kPrometheusContentType);
            response.headers.Set("Cache-Control", "no-store");
            response.body = services.metrics.RenderPrometheus();
            co_return response;
        },
        metrics_doc));

    http::RouteDoc openapi_route_doc = MetaDoc("OpenAPI 3.1 description of this API");
    PLYR_TRY_STATUS(router.Add(
        "GET", "/openapi.json",
        [openapi_doc](Request&) -> asio::awaitable<Response> {
            Response response(200);
            response.headers.Set("Content-Type", "application/json");
            response.headers.Set("Cache-Control", "no-cache");
            response.body = *openapi_doc;
            co_return response;
        },
        openapi_route_doc));
    return Ok();
}

// The web app: STATIC_DIR, else ./frontend/build when present, else a placeholder page.
Result<http::Handler> WebAppHandler(const core::Config& config, std::string& index_html) {
    std::filesystem::path root = config.static_dir;
    if (root.empty() && std::filesystem::is_directory("frontend/build")) root = "frontend/build";
    if (root.empty()) {
        index_html = std::string(kPlaceholderPage);
        return http::Handler([](Request& request) -> asio::awaitable<Response> {
            bool wants_html = request.Header("Accept").value_or("").find("text/html") != std::string_view::npos;
            if ((request.method == "GET" || request.method == "HEAD") && (wants_html || request.path == "/")) {
                Response page(200);
                page.headers.Set("Content-Type", "text/html; charset=utf-8");
                page.headers.Set("Cache-Control", "no-cache");
                page.body = std::string(kPlaceholderPage);
                co_return page;
            }
            co_return http::ErrorResponse(404, "not_found", "not found");
        });
    }
    auto site = http::StaticSite::Create(root);
    if (!site) return Fail(ErrorCode::kConfig, fmt::format("invalid STATIC_DIR: {} is not a directory", root.string()));
    std::ifstream in(root / "index.html");
    std::stringstream body;
    body << in.rdbuf();
    index_html = body.str();
    return (*site)->AsHandler();
}

}  // namespace

int RunServe(const ServeOptions& options) {
    BlockShutdownSignals();
    auto config = LoadConfigOrReport(options.overrides);
    if (!config) return kExitConfig;

    std::unique_ptr<AppServices> app;
    if (int built = BuildServices(*config, app); built != kExitOk) return built;
    core::metrics::Registry& metrics = app->metrics;
    core::SystemClock& clock = app->clock;
    net::BlockingPool& blocking = *app->blocking;
    net::IoPool io(static_cast<std::size_t>(config->http_threads));
    auth::AuthService& auth_service = *app->auth_service;

    http::Router router;
    auto openapi_doc = std::make_shared<std::string>();
    Services services{*config, *app->db, *app->audio_store, metrics, blocking};
    if (auto added = AddMetaRoutes(router, services, openapi_doc); !added) {
        fmt::print(stderr, "plyr: internal error registering routes: {}\n", added.error().ToString());
        return kExitRuntime;
    }
    auto limiter = http::MakeRateLimiter(*config, clock);
    if (!limiter) {
        fmt::print(stderr, "plyr: configuration error: {}\n", limiter.error().message);
        return kExitConfig;
    }
    api::AuthRoutesOptions auth_options;
    auth_options.limiter = *limiter;
    auth_options.credentialed_origins = {config->PublicOrigin()};
    for (const auto& origin : config->cors_allowed_origins) auth_options.credentialed_origins.push_back(origin);
    auth_options.secure_cookies = http::SecureCookiesFor(config->public_url);
    auth_options.developer_token_default_days = config->auth_developer_token_default_days;
    auth_options.enable_test_routes = api::TestRoutesEnabledFromEnv();
    if (auto added = api::AddAuthRoutes(router, auth_service, blocking, clock, auth_options); !added) {
        fmt::print(stderr, "plyr: internal error registering routes: {}\n", added.error().ToString());
        return kExitRuntime;
    }
    api::UploadRoutesOptions upload_options = api::UploadRoutesOptionsFromConfig(*config);
    upload_options.limiter = *limiter;
    if (config->storage_kind == core::StorageKind::kS3) upload_options.handoff_store = app->private_store.get();
    jobs::WorkerPool* worker_pool = nullptr;  // set below when workers run in this process
    upload_options.notify_workers = [&worker_pool] {
        if (worker_pool != nullptr) worker_pool->Notify();
    };
    if (auto added = api::AddUploadRoutes(
            router, api::UploadRoutesDeps{auth_service, *app->db, blocking, clock, *app->staging, upload_options});
        !added) {
        fmt::print(stderr, "plyr: internal error registering routes: {}\n", added.error().ToString());
        return kExitRuntime;
    }
    auto trusted_proxies = http::TrustedProxies::Parse(config->trusted_proxies);
    if (!trusted_proxies) {
        fmt::print(stderr, "plyr: configuration error: TRUSTED_PROXIES: {}\n", trusted_proxies.error().message);
        return kExitConfig;
    }
    tracks::TrackServiceDeps track_deps;
    track_deps.db = app->db.get();
    track_deps.config = &*config;
    track_deps.clock = &clock;
    track_deps.audio_store = app->audio_store.get();
    track_deps.private_store = app->private_store.get();
    track_deps.image_store = app->image_store.get();
    track_deps.resolve_handle = [&app](std::string_view handle) -> Result<std::string> {
        auto identity = app->identity_resolver->Resolve(handle);
        if (!identity) return Fail(std::move(identity.error()));
        return identity->did;
    };
    tracks::TrackService track_service(track_deps);
    api::TrackRoutesDeps track_routes;
    track_routes.service = &track_service;
    track_routes.db = app->db.get();
    track_routes.pool = &blocking;
    track_routes.clock = &clock;
    track_routes.authenticate = api::AuthenticatorFor(auth_service);
    track_routes.limiter = *limiter;
    track_routes.credentialed_origins = auth_options.credentialed_origins;
    track_routes.trusted_proxies = *trusted_proxies;
    track_routes.secure_cookies = auth_options.secure_cookies;
    track_routes.admin_dids = config->admin_dids;
    track_routes.staging_dir = app->staging->root();
    track_routes.max_image_bytes = static_cast<std::uint64_t>(config->max_image_size_mb) << 20;
    tracks::ArtworkIngestDeps artwork{app->sandbox.get(), app->image_store.get(), app->db.get(), &*config, &clock};
    track_routes.ingest_image = [artwork](const std::filesystem::path& staged, std::string_view owner_did) {
        return tracks::IngestArtwork(artwork, staged, owner_did);
    };
    for (auto add : {&api::AddTrackRoutes, &api::AddMediaRoutes}) {
        if (auto added = add(router, track_routes); !added) {
            fmt::print(stderr, "plyr: internal error registering routes: {}\n", added.error().ToString());
            return kExitRuntime;
        }
    }
    std::string index_html;
    auto web_app = WebAppHandler(*config, index_html);
    if (!web_app) {
        fmt::print(stderr, "plyr: configuration error: {}\n", web_app.error().message);
        return kExitConfig;
    }
    router.SetFallback(*web_app);

    http::openapi::Info info;
    info.version = kVersion;
    info.description = "plyr's HTTP API (plyr.fm-compatible paths).";
    info.servers = {config->public_url};
    *openapi_doc = boost::json::serialize(http::openapi::Build(router, info));

    http::ServerOptions server_options = http::ServerOptionsFromConfig(*config);
    server_options.metrics = &metrics;
    server_options.rate_limiter = *limiter;  // the `default` bucket of product.md §4.1 for every other API route
    server_options.security.content_security_policy =
        ContentSecurityPolicy(*config, http::InlineScriptHashes(index_html));
    http::Server server(io, std::move(router), server_options);
    auto port = server.Start();
    if (!port) {
        fmt::print(stderr, "plyr: cannot listen on {}:{}: {}\n", config->host, config->port, port.error().message);
        return kExitRuntime;
    }
    io.Start();
    log::Info("server.listening", {{"host", config->host},
                                   {"port", static_cast<std::int64_t>(*port)},
                                   {"public_url", config->public_url},
                                   {"database", core::ToString(config->database_kind)},
                                   {"storage", core::ToString(config->storage_kind)},
                                   {"version", kVersion}});

    std::unique_ptr<jobs::WorkerPool> workers;
    if (config->worker_in_process && config->worker_concurrency > 0) {
        auto started = StartWorkers(*app, {});
        if (!started) {
            fmt::print(stderr, "plyr: cannot start job workers: {}\n", started.error().ToString());
            server.Stop();
            io.Stop();
            return kExitRuntime;
        }
        workers = std::move(*started);
        worker_pool = workers.get();
        app->StartOutbox();
    }

    int sig = WaitForShutdownSignal();
    log::Info("server.stopping", {{"signal", sig}, {"grace_seconds", config->http_shutdown_grace_seconds}});
    server.Stop();
    if (workers) workers->Stop(std::chrono::seconds(config->http_shutdown_grace_seconds));
    app->StopOutbox(std::chrono::steady_clock::now() + std::chrono::seconds(config->http_shutdown_grace_seconds));
    io.Stop();
    io.Join();
    blocking.Join();
    log::Info("server.stopped");
    return kExitOk;
}

}  // namespace plyr::app
