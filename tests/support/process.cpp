#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace plyr::testing {
namespace {

std::vector<char*> ToCArgs(std::vector<std::string>& items) {
    std::vector<char*> out;
    for (auto& s : items) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

pid_t Spawn(const std::vector<std::string>& argv, const Env& env, const std::string& cwd, int out_fd, int err_fd) {
    std::vector<std::string> args = argv;
    std::vector<std::string> envs;
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    auto c_args = ToCArgs(args);
    auto c_env = ToCArgs(envs);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        if (out_fd >= 0) dup2(out_fd, 1);
        if (err_fd >= 0) dup2(err_fd, 2);
        if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
        execve(c_args[0], c_args.data(), c_env.data());
        _exit(127);
    }
    return pid;
}

}  // namespace

std::string PlyrBinary() {
    if (const char* env = std::getenv("PLYR_BINARY"); env != nullptr && *env != '\0') return env;
#ifdef PLYR_BINARY_DIR
    return std::string(PLYR_BINARY_DIR) + "/plyr";
#else
    return "plyr";
#endif
}

Env BaseEnv(const Env& extra) {
    Env env;
    for (const char* name : {"PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"}) {
        if (const char* v = std::getenv(name)) env[name] = v;
    }
    if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& [k, v] : extra) env[k] = v;
    return env;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const Env& env, const std::string& cwd,
                         std::chrono::seconds timeout) {
    int out_pipe[2];
    int err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    pid_t pid = Spawn(argv, env, cwd, out_pipe[1], err_pipe[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    ProcessResult result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    bool killed = false;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        int n = poll(fds, 2, killed ? 1000 : static_cast<int>(std::min<long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[8192];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(got));
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
    return result;
}

ChildProcess::~ChildProcess() {
    if (running()) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
    }
    if (stderr_fd_ >= 0) close(stderr_fd_);
}

bool ChildProcess::Start(const std::vector<std::string>& argv, const Env& env, const std::string& cwd) {
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) return false;
    pid_ = Spawn(argv, env, cwd, -1, err_pipe[1]);
    close(err_pipe[1]);
    stderr_fd_ = err_pipe[0];
    fcntl(stderr_fd_, F_SETFL, fcntl(stderr_fd_, F_GETFL) | O_NONBLOCK);
    return pid_ > 0;
}

void ChildProcess::Drain(std::chrono::milliseconds budget) {
    if (stderr_fd_ < 0) return;
    pollfd fd{stderr_fd_, POLLIN, 0};
    if (poll(&fd, 1, static_cast<int>(budget.count())) <= 0) return;
    char buf[8192];
    while (true) {
        ssize_t got = read(stderr_fd_, buf, sizeof buf);
        if (got <= 0) {
            if (got == 0) {
                close(stderr_fd_);
                stderr_fd_ = -1;
            }
            return;
        }
        stderr_.append(buf, static_cast<std::size_t>(got));
    }
}

std::optional<std::string> ChildProcess::WaitForStderr(const std::string& needle, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        std::size_t pos = stderr_.find(needle, scanned_);
        if (pos != std::string::npos) {
            std::size_t begin = stderr_.rfind('\n', pos);
            begin = begin == std::string::npos ? 0 : begin + 1;
            std::size_t end = stderr_.find('\n', pos);
            if (end != std::string::npos) {
                scanned_ = end + 1;
                return stderr_.substr(begin, end - begin);
            }
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        if (stderr_fd_ < 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            if (stderr_.find(needle, scanned_) == std::string::npos) return std::nullopt;
        }
        Drain(std::chrono::milliseconds(50));
    }
}

void ChildProcess::Signal(int sig) {
    if (running()) kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return std::nullopt;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
        pid_t r = waitpid(pid_, &status_, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            break;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        Drain(std::chrono::milliseconds(20));
    }
    Drain(std::chrono::milliseconds(0));
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return -WTERMSIG(status_);
    return std::nullopt;
}

int FreePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    int port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

std::string HttpResponse::Header(const std::string& name) const {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    auto it = headers.find(lower);
    return it == headers.end() ? std::string() : it->second;
}

std::optional<HttpResponse> HttpRequest(int port, const std::string& method, const std::string& target,
                                        const std::map<std::string, std::string>& headers, const std::string& body,
                                        std::chrono::milliseconds timeout) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return std::nullopt;
    }
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
    for (const auto& [k, v] : headers) request += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT") {
        request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    }
    request += "\r\n" + body;
    std::size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    std::string raw;
    char buf[65536];
    while (true) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
    }
    close(fd);
    std::size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos) return std::nullopt;
    HttpResponse response;
    std::string head = raw.substr(0, head_end);
    std::size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    response.status = std::atoi(status_line.c_str() + 9);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
        std::size_t end = head.find("\r\n", pos);
        if (end == std::string::npos) end = head.size();
        std::string line = head.substr(pos, end - pos);
        std::size_t colon = line.find(':');
        if (colon != std::string::npos) {
            std::string name = line.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            response.headers[name] = value;
        }
        pos = end + 2;
    }
    response.body = raw.substr(head_end + 4);
    if (response.Header("transfer-encoding") == "chunked") {
        std::string decoded;
        std::size_t p = 0;
        const std::string& b = response.body;
        while (p < b.size()) {
            std::size_t eol = b.find("\r\n", p);
            if (eol == std::string::npos) break;
            std::size_t len = std::stoul(b.substr(p, eol - p), nullptr, 16);
            if (len == 0) break;
            decoded += b.substr(eol + 2, len);
            p = eol + 2 + len + 2;
        }
        response.body = decoded;
    }
    return response;
}

bool WaitForHttp(int port, const std::string& path, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (HttpRequest(port, "GET", path, {}, {}, std::chrono::milliseconds(2000))) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::optional<std::string> FreshPostgresDatabase(const std::string& name) {
    const char* base = std::getenv("PLYR_TEST_PG");
    if (base == nullptr || *base == '\0') return std::nullopt;
    std::string url(base);
    RunProcess({"/usr/bin/psql", url, "-qc", "DROP DATABASE IF EXISTS " + name}, BaseEnv());
    auto r = RunProcess({"/usr/bin/psql", url, "-v", "ON_ERROR_STOP=1", "-qc", "CREATE DATABASE " + name}, BaseEnv());
    if (r.exit_code != 0) return std::nullopt;
    return url.substr(0, url.rfind('/') + 1) + name;
}

}  // namespace plyr::testing
