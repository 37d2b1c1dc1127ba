#include "atproto/identity/did_document.hpp"

#include <algorithm>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>

#include "atproto/syntax/syntax.hpp"
#include "core/json_strict.hpp"

namespace plyr::atproto::identity {
namespace {

tl::unexpected<Error> Invalid(std::string detail) {
    return Fail(ErrorCode::kProtocol, "invalid did document", std::move(detail));
}

std::string Lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c + 32 : c); });
    return out;
}

// Reads an optional string member; a present non-string member is a document error.
Result<std::string> OptionalString(const boost::json::object& object, std::string_view key, std::string_view where) {
    const boost::json::value* v = object.if_contains(key);
    if (v == nullptr || v->is_null()) return std::string();
    if (!v->is_string()) return Invalid(std::string(where) + "." + std::string(key) + " is not a string");
    return std::string(v->get_string());
}

Result<const boost::json::array*> OptionalArray(const boost::json::object& object, std::string_view key) {
    const boost::json::value* v = object.if_contains(key);
    if (v == nullptr || v->is_null()) return nullptr;
    if (!v->is_array()) return Invalid(std::string(key) + " is not an array");
    return &v->get_array();
}

bool IdMatches(std::string_view id, std::string_view did, std::string_view fragment) {
    if (id.size() == fragment.size() + 1 && id.front() == '#') return id.substr(1) == fragment;
    return id.size() == did.size() + 1 + fragment.size() && id.substr(0, did.size()) == did && id[did.size()] == '#' &&
           id.substr(did.size() + 1) == fragment;
}

bool IsSigningKeyType(std::string_view type) {
    return type == "Multikey" || type == "EcdsaSecp256k1VerificationKey2019" ||
           type == "EcdsaSecp256r1VerificationKey2019";
}

}  // namespace

const Service* DidDocument::FindService(std::string_view fragment) const {
    for (const auto& s : services) {
        if (IdMatches(s.id, did, fragment)) return &s;
    }
    return nullptr;
}

const VerificationMethod* DidDocument::FindVerificationMethod(std::string_view fragment) const {
    for (const auto& m : verification_methods) {
        if (IdMatches(m.id, did, fragment)) return &m;
    }
    return nullptr;
}

Result<std::string> ParseServiceOrigin(std::string_view url, bool allow_http) {
    auto bad = [&](std::string why) {
        return Invalid("service endpoint '" + std::string(url.substr(0, 200)) + "': " + std::move(why));
    };
    auto parsed = boost::urls::parse_absolute_uri(url);
    if (!parsed) return bad("not an absolute url");
    std::string scheme = Lower(parsed->scheme());
    if (scheme != "https" && !(scheme == "http" && allow_http)) {
        return bad(scheme == "http" ? "http endpoints are only allowed for local development" : "scheme not https");
    }
    if (!parsed->has_authority() || parsed->encoded_host().empty()) return bad("no host");
    if (parsed->has_userinfo()) return bad("userinfo");
    if (parsed->has_query() || parsed->has_fragment()) return bad("query or fragment");
    std::string_view path = parsed->encoded_path();
    if (!path.empty() && path != "/") return bad("path");
    if (parsed->host_type() == boost::urls::host_type::ipvfuture) return bad("host form");
    std::string host = Lower(parsed->encoded_host());
    if (host.find('%') != std::string::npos) return bad("percent-encoded host");
    std::string origin = scheme + "://" + host;
    if (parsed->has_port()) {
        if (parsed->port().empty() || parsed->port_number() == 0) return bad("port");
        origin += ":" + std::string(parsed->port());
    }
    return origin;
}

Result<DidDocument> ParseDidDocument(std::string_view json, std::string_view expected_did,
                                     const DidDocumentOptions& options) {
    if (json.size() > options.max_bytes) {
        return Invalid("document of " + std::to_string(json.size()) + " bytes exceeds " +
                       std::to_string(options.max_bytes));
    }
    boost::json::parse_options parse_options;
    parse_options.max_depth = 32;
    boost::system::error_code ec;
    boost::json::value root = boost::json::parse(json, ec, {}, parse_options);
    if (ec) return Invalid("json: " + ec.message());
    if (core::JsonHasDuplicateKeys(json, parse_options)) return Invalid("a json object repeats a member name");
    if (!root.is_object()) return Invalid("document is not a json object");
    const auto& object = root.get_object();

    DidDocument doc;
    const boost::json::value* id = object.if_contains("id");
    if (id == nullptr || !id->is_string()) return Invalid("id missing or not a string");
    if (id->get_string() != expected_did) {
        return Invalid("id '" + std::string(id->get_string()).substr(0, 200) + "' is not the requested did");
    }
    doc.did = std::string(expected_did);

    auto aka = OptionalArray(object, "alsoKnownAs");
    if (!aka) return Fail(std::move(aka.error()));
    if (*aka != nullptr) {
        for (const auto& entry : **aka) {
            if (!entry.is_string()) return Invalid("alsoKnownAs entry is not a string");
            doc.also_known_as.emplace_back(entry.get_string());
        }
    }

    auto methods = OptionalArray(object, "verificationMethod");
    if (!methods) return Fail(std::move(methods.error()));
    if (*methods != nullptr) {
        for (const auto& entry : **methods) {
            if (!entry.is_object()) return Invalid("verificationMethod entry is not an object");
            const auto& m = entry.get_object();
            VerificationMethod vm;
            auto vm_id = OptionalString(m, "id", "verificationMethod");
            auto type = OptionalString(m, "type", "verificationMethod");
            auto controller = OptionalString(m, "controller", "verificationMethod");
            auto key = OptionalString(m, "publicKeyMultibase", "verificationMethod");
            for (auto* r : {&vm_id, &type, &controller, &key}) {
                if (!*r) return Fail(std::move(r->error()));
            }
            if (vm_id->empty()) return Invalid("verificationMethod without id");
            vm.id = std::move(*vm_id);
            vm.type = std::move(*type);
            vm.controller = std::move(*controller);
            vm.public_key_multibase = std::move(*key);
            doc.verification_methods.push_back(std::move(vm));
        }
    }

    auto services = OptionalArray(object, "service");
    if (!services) return Fail(std::move(services.error()));
    if (*services != nullptr) {
        for (const auto& entry : **services) {
            if (!entry.is_object()) return Invalid("service entry is not an object");
            const auto& s = entry.get_object();
            Service service;
            auto service_id = OptionalString(s, "id", "service");
            if (!service_id) return Fail(std::move(service_id.error()));
            if (service_id->empty()) return Invalid("service without id");
            service.id = std::move(*service_id);
            // DID Core allows a type array and map/array endpoints; atproto services use plain strings.
            if (const auto* type = s.if_contains("type")) {
                if (type->is_string()) {
                    service.type = std::string(type->get_string());
                } else if (type->is_array() && !type->get_array().empty() && type->get_array()[0].is_string()) {
                    service.type = std::string(type->get_array()[0].get_string());
                }
            }
            if (const auto* endpoint = s.if_contains("serviceEndpoint"); endpoint != nullptr && endpoint->is_string()) {
                service.endpoint = std::string(endpoint->get_string());
            }
            doc.services.push_back(std::move(service));
        }
    }

    for (const auto& entry : doc.also_known_as) {
        std::string_view text = entry;
        if (text.substr(0, 5) != "at://") continue;
        auto handle = syntax::ParseHandle(text.substr(5));
        if (!handle) continue;
        doc.handle = handle->value;
        break;
    }

    if (const auto* key = doc.FindVerificationMethod("atproto")) {
        if (key->controller == doc.did && IsSigningKeyType(key->type) && !key->public_key_multibase.empty()) {
            doc.signing_key = *key;
        }
    }

    if (const auto* pds = doc.FindService("atproto_pds"); pds != nullptr && pds->type == "AtprotoPersonalDataServer") {
        if (pds->endpoint.empty()) return Invalid("#atproto_pds serviceEndpoint is not a url string");
        auto origin = ParseServiceOrigin(pds->endpoint, options.allow_http_endpoints);
        if (!origin) return Fail(std::move(origin.error()));
        doc.pds_endpoint = std::move(*origin);
    }
    return doc;
}

}  // namespace plyr::atproto::identity
