#include "http/message.hpp"

#include <unistd.h>

#include <algorithm>

namespace plyr::http {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::optional<std::string_view> FindPair(const std::vector<std::pair<std::string, std::string>>& pairs,
                                         std::string_view name) {
    for (const auto& [key, value] : pairs) {
        if (key == name) return std::string_view(value);
    }
    return std::nullopt;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (Lower(a[i]) != Lower(b[i])) return false;
    }
    return true;
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
    for (const auto& [key, value] : entries_) {
        if (EqualsIgnoreCase(key, name)) return std::string_view(value);
    }
    return std::nullopt;
}

void Headers::Set(std::string_view name, std::string_view value) {
    Remove(name);
    entries_.emplace_back(std::string(name), std::string(value));
}

void Headers::Add(std::string_view name, std::string_view value) {
    entries_.emplace_back(std::string(name), std::string(value));
}

void Headers::Remove(std::string_view name) {
    std::erase_if(entries_, [&](const auto& entry) { return EqualsIgnoreCase(entry.first, name); });
}

void Headers::AppendToken(std::string_view name, std::string_view token) {
    for (auto& [key, value] : entries_) {
        if (!EqualsIgnoreCase(key, name)) continue;
        std::string_view rest = value;
        while (!rest.empty()) {
            auto comma = rest.find(',');
            if (EqualsIgnoreCase(Trim(rest.substr(0, comma)), token)) return;
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        value += value.empty() ? "" : ", ";
        value += token;
        return;
    }
    Add(name, token);
}

std::optional<std::string_view> Request::Query(std::string_view name) const { return FindPair(query, name); }

std::optional<std::string_view> Request::PathParam(std::string_view name) const { return FindPair(path_params, name); }

UniqueFd::~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

}  // namespace plyr::http
