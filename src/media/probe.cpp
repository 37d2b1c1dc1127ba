#include "media/probe.hpp"

#include <optional>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_strict.hpp"
#include "media/decoder.hpp"
#include "media/sniff.hpp"

namespace plyr::media {

Result<ProbeInfo> ProbeFile(const std::string& path, const ProbeLimits& limits) {
    auto audio = detail::OpenAudio(path, limits);
    if (!audio) return tl::unexpected(audio.error());
    return detail::DecodeAll(*audio, limits, {}, {});
}

std::string ProbeInfoToJson(const ProbeInfo& info) {
    boost::json::object o;
    o["format"] = info.format;
    o["codec"] = info.codec;
    o["duration_ms"] = info.duration_ms;
    o["sample_rate"] = info.sample_rate;
    o["channels"] = info.channels;
    o["bit_rate"] = info.bit_rate;
    return boost::json::serialize(o);
}

Result<ProbeInfo> ProbeInfoFromJson(std::string_view json) {
    auto bad = [&](std::string_view why) {
        return Fail(ErrorCode::kProtocol, "malformed probe result", fmt::format("{}: {}", why, json.substr(0, 200)));
    };
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    if (ec || !v.is_object() || core::JsonHasDuplicateKeys(json)) return bad("not a JSON object");
    const auto& o = v.as_object();
    if (o.size() != 6) return bad("unexpected members");
    auto str = [&](const char* key) -> const boost::json::string* {
        const auto* p = o.if_contains(key);
        return p != nullptr && p->is_string() ? &p->as_string() : nullptr;
    };
    auto num = [&](const char* key) -> std::optional<std::int64_t> {
        const auto* p = o.if_contains(key);
        if (p == nullptr || !p->is_int64() || p->as_int64() < 0) return std::nullopt;
        return p->as_int64();
    };
    const auto* format = str("format");
    const auto* codec = str("codec");
    auto duration = num("duration_ms");
    auto rate = num("sample_rate");
    auto channels = num("channels");
    auto bit_rate = num("bit_rate");
    if (!format || !codec || !duration || !rate || !channels || !bit_rate) return bad("missing or mistyped member");
    if (!AudioFormatFromName(*format) || *rate > 100'000'000 || *channels > 1024) return bad("value out of range");
    ProbeInfo info;
    info.format = std::string(*format);
    info.codec = std::string(*codec);
    info.duration_ms = *duration;
    info.sample_rate = static_cast<int>(*rate);
    info.channels = static_cast<int>(*channels);
    info.bit_rate = *bit_rate;
    return info;
}

std::string_view ProbeErrorCode(const Error& error) {
    switch (error.code) {
        case ErrorCode::kUnsupported:
            return "unsupported_audio_format";
        case ErrorCode::kTooLarge:
            return "audio_too_long";
        default:
            return "audio_unreadable";
    }
}

}  // namespace plyr::media
