#pragma once
// atproto::identity::DidResolver — DID → DID document (docs/atproto.md §2.2, product.md §9 rows 34–35).
//
// Contract
// - Resolve(did) is BLOCKING (through the SSRF-guarded net::HttpClient); coroutines use net::Offload.
// - did:plc → `GET {plc_url}/{did}` (PLC_DIRECTORY_URL); did:web:<host> → `GET https://<host>/.well-known/
//   did.json`. did:web with a path is refused; a port only as `did:web:localhost%3A<port>` and only when the
//   client's policy permits_http() (then fetched over http, as atproto allows for development). did:web
//   hosts with reserved TLDs are refused. Every fetch: ≤ max_document_bytes (64 KiB), ≤ timeout (5 s), no
//   redirects (a 3xx is a failure), then ParseDidDocument (id must equal the DID; http PDS endpoints only
//   when the policy permits_http()).
// - Errors: kInvalidArgument (not a valid plc/web DID, or a refused did:web form), kUnsupported (another
//   method, e.g. did:key), kNotFound (404, or 410 for a tombstoned/deactivated DID), kProtocol (the document
//   was received and is invalid), kUnavailable / kTimeout / kTooLarge / kPermissionDenied (ssrf_blocked)
//   when no acceptable document could be fetched.
// Thread-safety: Resolve() may be called concurrently; the resolver holds only immutable configuration.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "atproto/identity/did_document.hpp"
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::identity {

class DidResolver {
  public:
    virtual ~DidResolver() = default;
    virtual Result<DidDocument> Resolve(std::string_view did) = 0;
};

struct DidResolverOptions {
    std::string plc_url = "https://plc.directory";
    std::size_t max_document_bytes = kMaxDidDocumentBytes;
    std::chrono::milliseconds timeout{5'000};
};

class HttpDidResolver final : public DidResolver {
  public:
    HttpDidResolver(net::HttpClient& client, DidResolverOptions options = {});
    Result<DidDocument> Resolve(std::string_view did) override;

    // The URL a DID document is fetched from (exposed for tests); errors as for Resolve().
    Result<std::string> DocumentUrl(std::string_view did) const;

  private:
    net::HttpClient& client_;
    DidResolverOptions options_;
};

}  // namespace plyr::atproto::identity
