#include "support/plyr_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "support/testnet.hpp"

namespace plyr::testing {
namespace {

std::optional<std::string> EnvVar(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
}

// Waits for `pid` up to `timeout`; the exit code (or -signal), nullopt while it still runs.
std::optional<int> Reap(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return -WTERMSIG(status);
            return -1;
        }
        if (r < 0) return -1;
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

PlyrServer::PlyrServer(std::string data_dir, Env extra, std::string log_file)
    : data_dir_(std::move(data_dir)), log_file_(std::move(log_file)), port_(FreePort()) {
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    own_public_url_ = !extra.contains("PUBLIC_URL");
    env_ = BaseEnv({{"DATA_DIR", data_dir_},
                    {"PORT", std::to_string(port_)},
                    {"HOST", "127.0.0.1"},
                    {"PUBLIC_URL", url_},
                    {"LOG_LEVEL", "warn"},
                    {"LOG_FORMAT", "json"}});
    for (auto& [k, v] : extra) env_[k] = v;
    if (log_file_.empty()) {
        log_file_ =
            (std::filesystem::path(data_dir_).parent_path() / ("plyr-" + std::to_string(port_) + ".log")).string();
    }
}

PlyrServer::~PlyrServer() { Stop(); }

bool PlyrServer::Start(std::chrono::milliseconds timeout) {
    if (running()) return true;
    // FreePort() only says the port was free a moment ago: another test may take it first. Before the first
    // successful start nothing depends on the port yet, so a lost race is retried on a new one.
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::size_t log_before = Log().size();
        if (Spawn(timeout)) {
            started_once_ = true;
            return true;
        }
        bool lost_port_race = Log().find("cannot listen", log_before) != std::string::npos;
        if (started_once_ || !lost_port_race) return false;
        port_ = FreePort();
        env_["PORT"] = std::to_string(port_);
        url_ = "http://127.0.0.1:" + std::to_string(port_);
        if (own_public_url_) env_["PUBLIC_URL"] = url_;
    }
    return false;
}

bool PlyrServer::Spawn(std::chrono::milliseconds timeout) {
    std::filesystem::create_directories(data_dir_);
    std::vector<std::string> args{PlyrBinary(), "serve"};
    std::vector<std::string> envs;
    for (const auto& [k, v] : env_) envs.push_back(k + "=" + v);
    std::vector<char*> c_args;
    for (auto& a : args) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    std::vector<char*> c_env;
    for (auto& e : envs) c_env.push_back(e.data());
    c_env.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, c_args[0], &actions, nullptr, c_args.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    pid_ = pid;

    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        // Exit first: an answer on the port is only ours while our child still runs.
        if (Reap(pid_, std::chrono::milliseconds(0))) {
            pid_ = -1;
            return false;
        }
        if (HttpRequest(port_, "GET", "/health", {}, {}, std::chrono::milliseconds(2000))) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));  // polling interval, not synchronisation
    }
    Stop(std::chrono::milliseconds(0));
    return false;
}

std::optional<int> PlyrServer::Stop(std::chrono::milliseconds grace) {
    if (!running()) return std::nullopt;
    kill(pid_, SIGTERM);
    auto code = Reap(pid_, grace);
    if (!code) {
        kill(pid_, SIGKILL);
        code = Reap(pid_, std::chrono::seconds(10));
    }
    pid_ = -1;
    return code;
}

std::optional<int> PlyrServer::Kill() {
    if (!running()) return std::nullopt;
    kill(pid_, SIGKILL);
    auto code = Reap(pid_, std::chrono::seconds(10));
    pid_ = -1;
    return code;
}

std::string PlyrServer::Log() const {
    std::ifstream in(log_file_, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::optional<Env> TestnetServeEnv() {
    auto pds = TestnetPdsUrl();
    auto plc = EnvVar("TESTNET_PLC_URL");
    if (!pds || !plc) return std::nullopt;
    return Env{{"PLC_DIRECTORY_URL", *plc},
               {"HANDLE_RESOLVER_URL", *pds},
               {"ALLOW_PRIVATE_NETWORK", "true"},
               {"RATE_LIMIT_ENABLED", "false"},
               {"PLYR_ENABLE_TEST_ROUTES", "1"}};
}

std::string GenerateOAuthJwk() {
    auto result = RunProcess({PlyrBinary(), "keygen", "oauth-jwk"}, BaseEnv(), {}, std::chrono::seconds(30));
    if (result.exit_code != 0) return {};
    std::string out = result.out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

}  // namespace plyr::testing
