#pragma once
// Internal to plyr_media (not a public header): the opening and the decode loop shared by the probe
// (ProbeFile) and the one-pass analysis (AnalyseFile), so both apply exactly the same container, codec, caps and
// duration rules (docs/media.md "Probe"). Runs FFmpeg on untrusted bytes: only inside the sandbox child.
// Thread-safety: reentrant; an OpenedAudio belongs to one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "media/probe.hpp"
#include "media/sniff.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
}

namespace plyr::media::detail {

struct FormatCloser {
    void operator()(AVFormatContext* ctx) const { avformat_close_input(&ctx); }
};
struct CodecCloser {
    void operator()(AVCodecContext* ctx) const { avcodec_free_context(&ctx); }
};
struct PacketFree {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFree {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
};

std::string AvErrorText(int code);
// ENOMEM → kUnavailable (the sandbox's memory limit); anything else → kInvalidArgument (audio_unreadable).
tl::unexpected<Error> AvFail(int code, std::string_view step);

// An input opened with its sniffed container's demuxer, the audio stream chosen and checked, the decoder open.
struct OpenedAudio {
    AudioFormat format = AudioFormat::kUnknown;
    std::uintmax_t file_size = 0;
    std::unique_ptr<AVFormatContext, FormatCloser> input;
    std::unique_ptr<AVCodecContext, CodecCloser> codec;
    int stream_index = -1;
};

Result<OpenedAudio> OpenAudio(const std::string& path, const ProbeLimits& limits);

// Decodes the chosen stream to its end (once). on_frame sees every decoded frame (an error stops the pass and
// is returned); on_progress gets the fraction of the file read (demuxer byte position / size). Returns what the
// probe reports: the decoded duration, and the audio_unreadable / audio_too_long verdicts.
using FrameSink = std::function<Status(const AVFrame& frame)>;
Result<ProbeInfo> DecodeAll(OpenedAudio& audio, const ProbeLimits& limits, const FrameSink& on_frame,
                            const std::function<void(double)>& on_progress);

}  // namespace plyr::media::detail
