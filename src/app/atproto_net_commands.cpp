// `plyr atproto resolve|get|ls`: the commands that reach the network, through the SSRF-guarded client and the
// configured identity settings (PLC_DIRECTORY_URL, HANDLE_RESOLVER_URL, ALLOW_PRIVATE_NETWORK).
#include <fmt/format.h>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "app/atproto_commands.hpp"
#include "app/commands.hpp"
#include "app/exit_codes.hpp"
#include "atproto/data/json.hpp"
#include "atproto/identity/did_resolver.hpp"
#include "atproto/identity/handle_resolver.hpp"
#include "atproto/identity/identity_resolver.hpp"
#include "atproto/syntax/syntax.hpp"
#include "atproto/xrpc/repo.hpp"
#include "atproto/xrpc/xrpc_client.hpp"
#include "core/clock.hpp"
#include "net/http_client.hpp"

namespace plyr::app {
namespace {

namespace identity = atproto::identity;

// Everything one network command needs, built from the configuration.
struct Network {
    core::SystemClock clock;
    std::unique_ptr<net::CurlHttpClient> http;
    std::unique_ptr<identity::DefaultHandleResolver> handles;
    std::unique_ptr<identity::HttpDidResolver> dids;
    std::unique_ptr<identity::IdentityResolver> resolver;
};

std::unique_ptr<Network> OpenNetwork(int& exit_code) {
    auto config = LoadConfigOrReport({});
    if (!config) {
        exit_code = kExitConfig;
        return nullptr;
    }
    auto policy = net::PrivateNetworkPolicy::Parse(config->allow_private_network);
    if (!policy) {
        fmt::print(stderr, "plyr: configuration error: invalid ALLOW_PRIVATE_NETWORK: {}\n", policy.error().message);
        exit_code = kExitConfig;
        return nullptr;
    }
    auto network = std::make_unique<Network>();
    net::CurlHttpClientOptions http_options;
    http_options.policy = std::move(*policy);
    network->http = std::make_unique<net::CurlHttpClient>(std::move(http_options));
    identity::HandleResolverOptions handle_options;
    handle_options.service_url = config->handle_resolver_url;
    network->handles = std::make_unique<identity::DefaultHandleResolver>(*network->http, handle_options);
    identity::DidResolverOptions did_options;
    did_options.plc_url = config->plc_directory_url;
    network->dids = std::make_unique<identity::HttpDidResolver>(*network->http, did_options);
    network->resolver = std::make_unique<identity::IdentityResolver>(*network->handles, *network->dids, network->clock);
    return network;
}

int IdentityFailed(const Error& error) {
    fmt::print(stderr, "plyr: {}: {}\n", identity::IdentityErrorName(error), error.message);
    return kExitRuntime;
}

boost::json::object RecordJson(const atproto::xrpc::RecordEntry& entry) {
    boost::json::object out;
    out["uri"] = entry.uri;
    out["cid"] = entry.cid ? boost::json::value(entry.cid->ToString()) : boost::json::value(nullptr);
    out["value"] = atproto::ValueToJson(entry.value);
    return out;
}

}  // namespace

int RunAtprotoResolve(const std::string& identifier) {
    int exit_code = kExitOk;
    auto network = OpenNetwork(exit_code);
    if (!network) return exit_code;
    auto resolved = network->resolver->Resolve(identifier);
    if (!resolved) return IdentityFailed(resolved.error());
    boost::json::object out;
    out["did"] = resolved->did;
    out["handle"] = resolved->handle;
    out["handle_verified"] = resolved->handle_verified;
    out["pds"] = resolved->pds_endpoint ? boost::json::value(*resolved->pds_endpoint) : boost::json::value(nullptr);
    if (resolved->signing_key) {
        out["signing_key"] = {{"id", resolved->signing_key->id},
                              {"type", resolved->signing_key->type},
                              {"public_key_multibase", resolved->signing_key->public_key_multibase}};
    } else {
        out["signing_key"] = nullptr;
    }
    boost::json::array aka;
    if (resolved->document) {
        for (const auto& name : resolved->document->also_known_as) aka.emplace_back(name);
    }
    out["also_known_as"] = std::move(aka);
    fmt::print("{}\n", boost::json::serialize(out));
    return kExitOk;
}

int RunAtprotoGet(const std::string& at_uri) {
    auto uri = atproto::syntax::ParseAtUri(at_uri);
    if (!uri || uri->collection.empty() || uri->rkey.empty()) {
        fmt::print(stderr, "plyr: invalid AT-URI: expected at://<did|handle>/<collection>/<rkey>\n");
        return kExitRuntime;
    }
    int exit_code = kExitOk;
    auto network = OpenNetwork(exit_code);
    if (!network) return exit_code;
    auto who = network->resolver->Resolve(uri->authority.value);
    if (!who) return IdentityFailed(who.error());
    if (!who->pds_endpoint) {
        fmt::print(stderr, "plyr: {} has no PDS in its DID document\n", who->did);
        return kExitRuntime;
    }
    atproto::xrpc::XrpcClient client(*who->pds_endpoint, *network->http);
    auto record = atproto::xrpc::GetRecord(client, who->did, uri->collection, uri->rkey);
    if (!record) {
        fmt::print(stderr, "plyr: {}\n", record.error().ToString());
        return record.error().Is("RecordNotFound") ? kExitNotFound : kExitRuntime;
    }
    fmt::print("{}\n", boost::json::serialize(RecordJson(*record)));
    return kExitOk;
}

int RunAtprotoLs(const std::string& repo, const std::string& collection) {
    if (!atproto::syntax::IsValidNsid(collection)) {
        fmt::print(stderr, "plyr: invalid collection NSID: {}\n", collection);
        return kExitRuntime;
    }
    int exit_code = kExitOk;
    auto network = OpenNetwork(exit_code);
    if (!network) return exit_code;
    auto who = network->resolver->Resolve(repo);
    if (!who) return IdentityFailed(who.error());
    if (!who->pds_endpoint) {
        fmt::print(stderr, "plyr: {} has no PDS in its DID document\n", who->did);
        return kExitRuntime;
    }
    atproto::xrpc::XrpcClient client(*who->pds_endpoint, *network->http);
    atproto::xrpc::ListRecordsInput input;
    input.repo = who->did;
    input.collection = collection;
    input.limit = 100;
    auto records = atproto::xrpc::ListAllRecords(client, input);
    if (!records) {
        fmt::print(stderr, "plyr: {}\n", records.error().ToString());
        return kExitRuntime;
    }
    for (const auto& entry : *records) fmt::print("{}\n", boost::json::serialize(RecordJson(entry)));
    return kExitOk;
}

}  // namespace plyr::app
