#pragma once
// atproto::identity::IdentityResolver — handle or DID → verified identity, with an in-memory cache
// (docs/atproto.md §2.5–2.6, docs/identity.md).
//
// Contract
// - ResolveHandle(handle): handle → DID → document; the document's handle claim must equal the handle
//   (both lowercased) or the result is kConflict (handle_mismatch). Used for sign-in.
// - ResolveDid(did): document → claimed handle → that handle's DID; when it equals the DID the handle is
//   verified, otherwise (mismatch, no claim, or the handle does not resolve) Identity::handle is
//   `handle.invalid` — not an error: the DID is still a valid identity.
// - Resolve(at_identifier): dispatches on the `did:` prefix.
// - All calls are BLOCKING (the resolvers fetch over the network); coroutines use net::Offload.
// - Cache: handle → DID and DID → document results, keyed by the lowercased handle / exact DID, timed by the
//   injected core::Clock. A positive entry is fresh for stale_after, usable until expire_after: a stale
//   entry is refreshed synchronously (or, with a refresh_executor, served while the executor refreshes it);
//   if a synchronous refresh fails to reach the server the stale value is served. Failures other than bad
//   input are cached for negative_ttl. ResolveOptions::no_cache skips reading the cache (the result is
//   still stored); max_age treats older entries as misses (OAuth flows: ≤ 10 min). At most max_entries per
//   map (oldest inserted evicted first). Concurrent misses for the same key share one fetch (no_cache
//   callers always fetch themselves).
// - Errors: see IdentityErrorName — kInvalidArgument/kUnsupported (invalid_handle), kConflict
//   (handle_mismatch), kProtocol (invalid_did_document), kNotFound (identity_not_found), anything else
//   (identity_unreachable).
// Thread-safety: every method may be called concurrently. With a refresh_executor the resolver must outlive
// every task it scheduled.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "atproto/identity/did_document.hpp"
#include "atproto/identity/did_resolver.hpp"
#include "atproto/identity/handle_resolver.hpp"
#include "core/clock.hpp"
#include "core/result.hpp"

namespace plyr::atproto::identity {

// The product-level error name (product.md §6.1, §9 rows 32–35) for an identity error.
std::string_view IdentityErrorName(const Error& error);

struct Identity {
    std::string did;
    std::string handle;  // verified, lowercase; "handle.invalid" when it does not verify
    bool handle_verified = false;
    std::optional<std::string> claimed_handle;
    std::optional<std::string> pds_endpoint;
    std::optional<VerificationMethod> signing_key;
    std::shared_ptr<const DidDocument> document;
};

struct IdentityCacheOptions {
    std::chrono::seconds stale_after{3600};
    std::chrono::seconds expire_after{24 * 3600};
    std::chrono::seconds negative_ttl{60};
    std::size_t max_entries = 100'000;
    // Optional stale-while-revalidate: runs a refresh task in the background (e.g. posts it to a pool).
    std::function<void(std::function<void()>)> refresh_executor;
    // Optional observer: called (under the cache lock: keep it trivial) when a caller waits for another
    // caller's fetch of the same key instead of fetching again (tests, metrics).
    std::function<void()> on_join;
};

struct ResolveOptions {
    bool no_cache = false;
    std::optional<std::chrono::seconds> max_age;
};

class IdentityResolver {
  public:
    IdentityResolver(HandleResolver& handles, DidResolver& dids, const core::Clock& clock,
                     IdentityCacheOptions options = {});
    ~IdentityResolver();
    IdentityResolver(const IdentityResolver&) = delete;
    IdentityResolver& operator=(const IdentityResolver&) = delete;

    Result<Identity> ResolveHandle(std::string_view handle, const ResolveOptions& options = {});
    Result<Identity> ResolveDid(std::string_view did, const ResolveOptions& options = {});
    Result<Identity> Resolve(std::string_view at_identifier, const ResolveOptions& options = {});

    // The cached building blocks.
    Result<std::string> ResolveHandleToDid(std::string_view handle, const ResolveOptions& options = {});
    Result<std::shared_ptr<const DidDocument>> ResolveDocument(std::string_view did,
                                                               const ResolveOptions& options = {});

    // Drops cached data for a DID (firehose #identity events) or a handle.
    void Invalidate(std::string_view did_or_handle);

  private:
    template <typename T>
    struct Cache;

    template <typename T, typename Fetch>
    Result<T> Cached(Cache<T>& cache, const std::string& key, const ResolveOptions& options, Fetch fetch);

    HandleResolver& handles_;
    DidResolver& dids_;
    const core::Clock& clock_;
    IdentityCacheOptions options_;
    std::unique_ptr<Cache<std::string>> handle_cache_;
    std::unique_ptr<Cache<std::shared_ptr<const DidDocument>>> doc_cache_;
};

}  // namespace plyr::atproto::identity
