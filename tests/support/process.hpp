#pragma once
// Test support: run the real `plyr` binary (or any program) as a child process, and talk plain HTTP/1.1 to
// it over loopback. Blocking, for tests only.

#include <sys/types.h>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace plyr::testing {

using Env = std::map<std::string, std::string>;

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal (signal in term_signal)
    int term_signal = 0;
    std::string out;
    std::string err;
};

// Path of the plyr binary under test ($PLYR_BINARY, else <build>/plyr).
std::string PlyrBinary();

// A minimal environment for children: PATH, HOME, sanitizer options, plus `extra`. Nothing else leaks in.
Env BaseEnv(const Env& extra = {});

// Runs to completion (killed after `timeout`), capturing stdout and stderr.
ProcessResult RunProcess(const std::vector<std::string>& argv, const Env& env, const std::string& cwd = {},
                         std::chrono::seconds timeout = std::chrono::seconds(60));

// A long-running child whose stderr is captured line by line.
class ChildProcess {
  public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    bool Start(const std::vector<std::string>& argv, const Env& env, const std::string& cwd = {});
    // Reads stderr until a line contains `needle` (returns that line) or the timeout passes.
    std::optional<std::string> WaitForStderr(const std::string& needle, std::chrono::milliseconds timeout);
    void Signal(int sig);
    // Waits for exit; returns the exit code (or -signal), or nullopt on timeout.
    std::optional<int> Wait(std::chrono::milliseconds timeout);
    pid_t pid() const { return pid_; }
    const std::string& stderr_text() const { return stderr_; }
    bool running() const { return pid_ > 0 && !exited_; }

  private:
    void Drain(std::chrono::milliseconds budget);
    pid_t pid_ = -1;
    int stderr_fd_ = -1;
    bool exited_ = false;
    int status_ = 0;
    std::string stderr_;
    std::size_t scanned_ = 0;
};

// A port that was free a moment ago (bind to 0, read it, close).
int FreePort();

struct HttpResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string Header(const std::string& name) const;
};

// One request over a fresh connection ("Connection: close"). Returns nullopt on connection failure.
std::optional<HttpResponse> HttpRequest(int port, const std::string& method, const std::string& target,
                                        const std::map<std::string, std::string>& headers = {},
                                        const std::string& body = {},
                                        std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

// Polls GET path until it answers (any status) or the timeout passes.
bool WaitForHttp(int port, const std::string& path, std::chrono::milliseconds timeout);

// A fresh, empty PostgreSQL database `name` on the test cluster ($PLYR_TEST_PG), created with psql; its URL.
// nullopt when PLYR_TEST_PG is unset (the caller skips) or the database cannot be created.
std::optional<std::string> FreshPostgresDatabase(const std::string& name);

}  // namespace plyr::testing
