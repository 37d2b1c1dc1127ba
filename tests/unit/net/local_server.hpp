#pragma once
// A real plyr http::Server on 127.0.0.1:0 for outbound-client tests (net, atproto/identity), plus a temp
// directory helper. Tests only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "core/log.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "net/offload.hpp"
#include "support/temp_dir.hpp"

namespace plyr::net::testing {

class LocalServer {
  public:
    // Starts at once; check ok() (the test asserts it).
    explicit LocalServer(http::Router router) {
        http::ServerOptions options;
        options.header_timeout = std::chrono::milliseconds(2000);
        options.idle_timeout = std::chrono::milliseconds(2000);
        options.body_timeout = std::chrono::milliseconds(2000);
        options.write_timeout = std::chrono::milliseconds(2000);
        // Slow handlers (timeout tests) are cancelled quickly at teardown.
        options.shutdown_grace = std::chrono::milliseconds(100);
        options.access_log = false;
        options.max_body_bytes = 8 << 20;
        pool_ = std::make_unique<IoPool>(2);
        server_ = std::make_unique<http::Server>(*pool_, std::move(router), std::move(options));
        auto port = server_->Start();
        if (port) {
            port_ = *port;
            pool_->Start();
        }
    }
    ~LocalServer() {
        server_->Stop();
        pool_->Join();
    }
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;

    bool ok() const { return port_ != 0; }
    std::uint16_t port() const { return port_; }
    std::string Origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::string Url(std::string_view path) const { return Origin() + std::string(path); }
    // The ALLOW_PRIVATE_NETWORK entry that admits exactly this server.
    std::string AllowEntry() const { return "127.0.0.1:" + std::to_string(port_); }

  private:
    std::unique_ptr<IoPool> pool_;
    std::unique_ptr<http::Server> server_;
    std::uint16_t port_ = 0;
};

using plyr::testing::TempDir;

// A port nothing listens on (bound, then released: racy in theory, fine on loopback in practice).
inline std::uint16_t UnusedPort() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
}

}  // namespace plyr::net::testing
