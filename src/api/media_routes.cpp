#include "api/media_routes.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "core/log.hpp"
#include "http/cookies.hpp"
#include "http/files.hpp"
#include "http/json.hpp"
#include "http/range.hpp"
#include "tracks/media_files.hpp"

namespace plyr::api {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace blobs = storage::blobs;
using http::Request;
using http::Response;

constexpr std::string_view kGatedCacheControl = "private, no-store";
constexpr std::uint64_t kProxyChunkBytes = 1 << 20;

struct Context {
    TrackRoutesDeps deps;
};

Response FromApiError(const tracks::ApiError& error) {
    Response r = http::ErrorResponse(error.status, error.code, error.message,
                                     error.field.empty() ? std::nullopt : std::optional<std::string_view>(error.field));
    if (error.status == 402) r.headers.Set("X-Support-Required", "atprotofans");
    return r;
}

// 404 (a pending track of the viewer), 401 and 402 (gated) may turn into access once the viewer is known.
bool CouldDependOnViewer(const tracks::ApiError& error) {
    return error.status == 404 || error.status == 401 || error.status == 402;
}

bool HasCredentials(const Request& request) {
    if (auto cookie = http::FindCookie(request, auth::kSessionCookie); cookie && !cookie->empty()) return true;
    return request.Header("Authorization").has_value();
}

Response InvalidFileId() { return http::ErrorResponse(400, "invalid_file_id", "invalid file id"); }

bool IsS3(const Context& ctx) { return ctx.deps.service->config().storage_kind == core::StorageKind::kS3; }

std::chrono::seconds PresignExpiry(const Context& ctx) {
    return std::chrono::seconds(std::max(1, ctx.deps.service->config().s3.presigned_url_expiry_seconds));
}

// "{id}" or "{id}.{ext}"; the id is checked by the caller.
std::pair<std::string, std::optional<std::string>> SplitFileName(std::string_view name) {
    auto dot = name.find('.');
    if (dot == std::string_view::npos) return {std::string(name), std::nullopt};
    return {std::string(name.substr(0, dot)), std::string(name.substr(dot + 1))};
}

// Opens a local object for sendfile. kNotFound when the backend has no local path or the file is missing.
Result<std::pair<http::UniqueFd, http::FileInfo>> OpenLocal(blobs::BlobStore& store, const std::string& key) {
    auto path = store.LocalPath(key);
    if (!path) return Fail(ErrorCode::kNotFound, "no local path");
    int fd = ::open(path->c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Fail(ErrorCode::kNotFound, "object missing", key);
    http::UniqueFd owned(fd);
    auto info = http::StatFile(owned.get());
    if (!info) return Fail(std::move(info.error()));
    return std::make_pair(std::move(owned), *info);
}

asio::awaitable<Response> ServeLocal(const Context& ctx, const Request& request, blobs::BlobStore& store,
                                     const std::string& key, const http::FileServeOptions& options) {
    // open() + fstat() of a local file run on the calling I/O thread, like every local file answer (http/files.hpp):
    // they are cheaper than the hop to the blocking pool.
    (void)ctx;
    auto opened = OpenLocal(store, key);
    if (!opened) {
        log::Warn("media.object_missing", {{"key", key}, {"error", opened.error().ToString()}});
        co_return http::ErrorResponse(404, "not_found", "not found");
    }
    co_return http::ServeFile(request, std::move(opened->first), opened->second, options);
}

bool EtagListMatches(std::string_view header, std::string_view quoted) {
    // Weak comparison over a comma list (RFC 9110 §13.1.2); "*" matches any current representation.
    std::size_t pos = 0;
    while (pos < header.size()) {
        auto comma = header.find(',', pos);
        std::string_view item =
            header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == "*" || item == quoted) return true;
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return false;
}

// AUDIO_DELIVERY=proxy: the object streamed from the store in ranged GETs, with the client's Range applied.
asio::awaitable<Response> ServeProxied(const Context& ctx, const Request& request, blobs::BlobStore& store,
                                       const std::string& key, const http::FileServeOptions& options) {
    auto head = co_await net::Offload(*ctx.deps.pool, [&] { return store.Head(key); });
    if (!head) {
        if (head.error().code == ErrorCode::kNotFound) {
            log::Warn("media.object_missing", {{"key", key}});
            co_return http::ErrorResponse(404, "not_found", "not found");
        }
        log::Error("media.storage_error", {{"key", key}, {"error", head.error().ToString()}});
        co_return http::ErrorResponse(502, "storage_error", "the object store is unavailable");
    }
    const std::uint64_t size = head->size;
    std::string etag(options.etag);
    auto label = [&](Response& r) {
        r.headers.Set("ETag", etag);
        r.headers.Set("Accept-Ranges", "bytes");
        r.headers.Set("Content-Type", options.content_type);
        if (!options.cache_control.empty()) r.headers.Set("Cache-Control", options.cache_control);
        if (!options.content_disposition.empty()) r.headers.Set("Content-Disposition", options.content_disposition);
        auto modified = std::chrono::duration_cast<std::chrono::seconds>(head->last_modified.time_since_epoch());
        if (modified.count() > 0) r.headers.Set("Last-Modified", http::FormatHttpDate(modified.count()));
    };
    if (auto inm = request.Header("If-None-Match"); inm && EtagListMatches(*inm, etag)) {
        Response r(304);
        label(r);
        co_return r;
    }
    std::optional<std::string_view> range_header = request.Header("Range");
    if (auto if_range = request.Header("If-Range"); if_range && *if_range != etag) range_header.reset();
    auto range = http::ParseRange(range_header, size);
    if (range.kind == http::RangeKind::kUnsatisfiable) {
        Response r = http::ErrorResponse(416, "range_not_satisfiable", "range not satisfiable");
        r.headers.Set("Content-Range", fmt::format("bytes */{}", size));
        co_return r;
    }
    std::uint64_t first = 0;
    std::uint64_t length = size;
    Response r(200);
    if (range.kind == http::RangeKind::kSatisfiable) {
        first = range.first;
        length = range.length;
        r.status = 206;
        r.headers.Set("Content-Range", fmt::format("bytes {}-{}/{}", range.first, range.last(), size));
    }
    label(r);
    struct Cursor {
        std::uint64_t offset;
        std::uint64_t remaining;
    };
    auto cursor = std::make_shared<Cursor>(Cursor{first, length});
    net::BlockingPool* pool = ctx.deps.pool;
    blobs::BlobStore* source = &store;
    http::StreamBody body;
    body.length = length;
    body.next = [cursor, pool, source, key]() -> asio::awaitable<Result<std::optional<std::string>>> {
        if (cursor->remaining == 0) co_return std::optional<std::string>();
        blobs::ByteRange part{cursor->offset, std::min(cursor->remaining, kProxyChunkBytes)};
        auto chunk = co_await net::Offload(*pool, [&]() -> Result<std::string> {
            std::string bytes;
            auto got = source->Get(key, part, [&](std::string_view piece) -> Status {
                bytes.append(piece);
                return Ok();
            });
            if (!got) return Fail(std::move(got.error()));
            return bytes;
        });
        if (!chunk) co_return Fail(std::move(chunk.error()));
        if (chunk->empty() || chunk->size() > cursor->remaining) {
            co_return Fail(ErrorCode::kProtocol, "the object changed while streaming", key);
        }
        cursor->offset += chunk->size();
        cursor->remaining -= chunk->size();
        co_return std::optional<std::string>(std::move(*chunk));
    };
    r.stream = std::move(body);
    co_return r;
}

asio::awaitable<Response> HandleAudio(std::shared_ptr<Context> ctx, Request& request) {
    // No structured bindings or by-value lambda captures inside coroutines: g++ 12 double-destroys them.
    auto split = SplitFileName(request.PathParam("file").value_or(""));
    const std::string& file_id = split.first;
    const std::optional<std::string>& ext = split.second;
    if (!tracks::IsValidMediaId(file_id)) co_return InvalidFileId();
    // Public audio needs no viewer: the session lookup (a DB read per Range request of a signed-in browser) only
    // runs when the anonymous answer is a refusal a viewer could change (pending own track, gated audio).
    OptionalViewer optional;
    tracks::ApiResult<tracks::AudioAccess> access = tl::unexpected(tracks::ApiError{});
    if (auto cached = ctx->deps.service->CachedPublicAudio(file_id, ext)) {
        access = std::move(*cached);  // a recent public answer: no database read, no thread hop
    } else {
        access = co_await net::Offload(*ctx->deps.pool,
                                       [&] { return ctx->deps.service->ResolveAudio(file_id, ext, optional.viewer); });
    }
    if (!access && CouldDependOnViewer(access.error()) && HasCredentials(request)) {
        optional = co_await ResolveOptionalViewer(ctx->deps, request);
        if (optional.viewer.did || optional.clear_cookie) {
            access = co_await net::Offload(
                *ctx->deps.pool, [&] { return ctx->deps.service->ResolveAudio(file_id, ext, optional.viewer); });
        }
    }
    if (!access) {
        Response r = FromApiError(access.error());
        if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
        co_return r;
    }
    blobs::BlobStore& store = ctx->deps.service->AudioStoreFor(*access);
    std::string etag = http::QuotedEtag(access->file_id);
    http::FileServeOptions options;
    options.content_type = access->mime_type;
    options.cache_control = access->gated ? kGatedCacheControl : http::kImmutableCacheControl;
    options.etag = etag;
    options.content_disposition = "inline";
    Response r;
    if (!IsS3(*ctx)) {
        r = co_await ServeLocal(*ctx, request, store, access->key, options);
    } else if (ctx->deps.service->config().s3.audio_delivery == "proxy") {
        r = co_await ServeProxied(*ctx, request, store, access->key, options);
    } else {
        auto url = store.Url(access->key, PresignExpiry(*ctx));
        if (!url) {
            log::Error("media.no_url", {{"key", access->key}});
            co_return http::ErrorResponse(502, "storage_error", "no url for the object");
        }
        r = Response(307);
        r.headers.Set("Location", *url);
        r.headers.Set("Cache-Control", access->gated ? kGatedCacheControl : std::string_view("no-cache"));
    }
    if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
    co_return r;
}

asio::awaitable<Response> HandleAudioUrl(std::shared_ptr<Context> ctx, Request& request) {
    std::string file_id(request.PathParam("file_id").value_or(""));
    if (!tracks::IsValidMediaId(file_id)) co_return InvalidFileId();
    auto optional = co_await ResolveOptionalViewer(ctx->deps, request);
    auto access = co_await net::Offload(
        *ctx->deps.pool, [&] { return ctx->deps.service->ResolveAudio(file_id, std::nullopt, optional.viewer); });
    if (!access) co_return FromApiError(access.error());
    json::object out;
    out["file_type"] = access->ext;
    out["expires_at"] = nullptr;
    const auto& settings = ctx->deps.service->view_settings();
    if (!IsS3(*ctx)) {
        out["url"] = access->gated ? tracks::AudioUrl(settings, access->file_id)
                                   : fmt::format("{}.{}", tracks::AudioUrl(settings, access->file_id), access->ext);
    } else {
        auto& store = ctx->deps.service->AudioStoreFor(*access);
        auto url = store.Url(access->key, PresignExpiry(*ctx));
        if (!url) co_return http::ErrorResponse(502, "storage_error", "no url for the object");
        out["url"] = *url;
        if (access->gated) {
            std::int64_t expires = ctx->deps.clock->NowMicros() + PresignExpiry(*ctx).count() * 1'000'000;
            out["expires_at"] = tracks::IsoTimestamp(expires);
        }
    }
    Response r = http::JsonResponse(200, out);
    if (optional.clear_cookie) ClearSessionCookie(ctx->deps, r);
    co_return r;
}

asio::awaitable<Response> HandleImage(std::shared_ptr<Context> ctx, Request& request) {
    std::string name(request.PathParam("name").value_or(""));
    auto access = co_await net::Offload(*ctx->deps.pool, [&] { return ctx->deps.service->ResolveImage(name); });
    if (!access) co_return FromApiError(access.error());
    blobs::BlobStore& store = ctx->deps.service->image_store();
    if (IsS3(*ctx)) {
        auto url = store.Url(access->key, PresignExpiry(*ctx));
        if (!url) co_return http::ErrorResponse(502, "storage_error", "no url for the object");
        Response r(307);
        r.headers.Set("Location", *url);
        r.headers.Set("Cache-Control", "public, max-age=86400");
        co_return r;
    }
    auto dot = name.rfind('.');
    std::string etag = http::QuotedEtag(name.substr(0, dot));
    http::FileServeOptions options;
    options.content_type = access->mime_type;
    options.cache_control = http::kImmutableCacheControl;
    options.etag = etag;
    options.content_disposition = "inline";
    co_return co_await ServeLocal(*ctx, request, store, access->key, options);
}

http::RouteDoc Doc(std::string summary, std::string description, std::vector<http::ResponseDoc> responses) {
    http::RouteDoc doc;
    doc.summary = std::move(summary);
    doc.description = std::move(description);
    doc.tag = "media";
    doc.responses = std::move(responses);
    return doc;
}

}  // namespace

Status AddMediaRoutes(http::Router& router, TrackRoutesDeps deps) {
    auto ctx = std::make_shared<Context>(Context{std::move(deps)});

    PLYR_TRY_STATUS(router.Add(
        "GET", "/audio/{file}",
        [ctx](Request& request) -> asio::awaitable<Response> { co_return co_await HandleAudio(ctx, request); },
        Doc("stream audio",
            "file_id with an optional .ext; single range, etag = file id; s3: 307 to the object (or proxied)",
            {{200, "audio bytes", "audio/*"},
             {206, "partial content", "audio/*"},
             {304, "not modified", ""},
             {307, "redirect to the object (s3)", ""},
             {400, "invalid_file_id"},
             {401, "authentication_required"},
             {402, "supporter_required"},
             {404, "not_found"},
             {416, "range_not_satisfiable"}})));
    PLYR_TRY_STATUS(router.Add(
        "GET", "/audio/{file_id}/url",
        [ctx](Request& request) -> asio::awaitable<Response> { co_return co_await HandleAudioUrl(ctx, request); },
        Doc("download url", "the url a client can save the audio from",
            {{200, "{url, expires_at, file_type}"}, {400, "invalid_file_id"}, {404, "not_found"}})));
    // Anything deeper under /audio is no file id (e.g. an unnormalised /audio/../../etc/passwd): 400, never a
    // filesystem lookup.
    std::string pattern = "/audio/{p0}";
    for (int depth = 1; depth < 8; ++depth) {
        pattern += fmt::format("/{{p{}}}", depth);
        http::RouteDoc hidden;
        hidden.hidden = true;
        PLYR_TRY_STATUS(router.Add(
            "GET", pattern, [](Request&) -> asio::awaitable<Response> { co_return InvalidFileId(); }, hidden));
    }
    PLYR_TRY_STATUS(router.Add(
        "GET", "/images/{name}",
        [ctx](Request& request) -> asio::awaitable<Response> { co_return co_await HandleImage(ctx, request); },
        Doc("artwork", "{image_id}.{ext}, {image_id}_thumb.webp, _320.webp, _640.webp; immutable",
            {{200, "image bytes", "image/*"}, {307, "redirect (s3)", ""}, {400, "invalid_id"}, {404, "not_found"}})));
    return Ok();
}

}  // namespace plyr::api
