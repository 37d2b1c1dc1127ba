// ServerOptionsFromConfig lives apart from server.cpp so that file (the module's Beast TU) does not need
// the configuration and this one does not need Beast.
#include <algorithm>

#include "core/config.hpp"
#include "http/server.hpp"

namespace plyr::http {

ServerOptions ServerOptionsFromConfig(const core::Config& config) {
    ServerOptions options;
    options.host = config.host;
    options.port = config.port;
    options.max_body_bytes = static_cast<std::uint64_t>(config.max_json_body_bytes);
    options.max_connections = static_cast<std::size_t>(std::max(1, config.http_max_connections));
    options.header_timeout = std::chrono::seconds(config.http_header_timeout_seconds);
    options.idle_timeout = std::chrono::seconds(config.http_idle_timeout_seconds);
    options.body_timeout = std::chrono::seconds(config.http_request_timeout_seconds);
    options.write_timeout = std::chrono::seconds(config.http_request_timeout_seconds);
    options.shutdown_grace = std::chrono::seconds(config.http_shutdown_grace_seconds);
    options.cors.credentialed_origins.push_back(config.PublicOrigin());
    for (const auto& origin : config.cors_allowed_origins) {
        if (std::find(options.cors.credentialed_origins.begin(), options.cors.credentialed_origins.end(), origin) ==
            options.cors.credentialed_origins.end()) {
            options.cors.credentialed_origins.push_back(origin);
        }
    }
    options.security.hsts = config.public_url.starts_with("https://");
    return options;
}

}  // namespace plyr::http
