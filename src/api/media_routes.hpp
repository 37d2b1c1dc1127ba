#pragma once
// api — media delivery: /audio/{file_id}[.{ext}], /audio/{file_id}/url, /images/{name} (product.md §4.5, §6.6;
// docs/tracks.md "streaming").
//
// Contract
// - GET /audio/{file_id}[.{ext}] (HEAD via GET: same headers, no body): the id must match ^[0-9a-f]{16}$ and an
//   extension must equal the stored one, else 400 invalid_file_id before any storage access (paths with more
//   segments, e.g. /audio/../../etc/passwd, are answered 400 invalid_file_id too). Access per
//   tracks::TrackService::ResolveAudio (404; gated: 401 authentication_required / 402 supporter_required with
//   X-Support-Required: atprotofans).
//   Local disk: http::ServeFile over the blob store's LocalPath (sendfile): ETag "<file_id>", Content-Type by
//   format, Content-Disposition inline, Accept-Ranges, single Range 206/416, If-None-Match 304, If-Range;
//   Cache-Control public immutable, or `private, no-store` when gated. A missing object is 404 (logged).
//   S3, AUDIO_DELIVERY=redirect: 307 to the public URL (gated: a presigned URL of the private bucket,
//   PRESIGNED_URL_EXPIRY_SECONDS) with Cache-Control no-cache (public) / private, no-store (gated).
//   S3, AUDIO_DELIVERY=proxy: the object streamed (http::StreamBody) in ranged GETs of 1 MiB with the client's
//   single Range applied, the same headers as local disk; S3 unreachable → 502 storage_error.
// - GET /audio/{file_id}/url → {url, expires_at (ISO-8601) | null, file_type}: the URL a redirect would name,
//   or {PUBLIC_URL}/audio/{file_id}.{ext} on local disk ({PUBLIC_URL}/audio/{file_id} when gated).
// - GET /images/{image_id}.{ext} and /images/{image_id}_thumb.webp, _320.webp, _640.webp: public; 400 invalid_id
//   for a malformed name, 404 when the images row is missing; local: ServeFile (ETag = the name without
//   extension, immutable); S3: 307 to the image bucket's URL.
// - Neither prefix is rate limited; CORS for them is the server middleware's.

#include "api/track_routes.hpp"

namespace plyr::api {

Status AddMediaRoutes(http::Router& router, TrackRoutesDeps deps);

}  // namespace plyr::api
