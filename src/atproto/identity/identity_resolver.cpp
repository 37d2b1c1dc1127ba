#include "atproto/identity/identity_resolver.hpp"

#include <condition_variable>
#include <iterator>
#include <list>
#include <map>
#include <mutex>
#include <set>

#include "atproto/syntax/syntax.hpp"

namespace plyr::atproto::identity {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;

std::int64_t Micros(std::chrono::seconds s) { return static_cast<std::int64_t>(s.count()) * kMicrosPerSecond; }

// Bad input is cheap to re-check and says nothing about the remote side: never cached.
bool IsCacheableFailure(const Error& error) {
    return error.code != ErrorCode::kInvalidArgument && error.code != ErrorCode::kUnsupported;
}

// A refresh that could not reach the server does not make what we knew wrong.
bool IsTransient(const Error& error) {
    return error.code == ErrorCode::kUnavailable || error.code == ErrorCode::kTimeout;
}

Identity MakeIdentity(std::shared_ptr<const DidDocument> doc) {
    Identity identity;
    identity.did = doc->did;
    identity.handle = std::string(syntax::kInvalidHandle);
    identity.claimed_handle = doc->handle;
    identity.pds_endpoint = doc->pds_endpoint;
    identity.signing_key = doc->signing_key;
    identity.document = std::move(doc);
    return identity;
}

}  // namespace

std::string_view IdentityErrorName(const Error& error) {
    switch (error.code) {
        case ErrorCode::kInvalidArgument:
        case ErrorCode::kUnsupported:
            return "invalid_handle";
        case ErrorCode::kConflict:
            return "handle_mismatch";
        case ErrorCode::kProtocol:
            return "invalid_did_document";
        case ErrorCode::kNotFound:
            return "identity_not_found";
        default:
            return "identity_unreachable";
    }
}

template <typename T>
struct IdentityResolver::Cache {
    struct Entry {
        Result<T> value;
        std::int64_t stored_at = 0;
        std::list<std::string>::iterator position;
    };
    std::mutex mutex;
    std::map<std::string, Entry, std::less<>> entries;
    std::list<std::string> order;  // insertion order, oldest first
    std::set<std::string, std::less<>> refreshing;
    // A fetch in progress that other callers of the same key wait for.
    struct Flight {
        std::condition_variable done_cv;
        bool done = false;
        std::optional<Result<T>> result;
    };
    std::map<std::string, std::shared_ptr<Flight>, std::less<>> flights;

    // Caller holds the mutex.
    void Store(const std::string& key, Result<T> value, std::int64_t now, std::size_t max_entries) {
        Erase(key);
        order.push_back(key);
        entries.emplace(key, Entry{std::move(value), now, std::prev(order.end())});
        while (entries.size() > max_entries && !order.empty()) {
            entries.erase(order.front());
            order.pop_front();
        }
    }
    void Erase(std::string_view key) {
        auto it = entries.find(key);
        if (it == entries.end()) return;
        order.erase(it->second.position);
        entries.erase(it);
    }
};

IdentityResolver::IdentityResolver(HandleResolver& handles, DidResolver& dids, const core::Clock& clock,
                                   IdentityCacheOptions options)
    : handles_(handles),
      dids_(dids),
      clock_(clock),
      options_(std::move(options)),
      handle_cache_(std::make_unique<Cache<std::string>>()),
      doc_cache_(std::make_unique<Cache<std::shared_ptr<const DidDocument>>>()) {}

IdentityResolver::~IdentityResolver() = default;

template <typename T, typename Fetch>
Result<T> IdentityResolver::Cached(Cache<T>& cache, const std::string& key, const ResolveOptions& options,
                                   Fetch fetch) {
    using Flight = typename Cache<T>::Flight;
    std::optional<T> stale;
    std::shared_ptr<Flight> flight;  // set when this call leads the fetch others may join
    {
        std::unique_lock lock(cache.mutex);
        if (!options.no_cache) {
            const std::int64_t now = clock_.NowMicros();
            if (auto it = cache.entries.find(key); it != cache.entries.end()) {
                const std::int64_t age = now - it->second.stored_at;
                const auto& value = it->second.value;
                const bool young_enough = !options.max_age || age <= Micros(*options.max_age);
                if (!value) {
                    if (age < Micros(options_.negative_ttl) && young_enough) return value;
                } else if (young_enough && age < Micros(options_.stale_after)) {
                    return value;
                } else if (young_enough && age < Micros(options_.expire_after)) {
                    stale = *value;
                    if (options_.refresh_executor) {
                        if (cache.refreshing.insert(key).second) {
                            lock.unlock();
                            options_.refresh_executor([this, &cache, key, fetch]() {
                                auto fresh = fetch();
                                std::lock_guard guard(cache.mutex);
                                cache.refreshing.erase(key);
                                if (fresh || !IsTransient(fresh.error())) {
                                    cache.Store(key, std::move(fresh), clock_.NowMicros(), options_.max_entries);
                                }
                            });
                        }
                        return std::move(*stale);
                    }
                }
            }
        }
        // One fetch per key at a time: a firehose burst for one DID must not become a burst of requests.
        if (auto running = cache.flights.find(key); running != cache.flights.end()) {
            if (!options.no_cache) {
                std::shared_ptr<Flight> joined = running->second;
                if (options_.on_join) options_.on_join();
                joined->done_cv.wait(lock, [&] { return joined->done; });
                return *joined->result;
            }
        } else {
            flight = std::make_shared<Flight>();
            cache.flights.emplace(key, flight);
        }
    }

    auto finish = [&](Result<T> outcome) {
        std::unique_lock lock(cache.mutex);
        if (outcome || IsCacheableFailure(outcome.error())) {
            cache.Store(key, outcome, clock_.NowMicros(), options_.max_entries);
        }
        if (flight) {
            flight->result = outcome;
            flight->done = true;
            cache.flights.erase(key);
            lock.unlock();
            flight->done_cv.notify_all();
        }
        return outcome;
    };

    std::optional<Result<T>> result;
    try {
        result.emplace(fetch());
    } catch (...) {
        // Whoever joined this fetch must not wait forever; the exception itself goes on to our caller.
        if (flight) {
            std::unique_lock lock(cache.mutex);
            flight->result = Fail(ErrorCode::kInternal, "identity resolution failed", "fetch threw");
            flight->done = true;
            cache.flights.erase(key);
            lock.unlock();
            flight->done_cv.notify_all();
        }
        throw;
    }
    if (!*result && stale && IsTransient(result->error())) {
        // A refresh that could not reach the server: keep serving what we knew (not stored again).
        Result<T> served = std::move(*stale);
        if (flight) {
            std::unique_lock lock(cache.mutex);
            flight->result = served;
            flight->done = true;
            cache.flights.erase(key);
            lock.unlock();
            flight->done_cv.notify_all();
        }
        return served;
    }
    return finish(std::move(*result));
}

Result<std::string> IdentityResolver::ResolveHandleToDid(std::string_view handle, const ResolveOptions& options) {
    auto parsed = syntax::ParseHandle(handle);
    if (!parsed) return Fail(ErrorCode::kInvalidArgument, "invalid handle", parsed.error().message);
    return Cached(*handle_cache_, parsed->value, options,
                  [this, key = parsed->value]() { return handles_.Resolve(key); });
}

Result<std::shared_ptr<const DidDocument>> IdentityResolver::ResolveDocument(std::string_view did,
                                                                             const ResolveOptions& options) {
    auto supported = syntax::CheckSupportedDid(did);
    if (!supported) return Fail(std::move(supported.error()));
    return Cached(*doc_cache_, std::string(did), options,
                  [this, key = std::string(did)]() -> Result<std::shared_ptr<const DidDocument>> {
                      auto doc = dids_.Resolve(key);
                      if (!doc) return Fail(std::move(doc.error()));
                      return std::make_shared<const DidDocument>(std::move(*doc));
                  });
}

Result<Identity> IdentityResolver::ResolveHandle(std::string_view handle, const ResolveOptions& options) {
    auto did = ResolveHandleToDid(handle, options);
    if (!did) return Fail(std::move(did.error()));
    auto doc = ResolveDocument(*did, options);
    if (!doc) return Fail(std::move(doc.error()));
    const std::string wanted = syntax::NormalizeHandle(handle);
    if (!(*doc)->handle || *(*doc)->handle != wanted) {
        return Fail(ErrorCode::kConflict, "handle does not match its did document",
                    "handle " + wanted + " -> " + *did + " which claims " + (*doc)->handle.value_or("(nothing)"));
    }
    Identity identity = MakeIdentity(*doc);
    identity.handle = wanted;
    identity.handle_verified = true;
    return identity;
}

Result<Identity> IdentityResolver::ResolveDid(std::string_view did, const ResolveOptions& options) {
    auto doc = ResolveDocument(did, options);
    if (!doc) return Fail(std::move(doc.error()));
    Identity identity = MakeIdentity(*doc);
    if (identity.claimed_handle) {
        auto back = ResolveHandleToDid(*identity.claimed_handle, options);
        if (back && *back == identity.did) {
            identity.handle = *identity.claimed_handle;
            identity.handle_verified = true;
        }
    }
    return identity;
}

Result<Identity> IdentityResolver::Resolve(std::string_view at_identifier, const ResolveOptions& options) {
    if (at_identifier.substr(0, 4) == "did:") return ResolveDid(at_identifier, options);
    return ResolveHandle(at_identifier, options);
}

void IdentityResolver::Invalidate(std::string_view did_or_handle) {
    if (did_or_handle.substr(0, 4) == "did:") {
        {
            std::lock_guard lock(doc_cache_->mutex);
            doc_cache_->Erase(did_or_handle);
        }
        // The handle that pointed at this DID may have moved too.
        std::lock_guard lock(handle_cache_->mutex);
        std::vector<std::string> stale;
        for (const auto& [key, entry] : handle_cache_->entries) {
            if (entry.value && *entry.value == did_or_handle) stale.push_back(key);
        }
        for (const auto& key : stale) handle_cache_->Erase(key);
        return;
    }
    std::lock_guard lock(handle_cache_->mutex);
    handle_cache_->Erase(syntax::NormalizeHandle(did_or_handle));
}

}  // namespace plyr::atproto::identity
