#pragma once
// atproto/oauth DpopNonceCache: the latest DPoP-Nonce per server origin (atproto.md §6.6), process-wide.
//
// Contract
// - Keys are origins (`scheme://host[:port]`, OriginOf of the request URL): the authorization server and
//   each PDS get their own slot (sharing one slot between AS and PDS is a listed pitfall). The caller
//   computes the origin; the cache does not parse URLs.
// - Nonces are public values (servers hand them to anyone), but they are NEVER stored in a session row:
//   they belong to the server, not to the grant, and go stale within minutes.
// - Bounded: at most `capacity` origins (default 10 000); a Put of a new origin at capacity evicts the
//   origin that was written least recently. Get does not refresh recency (cheap reads).
// - Put of an empty nonce is ignored.
// - Thread-safety: every member may be called concurrently (one mutex; operations are O(1) amortised).

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace plyr::atproto::oauth {

class DpopNonceCache {
  public:
    static constexpr std::size_t kDefaultCapacity = 10'000;

    explicit DpopNonceCache(std::size_t capacity = kDefaultCapacity);
    DpopNonceCache(const DpopNonceCache&) = delete;
    DpopNonceCache& operator=(const DpopNonceCache&) = delete;

    std::optional<std::string> Get(std::string_view origin) const;
    void Put(std::string_view origin, std::string_view nonce);
    std::size_t size() const;

  private:
    struct Entry {
        std::string nonce;
        std::list<std::string>::iterator order;
    };
    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::list<std::string> order_;  // least recently written first
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace plyr::atproto::oauth
