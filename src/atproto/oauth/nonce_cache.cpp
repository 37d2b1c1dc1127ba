#include "atproto/oauth/nonce_cache.hpp"

#include <algorithm>

namespace plyr::atproto::oauth {

DpopNonceCache::DpopNonceCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::optional<std::string> DpopNonceCache::Get(std::string_view origin) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(origin));
    if (it == entries_.end()) return std::nullopt;
    return it->second.nonce;
}

void DpopNonceCache::Put(std::string_view origin, std::string_view nonce) {
    if (nonce.empty()) return;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(std::string(origin));
    if (it != entries_.end()) {
        it->second.nonce = std::string(nonce);
        order_.splice(order_.end(), order_, it->second.order);
        return;
    }
    if (entries_.size() >= capacity_) {
        entries_.erase(order_.front());
        order_.pop_front();
    }
    order_.emplace_back(origin);
    entries_.emplace(std::string(origin), Entry{std::string(nonce), std::prev(order_.end())});
}

std::size_t DpopNonceCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace plyr::atproto::oauth
