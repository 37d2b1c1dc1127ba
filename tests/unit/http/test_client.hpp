#pragma once
// A deliberately dumb blocking HTTP/1.1 client over a plain loopback socket (tests only): it sends raw
// bytes (so tests can send malformed, trickled or oversized requests) and parses responses framed by
// Content-Length. Every wait is bounded by poll() timeouts.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plyr::http::testing {

using namespace std::chrono_literals;

struct RawResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::optional<std::string> Header(std::string_view name) const {
        for (const auto& [key, value] : headers) {
            if (key.size() != name.size()) continue;
            bool same = true;
            for (std::size_t i = 0; i < key.size(); ++i) {
                if (std::tolower(static_cast<unsigned char>(key[i])) !=
                    std::tolower(static_cast<unsigned char>(name[i]))) {
                    same = false;
                    break;
                }
            }
            if (same) return value;
        }
        return std::nullopt;
    }
};

class TestConnection {
  public:
    explicit TestConnection(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
        if (fd_ >= 0) {
            int one = 1;
            ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
    }
    ~TestConnection() { Close(); }
    TestConnection(const TestConnection&) = delete;
    TestConnection& operator=(const TestConnection&) = delete;

    bool connected() const { return fd_ >= 0; }
    void Close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    bool Send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one response. head_request: the response to a HEAD has no body whatever Content-Length says.
    std::optional<RawResponse> ReadResponse(bool head_request = false, std::chrono::milliseconds timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::size_t end;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!Fill(deadline)) return std::nullopt;
        }
        RawResponse response;
        std::string_view head(buffer_.data(), end);
        auto line_end = head.find("\r\n");
        std::string_view status_line = head.substr(0, line_end);
        if (status_line.size() < 12) return std::nullopt;
        response.status = std::stoi(std::string(status_line.substr(9, 3)));
        std::string_view rest = line_end == std::string_view::npos ? std::string_view{} : head.substr(line_end + 2);
        while (!rest.empty()) {
            auto eol = rest.find("\r\n");
            std::string_view line = rest.substr(0, eol);
            auto colon = line.find(':');
            if (colon != std::string_view::npos) {
                std::string_view value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
                response.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
            }
            if (eol == std::string_view::npos) break;
            rest.remove_prefix(eol + 2);
        }
        buffer_.erase(0, end + 4);
        std::size_t length = 0;
        if (auto cl = response.Header("Content-Length")) length = std::stoull(*cl);
        bool bodiless = head_request || response.status == 204 || response.status == 304 || response.status / 100 == 1;
        if (bodiless) length = 0;
        while (buffer_.size() < length) {
            if (!Fill(deadline)) return std::nullopt;
        }
        response.body = buffer_.substr(0, length);
        buffer_.erase(0, length);
        return response;
    }

    // True when the server closes the connection (EOF or reset) within the timeout; bytes that arrive
    // meanwhile are kept for ReadResponse.
    bool WaitClosed(std::chrono::milliseconds timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            int result = PollRead(deadline);
            if (result <= 0) return false;
            char chunk[4096];
            ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
            if (n == 0) return true;
            if (n < 0) {
                if (errno == EINTR) continue;
                return errno == ECONNRESET || errno == EPIPE;
            }
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    std::string& buffered() { return buffer_; }
    // Waits for more bytes (appended to buffered()); false on timeout, EOF or error.
    bool ReadMore(std::chrono::milliseconds timeout) { return Fill(std::chrono::steady_clock::now() + timeout); }

  private:
    int PollRead(std::chrono::steady_clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return 0;
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(left.count()));
    }

    bool Fill(std::chrono::steady_clock::time_point deadline) {
        if (PollRead(deadline) <= 0) return false;
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buffer_;
};

// "GET /x HTTP/1.1" plus Host and the given header lines.
inline std::string RequestText(std::string_view method, std::string_view target, std::vector<std::string> headers = {},
                               std::string_view body = {}) {
    std::string text = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n";
    for (const auto& header : headers) text += header + "\r\n";
    if (!body.empty()) text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    text += "\r\n";
    text += body;
    return text;
}

}  // namespace plyr::http::testing
