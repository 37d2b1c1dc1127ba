#include "media/decoder.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

extern "C" {
#include <libavutil/error.h>
}

namespace plyr::media::detail {
namespace {

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

}  // namespace

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

Result<OpenedAudio> OpenAudio(const std::string& path, const ProbeLimits& limits) {
    OpenedAudio audio;
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return Fail(ErrorCode::kIo, "the audio file could not be read", ec.message());
    if (size == 0) return Fail(ErrorCode::kInvalidArgument, "the audio file is empty");
    audio.file_size = size;

    std::string head(static_cast<std::size_t>(std::min<std::uintmax_t>(size, kSniffBytes)), '\0');
    {
        std::ifstream in(path, std::ios::binary);
        if (!in.read(head.data(), static_cast<std::streamsize>(head.size()))) {
            return Fail(ErrorCode::kIo, "the audio file could not be read", "short read of the file head");
        }
    }
    audio.format = SniffAudio(head);
    if (audio.format == AudioFormat::kUnknown) {
        return Fail(ErrorCode::kUnsupported, "this audio format is not supported");
    }

    const AVInputFormat* demuxer = av_find_input_format(DemuxerFor(audio.format));
    if (demuxer == nullptr) return Fail(ErrorCode::kInternal, "demuxer missing", DemuxerFor(audio.format));

    // Only the local file protocol: a crafted container cannot make the demuxer open URLs or other files.
    AVDictionary* options = nullptr;
    av_dict_set(&options, "protocol_whitelist", "file", 0);
    av_dict_set(&options, "enable_drefs", "0", 0);
    AVFormatContext* raw = nullptr;
    const std::string url = "file:" + path;
    int rc = avformat_open_input(&raw, url.c_str(), demuxer, &options);
    av_dict_free(&options);
    if (rc < 0) return AvFail(rc, "open");
    audio.input.reset(raw);

    rc = avformat_find_stream_info(audio.input.get(), nullptr);
    if (rc < 0) return AvFail(rc, "stream info");

    // The stream first, its decoder second: asking av_find_best_stream for both would report a stream without
    // a decoder as an error code instead of the stream (and its codec) that must be judged.
    const int index = av_find_best_stream(audio.input.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
    if (index < 0) return Fail(ErrorCode::kInvalidArgument, "the file has no audio stream");
    const AVCodecParameters& par = *audio.input->streams[index]->codecpar;
    if (!CodecAllowed(audio.format, par.codec_id)) {
        return Fail(ErrorCode::kUnsupported,
                    fmt::format("{} audio in a {} file is not supported", avcodec_get_name(par.codec_id),
                                AudioFormatName(audio.format)));
    }
    PLYR_TRY_STATUS(CheckShape(par, limits));
    const AVCodec* decoder = avcodec_find_decoder(par.codec_id);
    if (decoder == nullptr) return AvFail(AVERROR_DECODER_NOT_FOUND, "decoder");
    if (par.sample_rate <= 0 || par.ch_layout.nb_channels <= 0) {
        return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "no sample rate or channels");
    }
    // Only this stream is demuxed further.
    for (unsigned i = 0; i < audio.input->nb_streams; ++i) {
        audio.input->streams[i]->discard = static_cast<int>(i) == index ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
    }
    audio.stream_index = index;

    audio.codec.reset(avcodec_alloc_context3(decoder));
    if (!audio.codec) return AvFail(AVERROR(ENOMEM), "codec context");
    rc = avcodec_parameters_to_context(audio.codec.get(), &par);
    if (rc < 0) return AvFail(rc, "codec parameters");
    audio.codec->thread_count = 1;  // the sandbox runs several children; each stays on one core
    rc = avcodec_open2(audio.codec.get(), decoder, nullptr);
    if (rc < 0) return AvFail(rc, "codec open");
    return audio;
}

Result<ProbeInfo> DecodeAll(OpenedAudio& audio, const ProbeLimits& limits, const FrameSink& on_frame,
                            const std::function<void(double)>& on_progress) {
    AVFormatContext* input = audio.input.get();
    AVCodecContext* codec = audio.codec.get();
    const int index = audio.stream_index;
    std::unique_ptr<AVPacket, PacketFree> packet(av_packet_alloc());
    std::unique_ptr<AVFrame, FrameFree> frame(av_frame_alloc());
    if (!packet || !frame) return AvFail(AVERROR(ENOMEM), "packet");

    // Decoded length in microseconds, summed per frame at the frame's own rate (a stream may change rate).
    long double decoded_us = 0;
    std::int64_t good_frames = 0;
    std::int64_t bad_packets = 0;
    const long double max_us = static_cast<long double>(limits.max_duration_seconds) * 1e6L;
    double reported = -1;
    auto drain = [&]() -> Status {
        for (;;) {
            int r = avcodec_receive_frame(codec, frame.get());
            if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return Ok();
            if (r == AVERROR(ENOMEM)) return AvFail(r, "decode");
            if (r < 0) {
                ++bad_packets;
                return Ok();
            }
            if (frame->nb_samples > 0 && frame->sample_rate > 0) {
                decoded_us += static_cast<long double>(frame->nb_samples) * 1e6L / frame->sample_rate;
                ++good_frames;
                if (decoded_us > max_us) {
                    av_frame_unref(frame.get());
                    return Fail(ErrorCode::kTooLarge,
                                fmt::format("the audio is longer than {} seconds", limits.max_duration_seconds));
                }
                if (on_frame) {
                    Status s = on_frame(*frame);
                    if (!s) {
                        av_frame_unref(frame.get());
                        return s;
                    }
                }
            }
            av_frame_unref(frame.get());
        }
    };
    int rc = 0;
    for (;;) {
        rc = av_read_frame(input, packet.get());
        if (rc == AVERROR(ENOMEM)) return AvFail(rc, "read");
        if (rc < 0) break;  // end of file, or a truncated/corrupt tail: what decoded so far counts
        if (packet->stream_index == index) {
            int s = avcodec_send_packet(codec, packet.get());
            if (s == AVERROR(ENOMEM)) return AvFail(s, "decode");
            if (s < 0 && s != AVERROR(EAGAIN)) ++bad_packets;
            PLYR_TRY_STATUS(drain());
        }
        av_packet_unref(packet.get());
        if (on_progress && input->pb != nullptr && audio.file_size > 0) {
            const double fraction =
                std::clamp(static_cast<double>(avio_tell(input->pb)) / static_cast<double>(audio.file_size), 0.0, 1.0);
            if (fraction >= reported + 0.01) {
                reported = fraction;
                on_progress(fraction);
            }
        }
    }
    avcodec_send_packet(codec, nullptr);
    PLYR_TRY_STATUS(drain());

    const auto duration_ms = static_cast<std::int64_t>(decoded_us / 1000.0L);
    // Nothing decoded, or decoding was mostly failures (noise that happens to contain frame syncs).
    if (duration_ms <= 0 || good_frames == 0 || bad_packets > good_frames) {
        return Fail(ErrorCode::kInvalidArgument, "no decodable audio was found in the file",
                    fmt::format("{} frames decoded, {} packets failed", good_frames, bad_packets));
    }

    const AVCodecParameters& par = *input->streams[index]->codecpar;
    ProbeInfo info;
    info.format = std::string(AudioFormatName(audio.format));
    info.codec = avcodec_get_name(par.codec_id);
    info.duration_ms = duration_ms;
    info.sample_rate = par.sample_rate;
    info.channels = par.ch_layout.nb_channels;
    info.bit_rate = static_cast<std::int64_t>(static_cast<long double>(audio.file_size) * 8.0L * 1000.0L / duration_ms);
    return info;
}

}  // namespace plyr::media::detail
