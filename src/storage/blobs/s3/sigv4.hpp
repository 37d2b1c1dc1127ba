#pragma once
// AWS Signature Version 4 for S3 (header auth and presigned-query auth), on OpenSSL HMAC-SHA256.
//
// Why our own: curl 7.88's built-in signer omits x-amz-content-sha256, signs query strings verbatim (wrong
// when unsorted or unencoded) and cannot presign (docs/dependencies.md §20). Correctness is pinned by AWS's
// published examples in the unit tests; s3rver does not verify signatures.
//
// The caller gives the request path already URI-encoded (for S3: each key segment encoded once, '/' kept —
// see EncodeS3Path), the query as decoded name/value pairs (sorted and encoded here), and the headers to
// sign, including host. The signer adds x-amz-date and x-amz-content-sha256 itself.
// Pure functions; thread-safe. Results never contain the secret key.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plyr::storage::blobs::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using Params = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
};

struct Scope {
    std::string region;  // "us-east-1"; "auto" for Cloudflare R2
    std::string service = "s3";
};

struct Request {
    std::string method;         // GET, PUT, ...
    std::string canonical_uri;  // the path exactly as sent, already URI-encoded; "/" when empty
    Params query;               // decoded names/values; a valueless parameter has value ""
    Params headers;             // headers to sign (name case irrelevant); must include host
    std::string payload_hash;   // lowercase hex SHA-256 of the body, or kUnsignedPayload
};

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other
// byte becomes %XX with upper-case hex; '/' stays only when keep_slash.
std::string UriEncode(std::string_view text, bool keep_slash);

// An S3 object path: "/" + the key with each segment URI-encoded once ("/" kept). S3 does not double-encode.
std::string EncodeS3Path(std::string_view key);

// name=value pairs, both encoded, sorted by encoded name then value, joined with '&'; valueless → "name=".
std::string CanonicalQuery(const Params& query);

// 20130524T000000Z
std::string FormatAmzDate(std::chrono::sys_seconds time);

struct Signature {
    Params headers;                 // add these to the request: x-amz-date, x-amz-content-sha256, authorization
    std::string authorization;      // the Authorization header value
    std::string signature;          // lowercase hex
    std::string signed_headers;     // "host;range;x-amz-content-sha256;x-amz-date"
    std::string canonical_request;  // for tests and debugging; holds no secret
    std::string string_to_sign;
};

// Header auth: signs `request` plus x-amz-date and x-amz-content-sha256 (= request.payload_hash).
Signature SignHeaders(const Request& request, const Credentials& credentials, const Scope& scope,
                      std::chrono::sys_seconds now);

struct Presigned {
    std::string query;              // the complete canonical query string, ending in &X-Amz-Signature=…
    std::string signature;          // lowercase hex
    std::string canonical_request;  // for tests and debugging
};

// Query auth (presigned URL): adds X-Amz-Algorithm/Credential/Date/Expires/SignedHeaders to request.query,
// signs with payload UNSIGNED-PAYLOAD, and returns the query string to append after '?'. request.headers
// usually holds only host. expires is not clamped here (S3 accepts 1 s .. 7 days).
Presigned Presign(const Request& request, const Credentials& credentials, const Scope& scope,
                  std::chrono::sys_seconds now, std::chrono::seconds expires);

}  // namespace plyr::storage::blobs::sigv4
