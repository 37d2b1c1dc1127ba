#include "support/testnet_accounts.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/encoding.hpp"

namespace plyr::testing {

std::optional<TestnetAccount> CreateTestnetAccount(const std::string& pds_url, const std::string& prefix,
                                                   std::string* error) {
    TestnetAccount account;
    std::string suffix = core::RandomHex(5);
    account.handle = prefix + suffix + ".test";
    account.password = "pw-" + core::RandomHex(8);
    boost::json::object body{
        {"handle", account.handle}, {"email", prefix + suffix + "@example.com"}, {"password", account.password}};
    WebClient pds(pds_url);
    auto r = pds.PostJson("/xrpc/com.atproto.server.createAccount", boost::json::serialize(body));
    if (!r || r->status != 200) {
        if (error != nullptr) *error = r ? std::to_string(r->status) + " " + r->body : "no answer from the PDS";
        return std::nullopt;
    }
    auto json = r->Json();
    const auto* did = json.is_object() ? json.as_object().if_contains("did") : nullptr;
    if (did == nullptr || !did->is_string()) {
        if (error != nullptr) *error = "createAccount without did: " + r->body;
        return std::nullopt;
    }
    account.did = std::string(did->as_string());
    return account;
}

std::optional<WebResponse> GetTestnetRecord(const std::string& pds_url, const std::string& did,
                                            const std::string& collection, const std::string& rkey) {
    WebClient pds(pds_url);
    return pds.Get("/xrpc/com.atproto.repo.getRecord?repo=" + UrlEncode(did) + "&collection=" + UrlEncode(collection) +
                   "&rkey=" + UrlEncode(rkey));
}

}  // namespace plyr::testing
