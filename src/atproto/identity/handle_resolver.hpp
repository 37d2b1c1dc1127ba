#pragma once
// atproto::identity::HandleResolver — handle → DID (docs/atproto.md §2.1, product.md §6.1 step 3).
//
// Contract
// - Resolve(handle) is BLOCKING (DNS and HTTPS through the SSRF-guarded net::HttpClient); coroutines call
//   it through net::Offload. It returns the DID (syntax-checked, exactly as published).
// - The handle must be syntactically valid and resolvable (no reserved TLD; `.test` only when the client's
//   PrivateNetworkPolicy permits_http(), i.e. ALLOW_PRIVATE_NETWORK is set) → else kInvalidArgument. The
//   sentinel `handle.invalid` is refused the same way.
// - Order: DNS TXT `_atproto.<handle>` (exactly one `did=` record; two or more = no answer), then HTTPS
//   `https://<handle>/.well-known/atproto-did` (2xx, first line trimmed, ≤ 4 KiB, no redirects), then the
//   configured XRPC service `{service_url}/xrpc/com.atproto.identity.resolveHandle` (HANDLE_RESOLVER_URL).
//   `.test` handles go straight to the service when one is configured (no public DNS or HTTPS can serve
//   them).
// - Errors: kInvalidArgument (bad handle), kNotFound (every method answered "no such handle"),
//   kUnavailable / kTimeout / kPermissionDenied (ssrf_blocked) when a method failed to reach its server and
//   none succeeded.
// Thread-safety: Resolve() may be called concurrently; the resolver holds only immutable configuration.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "net/http_client.hpp"

namespace plyr::atproto::identity {

// DNS TXT lookup: one string per record. Injected in tests; the default is LookupTxt (dns_txt.hpp).
using TxtLookup = std::function<Result<std::vector<std::string>>(const std::string& name)>;

class HandleResolver {
  public:
    virtual ~HandleResolver() = default;
    virtual Result<std::string> Resolve(std::string_view handle) = 0;
};

struct HandleResolverOptions {
    std::string service_url;  // HANDLE_RESOLVER_URL; empty = none
    std::chrono::milliseconds timeout{5'000};
    bool use_dns = true;
    TxtLookup txt_lookup;  // empty = the system resolver
    // Tests only: where the well-known document is fetched (scheme "http" needs a policy that permits it).
    std::string well_known_scheme = "https";
    std::uint16_t well_known_port = 0;  // 0 = the scheme's default
};

class DefaultHandleResolver final : public HandleResolver {
  public:
    DefaultHandleResolver(net::HttpClient& client, HandleResolverOptions options = {});
    Result<std::string> Resolve(std::string_view handle) override;

    // The individual methods (exposed for tests). Each returns kNotFound when it has no answer.
    Result<std::string> ResolveDns(const std::string& handle);
    Result<std::string> ResolveWellKnown(const std::string& handle);
    Result<std::string> ResolveService(const std::string& handle);

  private:
    net::HttpClient& client_;
    HandleResolverOptions options_;
};

// The `did=` value among a name's TXT records: exactly one must exist and be a valid DID, else kNotFound.
Result<std::string> DidFromTxtRecords(const std::vector<std::string>& records);

}  // namespace plyr::atproto::identity
