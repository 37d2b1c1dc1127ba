#pragma once
// Structured logging: one JSON object per line (LOG_FORMAT=json) or a readable line (text).
// Callers pass an event name and typed fields; values are escaped, so untrusted strings cannot forge lines.
// Never pass tokens, cookies, secrets or Authorization values. Thread-safe.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace plyr::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kJson, kText };

struct Field {
    using Value = std::variant<std::string_view, std::int64_t, double, bool>;
    std::string_view key;
    Value value;

    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    template <typename I>
    requires std::is_integral_v<I> Field(std::string_view k, I v) : key(k), value(static_cast<std::int64_t>(v)) {}
};

// Configures the process-wide sink (stderr). Safe to call again (tests).
void Init(Level level, Format format);
bool ParseLevel(std::string_view text, Level& out);

bool Enabled(Level level);
void Write(Level level, std::string_view event, std::initializer_list<Field> fields = {});

// Renders one line without writing it (exposed for tests).
std::string Render(Format format, Level level, std::string_view event, std::initializer_list<Field> fields);

inline void Debug(std::string_view event, std::initializer_list<Field> fields = {}) {
    Write(Level::kDebug, event, fields);
}
inline void Info(std::string_view event, std::initializer_list<Field> fields = {}) {
    Write(Level::kInfo, event, fields);
}
inline void Warn(std::string_view event, std::initializer_list<Field> fields = {}) {
    Write(Level::kWarn, event, fields);
}
inline void Error(std::string_view event, std::initializer_list<Field> fields = {}) {
    Write(Level::kError, event, fields);
}

}  // namespace plyr::log
