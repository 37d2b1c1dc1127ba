#include "app/services.hpp"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "app/workers.hpp"
#include "atproto/lexicon/embedded.hpp"
#include "core/keyring.hpp"
#include "pds/outbox.hpp"
#include "storage/repos/artist_repo.hpp"
#include "storage/repos/play_repo.hpp"

namespace plyr::app {

int BuildServices(const core::Config& config, std::unique_ptr<AppServices>& out) {
    std::error_code ec;
    std::filesystem::create_directories(config.data_dir, ec);
    if (ec) {
        fmt::print(stderr, "plyr: cannot create DATA_DIR {}: {}\n", config.data_dir.string(), ec.message());
        return kExitRuntime;
    }
    auto services = std::make_unique<AppServices>(config);
    // Sign-in secrets are checked before the database is created or migrated: without an encryption key plyr refuses
    // to start (exit 3), except in development mode where the key is generated once into DATA_DIR/secrets.
    auto secret_box = core::LoadSecretBox(config);
    if (!secret_box) {
        fmt::print(stderr, "plyr: configuration error: {}\n", secret_box.error().message);
        return ExitCodeFor(secret_box.error());
    }
    services->secret_box.emplace(std::move(*secret_box));
    auto auth_settings = auth::AuthSettings::FromConfig(config);
    if (!auth_settings) {
        fmt::print(stderr, "plyr: configuration error: {}\n", auth_settings.error().message);
        return kExitConfig;
    }
    auto policy = net::PrivateNetworkPolicy::Parse(config.allow_private_network);
    if (!policy) {
        fmt::print(stderr, "plyr: configuration error: invalid ALLOW_PRIVATE_NETWORK: {}\n", policy.error().message);
        return kExitConfig;
    }
    auto lexicons = atproto::lexicon::EmbeddedCatalog(config.atproto_app_namespace);
    if (!lexicons) {
        fmt::print(stderr, "plyr: configuration error: ATPROTO_APP_NAMESPACE: {}\n", lexicons.error().message);
        return kExitConfig;
    }
    services->lexicons = std::make_unique<atproto::lexicon::Catalog>(std::move(*lexicons));

    services->db = OpenDatabaseOrReport(config);
    if (!services->db) return kExitRuntime;
    int exit_code = kExitOk;
    if (config.auto_migrate && !MigrateOrReport(*services->db, exit_code)) return exit_code;

    using storage::blobs::Bucket;
    for (auto [bucket, target] :
         {std::pair{Bucket::kAudio, &services->audio_store}, std::pair{Bucket::kPrivate, &services->private_store},
          std::pair{Bucket::kImages, &services->image_store}}) {
        auto store = storage::blobs::Open(config, bucket);
        if (!store) {
            fmt::print(stderr, "plyr: storage error: {}\n", store.error().message);
            return ExitCodeFor(store.error());
        }
        *target = std::move(*store);
    }

    services->blocking =
        std::make_unique<net::BlockingPool>(static_cast<std::size_t>(std::max(4, config.database_pool_size)));
    net::CurlHttpClientOptions http_options;
    http_options.policy = std::move(*policy);
    http_options.metrics = &services->metrics;
    services->outbound = std::make_unique<net::CurlHttpClient>(std::move(http_options));
    atproto::identity::HandleResolverOptions handle_options;
    handle_options.service_url = config.handle_resolver_url;
    services->handle_resolver =
        std::make_unique<atproto::identity::DefaultHandleResolver>(*services->outbound, handle_options);
    atproto::identity::DidResolverOptions did_options;
    did_options.plc_url = config.plc_directory_url;
    services->did_resolver = std::make_unique<atproto::identity::HttpDidResolver>(*services->outbound, did_options);
    services->identity_resolver = std::make_unique<atproto::identity::IdentityResolver>(
        *services->handle_resolver, *services->did_resolver, services->clock);
    services->identity_source = std::make_unique<auth::ResolverIdentitySource>(*services->identity_resolver);
    services->oauth_backend = std::make_unique<auth::HttpOAuthBackend>(*services->outbound, services->clock);
    services->auth_service = std::make_unique<auth::AuthService>(
        std::move(*auth_settings), *services->db, *services->secret_box, *services->outbound,
        *services->identity_source, *services->oauth_backend, services->clock, *services->blocking);
    services->sandbox = std::make_unique<media::Sandbox>(media::SandboxOptionsFromConfig(config));
    services->sessions = std::make_unique<auth::AuthSessionProvider>(*services->auth_service);
    services->staging = std::make_unique<tracks::Staging>(config.data_dir);
    services->track_records = std::make_unique<tracks::TrackRecordSource>(config, *services->lexicons);
    pds::OutboxWorker::Options outbox_options;
    outbox_options.concurrency = config.outbox_concurrency;
    services->outbox =
        std::make_unique<pds::OutboxWorker>(*services->db, *services->sessions, services->clock, outbox_options);
    services->outbox->Register(std::string(tracks::kTrackEntityType), *services->track_records);
    out = std::move(services);
    return kExitOk;
}

tracks::UploadJobDeps AppServices::UploadDeps() {
    tracks::UploadJobDeps deps;
    deps.db = db.get();
    deps.config = &config;
    deps.audio_store = audio_store.get();
    deps.image_store = image_store.get();
    deps.private_store = private_store.get();
    deps.sandbox = sandbox.get();
    deps.sessions = sessions.get();
    deps.catalog = lexicons.get();
    deps.clock = &clock;
    deps.notify_outbox = [this] { outbox->Notify(); };
    deps.resolve_identity = [this](const std::string& handle_or_did) -> Result<tracks::ResolvedIdentity> {
        auto identity = identity_resolver->Resolve(handle_or_did);
        if (!identity) return Fail(std::move(identity.error()));
        tracks::ResolvedIdentity resolved{identity->did, identity->handle, {}};
        storage::repos::ArtistRepository artists(*db);
        if (auto artist = artists.Get(identity->did); artist && *artist)
            resolved.display_name = (*artist)->display_name;
        return resolved;
    };
    return deps;
}

void AppServices::StartOutbox() {
    if (!outbox->running()) outbox->Start();
}

void AppServices::StopOutbox(std::chrono::steady_clock::time_point deadline) { outbox->Stop(deadline); }

Result<std::unique_ptr<jobs::WorkerPool>> StartWorkers(AppServices& services, const std::vector<std::string>& types) {
    std::vector<jobs::CleanupStep> steps;
    const tracks::Staging* staging = services.staging.get();
    const core::Clock* clock = &services.clock;
    steps.push_back({"tracks.staging", [staging, clock](storage::db::Db& db, std::int64_t) -> Status {
                         auto swept = tracks::SweepStaging(db, *staging, *clock);
                         if (!swept) return Fail(std::move(swept.error()));
                         return Ok();
                     }});
    steps.push_back({"tracks.plays", [](storage::db::Db& db, std::int64_t now) -> Status {
                         return db.Write([now](storage::db::Connection& tx) -> Status {
                             auto purged = storage::repos::PlayRepository::PurgeExpired(tx, now);
                             if (!purged) return Fail(std::move(purged.error()));
                             return Ok();
                         });
                     }});
    // Finished outbox entries are kept a week for the admin view, then dropped.
    steps.push_back({"pds.outbox", [](storage::db::Db& db, std::int64_t now) -> Status {
                         constexpr std::int64_t kWeekUs = 7LL * 24 * 3600 * 1'000'000;
                         auto purged = pds::PurgeFinished(db, now - kWeekUs);
                         if (!purged) return Fail(std::move(purged.error()));
                         return Ok();
                     }});
    return StartWorkerPool(
        services.config, *services.db, services.clock, types, std::move(steps),
        [&services](jobs::WorkerPool& pool) { return tracks::RegisterUploadJob(pool, services.UploadDeps()); });
}

}  // namespace plyr::app
