#pragma once
// Audio probe (product.md §6.4 "validating"): what the sandboxed child runs. Opens the file with the demuxer
// of its sniffed container only (a polyglot cannot pick another demuxer), takes the one audio stream, checks
// codec/container, channel and sample-rate caps from the header, then decodes the whole stream so the
// duration is the decoded length (a truncated MP3 reports what decodes; a WAV header claiming 10 h over 2 s
// of data reports 2 s). Decoding stops as soon as the decoded length passes the duration cap.
//
// ProbeFile runs libavformat/libavcodec on untrusted bytes: call it only inside the sandbox child
// (`plyr media probe`, sandbox.hpp), never in the server process.
//
// Errors (Error::code, see ProbeErrorCode for the job error codes of product.md §4.7):
//   kUnsupported     → unsupported_audio_format (not a known container, codec not allowed in it, channels or
//                      sample rate outside the caps)
//   kTooLarge        → audio_too_long (decoded length above max_duration_seconds)
//   kInvalidArgument → audio_unreadable (cannot open, no audio stream, nothing decodes)
//   kIo              → audio_unreadable (the file cannot be read at all)
// Thread-safety: ProbeFile is reentrant (no shared state).

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace plyr::media {

struct ProbeLimits {
    std::int64_t max_duration_seconds = 21600;  // MAX_AUDIO_DURATION_SECONDS
    int max_channels = 8;
    int min_sample_rate = 8000;
    int max_sample_rate = 384000;
};

struct ProbeInfo {
    std::string format;            // sniffed container: mp3, wav, aiff, flac, ogg, m4a, webm
    std::string codec;             // FFmpeg codec name: mp3, pcm_s16le, flac, aac, alac, vorbis, opus, …
    std::int64_t duration_ms = 0;  // decoded length
    int sample_rate = 0;
    int channels = 0;
    std::int64_t bit_rate = 0;  // average over the file: bytes × 8 / decoded duration
};

Result<ProbeInfo> ProbeFile(const std::string& path, const ProbeLimits& limits);

// {"format":…,"codec":…,"duration_ms":…,"sample_rate":…,"channels":…,"bit_rate":…} on one line.
std::string ProbeInfoToJson(const ProbeInfo& info);
// Strict inverse of ProbeInfoToJson (every field present with its type); kProtocol otherwise.
Result<ProbeInfo> ProbeInfoFromJson(std::string_view json);

// The job error code for a probe failure: "unsupported_audio_format", "audio_too_long" or "audio_unreadable".
std::string_view ProbeErrorCode(const Error& error);

}  // namespace plyr::media
