#pragma once
// A scripted HTTP/1.1 server on 127.0.0.1 (port 0) for S3 client tests that need answers s3rver cannot give
// (5xx, error XML, a failing part, a 200 carrying an error). One request per connection
// ("Connection: close"); every request is recorded. Tests only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plyr::storage::blobs::testing {

struct RecordedRequest {
    std::string method;
    std::string target;  // path and query as sent
    std::string head;    // request line and headers, raw
    std::string body;

    std::string Header(std::string_view name) const {
        std::string lower_head = Lower(head);
        std::string needle = "\r\n" + Lower(std::string(name)) + ":";
        std::size_t at = lower_head.find(needle);
        if (at == std::string::npos) return {};
        std::size_t start = at + needle.size();
        std::size_t end = head.find("\r\n", start);
        std::string value = head.substr(start, end - start);
        while (!value.empty() && value.front() == ' ') value.erase(value.begin());
        return value;
    }
    static std::string Lower(std::string text) {
        for (char& c : text) {
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        }
        return text;
    }
};

struct CannedResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool hang = false;  // never answer (for timeout tests); the connection is closed at Stop()
};

class FakeHttpServer {
  public:
    using Handler = std::function<CannedResponse(const RecordedRequest&)>;

    explicit FakeHttpServer(Handler handler) : handler_(std::move(handler)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_fd_ < 0) throw std::runtime_error("socket");
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
            throw std::runtime_error("bind/listen");
        }
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { Run(); });
    }
    ~FakeHttpServer() { Stop(); }
    FakeHttpServer(const FakeHttpServer&) = delete;
    FakeHttpServer& operator=(const FakeHttpServer&) = delete;

    int port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<RecordedRequest> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }
    void Stop() {
        if (stopping_.exchange(true)) return;
        thread_.join();
        ::close(listen_fd_);
        for (int fd : hung_) ::close(fd);
    }

  private:
    void Run() {
        while (!stopping_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            Serve(fd);
        }
    }

    bool ReadSome(int fd, std::string& into) {
        char buffer[65536];
        while (!stopping_) {
            pollfd p{fd, POLLIN, 0};
            int ready = ::poll(&p, 1, 50);
            if (ready == 0) continue;
            if (ready < 0) return false;
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) return false;
            into.append(buffer, static_cast<std::size_t>(n));
            return true;
        }
        return false;
    }

    void Serve(int fd) {
        std::string data;
        std::size_t header_end;
        while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
            if (!ReadSome(fd, data)) {
                ::close(fd);
                return;
            }
        }
        RecordedRequest request;
        request.head = data.substr(0, header_end + 2);
        std::size_t sp1 = request.head.find(' ');
        std::size_t sp2 = request.head.find(' ', sp1 + 1);
        request.method = request.head.substr(0, sp1);
        request.target = request.head.substr(sp1 + 1, sp2 - sp1 - 1);
        std::size_t length = 0;
        if (std::string value = request.Header("content-length"); !value.empty()) length = std::stoull(value);
        request.body = data.substr(header_end + 4);
        while (request.body.size() < length) {
            if (!ReadSome(fd, request.body)) break;
        }
        CannedResponse response = handler_(request);
        {
            std::lock_guard lock(mutex_);
            requests_.push_back(request);
        }
        if (response.hang) {
            hung_.push_back(fd);
            return;
        }
        std::string out = "HTTP/1.1 " + std::to_string(response.status) + " X\r\n";
        bool has_length = false;
        for (const auto& [name, value] : response.headers) {
            out += name + ": " + value + "\r\n";
            has_length = has_length || RecordedRequest::Lower(name) == "content-length";
        }
        if (!has_length) out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
        out += "Connection: close\r\n\r\n";
        if (request.method != "HEAD") out += response.body;
        for (std::size_t sent = 0; sent < out.size();) {
            ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
            if (n <= 0) break;
            sent += static_cast<std::size_t>(n);
        }
        ::close(fd);
    }

    Handler handler_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<RecordedRequest> requests_;
    std::vector<int> hung_;
};

// An error document as S3 sends it.
inline std::string S3ErrorXml(std::string_view code, std::string_view message) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + std::string(code) + "</Code><Message>" +
           std::string(message) + "</Message><RequestId>1</RequestId></Error>";
}

}  // namespace plyr::storage::blobs::testing
