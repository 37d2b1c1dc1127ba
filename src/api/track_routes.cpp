#include "api/track_routes.hpp"

#include <algorithm>
#include <fstream>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include "core/encoding.hpp"
#include "core/log.hpp"
#include "http/cookies.hpp"
#include "http/csrf.hpp"
#include "http/json.hpp"
#include "http/multipart.hpp"
#include "media/image_header.hpp"
#include "tracks/plays.hpp"

namespace plyr::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;

constexpr std::string_view kPlayBucket = "play";
constexpr std::string_view kPlayAnonBucket = "play_anon";

struct Context {
    TrackRoutesDeps deps;
    http::CsrfPolicy csrf;
};

std::optional<std::string> BearerToken(const Request& request) {
    auto header = request.Header("Authorization");
    if (!header) return std::nullopt;
    std::string_view value = *header;
    if (value.size() > 7 && http::EqualsIgnoreCase(value.substr(0, 7), "Bearer ")) return std::string(value.substr(7));
    return std::nullopt;
}

bool IsAdmin(const TrackRoutesDeps& deps, const std::string& did) {
    return std::find(deps.admin_dids.begin(), deps.admin_dids.end(), did) != deps.admin_dids.end();
}

Response FromApiError(const tracks::ApiError& error) {
    Response r = http::ErrorResponse(error.status, error.code, error.message,
                                     error.field.empty() ? std::nullopt : std::optional<std::string_view>(error.field));
    if (error.status == 402) r.headers.Set("X-Support-Required", "atprotofans");
    return r;
}

Response InvalidId() { return http::ErrorResponse(400, "invalid_id", "track ids are positive integers"); }

std::optional<std::string> QueryString(const Request& request, std::string_view name) {
    auto v = request.Query(name);
    if (!v) return std::nullopt;
    return std::string(*v);
}

// The viewer of an A/OWN route, or the ready error response.
struct RequiredViewer {
    tracks::Viewer viewer;
    bool via_cookie = false;
};

asio::awaitable<tl::expected<RequiredViewer, Response>> RequireViewer(const Context& ctx, const Request& request) {
    auto cookie = http::FindCookie(request, auth::kSessionCookie);
    auto bearer = BearerToken(request);
    const bool has_cookie = cookie && !cookie->empty();
    // A cross-site cookie mutation is refused before the session lookup (which writes).
    if (has_cookie && http::IsStateChangingMethod(request.method)) {
        if (auto rejected = ctx.csrf.Reject(request)) co_return tl::unexpected(std::move(*rejected));
    }
    if (!has_cookie && !bearer) {
        co_return tl::unexpected(http::ErrorResponse(401, "authentication_required", "sign in first"));
    }
    auto session = co_await net::Offload(*ctx.deps.pool, [&] {
        return ctx.deps.authenticate(has_cookie ? std::optional<std::string_view>(*cookie) : std::nullopt,
                                     bearer ? std::optional<std::string_view>(*bearer) : std::nullopt, true);
    });
    if (!session) {
        Response r = http::ErrorResponse(session.error().status, session.error().code, session.error().message);
        if (session.error().code == "session_expired" && has_cookie) ClearSessionCookie(ctx.deps, r);
        co_return tl::unexpected(std::move(r));
    }
    if (session->via_cookie && http::IsStateChangingMethod(request.method)) {
        if (auto rejected = ctx.csrf.Reject(request)) co_return tl::unexpected(std::move(*rejected));
    }
    RequiredViewer out;
    out.viewer.did = session->session.did;
    out.viewer.is_admin = IsAdmin(ctx.deps, session->session.did);
    out.via_cookie = session->via_cookie;
    co_return out;
}

http::RouteDoc Doc(std::string summary, std::string description, std::vector<http::ResponseDoc> responses,
                   std::string request_content_type = "") {
    http::RouteDoc doc;
    doc.summary = std::move(summary);
    doc.description = std::move(description);
    doc.tag = "tracks";
    doc.responses = std::move(responses);
    doc.request_content_type = std::move(request_content_type);
    return doc;
}

// ---- PATCH bodies ----

constexpr std::uint64_t kJsonLimit = http::kDefaultJsonBodyLimit;

tl::expected<std::optional<std::string>, Response> StringField(const json::object& body, std::string_view key,
                                                               std::string_view code, bool null_is_empty) {
    const auto* v = body.if_contains(key);
    if (v == nullptr) return std::nullopt;
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_null() && null_is_empty) return std::string();
    return tl::unexpected(http::ErrorResponse(400, code, fmt::format("{} must be a string", key), key));
}

tl::expected<tracks::TrackEdit, Response> EditFromJson(const json::object& body) {
    tracks::TrackEdit edit;
    auto title = StringField(body, "title", "invalid_title", false);
    if (!title) return tl::unexpected(std::move(title.error()));
    edit.title = *title;
    auto description = StringField(body, "description", "invalid_description", true);
    if (!description) return tl::unexpected(std::move(description.error()));
    edit.description = *description;
    auto album = StringField(body, "album", "invalid_album", true);
    if (!album) return tl::unexpected(std::move(album.error()));
    edit.album = *album;
    auto album_id = StringField(body, "album_id", "invalid_id", true);
    if (!album_id) return tl::unexpected(std::move(album_id.error()));
    edit.album_id = *album_id;
    if (const auto* v = body.if_contains("features")) edit.features = *v;
    if (const auto* v = body.if_contains("tags")) edit.tags = *v;
    if (const auto* v = body.if_contains("support_gate")) {
        // Multipart clients send the text "null"; JSON clients may too.
        if (v->is_string() && (v->as_string() == "null" || v->as_string().empty())) {
            edit.support_gate = json::value(nullptr);
        } else if (v->is_string()) {
            std::error_code ec;
            auto parsed = json::parse(std::string_view(v->as_string()), ec);
            edit.support_gate = ec ? *v : parsed;
        } else {
            edit.support_gate = *v;
        }
    }
    if (const auto* v = body.if_contains("remove_image")) {
        if (!v->is_bool()) {
            return tl::unexpected(
                http::ErrorResponse(400, "validation_error", "remove_image must be a boolean", "remove_image"));
        }
        edit.remove_image = v->as_bool();
    }
    return edit;
}

// A multipart JSON-array field (tags/features): "" counts as []; text that is not JSON stays a string, which
// the validators refuse with the field's code.
json::value JsonTextField(const std::string& text) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return json::array{};
    std::error_code ec;
    auto parsed = json::parse(text, ec);
    if (ec) return json::value(text);
    return parsed;
}

class PatchSink final : public http::MultipartSink {
  public:
    PatchSink(std::filesystem::path dir, std::uint64_t max_image_bytes)
        : dir_(std::move(dir)), max_image_bytes_(max_image_bytes) {}

    http::MultipartResult<http::PartKind> Classify(const http::PartInfo& part) override {
        if (part.name == "image" && part.is_file()) return http::PartKind::kFile;
        if (part.is_file()) return http::PartKind::kSkip;
        return http::PartKind::kField;
    }
    asio::awaitable<http::MultipartStatus> OnFileBegin(const http::PartInfo&) override {
        if (image_path_) {
            co_return http::MultipartFail(400, "validation_error", "only one image part is allowed");
        }
        std::error_code ec;
        std::filesystem::create_directories(dir_, ec);
        image_path_ = dir_ / "image";
        out_.open(*image_path_, std::ios::binary | std::ios::trunc);
        if (!out_) co_return http::MultipartFail(507, "insufficient_storage", "cannot stage the image");
        co_return http::MultipartStatus{};
    }
    asio::awaitable<http::MultipartStatus> OnFileChunk(std::span<const char> chunk) override {
        size_ += chunk.size();
        if (size_ > max_image_bytes_) co_return http::MultipartFail(413, "image_too_large", "the image is too large");
        if (head_.size() < media::kImageHeaderBytes) {
            head_.append(chunk.data(), std::min(chunk.size(), media::kImageHeaderBytes - head_.size()));
        }
        out_.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        if (!out_) co_return http::MultipartFail(507, "insufficient_storage", "cannot stage the image");
        co_return http::MultipartStatus{};
    }
    asio::awaitable<http::MultipartStatus> OnFileEnd(const http::PartInfo&) override {
        out_.close();
        co_return http::MultipartStatus{};
    }
    asio::awaitable<http::MultipartStatus> OnField(const http::PartInfo& part, std::string value) override {
        fields_[part.name] = std::move(value);
        co_return http::MultipartStatus{};
    }

    std::map<std::string, std::string> fields_;
    std::optional<std::filesystem::path> image_path_;
    std::string head_;
    std::uint64_t size_ = 0;

  private:
    std::filesystem::path dir_;
    std::uint64_t max_image_bytes_;
    std::ofstream out_;
};

tracks::TrackEdit EditFromFields(const std::map<std::string, std::string>& fields) {
    tracks::TrackEdit edit;
    auto get = [&](const char* key) -> std::optional<std::string> {
        auto it = fields.find(key);
        if (it == fields.end()) return std::nullopt;
        return it->second;
    };
    edit.title = get("title");
    edit.description = get("description");
    edit.album = get("album");
    edit.album_id = get("album_id");
    if (auto v = get("features")) edit.features = JsonTextField(*v);
    if (auto v = get("tags")) edit.tags = JsonTextField(*v);
    if (auto v = get("support_gate")) {
        if (v->empty() || *v == "null") {
            edit.support_gate = json::value(nullptr);
        } else {
            std::error_code ec;
            auto parsed = json::parse(*v, ec);
            edit.support_gate = ec ? json::value(*v) : parsed;
        }
    }
    if (auto v = get("remove_image")) edit.remove_image = *v == "true" || *v == "1";
    return edit;
}

// Removes a staging directory when the request ends, whatever happened.
struct StagingGuard {
    std::filesystem::path dir;
    ~StagingGuard() {
        if (dir.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

asio::awaitable<tl::expected<std::string, Response>> ReadLimited(Request& request, std::uint64_t limit) {
    std::string body;
    if (request.body_reader == nullptr) co_return request.body;
    std::array<char, 16384> buffer{};
    for (;;) {
        auto n = co_await request.body_reader->Read(std::span<char>(buffer.data(), buffer.size()));
        if (!n) {
            if (n.error().code == ErrorCode::kTooLarge) {
                Response r = http::ErrorResponse(413, "payload_too_large", "the body is too large");
                r.close_connection = true;
                co_return tl::unexpected(std::move(r));
            }
            Response r = http::ErrorResponse(400, "bad_request", "the body could not be read");
            r.close_connection = true;
            co_return tl::unexpected(std::move(r));
        }
        if (*n == 0) break;
        body.append(buffer.data(), *n);
        if (body.size() > limit) {
            Response r = http::ErrorResponse(413, "payload_too_large", "the body is too large");
            r.close_connection = true;
            co_return tl::unexpected(std::move(r));
        }
    }
    co_return body;
}

asio::awaitable<Response> HandlePatch(std::shared_ptr<Context> ctx, Request& request) {
    auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
    if (!id) co_return InvalidId();
    auto viewer = co_await RequireViewer(*ctx, request);
    if (!viewer) co_return std::move(viewer.error());

    std::string content_type(request.Header("Content-Type").value_or(""));
    std::string lowered = content_type;
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    tracks::TrackEdit edit;
    StagingGuard staging;
    if (http::IsJsonContentType(content_type)) {
        auto body = co_await ReadLimited(request, kJsonLimit);
        if (!body) co_return std::move(body.error());
        Request copy;
        copy.headers = request.headers;
        copy.body = std::move(*body);
        auto parsed = http::ParseJsonBody(copy, kJsonLimit);
        if (!parsed) co_return std::move(parsed.error());
        if (!parsed->is_object()) co_return http::ErrorResponse(400, "invalid_json", "the body must be a json object");
        auto from_json = EditFromJson(parsed->as_object());
        if (!from_json) co_return std::move(from_json.error());
        edit = std::move(*from_json);
    } else if (lowered.starts_with("multipart/form-data")) {
        staging.dir = ctx->deps.staging_dir / ("patch-" + core::RandomHex(8));
        PatchSink sink(staging.dir, ctx->deps.max_image_bytes);
        http::MultipartLimits limits;
        limits.max_parts = 32;
        limits.max_body_bytes = ctx->deps.max_image_bytes + kJsonLimit;
        limits.max_file_bytes = ctx->deps.max_image_bytes;
        auto read = co_await http::ReadMultipart(request, limits, sink);
        if (!read) {
            Response r = http::MultipartErrorResponse(read.error());
            if (read.error().code == "file_too_large") {
                r = http::ErrorResponse(413, "image_too_large", "the image is too large");
                r.close_connection = true;
            }
            co_return r;
        }
        edit = EditFromFields(sink.fields_);
        if (sink.image_path_) {
            auto header = media::SniffImage(sink.head_);
            auto check = media::CheckImageLimits(header);
            if (!check.ok()) co_return http::ErrorResponse(check.status, check.error_code, check.message, "image");
            if (!ctx->deps.ingest_image) {
                co_return http::ErrorResponse(503, "service_unavailable", "image processing is not available");
            }
            auto path = *sink.image_path_;
            auto did = *viewer->viewer.did;
            auto stored = co_await net::Offload(*ctx->deps.pool, [&] { return ctx->deps.ingest_image(path, did); });
            if (!stored) co_return FromApiError(stored.error());
            edit.new_image_id = *stored;
        }
    } else {
        co_return http::ErrorResponse(415, "unsupported_media_type", "send application/json or multipart/form-data");
    }

    auto result =
        co_await net::Offload(*ctx->deps.pool, [&] { return ctx->deps.service->Update(*id, edit, viewer->viewer); });
    if (!result) co_return FromApiError(result.error());
    co_return http::JsonResponse(200, *result);
}

asio::awaitable<Response> HandlePlay(std::shared_ptr<Context> ctx, Request& request) {
    auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
    if (!id) co_return InvalidId();
    auto cookie = http::FindCookie(request, auth::kSessionCookie);
    if (cookie && !cookie->empty()) {
        if (auto rejected = ctx->csrf.Reject(request)) co_return std::move(*rejected);
    }
    auto optional = co_await ResolveOptionalViewer(ctx->deps, request);
    const tracks::Viewer& viewer = optional.viewer;

    json::object body;
    if (!request.body.empty()) {
        auto parsed = http::ParseJsonBody(request, kJsonLimit);
        if (!parsed) co_return std::move(parsed.error());
        if (!parsed->is_object()) co_return http::ErrorResponse(400, "invalid_json", "the body must be a json object");
        body = parsed->as_object();
    }
    tracks::PlayRequest play;
    play.track_id = *id;
    if (const auto* v = body.if_contains("listen_id"); v != nullptr && !v->is_null()) {
        if (!v->is_string())
            co_return http::ErrorResponse(400, "validation_error", "listen_id must be a uuid", "listen_id");
        play.listen_id = std::string(v->as_string());
    }
    if (const auto* v = body.if_contains("listened_ms"); v != nullptr && !v->is_null()) {
        if (v->is_int64()) {
            play.listened_ms = v->as_int64();
        } else if (v->is_uint64()) {
            play.listened_ms = static_cast<std::int64_t>(std::min<std::uint64_t>(v->as_uint64(), INT64_MAX));
        } else if (v->is_double() && v->as_double() >= 0 && v->as_double() < 9.2e18) {
            play.listened_ms = static_cast<std::int64_t>(v->as_double());
        } else {
            co_return http::ErrorResponse(400, "validation_error", "listened_ms must be a number", "listened_ms");
        }
    }
    if (const auto* v = body.if_contains("started_at"); v != nullptr && v->is_string()) {
        play.started_at = std::string(v->as_string());
    }

    auto play_cookie = http::FindCookie(request, tracks::kPlayIdCookie);
    const bool has_play_cookie = play_cookie && tracks::IsValidPlayId(*play_cookie);
    std::string client_ip = http::ClientIp(request, ctx->deps.trusted_proxies);
    play.listener_key = tracks::ListenerKey(viewer.did, has_play_cookie ? play_cookie : std::nullopt, client_ip);

    http::RateLimitDecision decision;
    if (ctx->deps.limiter) {
        if (!viewer.did) {
            auto per_ip = ctx->deps.limiter->Take(kPlayAnonBucket, "ip:" + client_ip);
            if (!per_ip.allowed) co_return http::RateLimitedResponse(per_ip);
        }
        decision = ctx->deps.limiter->Take(kPlayBucket, play.listener_key);
        if (!decision.allowed) co_return http::RateLimitedResponse(decision);
    }

    auto result = co_await net::Offload(
        *ctx->deps.pool, [&] { return tracks::RecordPlay(*ctx->deps.db, *ctx->deps.clock, play, viewer); });
    Response r = result ? http::JsonResponse(200, json::object{{"counted", result->counted},
                                                               {"play_count", result->play_count},
                                                               {"scrobbled", result->scrobbled}})
                        : FromApiError(result.error());
    if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
    // Anonymous browsers get a listener id on their first play call; until it comes back they are keyed by IP.
    if (!viewer.did && !has_play_cookie) {
        http::CookieOptions options;
        options.path = "/";
        options.http_only = true;
        options.secure = ctx->deps.secure_cookies;
        options.same_site = http::SameSite::kLax;
        options.max_age_seconds = tracks::kPlayIdCookieMaxAgeSeconds;
        if (auto set = http::BuildSetCookie(tracks::kPlayIdCookie, tracks::NewPlayId(), options)) {
            r.headers.Add("Set-Cookie", *set);
        }
    }
    http::ApplyRateLimitHeaders(r, decision);
    co_return r;
}

}  // namespace

Authenticator AuthenticatorFor(auth::AuthService& service) {
    return [&service](std::optional<std::string_view> cookie, std::optional<std::string_view> bearer,
                      bool require_scope) { return service.Authenticate(cookie, bearer, require_scope); };
}

void ClearSessionCookie(const TrackRoutesDeps& deps, Response& response) {
    http::CookieOptions options;
    options.path = "/";
    options.http_only = true;
    options.secure = deps.secure_cookies;
    options.same_site = http::SameSite::kLax;
    options.max_age_seconds = 0;
    response.headers.Add("Set-Cookie", http::BuildClearCookie(auth::kSessionCookie, options));
}

asio::awaitable<OptionalViewer> ResolveOptionalViewer(const TrackRoutesDeps& deps, const Request& request) {
    OptionalViewer out;
    auto cookie = http::FindCookie(request, auth::kSessionCookie);
    auto bearer = BearerToken(request);
    const bool has_cookie = cookie && !cookie->empty();
    if (!has_cookie && !bearer) co_return out;
    auto session = co_await net::Offload(*deps.pool, [&] {
        return deps.authenticate(has_cookie ? std::optional<std::string_view>(*cookie) : std::nullopt,
                                 bearer ? std::optional<std::string_view>(*bearer) : std::nullopt, false);
    });
    if (!session) {
        // Optional auth: a credential that does not authenticate leaves the request anonymous.
        out.clear_cookie = has_cookie && session.error().code == "session_expired";
        co_return out;
    }
    out.viewer.did = session->session.did;
    out.viewer.is_admin = IsAdmin(deps, session->session.did);
    co_return out;
}

Status AddTrackRoutes(http::Router& router, TrackRoutesDeps deps) {
    http::CsrfPolicy csrf(deps.credentialed_origins);
    if (deps.limiter) {
        // Buckets of product.md §4.1 that MakeRateLimiter does not create; an existing bucket is kept.
        (void)deps.limiter->AddBucket(kPlayBucket, http::RateLimitRule{60, std::chrono::minutes(1)});
        (void)deps.limiter->AddBucket(kPlayAnonBucket, http::RateLimitRule{600, std::chrono::hours(1)});
    }
    auto ctx = std::make_shared<Context>(Context{std::move(deps), std::move(csrf)});

    // ---- GET /tracks/ ----
    {
        auto doc = Doc("discovery feed",
                       "published tracks newest first; hidden tags (DEFAULT_HIDDEN_TAGS) filtered unless "
                       "filter_hidden_tags=false (default true without artist_did)",
                       {{200, "{tracks, next_cursor, has_more}"}, {400, "invalid_cursor, invalid_did"}});
        doc.params = {{"artist_did", "query", "one artist's catalogue", false},
                      {"tags", "query", "comma list: every tag must match", false},
                      {"filter_hidden_tags", "query", "true | false", false, "boolean"},
                      {"cursor", "query", "next_cursor of the previous page", false},
                      {"limit", "query", "1-100 (DEFAULT_PAGE_SIZE)", false, "integer"}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/tracks",
            [ctx](Request& request) -> asio::awaitable<Response> {
                auto optional = co_await ResolveOptionalViewer(ctx->deps, request);
                tracks::FeedParams params;
                params.artist_did = QueryString(request, "artist_did");
                params.tags = QueryString(request, "tags");
                params.filter_hidden_tags = QueryString(request, "filter_hidden_tags");
                params.cursor = QueryString(request, "cursor");
                params.limit = QueryString(request, "limit");
                auto result = co_await net::Offload(*ctx->deps.pool,
                                                    [&] { return ctx->deps.service->Feed(params, optional.viewer); });
                Response r = result ? http::JsonResponse(200, *result) : FromApiError(result.error());
                if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
                co_return r;
            },
            doc));
    }

    // ---- GET /tracks/me ----
    {
        auto doc = Doc("own tracks", "every track of the signed-in artist, any publish state",
                       {{200, "{tracks, total, has_more}"}, {401, "authentication_required"}});
        doc.params = {{"limit", "query", "1-100", false, "integer"},
                      {"offset", "query", "rows to skip", false, "integer"},
                      {"q", "query", "title substring", false},
                      {"sort", "query", "recent | title | plays", false}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/tracks/me",
            [ctx](Request& request) -> asio::awaitable<Response> {
                auto viewer = co_await RequireViewer(*ctx, request);
                if (!viewer) co_return std::move(viewer.error());
                tracks::MineParams params;
                params.limit = QueryString(request, "limit");
                params.offset = QueryString(request, "offset");
                params.q = QueryString(request, "q");
                params.sort = QueryString(request, "sort");
                auto result = co_await net::Offload(*ctx->deps.pool,
                                                    [&] { return ctx->deps.service->Mine(params, viewer->viewer); });
                if (!result) co_return FromApiError(result.error());
                co_return http::JsonResponse(200, *result);
            },
            doc));
    }

    // ---- GET /tracks/{id} ----
    PLYR_TRY_STATUS(router.Add(
        "GET", "/tracks/{id}",
        [ctx](Request& request) -> asio::awaitable<Response> {
            auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
            if (!id) co_return InvalidId();
            auto optional = co_await ResolveOptionalViewer(ctx->deps, request);
            auto result = co_await net::Offload(*ctx->deps.pool,
                                                [&] { return ctx->deps.service->GetTrack(*id, optional.viewer); });
            Response r = result ? http::JsonResponse(200, *result) : FromApiError(result.error());
            if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
            co_return r;
        },
        Doc("one track", "404 also for pending/failed tracks of other artists",
            {{200, "Track"}, {400, "invalid_id"}, {404, "not_found"}})));

    // ---- GET /tracks/{id}/peaks ----
    {
        auto doc = Doc("waveform peaks", "int8 min/max pairs computed at ingest",
                       {{200, "{resolution, samples_per_peak, peaks}"}, {400, "invalid_id"}, {404, "not_found"}});
        doc.params = {{"resolution", "query", "low | high (low)", false}};
        PLYR_TRY_STATUS(router.Add(
            "GET", "/tracks/{id}/peaks",
            [ctx](Request& request) -> asio::awaitable<Response> {
                auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
                if (!id) co_return InvalidId();
                auto optional = co_await ResolveOptionalViewer(ctx->deps, request);
                std::string resolution(request.Query("resolution").value_or("low"));
                auto result = co_await net::Offload(
                    *ctx->deps.pool, [&] { return ctx->deps.service->Peaks(*id, resolution, optional.viewer); });
                Response r = result ? http::JsonResponse(200, *result) : FromApiError(result.error());
                if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
                co_return r;
            },
            doc));
    }

    // ---- PATCH /tracks/{id} ----
    {
        http::RouteSpec spec;
        spec.method = "PATCH";
        spec.pattern = "/tracks/{id}";
        spec.stream_body = true;
        spec.body_limit = ctx->deps.max_image_bytes + kJsonLimit;
        spec.handler = [ctx](Request& request) -> asio::awaitable<Response> {
            co_return co_await HandlePatch(ctx, request);
        };
        spec.doc = Doc("edit a track",
                       "owner only; json or multipart (title, description, album, album_id, features, tags, "
                       "support_gate, image, remove_image); the record rewrite is queued",
                       {{200, "Track"},
                        {400, "validation errors (field)"},
                        {403, "forbidden, csrf_rejected"},
                        {404, "not_found, album_not_found"},
                        {413, "payload_too_large, image_too_large"},
                        {415, "unsupported_media_type, unsupported_image_format"},
                        {422, "image_dimensions_too_large"}},
                       "application/json");
        PLYR_TRY_STATUS(router.Add(std::move(spec)));
    }

    // ---- DELETE /tracks/{id} ----
    PLYR_TRY_STATUS(router.Add(
        "DELETE", "/tracks/{id}",
        [ctx](Request& request) -> asio::awaitable<Response> {
            auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
            if (!id) co_return InvalidId();
            auto viewer = co_await RequireViewer(*ctx, request);
            if (!viewer) co_return std::move(viewer.error());
            auto result =
                co_await net::Offload(*ctx->deps.pool, [&] { return ctx->deps.service->Delete(*id, viewer->viewer); });
            if (!result) co_return FromApiError(result.error());
            Response r(204);
            r.headers.Set("Cache-Control", "no-store");
            co_return r;
        },
        Doc("delete a track", "owner only; the record delete is queued; media freed when unreferenced",
            {{204, "deleted", ""}, {403, "forbidden"}, {404, "not_found"}})));

    // ---- POST /tracks/{id}/restore-record ----
    PLYR_TRY_STATUS(router.Add(
        "POST", "/tracks/{id}/restore-record",
        [ctx](Request& request) -> asio::awaitable<Response> {
            auto id = tracks::ParseTrackId(request.PathParam("id").value_or(""));
            if (!id) co_return InvalidId();
            auto viewer = co_await RequireViewer(*ctx, request);
            if (!viewer) co_return std::move(viewer.error());
            auto result = co_await net::Offload(*ctx->deps.pool,
                                                [&] { return ctx->deps.service->RestoreRecord(*id, viewer->viewer); });
            if (!result) co_return FromApiError(result.error());
            co_return http::JsonResponse(202, json::object{{"status", "queued"}});
        },
        Doc("rewrite the track record", "owner only; queues a put of the record rebuilt from the database",
            {{202, "{status: queued}"}, {403, "forbidden"}, {404, "not_found"}})));

    // ---- POST /tracks/{id}/play ----
    {
        http::RouteSpec spec;
        spec.method = "POST";
        spec.pattern = "/tracks/{id}/play";
        spec.default_rate_limit = false;
        spec.body_limit = kJsonLimit;
        spec.handler = [ctx](Request& request) -> asio::awaitable<Response> {
            co_return co_await HandlePlay(ctx, request);
        };
        spec.doc = Doc("count a play",
                       "once per listener per window (clamp(duration, 30 s, 1 h)); anonymous listeners by the "
                       "plyr_play_id cookie, else client ip",
                       {{200, "{counted, play_count, scrobbled}"},
                        {404, "not_found"},
                        {422, "below_threshold"},
                        {429, "rate_limited"}},
                       "application/json");
        PLYR_TRY_STATUS(router.Add(std::move(spec)));
    }
    return Ok();
}

}  // namespace plyr::api
