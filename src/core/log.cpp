#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace plyr::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kJson};
std::mutex g_write_mutex;

std::string_view LevelName(Level level) {
    switch (level) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarn:
            return "warn";
        case Level::kError:
            return "error";
    }
    return "info";
}

std::string Timestamp() {
    auto now = std::chrono::system_clock::now();
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), micros);
}

boost::json::value ToJson(const Field::Value& value) {
    return std::visit([](auto v) -> boost::json::value { return boost::json::value(v); }, value);
}

}  // namespace

void Init(Level level, Format format) {
    g_level.store(level);
    g_format.store(format);
}

bool ParseLevel(std::string_view text, Level& out) {
    if (text == "debug")
        out = Level::kDebug;
    else if (text == "info")
        out = Level::kInfo;
    else if (text == "warn" || text == "warning")
        out = Level::kWarn;
    else if (text == "error")
        out = Level::kError;
    else
        return false;
    return true;
}

bool Enabled(Level level) { return static_cast<int>(level) >= static_cast<int>(g_level.load()); }

std::string Render(Format format, Level level, std::string_view event, std::initializer_list<Field> fields) {
    if (format == Format::kJson) {
        boost::json::object line;
        line["ts"] = Timestamp();
        line["level"] = LevelName(level);
        line["event"] = event;
        for (const Field& field : fields) line[field.key] = ToJson(field.value);
        return boost::json::serialize(line);
    }
    std::string out = fmt::format("{} {:5} {}", Timestamp(), LevelName(level), event);
    for (const Field& field : fields) {
        out += ' ';
        out += field.key;
        out += '=';
        // Strings go through JSON escaping so a newline in untrusted input cannot start a fake log line.
        out += boost::json::serialize(ToJson(field.value));
    }
    return out;
}

void Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
    if (!Enabled(level)) return;
    std::string line = Render(g_format.load(), level, event, fields);
    line += '\n';
    std::lock_guard lock(g_write_mutex);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace plyr::log
