#include "integration/jscheck/js_bridge.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "support/process.hpp"

namespace plyr::jscheck {

std::optional<JsEnv> FindJsEnv() {
    const char* node = std::getenv("TESTNET_NODE");
    const char* modules = std::getenv("TESTNET_NODE_MODULES");
    if (node == nullptr || modules == nullptr || *node == '\0' || *modules == '\0') return std::nullopt;
    std::error_code ec;
    if (!std::filesystem::exists(node, ec) || !std::filesystem::is_directory(modules, ec)) return std::nullopt;
    return JsEnv{node, modules};
}

Result<boost::json::array> RunJs(const JsEnv& env, const boost::json::array& ops) {
    plyr::testing::TempDir dir;
    const std::string request_path = dir.str() + "/request.json";
    {
        std::ofstream out(request_path, std::ios::binary);
        out << boost::json::serialize(boost::json::object{{"ops", ops}});
        if (!out) return Fail(ErrorCode::kInternal, "cannot write the jscheck request");
    }
    const std::string script = std::string(PLYR_SOURCE_DIR) + "/tests/integration/jscheck/jscheck.mjs";
    auto run = plyr::testing::RunProcess({env.node, script, env.node_modules, request_path}, plyr::testing::BaseEnv(),
                                         dir.path(), std::chrono::seconds(90));
    if (run.exit_code != 0) {
        return Fail(ErrorCode::kInternal, "jscheck.mjs failed (exit " + std::to_string(run.exit_code) + ", signal " +
                                              std::to_string(run.term_signal) + "): " + run.err);
    }
    boost::system::error_code ec;
    auto parsed = boost::json::parse(run.out, ec);
    if (ec || !parsed.is_object() || !parsed.as_object().contains("results") ||
        !parsed.as_object().at("results").is_array()) {
        return Fail(ErrorCode::kInternal, "jscheck.mjs printed unexpected output: " + run.out.substr(0, 500));
    }
    auto results = parsed.as_object().at("results").as_array();
    if (results.size() != ops.size()) return Fail(ErrorCode::kInternal, "jscheck.mjs answered a different count");
    for (const auto& r : results) {
        if (!r.is_object()) return Fail(ErrorCode::kInternal, "jscheck.mjs result is not an object");
    }
    return results;
}

std::string Str(const boost::json::object& obj, std::string_view key) {
    auto it = obj.find(key);
    if (it == obj.end() || !it->value().is_string()) return {};
    return std::string(it->value().as_string());
}

}  // namespace plyr::jscheck
