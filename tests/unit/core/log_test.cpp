#include "core/log.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace plyr::log {
namespace {

TEST(Log, JsonLineIsOneParseableObjectEvenWithHostileStrings) {
    std::string line = Render(Format::kJson, Level::kInfo, "request",
                              {{"path", "/x\n{\"level\":\"error\"}"}, {"status", 200}, {"ok", true}});
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto value = boost::json::parse(line);
    EXPECT_EQ(value.at("event").as_string(), "request");
    EXPECT_EQ(value.at("level").as_string(), "info");
    EXPECT_EQ(value.at("status").as_int64(), 200);
    EXPECT_EQ(value.at("path").as_string(), "/x\n{\"level\":\"error\"}");
}

TEST(Log, TextLineEscapesNewlines) {
    std::string line = Render(Format::kText, Level::kWarn, "evt", {{"v", "a\nb"}});
    EXPECT_EQ(line.find('\n'), std::string::npos);
    EXPECT_NE(line.find("evt"), std::string::npos);
}

TEST(Log, ParseLevelAcceptsKnownNamesOnly) {
    Level level{};
    EXPECT_TRUE(ParseLevel("debug", level));
    EXPECT_EQ(level, Level::kDebug);
    EXPECT_FALSE(ParseLevel("verbose", level));
}

}  // namespace
}  // namespace plyr::log
