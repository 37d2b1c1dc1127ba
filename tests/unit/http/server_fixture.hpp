#pragma once
// Runs an http::Server on 127.0.0.1:0 with a 2-thread I/O pool for socket-level tests.

#include <memory>

#include <gtest/gtest.h>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "http/server.hpp"
#include "net/offload.hpp"
#include "test_client.hpp"

namespace plyr::http::testing {

// Short timeouts so every test stays fast; individual tests shorten them further.
inline ServerOptions FastOptions() {
    ServerOptions options;
    options.header_timeout = std::chrono::milliseconds(2000);
    options.idle_timeout = std::chrono::milliseconds(2000);
    options.body_timeout = std::chrono::milliseconds(2000);
    options.write_timeout = std::chrono::milliseconds(2000);
    options.shutdown_grace = std::chrono::milliseconds(2000);
    options.access_log = false;
    return options;
}

class ServerTest : public ::testing::Test {
  protected:
    void SetUp() override { log::Init(log::Level::kWarn, log::Format::kJson); }

    void StartServer(Router router, ServerOptions options = FastOptions()) {
        if (options.metrics == nullptr) options.metrics = &metrics_;
        pool_ = std::make_unique<net::IoPool>(2);
        server_ = std::make_unique<Server>(*pool_, std::move(router), std::move(options));
        auto port = server_->Start();
        ASSERT_TRUE(port.has_value()) << port.error().ToString();
        port_ = *port;
        pool_->Start();
    }

    void TearDown() override {
        if (server_) server_->Stop();
        if (pool_) pool_->Join();
        server_.reset();
        pool_.reset();
        log::Init(log::Level::kInfo, log::Format::kJson);
    }

    std::optional<RawResponse> Fetch(const std::string& request_text, bool head = false) {
        TestConnection connection(port_);
        if (!connection.connected() || !connection.Send(request_text)) return std::nullopt;
        return connection.ReadResponse(head);
    }

    core::metrics::Registry metrics_;
    std::unique_ptr<net::IoPool> pool_;
    std::unique_ptr<Server> server_;
    std::uint16_t port_ = 0;
};

}  // namespace plyr::http::testing
