#pragma once
// Test support for the JavaScript cross-check: runs tests/integration/jscheck/jscheck.mjs with the pinned
// Node 22 against the pinned reference libraries (@atproto/lex-cbor, @atproto/lex-json, @atproto/crypto).
//
// Where they are comes from the testnet fixture's exports (scripts/testnet.sh start, run by scripts/test.sh):
// TESTNET_NODE (the node binary) and TESTNET_NODE_MODULES (the install's node_modules). Without them the
// tests skip. One RunJs call = one node process running a batch of ops, so a test pays node's start-up once.
// Blocking, for tests only; not thread-safe (each call uses its own temporary directory).

#include <optional>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "core/result.hpp"

namespace plyr::jscheck {

struct JsEnv {
    std::string node;
    std::string node_modules;
};

// The pinned node + node_modules, or nullopt when the environment does not provide them.
std::optional<JsEnv> FindJsEnv();

// Runs `ops` (each {"op": …, …}, see jscheck.mjs) and returns one result object per op, in order. A failing
// op comes back as {"error": …}; the call itself fails (kInternal, with node's stderr in the message) only
// when node does not run or prints something that is not the expected JSON.
Result<boost::json::array> RunJs(const JsEnv& env, const boost::json::array& ops);

// `obj[key]` as a string; "" when absent or not a string (the caller's assertions then report the mismatch).
std::string Str(const boost::json::object& obj, std::string_view key);

}  // namespace plyr::jscheck
