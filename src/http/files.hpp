#pragma once
// File responses: ServeFile (Range, conditional requests, sendfile body) and StaticSite (the web app).
//
// ServeFile is the one function that sends local files — the web app now, audio and images later:
// - single Range `bytes=a-b | a- | -n` → 206 + Content-Range; unsatisfiable → 416 range_not_satisfiable
//   JSON with `Content-Range: bytes */size`; malformed or multi-range → 200 full body (see ParseRange);
// - strong ETag `"<size hex>-<mtime ns hex>"`, Last-Modified; If-None-Match (weak comparison) or, without
//   it, If-Modified-Since → 304; If-Range with a weak, stale or unparsable validator → 200 full body;
// - `Accept-Ranges: bytes` on every file answer; HEAD gets the same headers (the server drops bodies);
// - the bytes travel as a FileBody: the server sends them with sendfile(2), never through a buffer.
// open()/fstat() run on the calling thread: they are cheap on local disks (documented in docs/http.md).
//
// StaticSite maps request paths to files under a root with a safe join: each path segment is
// percent-decoded once and rejected if it is `.`/`..`, starts with `.`, or contains `/`, `\` or NUL; the
// opened file's real path (/proc/self/fd) must still be under the root, so symlinks cannot escape it.
// Unsafe paths → 404 not_found JSON. `/_app/immutable/…` → `Cache-Control: public, max-age=31536000,
// immutable`; everything else (index.html included) → `no-cache` (revalidated through the ETag).
// Unknown paths: GET/HEAD whose Accept includes text/html and that are not under an API prefix get
// index.html (200, the SPA fallback); the rest get 404 not_found JSON. Thread-safety: immutable after
// construction; Serve() may run concurrently.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "http/message.hpp"

namespace plyr::http {

struct FileInfo {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;  // nanoseconds since the Unix epoch
};

inline constexpr std::string_view kImmutableCacheControl = "public, max-age=31536000, immutable";

// How a file answer is labelled (everything but the bytes and the Range/conditional logic).
struct FileServeOptions {
    std::string_view content_type = "application/octet-stream";
    std::string_view cache_control;  // "" = no Cache-Control header
    // The strong validator, quoted (`"0123456789abcdef"`), e.g. a content hash: /audio uses the file id
    // (product.md §6.6 step 3). Empty = StrongEtag(info) (size-mtime). Must be a valid entity-tag.
    std::string_view etag;
    std::string_view content_disposition;  // e.g. "inline"; "" = none
};

Response ServeFile(const Request& request, const std::filesystem::path& path, std::string_view content_type,
                   std::string_view cache_control);
// For callers that already hold the file open (e.g. a blob store that checked visibility first).
Response ServeFile(const Request& request, UniqueFd fd, FileInfo info, std::string_view content_type,
                   std::string_view cache_control);
// The same with explicit labels: /audio/{file_id} and /images/{image_id} pass their content-addressed ETag and
// `Content-Disposition: inline`. 304/206/416/200 as above; the 304 carries the same validators and labels.
Response ServeFile(const Request& request, UniqueFd fd, FileInfo info, const FileServeOptions& options);
// fstat of an open descriptor: kNotFound unless it is a regular file.
Result<FileInfo> StatFile(int fd);
// `"` + opaque + `"`: a strong entity-tag from an id that is already safe (hex, base32…).
std::string QuotedEtag(std::string_view opaque);

std::string StrongEtag(const FileInfo& info);
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string FormatHttpDate(std::int64_t unix_seconds);
// Parses IMF-fixdate only (the form every current client sends); other forms → nullopt.
std::optional<std::int64_t> ParseHttpDate(std::string_view text);

// By file extension, case-insensitive; text types carry `charset=utf-8`; unknown → application/octet-stream.
std::string_view ContentTypeForPath(std::string_view path);

// The safe relative path for an encoded URL path ("/a/b%20c.js" → "a/b c.js"); "/" → "". kInvalidArgument
// when any segment is unsafe (see above) or does not decode.
Result<std::string> SafeRelativePath(std::string_view encoded_path);

// `'sha256-…'` CSP sources for each inline <script> (no src attribute) of an HTML document.
std::vector<std::string> InlineScriptHashes(std::string_view html);

class StaticSite : public std::enable_shared_from_this<StaticSite> {
  public:
    // Errors: kNotFound when root is not a directory.
    static Result<std::shared_ptr<const StaticSite>> Create(const std::filesystem::path& root);

    Response Serve(const Request& request) const;
    // A router fallback that calls Serve().
    Handler AsHandler() const;

    const std::filesystem::path& root() const { return root_; }
    // Opens a file under the root (see the safe-join rules). Errors: kInvalidArgument (unsafe path),
    // kNotFound (missing or not a regular file), kPermissionDenied (a symlink leads outside the root).
    // Only kNotFound leads to the SPA fallback in Serve(); the others are 404 JSON.
    Result<std::pair<UniqueFd, FileInfo>> Open(std::string_view encoded_path) const;

    explicit StaticSite(std::filesystem::path canonical_root) : root_(std::move(canonical_root)) {}

  private:
    Response ServeIndex(const Request& request) const;
    std::filesystem::path root_;  // canonical
};

}  // namespace plyr::http
