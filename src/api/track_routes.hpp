#pragma once
// api — the track API and media streaming routes over tracks::TrackService (product.md §4.4-4.5 track, audio,
// image and peaks rows, §6.6, §6.9, §6.12, §6.15; docs/tracks.md "track API" and "streaming").
//
// Contract
// - AddTrackRoutes registers GET /tracks/ (feed), GET /tracks/me, GET /tracks/{id}, GET /tracks/{id}/peaks,
//   PATCH /tracks/{id}, DELETE /tracks/{id}, POST /tracks/{id}/restore-record, POST /tracks/{id}/play.
//   (api/media_routes.hpp adds /audio and /images with the same deps.) Literal segments win (router rule), so
//   /tracks/me, /tracks/top, /tracks/tags and /tracks/uploads/… are never read as ids.
// - Track ids: positive 63-bit decimal integers; anything else → 400 invalid_id before any lookup.
// - Auth: "O" routes (feed, get, peaks, play, audio) authenticate when a cookie or Bearer is present; an
//   unknown, invalid or expired credential makes the request anonymous (an expired cookie is cleared with
//   Max-Age=0). "A"/"OWN" routes (me, PATCH, DELETE, restore-record) answer 401/403 as auth::AuthService says.
//   Cookie-authenticated mutations pass http::CsrfPolicy (403 csrf_rejected) BEFORE the session lookup;
//   Bearer is exempt. The play route is a mutation too.
// - Bodies: PATCH takes JSON (≤ 1 MiB; 415 for another content type than JSON or multipart) or
//   multipart/form-data (text fields + an optional `image` file part ≤ MAX_IMAGE_SIZE_MB).
// - Rate limits: POST /tracks/{id}/play uses the `play` bucket (60/min per listener) and, for anonymous
//   callers, `play_anon` (600/h per IP) — both added to the given limiter; it is exempt from `default`.
//   /audio and /images are never limited.
// - Every blocking call (DB, stores, sandbox) runs on the blocking pool.
// - Thread-safety: the deps must outlive the router.

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "auth/auth_service.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"
#include "http/client_ip.hpp"
#include "http/rate_limit.hpp"
#include "http/router.hpp"
#include "net/offload.hpp"
#include "storage/db/db.hpp"
#include "tracks/track_service.hpp"

namespace plyr::api {

// Wraps auth::AuthService::Authenticate (tests inject sessions).
using Authenticator = std::function<auth::AuthResult<auth::AuthenticatedSession>(
    std::optional<std::string_view> cookie, std::optional<std::string_view> bearer, bool require_scope)>;

// PATCH image part → a stored, normalised artwork: receives the staged upload (already sniffed as
// jpeg/png/webp/gif and within the header limits) and the owner's DID; returns the image_id whose images row and
// objects exist. Unset: an image part → 503 service_unavailable.
using ImageIngest =
    std::function<tracks::ApiResult<std::string>(const std::filesystem::path& staged, std::string_view owner_did)>;

struct TrackRoutesDeps {
    tracks::TrackService* service = nullptr;
    storage::db::Db* db = nullptr;
    net::BlockingPool* pool = nullptr;
    const core::Clock* clock = nullptr;
    Authenticator authenticate;
    std::shared_ptr<http::RateLimiter> limiter;     // null: no rate limits
    std::vector<std::string> credentialed_origins;  // CSRF: origin of PUBLIC_URL + CORS_ALLOWED_ORIGINS
    http::TrustedProxies trusted_proxies;           // client IP of anonymous listeners
    bool secure_cookies = true;
    std::vector<std::string> admin_dids;
    std::filesystem::path staging_dir;  // PATCH image parts are staged here (DATA_DIR/staging)
    std::uint64_t max_image_bytes = 20ull << 20;
    ImageIngest ingest_image;
};

// Authenticator over the real service (called on the blocking pool).
Authenticator AuthenticatorFor(auth::AuthService& service);

// The viewer of an "O" request (see the contract): anonymous when no credential is present or it does not
// authenticate; clear_cookie when the session cookie was expired (the caller adds the clearing Set-Cookie).
struct OptionalViewer {
    tracks::Viewer viewer;
    bool clear_cookie = false;
};
boost::asio::awaitable<OptionalViewer> ResolveOptionalViewer(const TrackRoutesDeps& deps, const http::Request& request);
// The clearing Set-Cookie for session_id with the deps' cookie attributes.
void ClearSessionCookie(const TrackRoutesDeps& deps, http::Response& response);

Status AddTrackRoutes(http::Router& router, TrackRoutesDeps deps);
// AddMediaRoutes (/audio, /images): api/media_routes.hpp.

}  // namespace plyr::api
