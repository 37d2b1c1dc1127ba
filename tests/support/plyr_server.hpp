#pragma once
// Test support: the real `plyr serve` binary on a free loopback port, with PUBLIC_URL to match, its stdout and
// stderr appended to a log file (so a chatty server never blocks on a full pipe and a failing test can show
// the log). Start() returns once /health answers; Restart() keeps the port, the environment and DATA_DIR.
// For end-to-end tests of the sign-in against the local reference PDS, TestnetServeEnv() gives the settings
// that point plyr at the testnet (docs/testing-auth.md). Tests only.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace plyr::testing {

class PlyrServer {
  public:
    // `extra` wins over the defaults (PORT, PUBLIC_URL = http://127.0.0.1:<port>, DATA_DIR, LOG_LEVEL=warn,
    // LOG_FORMAT=json). `log_file` defaults to <data_dir>/../plyr-<port>.log.
    PlyrServer(std::string data_dir, Env extra = {}, std::string log_file = {});
    ~PlyrServer();
    PlyrServer(const PlyrServer&) = delete;
    PlyrServer& operator=(const PlyrServer&) = delete;

    // Spawns `plyr serve` and polls GET /health until it answers (any status) or `timeout` passes; false
    // when the process exits or never answers (the log says why: Log()). Before the first successful start, a
    // port taken by someone else in the meantime is replaced by a new free one (port() and url() follow).
    bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // SIGTERM, then SIGKILL after `grace`. Returns the exit code (or -signal), nullopt when not running.
    std::optional<int> Stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    // SIGKILL at once (a crash: no graceful shutdown, leases are left to expire).
    std::optional<int> Kill();
    bool Restart() {
        Stop();
        return Start();
    }

    int port() const { return port_; }
    // http://127.0.0.1:<port>, where it listens (= PUBLIC_URL unless the caller set PUBLIC_URL).
    const std::string& url() const { return url_; }
    const std::string& data_dir() const { return data_dir_; }
    std::string db_path() const { return data_dir_ + "/plyr.db"; }
    bool running() const { return pid_ > 0; }
    // The whole log so far (stdout + stderr of every start).
    std::string Log() const;

  private:
    bool Spawn(std::chrono::milliseconds timeout);

    std::string data_dir_;
    Env env_;
    std::string log_file_;
    int port_;
    std::string url_;
    pid_t pid_ = -1;
    bool own_public_url_ = true;  // PUBLIC_URL follows the port (the caller did not set it)
    bool started_once_ = false;
};

// Settings that point `plyr serve` at the local reference PDS of $TESTNET_PDS_URL / $TESTNET_PLC_URL:
// PLC_DIRECTORY_URL, HANDLE_RESOLVER_URL, ALLOW_PRIVATE_NETWORK=true, RATE_LIMIT_ENABLED=false,
// PLYR_ENABLE_TEST_ROUTES=1. nullopt when no testnet runs (the caller skips).
std::optional<Env> TestnetServeEnv();

// `plyr keygen oauth-jwk` (one line of private JWK JSON), or "" on failure.
std::string GenerateOAuthJwk();

}  // namespace plyr::testing
