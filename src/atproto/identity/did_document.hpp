#pragma once
// atproto::identity — reading an atproto DID document (docs/atproto.md §2.3, docs/identity.md).
//
// Contract
// - ParseDidDocument() is strict and size-limited: at most options.max_bytes of UTF-8 JSON, an object whose
//   `id` is exactly the requested DID; `alsoKnownAs` an array of strings, `verificationMethod` and
//   `service` arrays of objects with string members where present, no repeated member names, nesting ≤ 32.
//   Anything else → kProtocol
//   ("invalid did document"; IdentityErrorName → invalid_did_document).
// - Derived fields:
//   handle       the first `alsoKnownAs` entry that is `at://` + a valid handle, lowercased (a claim only;
//                bidirectional verification happens in IdentityResolver);
//   signing_key  the first verificationMethod with id `#atproto` (relative or absolute), controller = the
//                DID, type Multikey or a legacy EcdsaSecp256{k1,r1}VerificationKey2019, with a
//                publicKeyMultibase (kept as a string; decoding belongs to atproto/crypto). A missing or
//                unusable key is not an error: the document is still an identity, just not a repo signer;
//   pds_endpoint the first service with id `#atproto_pds`; when its type is AtprotoPersonalDataServer its
//                serviceEndpoint must be an https origin (http only with options.allow_http_endpoints)
//                without path, query, fragment or userinfo, else the whole document is kProtocol
//                (product.md §9 row 35). Returned as `scheme://host[:port]`, lowercase, no slash.
// - Thread-safety: pure functions; DidDocument is a plain value.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace plyr::atproto::identity {

inline constexpr std::size_t kMaxDidDocumentBytes = 64 * 1024;

struct VerificationMethod {
    std::string id;  // as written: "#atproto" or "did:plc:…#atproto"
    std::string type;
    std::string controller;
    std::string public_key_multibase;
};

struct Service {
    std::string id;
    std::string type;      // first entry when the document gives an array of types
    std::string endpoint;  // only when serviceEndpoint is a string
};

struct DidDocument {
    std::string did;
    std::vector<std::string> also_known_as;
    std::vector<VerificationMethod> verification_methods;
    std::vector<Service> services;

    std::optional<std::string> handle;
    std::optional<VerificationMethod> signing_key;
    std::optional<std::string> pds_endpoint;

    // First entry whose id is `#<fragment>` or `<did>#<fragment>`; fragment given without '#'.
    const Service* FindService(std::string_view fragment) const;
    const VerificationMethod* FindVerificationMethod(std::string_view fragment) const;
};

struct DidDocumentOptions {
    std::size_t max_bytes = kMaxDidDocumentBytes;
    bool allow_http_endpoints = false;  // ALLOW_PRIVATE_NETWORK set (local development, tests)
};

Result<DidDocument> ParseDidDocument(std::string_view json, std::string_view expected_did,
                                     const DidDocumentOptions& options = {});

// The origin form of a service endpoint URL, or an error saying why it is not one (kProtocol).
Result<std::string> ParseServiceOrigin(std::string_view url, bool allow_http);

}  // namespace plyr::atproto::identity
