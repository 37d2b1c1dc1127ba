// Fuzz target: XRPC error responses (untrusted bodies from any PDS or proxy). Input: first byte picks the
// status (400..599), the rest is the body. Properties: never crashes; the error name is empty or a printable
// token of at most 128 bytes; the message is non-empty and at most 1024 bytes (or our "http status N");
// the code is the one CodeForXrpcError gives for (status, name); detail is printable ASCII only.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "atproto/xrpc/xrpc_client.hpp"

namespace {

bool Printable(std::string_view text) {
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    plyr::net::HttpResponse response;
    response.status = 400 + data[0] % 200;
    std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    auto error = plyr::atproto::xrpc::ErrorFromResponse("com.example.fuzz", response, body);
    if (error.status != response.status) std::abort();
    if (!error.error.empty() &&
        (error.error.size() > 128 || !Printable(error.error) || error.error.find(' ') != std::string::npos)) {
        std::abort();
    }
    if (error.message.empty() || error.message.size() > 1024) std::abort();
    if (error.code != plyr::atproto::xrpc::CodeForXrpcError(error.status, error.error)) std::abort();
    if (!Printable(error.detail)) std::abort();
    return 0;
}
