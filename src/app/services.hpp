#pragma once
// The long-lived objects `plyr serve` and `plyr worker` share, built in one place so both processes run jobs with
// the same dependencies (an upload job claimed by a `plyr worker` needs the same blob stores, media sandbox and
// PDS sessions as one run inside `plyr serve`).
//
// BuildServices: checks the sign-in secrets before the database is opened (no OAUTH_ENCRYPTION_KEY outside dev
// mode → exit 3), opens the database (migrating when AUTO_MIGRATE), the three blob stores of product.md §5.3, the
// outbound HTTP client (SSRF policy), identity resolution, the OAuth backend, the auth service, the media sandbox
// and the embedded lexicon catalog. On failure it prints a clear message to stderr and returns the exit code.
// Member order is construction order; destruction runs in reverse, so the pools stop before what they use.
// Thread-safety: the members are as thread-safe as their types; the bundle itself is built once.

#include <memory>
#include <optional>

#include "atproto/identity/did_resolver.hpp"
#include "atproto/identity/handle_resolver.hpp"
#include "atproto/identity/identity_resolver.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "auth/auth_service.hpp"
#include "auth/oauth_backend.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/metrics.hpp"
#include "core/secret_box.hpp"
#include "media/sandbox.hpp"
#include "net/http_client.hpp"
#include "net/offload.hpp"
#include "pds/outbox_worker.hpp"
#include "storage/blobs/blob_store.hpp"
#include "storage/db/db.hpp"
#include "tracks/staging.hpp"
#include "tracks/track_record.hpp"
#include "tracks/upload_job.hpp"

namespace plyr::app {

struct AppServices {
    explicit AppServices(const core::Config& c) : config(c) {}
    AppServices(const AppServices&) = delete;
    AppServices& operator=(const AppServices&) = delete;

    const core::Config& config;
    core::SystemClock clock;
    core::metrics::Registry metrics;
    std::optional<core::SecretBox> secret_box;
    std::unique_ptr<storage::db::Db> db;
    std::unique_ptr<storage::blobs::BlobStore> audio_store;    // audio/… (public bucket)
    std::unique_ptr<storage::blobs::BlobStore> private_store;  // staging/…, exports/…, gated audio
    std::unique_ptr<storage::blobs::BlobStore> image_store;    // images/…
    std::unique_ptr<net::BlockingPool> blocking;
    std::unique_ptr<net::CurlHttpClient> outbound;
    std::unique_ptr<atproto::identity::DefaultHandleResolver> handle_resolver;
    std::unique_ptr<atproto::identity::HttpDidResolver> did_resolver;
    std::unique_ptr<atproto::identity::IdentityResolver> identity_resolver;
    std::unique_ptr<auth::ResolverIdentitySource> identity_source;
    std::unique_ptr<auth::HttpOAuthBackend> oauth_backend;
    std::unique_ptr<auth::AuthService> auth_service;
    std::unique_ptr<media::Sandbox> sandbox;
    std::unique_ptr<atproto::lexicon::Catalog> lexicons;
    std::unique_ptr<auth::AuthSessionProvider> sessions;       // PDS sessions by DID (outbox, upload job)
    std::unique_ptr<tracks::Staging> staging;                  // DATA_DIR/staging
    std::unique_ptr<tracks::TrackRecordSource> track_records;  // outbox entity "track"
    std::unique_ptr<pds::OutboxWorker> outbox;                 // drained by StartOutbox()

    // The upload job's dependencies (RegisterUploadJob).
    tracks::UploadJobDeps UploadDeps();
    // Starts draining the PDS outbox in this process.
    void StartOutbox();
    void StopOutbox(std::chrono::steady_clock::time_point deadline);
};

// Returns kExitOk and fills `out`, or prints the reason and returns the exit code (app/exit_codes.hpp).
int BuildServices(const core::Config& config, std::unique_ptr<AppServices>& out);

}  // namespace plyr::app
