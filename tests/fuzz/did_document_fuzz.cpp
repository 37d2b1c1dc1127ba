// Fuzz target: DID document parsing. Properties: an accepted document names the requested DID; its PDS
// endpoint is a fixed point of ParseServiceOrigin; its handle claim is a valid lowercase handle; its signing
// key is controlled by the DID; allowing http endpoints never rejects what the strict mode accepted.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "atproto/identity/did_document.hpp"
#include "atproto/syntax/syntax.hpp"

namespace {

constexpr std::string_view kDid = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

void Check(const plyr::atproto::identity::DidDocument& doc, bool allow_http) {
    using namespace plyr::atproto;
    if (doc.did != kDid) std::abort();
    if (doc.pds_endpoint) {
        auto again = identity::ParseServiceOrigin(*doc.pds_endpoint, allow_http);
        if (!again || *again != *doc.pds_endpoint) std::abort();
    }
    if (doc.handle) {
        if (!syntax::IsValidHandle(*doc.handle) || syntax::NormalizeHandle(*doc.handle) != *doc.handle) std::abort();
    }
    if (doc.signing_key && (doc.signing_key->controller != kDid || doc.signing_key->public_key_multibase.empty())) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace plyr::atproto::identity;
    std::string_view json(reinterpret_cast<const char*>(data), size);
    DidDocumentOptions strict;
    DidDocumentOptions dev;
    dev.allow_http_endpoints = true;
    auto a = ParseDidDocument(json, kDid, strict);
    auto b = ParseDidDocument(json, kDid, dev);
    if (a) {
        Check(*a, false);
        if (!b || b->pds_endpoint != a->pds_endpoint || b->handle != a->handle) std::abort();
    }
    if (b) Check(*b, true);
    return 0;
}
