#pragma once
// Helpers shared by the atproto/crypto tests: loading committed vectors from tests/data.

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/encoding.hpp"

namespace plyr::atproto::crypto::testing {

inline boost::json::value LoadJson(std::string_view relative) {
    std::string path = std::string(PLYR_SOURCE_DIR "/tests/data/") + std::string(relative);
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::stringstream text;
    text << in.rdbuf();
    return boost::json::parse(text.str());
}

inline std::string Str(const boost::json::value& v) { return std::string(v.as_string()); }

// Standard base64 with or without padding (the interop fixtures omit it).
inline std::string Base64Any(std::string text) {
    while (text.size() % 4 != 0) text += '=';
    auto bytes = core::Base64Decode(text);
    if (!bytes) throw std::runtime_error("bad base64 in test data");
    return *bytes;
}

inline std::string Hex(std::string_view hex) {
    auto bytes = core::HexDecode(hex);
    if (!bytes) throw std::runtime_error("bad hex in test data");
    return *bytes;
}

}  // namespace plyr::atproto::crypto::testing
