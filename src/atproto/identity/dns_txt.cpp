#include "atproto/identity/dns_txt.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>

#include <algorithm>
#include <cstring>

namespace plyr::atproto::identity {

Result<std::vector<std::string>> ParseTxtAnswer(std::span<const std::uint8_t> message) {
    ns_msg handle;
    if (ns_initparse(message.data(), static_cast<int>(message.size()), &handle) != 0) {
        return Fail(ErrorCode::kProtocol, "dns lookup failed", "unparseable dns answer");
    }
    std::vector<std::string> records;
    const int count = ns_msg_count(handle, ns_s_an);
    for (int i = 0; i < count; ++i) {
        ns_rr rr;
        if (ns_parserr(&handle, ns_s_an, i, &rr) != 0) {
            return Fail(ErrorCode::kProtocol, "dns lookup failed", "unparseable dns record");
        }
        if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in) continue;  // e.g. a CNAME in the chain
        const std::uint8_t* data = ns_rr_rdata(rr);
        const std::size_t length = ns_rr_rdlen(rr);
        std::string joined;
        std::size_t pos = 0;
        while (pos < length) {
            const std::size_t piece = data[pos];
            if (pos + 1 + piece > length) {
                return Fail(ErrorCode::kProtocol, "dns lookup failed", "txt character-string overruns its record");
            }
            joined.append(reinterpret_cast<const char*>(data + pos + 1), piece);
            pos += 1 + piece;
        }
        records.push_back(std::move(joined));
    }
    return records;
}

Result<std::vector<std::string>> LookupTxt(const std::string& name, std::chrono::milliseconds timeout,
                                           const std::optional<NameServer>& server) {
    struct __res_state state;
    std::memset(&state, 0, sizeof(state));
    if (res_ninit(&state) != 0) return Fail(ErrorCode::kUnavailable, "dns lookup failed", "res_ninit failed");
    if (server) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(server->port);
        if (inet_pton(AF_INET, server->ipv4.c_str(), &address.sin_addr) != 1) {
            res_nclose(&state);
            return Fail(ErrorCode::kConfig, "dns lookup failed", "bad name server " + server->ipv4);
        }
        state.nscount = 1;
        state.nsaddr_list[0] = address;
    }
    // res_nquery has no deadline of its own: bound it through the per-try timeout and the retry count.
    const int seconds = static_cast<int>(std::max<std::int64_t>(1, timeout.count() / 2000));
    state.retrans = seconds;
    state.retry = 2;
    std::vector<std::uint8_t> answer(16 * 1024);
    int length = res_nquery(&state, name.c_str(), ns_c_in, ns_t_txt, answer.data(), static_cast<int>(answer.size()));
    const int h_error = state.res_h_errno;
    res_nclose(&state);
    if (length < 0) {
        switch (h_error) {
            case HOST_NOT_FOUND:
            case NO_DATA:
                return Fail(ErrorCode::kNotFound, "no dns record", "no TXT record at " + name);
            case TRY_AGAIN:
                return Fail(ErrorCode::kTimeout, "dns lookup failed", "dns timeout for " + name);
            default:
                return Fail(ErrorCode::kUnavailable, "dns lookup failed",
                            "res_nquery(" + name + ") h_errno " + std::to_string(h_error));
        }
    }
    answer.resize(std::min<std::size_t>(static_cast<std::size_t>(length), answer.size()));
    return ParseTxtAnswer(answer);
}

}  // namespace plyr::atproto::identity
