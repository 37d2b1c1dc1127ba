#include "media/probe.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <system_error>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_strict.hpp"
#include "media/sniff.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}

namespace plyr::media {
namespace {

std::string AvErrorText(int code) {
    std::array<char, AV_ERROR_MAX_STRING_SIZE> buffer{};
    av_strerror(code, buffer.data(), buffer.size());
    return buffer.data();
}

// FFmpeg reports allocation failure as ENOMEM; under the sandbox's address-space limit that is a limit
// breach, which the child reports as such (kUnavailable) rather than as unreadable audio.
tl::unexpected<Error> AvFail(int code, std::string_view step) {
    if (code == AVERROR(ENOMEM)) return Fail(ErrorCode::kUnavailable, "out of memory", fmt::format("{}", step));
    return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read",
                fmt::format("{}: {}", step, AvErrorText(code)));
}

// The one demuxer each sniffed container may be opened with.
const char* DemuxerFor(AudioFormat format) {
    switch (format) {
        case AudioFormat::kMp3:
            return "mp3";
        case AudioFormat::kWav:
            return "wav";
        case AudioFormat::kAiff:
            return "aiff";
        case AudioFormat::kFlac:
            return "flac";
        case AudioFormat::kOgg:
            return "ogg";
        case AudioFormat::kM4a:
            return "mov";
        case AudioFormat::kWebm:
            return "matroska";
        case AudioFormat::kUnknown:
            break;
    }
    return nullptr;
}

bool IsPcm(AVCodecID id) { return id >= AV_CODEC_ID_FIRST_AUDIO && id < AV_CODEC_ID_ADPCM_IMA_QT; }

// Codecs accepted per container (product.md §6.4 "validating").
bool CodecAllowed(AudioFormat format, AVCodecID id) {
    switch (format) {
        case AudioFormat::kMp3:
            return id == AV_CODEC_ID_MP3;
        case AudioFormat::kWav:
            return IsPcm(id);  // integer and float PCM
        case AudioFormat::kAiff:
            return IsPcm(id);
        case AudioFormat::kFlac:
            return id == AV_CODEC_ID_FLAC;
        case AudioFormat::kM4a:
            return id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_ALAC;
        case AudioFormat::kOgg:
            return id == AV_CODEC_ID_VORBIS || id == AV_CODEC_ID_OPUS || id == AV_CODEC_ID_FLAC;
        case AudioFormat::kWebm:
            return id == AV_CODEC_ID_OPUS || id == AV_CODEC_ID_VORBIS;
        case AudioFormat::kUnknown:
            break;
    }
    return false;
}

Status CheckShape(const AVCodecParameters& par, const ProbeLimits& limits) {
    const int channels = par.ch_layout.nb_channels;
    if (channels > limits.max_channels) {
        return Fail(ErrorCode::kUnsupported,
                    fmt::format("audio with {} channels is not supported (at most {})", channels, limits.max_channels));
    }
    if (par.sample_rate != 0 &&
        (par.sample_rate < limits.min_sample_rate || par.sample_rate > limits.max_sample_rate)) {
        return Fail(ErrorCode::kUnsupported,
                    fmt::format("a sample rate of {} Hz is not supported ({}-{} Hz)", par.sample_rate,
                                limits.min_sample_rate, limits.max_sample_rate));
    }
    return Ok();
}

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

}  // namespace

Result<ProbeInfo> ProbeFile(const std::string& path, const ProbeLimits& limits) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return Fail(ErrorCode::kIo, "the audio file could not be read", ec.message());
    if (size == 0) return Fail(ErrorCode::kInvalidArgument, "the audio file is empty");

    std::string head(static_cast<std::size_t>(std::min<std::uintmax_t>(size, kSniffBytes)), '\0');
    {
        std::ifstream in(path, std::ios::binary);
        if (!in.read(head.data(), static_cast<std::streamsize>(head.size()))) {
            return Fail(ErrorCode::kIo, "the audio file could not be read", "short read of the file head");
        }
    }
    const AudioFormat format = SniffAudio(head);
    if (format == AudioFormat::kUnknown) {
        return Fail(ErrorCode::kUnsupported, "this audio format is not supported");
    }

    const AVInputFormat* demuxer = av_find_input_format(DemuxerFor(format));
    if (demuxer == nullptr) return Fail(ErrorCode::kInternal, "demuxer missing", DemuxerFor(format));

    // Only the local file protocol: a crafted container cannot make the demuxer open URLs or other files.
    AVDictionary* options = nullptr;
    av_dict_set(&options, "protocol_whitelist", "file", 0);
    av_dict_set(&options, "enable_drefs", "0", 0);
    AVFormatContext* raw = nullptr;
    const std::string url = "file:" + path;
    int rc = avformat_open_input(&raw, url.c_str(), demuxer, &options);
    av_dict_free(&options);
    if (rc < 0) return AvFail(rc, "open");
    std::unique_ptr<AVFormatContext, FormatCloser> input(raw);

    rc = avformat_find_stream_info(input.get(), nullptr);
    if (rc < 0) return AvFail(rc, "stream info");

    // The stream first, its decoder second: asking av_find_best_stream for both would report a stream without
    // a decoder as an error code instead of the stream (and its codec) that must be judged.
    const int index = av_find_best_stream(input.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (index < 0) return Fail(ErrorCode::kInvalidArgument, "the file has no audio stream");
    const AVCodecParameters& par = *input->streams[index]->codecpar;
    if (!CodecAllowed(format, par.codec_id)) {
        return Fail(ErrorCode::kUnsupported, fmt::format("{} audio in a {} file is not supported",
                                                         avcodec_get_name(par.codec_id), AudioFormatName(format)));
    }
    PLYR_TRY_STATUS(CheckShape(par, limits));
    const AVCodec* decoder = avcodec_find_decoder(par.codec_id);
    if (decoder == nullptr) return AvFail(AVERROR_DECODER_NOT_FOUND, "decoder");
    if (par.sample_rate <= 0 || par.ch_layout.nb_channels <= 0) {
        return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "no sample rate or channels");
    }
    // Only this stream is demuxed further.
    for (unsigned i = 0; i < input->nb_streams; ++i) {
        input->streams[i]->discard = static_cast<int>(i) == index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    }

    std::unique_ptr<AVCodecContext, CodecCloser> codec(avcodec_alloc_context3(decoder));
    if (!codec) return AvFail(AVERROR(ENOMEM), "codec context");
    rc = avcodec_parameters_to_context(codec.get(), &par);
    if (rc < 0) return AvFail(rc, "codec parameters");
    codec->thread_count = 1;  // the sandbox runs several children; each stays on one core
    rc = avcodec_open2(codec.get(), decoder, nullptr);
    if (rc < 0) return AvFail(rc, "codec open");

    std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
    std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
    if (!packet || !frame) return AvFail(AVERROR(ENOMEM), "packet");

    // Decoded length in microseconds, summed per frame at the frame's own rate (a stream may change rate).
    long double decoded_us = 0;
    std::int64_t good_frames = 0;
    std::int64_t bad_packets = 0;
    const long double max_us = static_cast<long double>(limits.max_duration_seconds) * 1e6L;
    auto drain = [&]() -> Status {
        for (;;) {
            int r = avcodec_receive_frame(codec.get(), frame.get());
            if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Ok();
            if (r == AVERROR(ENOMEM)) return AvFail(r, "decode");
            if (r < 0) {
                ++bad_packets;
                return Ok();
            }
            if (frame->nb_samples > 0 && frame->sample_rate > 0) {
                decoded_us += static_cast<long double>(frame->nb_samples) * 1e6L / frame->sample_rate;
                ++good_frames;
            }
            av_frame_unref(frame.get());
            if (decoded_us > max_us) {
                return Fail(ErrorCode::kTooLarge,
                            fmt::format("the audio is longer than {} seconds", limits.max_duration_seconds));
            }
        }
    };
    for (;;) {
        rc = av_read_frame(input.get(), packet.get());
        if (rc == AVERROR(ENOMEM)) return AvFail(rc, "read");
        if (rc < 0) break;  // end of file, or a truncated/corrupt tail: what decoded so far counts
        if (packet->stream_index == index) {
            int s = avcodec_send_packet(codec.get(), packet.get());
            if (s == AVERROR(ENOMEM)) return AvFail(s, "decode");
            if (s < 0 && s != AVERROR(EAGAIN)) ++bad_packets;
            PLYR_TRY_STATUS(drain());
        }
        av_packet_unref(packet.get());
    }
    avcodec_send_packet(codec.get(), nullptr);
    PLYR_TRY_STATUS(drain());

    const auto duration_ms = static_cast<std::int64_t>(decoded_us / 1000.0L);
    // Nothing decoded, or decoding was mostly failures (noise that happens to contain frame syncs).
    if (duration_ms <= 0 || good_frames == 0 || bad_packets > good_frames) {
        return Fail(ErrorCode::kInvalidArgument, "no decodable audio was found in the file",
                    fmt::format("{} frames decoded, {} packets failed", good_frames, bad_packets));
    }

    ProbeInfo info;
    info.format = std::string(AudioFormatName(format));
    info.codec = avcodec_get_name(par.codec_id);
    info.duration_ms = duration_ms;
    info.sample_rate = par.sample_rate;
    info.channels = par.ch_layout.nb_channels;
    info.bit_rate = static_cast<std::int64_t>(static_cast<long double>(size) * 8.0L * 1000.0L / duration_ms);
    return info;
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
