#pragma once
// A loopback stand-in for everything identity resolution talks to: a PLC directory (`GET /{did}`),
// `/.well-known/atproto-did` and `/.well-known/did.json` (chosen by Host header), and an XRPC
// `com.atproto.identity.resolveHandle` service. Each path counts its requests. Tests only.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "../../net/local_server.hpp"
#include "http/json.hpp"
#include "http/router.hpp"

namespace plyr::atproto::identity::testing {

struct Answer {
    Answer() = default;
    Answer(int s, std::string b, std::string l = {}, std::chrono::milliseconds d = std::chrono::milliseconds(0))
        : status(s), body(std::move(b)), location(std::move(l)), delay(d) {}

    int status = 200;
    std::string body;
    std::string location;  // Location header for redirects
    std::chrono::milliseconds delay{0};
};

class FakeIdentityServer {
  public:
    FakeIdentityServer() : server_(MakeRouter()) {}

    bool ok() const { return server_.ok(); }
    std::uint16_t port() const { return server_.port(); }
    std::string Origin() const { return server_.Origin(); }
    std::string AllowEntry() const { return server_.AllowEntry(); }

    void SetDidDocument(const std::string& did, Answer answer) { Set(plc_, did, std::move(answer)); }
    // host = the Host header without port.
    void SetWellKnownDid(const std::string& host, Answer answer) { Set(well_known_, host, std::move(answer)); }
    void SetDidJson(const std::string& host, Answer answer) { Set(did_json_, host, std::move(answer)); }
    void SetServiceHandle(const std::string& handle, const std::string& did) {
        std::lock_guard lock(mutex_);
        service_[handle] = did;
    }

    int plc_hits() const { return plc_hits_.load(); }
    int well_known_hits() const { return well_known_hits_.load(); }
    int did_json_hits() const { return did_json_hits_.load(); }
    int service_hits() const { return service_hits_.load(); }

  private:
    void Set(std::map<std::string, Answer>& map, const std::string& key, Answer answer) {
        std::lock_guard lock(mutex_);
        map[key] = std::move(answer);
    }

    static std::string HostOf(const http::Request& request) {
        std::string host(request.Header("Host").value_or(""));
        return host.substr(0, host.rfind(':'));
    }

    boost::asio::awaitable<http::Response> Serve(std::map<std::string, Answer>& map, const std::string& key) {
        Answer answer;
        {
            std::lock_guard lock(mutex_);
            auto it = map.find(key);
            if (it == map.end()) co_return http::ErrorResponse(404, "not_found", "unknown");
            answer = it->second;
        }
        if (answer.delay.count() > 0) {
            boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, answer.delay);
            co_await timer.async_wait(boost::asio::use_awaitable);
        }
        http::Response response(answer.status);
        response.body = answer.body;
        response.headers.Set("Content-Type", "application/json");
        if (!answer.location.empty()) response.headers.Set("Location", answer.location);
        co_return response;
    }

    http::Router MakeRouter() {
        http::Router router;
        (void)router.Add("GET", "/.well-known/atproto-did",
                         [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                             well_known_hits_.fetch_add(1);
                             co_return co_await Serve(well_known_, HostOf(request));
                         });
        (void)router.Add("GET", "/.well-known/did.json",
                         [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                             did_json_hits_.fetch_add(1);
                             co_return co_await Serve(did_json_, HostOf(request));
                         });
        (void)router.Add("GET", "/xrpc/com.atproto.identity.resolveHandle",
                         [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
                             service_hits_.fetch_add(1);
                             std::string handle(request.Query("handle").value_or(""));
                             std::lock_guard lock(mutex_);
                             auto it = service_.find(handle);
                             if (it == service_.end()) {
                                 co_return http::ErrorResponse(400, "HandleNotFound", "Unable to resolve handle");
                             }
                             co_return http::JsonResponse(200, boost::json::object{{"did", it->second}});
                         });
        (void)router.Add("GET", "/{did}", [this](http::Request& request) -> boost::asio::awaitable<http::Response> {
            plc_hits_.fetch_add(1);
            co_return co_await Serve(plc_, std::string(request.PathParam("did").value_or("")));
        });
        return router;
    }

    std::mutex mutex_;
    std::map<std::string, Answer> plc_;
    std::map<std::string, Answer> well_known_;
    std::map<std::string, Answer> did_json_;
    std::map<std::string, std::string> service_;
    std::atomic<int> plc_hits_{0};
    std::atomic<int> well_known_hits_{0};
    std::atomic<int> did_json_hits_{0};
    std::atomic<int> service_hits_{0};
    net::testing::LocalServer server_;  // last: stops before the maps go away
};

// A document for `did` claiming `handle`, with a PDS endpoint.
inline std::string MakeDidDocument(const std::string& did, const std::string& handle,
                                   const std::string& pds = "https://pds.example.com") {
    boost::json::object doc;
    doc["id"] = did;
    doc["alsoKnownAs"] = boost::json::array{"at://" + handle};
    doc["verificationMethod"] = boost::json::array{
        boost::json::object{{"id", did + "#atproto"},
                            {"type", "Multikey"},
                            {"controller", did},
                            {"publicKeyMultibase", "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF"}}};
    doc["service"] = boost::json::array{
        boost::json::object{{"id", "#atproto_pds"}, {"type", "AtprotoPersonalDataServer"}, {"serviceEndpoint", pds}}};
    return boost::json::serialize(doc);
}

}  // namespace plyr::atproto::identity::testing
