#pragma once
// Helpers for locating and reading the committed test vectors under tests/data/.

#include <fstream>
#include <iterator>
#include <string>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace plyr::atproto::testing {

inline std::string DataPath(const std::string& relative) {
    return std::string(PLYR_SOURCE_DIR "/tests/data/") + relative;
}

inline std::string ReadFileBytes(const std::string& relative) {
    std::ifstream in(DataPath(relative), std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline boost::json::value ReadJson(const std::string& relative) { return boost::json::parse(ReadFileBytes(relative)); }

}  // namespace plyr::atproto::testing
