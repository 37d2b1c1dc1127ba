#pragma once
// Audio analysis in ONE decode pass (issue 5 §2, product.md §6.4 "validating"/"transcoding", §6.17).
//
// The child (`plyr media analyse`, AnalyseFile) opens the file exactly like the probe (demuxer pinned to the
// sniffed container, codec/channel/rate caps, duration cap on the decoded length) and decodes the stream once.
// Every decoded frame, converted to interleaved float at one working rate, feeds:
//   - libebur128 (integrated loudness in LUFS, true peak in dBTP; null for silence or audio too short to gate),
//   - waveform peaks at two resolutions (mono mixdown, int8 min/max pairs, docs/media.md "analysis"),
//   - a Chromaprint raw fingerprint (CHROMAPRINT_ALGORITHM_DEFAULT, mono int16 at the working rate),
//   - with rendition_format "mp3": the libmp3lame encoder (320 kbps CBR, 44.1 or 48 kHz, mono stays mono, more
//     than two channels downmixed to stereo) written to <out_dir>/rendition.mp3, which is then probed again
//     ("aac": AAC-LC 256 kbps in <out_dir>/rendition.m4a, index first, same rate/channel rules).
// Outputs go to out_dir: peaks_low.bin, peaks_high.bin, fingerprint.bin (uint32 little-endian), rendition.mp3
// (or rendition.m4a).
//
// The parent (Analyse) runs the child through the Sandbox, parses its JSON strictly (untrusted: sizes bounded,
// paths must be the expected files directly inside out_dir) and reads the small output files into memory.
//
// Errors (Error::code; AnalyseErrorCode gives the job error code of product.md §4.7):
//   kUnsupported     → unsupported_audio_format
//   kTooLarge        → audio_too_long
//   kInvalidArgument, kIo → audio_unreadable
//   kInternal with detail "transcode_failed" (kTranscodeFailedDetail) → transcode_failed (the encoder or the
//                      re-probe of the rendition failed; also any sandbox crash/limit/timeout while a rendition
//                      was certainly being made: always-mode, or a container that always needs one)
//   kUnavailable     → only inside the child: allocation failure (exit kChildExitResource)
// Thread-safety: AnalyseFile is reentrant (no shared state); Analyse is as thread-safe as the Sandbox (it is).
// Blocking: Analyse blocks for the child's lifetime (use net::Offload).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "media/probe.hpp"
#include "media/sandbox.hpp"

namespace plyr::media {

inline constexpr int kPeaksLowTarget = 1000;   // at most this many min/max pairs
inline constexpr int kPeaksHighTarget = 8000;  // at most this many min/max pairs
inline constexpr std::string_view kTranscodeFailedDetail = "transcode_failed";

// The web renditions the child can make (TRANSCODER_TARGET_FORMAT "mp3" or "aac"; "opus" is not offered: Opus
// in ogg/webm is itself a format that needs a rendition by product.md §6.4).
struct RenditionKind {
    std::string_view option;   // AnalyseOptions::rendition_format: "mp3" | "aac"
    std::string_view format;   // container as the probe names it: "mp3" | "m4a"
    std::string_view codec;    // "mp3" | "aac"
    std::string_view encoder;  // libavcodec encoder: "libmp3lame" | "aac"
    std::string_view muxer;    // libavformat muxer: "mp3" | "ipod"
    std::string_view file;     // name inside out_dir: "rendition.mp3" | "rendition.m4a"
    std::int64_t bit_rate;     // 320 kbps CBR | 256 kbps
};
// nullptr for anything but "mp3" and "aac".
const RenditionKind* FindRenditionKind(std::string_view rendition_format);

struct AnalyseOptions {
    ProbeLimits limits;
    std::optional<std::string> rendition_format;  // "mp3" (or "aac") when the playable form must be a web rendition
    // With rendition_format set: true = make the rendition only when NeedsWebRendition holds for the opened
    // stream (container + codec, known before decoding), so one call serves every upload; false = always.
    bool rendition_when_needed = false;
    std::string out_dir;  // existing directory the child writes its files into
};

struct PeakSet {
    int samples_per_peak =
        0;              // samples (per channel, at the working rate) covered by one pair; the last may cover fewer
    std::string peaks;  // int8 pairs: min, max, min, max, … (size = 2 × count)
    std::size_t count() const { return peaks.size() / 2; }
};

struct Fingerprint {
    int algorithm = 0;             // Chromaprint algorithm id (CHROMAPRINT_ALGORITHM_DEFAULT = 1)
    std::int64_t duration_ms = 0;  // length of the audio fed to Chromaprint
    std::vector<std::uint32_t> raw;
};

struct Rendition {
    std::string path;    // <out_dir>/rendition.mp3 (rendition.m4a for "aac")
    std::string format;  // "mp3" ("m4a")
    std::string codec;   // "mp3" ("aac")
    ProbeInfo info;      // the rendition probed again
    std::int64_t size = 0;
};

struct AnalysisResult {
    ProbeInfo probe;  // what the probe would report for the input
    std::optional<double> loudness_lufs;
    std::optional<double> true_peak_dbtp;
    PeakSet low;
    PeakSet high;
    Fingerprint fingerprint;
    std::optional<Rendition> rendition;
    int decode_passes = 0;             // how many times the input was decoded: always 1 (asserted by the tests)
    std::int64_t decoded_samples = 0;  // per channel, at the working rate, as fed to the analysers
};

// True when browsers cannot play the upload as it is (product.md §6.4 "transcoding"): aiff, m4a with ALAC, ogg
// (Vorbis/Opus/FLAC), webm, and wav whose codec is not PCM (pcm_* incl. float). mp3, AAC m4a, PCM wav and flac
// play as uploaded.
bool NeedsWebRendition(const ProbeInfo& info);

// Child side: the whole pass over `path`, writing the output files into options.out_dir (on failure the files it
// may have created there are removed again). on_progress gets the
// fraction of the input read so far (0..1, from the demuxer's byte position: never from header durations).
// Runs FFmpeg on untrusted bytes: only inside the sandbox child.
Result<AnalysisResult> AnalyseFile(const std::string& path, const AnalyseOptions& options,
                                   const std::function<void(double fraction)>& on_progress = {});

// Removes peaks_low.bin, peaks_high.bin, fingerprint.bin, rendition.mp3 and rendition.m4a from out_dir (missing ones
// are fine).
void RemoveAnalysisOutputs(const std::string& out_dir);

// The child's one JSON line (files referenced by path, not inlined) and its strict parent-side inverse, which
// also reads and checks the referenced files. out_dir must be the directory the child was given.
std::string AnalysisToJson(const AnalysisResult& result, const std::string& out_dir);
Result<AnalysisResult> AnalysisFromJson(std::string_view json, const std::string& out_dir, const ProbeLimits& limits);

// Parent side: runs `plyr media analyse` in the sandbox. on_progress (called on this thread) gets 0..1. On failure
// the output files are removed from out_dir (the child may have died mid-write); on success the rendition stays
// for the caller to move and the other files may be deleted (their contents are in the result).
Result<AnalysisResult> Analyse(Sandbox& sandbox, const std::string& input, const AnalyseOptions& options,
                               const SandboxLimits& limits, std::function<void(double fraction)> on_progress = {});

// Limits for the analysis child: CPU 4 × duration + 60 s, files up to a 320 kbps stream of the duration + 10 MiB,
// wall clock max(TRANSCODER_TIMEOUT_SECONDS, duration / 10). Without a hint the duration is
// MAX_AUDIO_DURATION_SECONDS (the longest audio that can pass).
SandboxLimits AnalyseSandboxLimits(const core::Config& config, std::optional<std::int64_t> duration_hint_ms);

// The job error code for an analysis failure: ProbeErrorCode, plus "transcode_failed".
std::string_view AnalyseErrorCode(const Error& error);

}  // namespace plyr::media
