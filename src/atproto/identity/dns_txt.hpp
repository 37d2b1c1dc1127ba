#pragma once
// DNS TXT lookups for handle resolution (`_atproto.<handle>`, docs/atproto.md §2.1) via libresolv.
//
// Contract
// - LookupTxt(name, timeout) is BLOCKING (res_nquery with a per-call resolver state, so it is thread-safe);
//   it returns one string per TXT record, the record's character-strings concatenated (a record may be
//   split into several <255-byte pieces). kNotFound for NXDOMAIN / no TXT data, kTimeout when the servers
//   do not answer, kUnavailable for other resolver failures, kProtocol for an unparseable answer.
// - ParseTxtAnswer() decodes a raw DNS response message (exposed for tests).
// Thread-safety: both functions are safe from any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace plyr::atproto::identity {

// A specific IPv4 name server instead of /etc/resolv.conf's (tests; a pinned resolver in deployments).
struct NameServer {
    std::string ipv4;
    std::uint16_t port = 53;
};

Result<std::vector<std::string>> LookupTxt(const std::string& name, std::chrono::milliseconds timeout,
                                           const std::optional<NameServer>& server = std::nullopt);

Result<std::vector<std::string>> ParseTxtAnswer(std::span<const std::uint8_t> message);

}  // namespace plyr::atproto::identity
