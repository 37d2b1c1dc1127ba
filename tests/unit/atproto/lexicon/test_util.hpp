#pragma once
// Helpers shared by the lexicon tests: files under the repository and JSON → Value.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "atproto/data/json.hpp"
#include "atproto/lexicon/catalog.hpp"
#include "atproto/lexicon/validate.hpp"

namespace plyr::atproto::lexicon::testing {

inline std::filesystem::path RepoPath(std::string_view relative) {
    return std::filesystem::path(PLYR_SOURCE_DIR) / relative;
}

inline std::string ReadFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.is_open()) << path;
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline boost::json::value ReadJson(const std::filesystem::path& path) { return boost::json::parse(ReadFile(path)); }

inline Value ToValue(std::string_view json_text) {
    auto value = ValueFromJsonText(json_text);
    EXPECT_TRUE(value) << (value ? "" : value.error().ToString()) << " in " << json_text;
    return value ? std::move(*value) : Value();
}

// The repository's runtime catalog (lexicons/), loaded once per test binary.
inline const Catalog& RepoCatalog() {
    static const Catalog catalog = [] {
        auto loaded = LoadCatalog(RepoPath("lexicons"));
        EXPECT_TRUE(loaded) << (loaded ? "" : loaded.error().ToString());
        return loaded ? std::move(*loaded) : Catalog();
    }();
    return catalog;
}

inline std::string ErrorMessage(const Status& status) { return status ? std::string("ok") : status.error().message; }

}  // namespace plyr::atproto::lexicon::testing
