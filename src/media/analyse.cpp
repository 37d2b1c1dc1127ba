// The child side of the analysis: one decode pass feeding loudness, peaks, fingerprint and the mp3 encoder.
#include "media/analyse.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>

#include <chromaprint.h>
#include <ebur128.h>
#include <fmt/format.h>

#include "media/decoder.hpp"

extern "C" {
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
}

namespace plyr::media {
namespace {

using detail::AvErrorText;

tl::unexpected<Error> TranscodeFail(int code, std::string_view step) {
    if (code == AVERROR(ENOMEM)) return Fail(ErrorCode::kUnavailable, "out of memory", std::string(step));
    return Fail(ErrorCode::kInternal, "the web rendition could not be made",
                fmt::format("{}: {}: {}", kTranscodeFailedDetail, step, AvErrorText(code)));
}

tl::unexpected<Error> TranscodeFail(std::string_view why) {
    return Fail(ErrorCode::kInternal, "the web rendition could not be made",
                fmt::format("{}: {}", kTranscodeFailedDetail, why));
}

struct SwrFree {
    void operator()(SwrContext* s) const { swr_free(&s); }
};
struct EburFree {
    void operator()(ebur128_state* s) const { ebur128_destroy(&s); }
};
struct ChromaprintFree {
    void operator()(ChromaprintContext* c) const { chromaprint_free(c); }
};
struct FifoFree {
    void operator()(AVAudioFifo* f) const { av_audio_fifo_free(f); }
};
struct OutputFree {
    void operator()(AVFormatContext* ctx) const {
        if (ctx->pb != nullptr) avio_closep(&ctx->pb);
        avformat_free_context(ctx);
    }
};

// A channel layout swresample can work with: unspecified orders (WAV without a channel mask) get the
// default layout of their channel count.
AVChannelLayout UsableLayout(const AVChannelLayout& layout) {
    AVChannelLayout out{};
    if (layout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check(&layout) == 0) {
        av_channel_layout_default(&out, layout.nb_channels);
    } else {
        av_channel_layout_copy(&out, &layout);
    }
    return out;
}

// EBU R128 channel weighting from the layout (LFE and unknown channels are not measured).
int EburChannel(const AVChannelLayout& layout, int index) {
    switch (av_channel_layout_channel_from_index(&layout, static_cast<unsigned>(index))) {
        case AV_CHAN_FRONT_LEFT:
            return EBUR128_LEFT;
        case AV_CHAN_FRONT_RIGHT:
            return EBUR128_RIGHT;
        case AV_CHAN_FRONT_CENTER:
            return layout.nb_channels == 1 ? EBUR128_LEFT : EBUR128_CENTER;
        case AV_CHAN_BACK_LEFT:
        case AV_CHAN_SIDE_LEFT:
            return EBUR128_LEFT_SURROUND;
        case AV_CHAN_BACK_RIGHT:
        case AV_CHAN_SIDE_RIGHT:
            return EBUR128_RIGHT_SURROUND;
        default:
            return EBUR128_UNUSED;
    }
}

// Waveform peaks over a mono signal with bounded memory, independent of any duration in the header: buckets
// start at one sample; whenever kFinePairs buckets exist, neighbours merge and the bucket size doubles. At the
// end each resolution groups k = ceil(buckets / target) fine buckets, so every pair covers the same number of
// samples (fine size × k; only the last may cover fewer) and there are at most `target` pairs.
class PeakAccumulator {
  public:
    static constexpr std::size_t kFinePairs = 65536;  // even: merging halves it exactly

    void Add(float v) {
        if (in_bucket_ == 0) {
            min_ = max_ = v;
        } else {
            min_ = std::min(min_, v);
            max_ = std::max(max_, v);
        }
        if (++in_bucket_ == bucket_) Close();
    }

    PeakSet Build(int target) const {
        std::vector<std::pair<float, float>> all = pairs_;
        if (in_bucket_ > 0) all.emplace_back(min_, max_);
        PeakSet set;
        const std::size_t k = std::max<std::size_t>(1, (all.size() + target - 1) / static_cast<std::size_t>(target));
        set.samples_per_peak = static_cast<int>(
            std::min<std::int64_t>(bucket_ * static_cast<std::int64_t>(k), std::numeric_limits<int>::max()));
        for (std::size_t i = 0; i < all.size(); i += k) {
            float lo = all[i].first;
            float hi = all[i].second;
            for (std::size_t j = i + 1; j < std::min(all.size(), i + k); ++j) {
                lo = std::min(lo, all[j].first);
                hi = std::max(hi, all[j].second);
            }
            set.peaks.push_back(Quantise(lo));
            set.peaks.push_back(Quantise(hi));
        }
        return set;
    }

  private:
    static char Quantise(float v) {
        const float clamped = std::isfinite(v) ? std::clamp(v, -1.0f, 1.0f) : 0.0f;
        return static_cast<char>(static_cast<std::int8_t>(std::lround(clamped * 127.0f)));
    }
    void Close() {
        pairs_.emplace_back(min_, max_);
        in_bucket_ = 0;
        if (pairs_.size() < kFinePairs) return;
        for (std::size_t i = 0; i < pairs_.size() / 2; ++i) {
            pairs_[i] = {std::min(pairs_[2 * i].first, pairs_[2 * i + 1].first),
                         std::max(pairs_[2 * i].second, pairs_[2 * i + 1].second)};
        }
        pairs_.resize(pairs_.size() / 2);
        bucket_ *= 2;
    }

    std::vector<std::pair<float, float>> pairs_;
    std::int64_t bucket_ = 1;
    std::int64_t in_bucket_ = 0;
    float min_ = 0;
    float max_ = 0;
};

// The web rendition through libavcodec and libavformat (RenditionKind: libmp3lame 320 kbps CBR in mp3, or AAC-LC
// 256 kbps in m4a with the index first): 48 kHz for 48 kHz input and 44.1 kHz for everything else, mono stays
// mono, anything wider becomes stereo.
class RenditionWriter {
  public:
    Status Open(const RenditionKind& kind, const std::string& path, const AVChannelLayout& in_layout, int in_rate) {
        const std::string encoder_name(kind.encoder);
        const AVCodec* encoder = avcodec_find_encoder_by_name(encoder_name.c_str());
        if (encoder == nullptr) return TranscodeFail(fmt::format("the {} encoder is missing", kind.encoder));
        const int rate = in_rate == 48000 ? 48000 : 44100;
        AVChannelLayout layout{};
        av_channel_layout_default(&layout, in_layout.nb_channels == 1 ? 1 : 2);

        codec_.reset(avcodec_alloc_context3(encoder));
        if (!codec_) return TranscodeFail(AVERROR(ENOMEM), "encoder context");
        codec_->sample_fmt = AV_SAMPLE_FMT_FLTP;
        codec_->sample_rate = rate;
        codec_->bit_rate = kind.bit_rate;
        codec_->time_base = AVRational{1, rate};
        codec_->thread_count = 1;
        av_channel_layout_copy(&codec_->ch_layout, &layout);

        AVFormatContext* raw = nullptr;
        const std::string muxer(kind.muxer);
        const std::string url = "file:" + path;
        int rc = avformat_alloc_output_context2(&raw, nullptr, muxer.c_str(), url.c_str());
        if (rc < 0 || raw == nullptr) return TranscodeFail(rc < 0 ? rc : AVERROR(ENOMEM), "muxer");
        output_.reset(raw);
        // The m4a muxer re-opens the file to move its index to the front: local files only, like every open here.
        output_->protocol_whitelist = av_strdup("file");
        if (output_->protocol_whitelist == nullptr) return TranscodeFail(AVERROR(ENOMEM), "muxer");
        if ((output_->oformat->flags & AVFMT_GLOBALHEADER) != 0) codec_->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        rc = avcodec_open2(codec_.get(), encoder, nullptr);
        if (rc < 0) return TranscodeFail(rc, "encoder open");
        frame_size_ = codec_->frame_size > 0 ? codec_->frame_size : 1152;

        stream_ = avformat_new_stream(output_.get(), nullptr);
        if (stream_ == nullptr) return TranscodeFail(AVERROR(ENOMEM), "stream");
        rc = avcodec_parameters_from_context(stream_->codecpar, codec_.get());
        if (rc < 0) return TranscodeFail(rc, "stream parameters");
        stream_->time_base = codec_->time_base;

        AVDictionary* io_options = nullptr;
        av_dict_set(&io_options, "protocol_whitelist", "file", 0);
        rc = avio_open2(&output_->pb, url.c_str(), AVIO_FLAG_WRITE, nullptr, &io_options);
        av_dict_free(&io_options);
        if (rc < 0) return TranscodeFail(rc, "create the rendition file");
        AVDictionary* mux_options = nullptr;
        // Nothing of the upload's metadata is copied; mp3: no ID3v2 tag at all; m4a: index first for streaming.
        if (kind.codec == "mp3") av_dict_set(&mux_options, "id3v2_version", "0", 0);
        if (kind.codec == "aac") av_dict_set(&mux_options, "movflags", "+faststart", 0);
        rc = avformat_write_header(output_.get(), &mux_options);
        av_dict_free(&mux_options);
        if (rc < 0) return TranscodeFail(rc, "write the header");

        SwrContext* swr = nullptr;
        AVChannelLayout source{};  // FFmpeg 5.1 takes the layouts by non-const pointer
        rc = av_channel_layout_copy(&source, &in_layout);
        if (rc < 0) return TranscodeFail(rc, "layout");
        rc = swr_alloc_set_opts2(&swr, &layout, AV_SAMPLE_FMT_FLTP, rate, &source, AV_SAMPLE_FMT_FLT, in_rate, 0,
                                 nullptr);
        av_channel_layout_uninit(&source);
        if (rc < 0) return TranscodeFail(rc, "resampler");
        swr_.reset(swr);
        rc = swr_init(swr_.get());
        if (rc < 0) return TranscodeFail(rc, "resampler init");
        av_channel_layout_uninit(&layout);

        fifo_.reset(av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, codec_->ch_layout.nb_channels, frame_size_ * 4));
        if (!fifo_) return TranscodeFail(AVERROR(ENOMEM), "fifo");
        packet_.reset(av_packet_alloc());
        if (!packet_) return TranscodeFail(AVERROR(ENOMEM), "packet");
        return Ok();
    }

    // `count` frames of interleaved float at the input layout and rate; nullptr flushes the resampler.
    Status Write(const float* interleaved, int count) {
        const int capacity = swr_get_out_samples(swr_.get(), count);
        if (capacity < 0) return TranscodeFail(capacity, "resampler size");
        const int channels = codec_->ch_layout.nb_channels;
        planes_.resize(static_cast<std::size_t>(channels));
        std::vector<std::uint8_t*> out(static_cast<std::size_t>(channels));
        for (int c = 0; c < channels; ++c) {
            planes_[static_cast<std::size_t>(c)].resize(static_cast<std::size_t>(capacity) + 1);
            out[static_cast<std::size_t>(c)] =
                reinterpret_cast<std::uint8_t*>(planes_[static_cast<std::size_t>(c)].data());
        }
        const auto* in = reinterpret_cast<const std::uint8_t*>(interleaved);
        const int got = swr_convert(swr_.get(), out.data(), capacity, interleaved != nullptr ? &in : nullptr,
                                    interleaved != nullptr ? count : 0);
        if (got < 0) return TranscodeFail(got, "resample");
        if (got > 0) {
            const int w = av_audio_fifo_write(fifo_.get(), reinterpret_cast<void**>(out.data()), got);
            if (w < got) return TranscodeFail(w < 0 ? w : AVERROR(ENOMEM), "fifo");
        }
        while (av_audio_fifo_size(fifo_.get()) >= frame_size_) PLYR_TRY_STATUS(EncodeFromFifo(frame_size_));
        return Ok();
    }

    Status Finish() {
        PLYR_TRY_STATUS(Write(nullptr, 0));
        const int rest = av_audio_fifo_size(fifo_.get());
        if (rest > 0) PLYR_TRY_STATUS(EncodeFromFifo(rest));  // both encoders accept a short last frame
        PLYR_TRY_STATUS(Send(nullptr));
        const int rc = av_write_trailer(output_.get());
        if (rc < 0) return TranscodeFail(rc, "write the trailer");
        if (avio_closep(&output_->pb) < 0) return TranscodeFail("closing the rendition failed");
        return Ok();
    }

  private:
    Status EncodeFromFifo(int count) {
        std::unique_ptr<AVFrame, detail::FrameFree> frame(av_frame_alloc());
        if (!frame) return TranscodeFail(AVERROR(ENOMEM), "frame");
        frame->nb_samples = count;
        frame->format = AV_SAMPLE_FMT_FLTP;
        frame->sample_rate = codec_->sample_rate;
        int rc = av_channel_layout_copy(&frame->ch_layout, &codec_->ch_layout);
        if (rc < 0) return TranscodeFail(rc, "frame layout");
        rc = av_frame_get_buffer(frame.get(), 0);
        if (rc < 0) return TranscodeFail(rc, "frame buffer");
        if (av_audio_fifo_read(fifo_.get(), reinterpret_cast<void**>(frame->data), count) < count) {
            return TranscodeFail("fifo underrun");
        }
        frame->pts = next_pts_;
        next_pts_ += count;
        return Send(frame.get());
    }

    Status Send(const AVFrame* frame) {
        int rc = avcodec_send_frame(codec_.get(), frame);
        if (rc < 0) return TranscodeFail(rc, "encode");
        for (;;) {
            rc = avcodec_receive_packet(codec_.get(), packet_.get());
            if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return Ok();
            if (rc < 0) return TranscodeFail(rc, "encode");
            av_packet_rescale_ts(packet_.get(), codec_->time_base, stream_->time_base);
            packet_->stream_index = stream_->index;
            rc = av_interleaved_write_frame(output_.get(), packet_.get());
            if (rc < 0) return TranscodeFail(rc, "write");
        }
    }

    std::unique_ptr<AVCodecContext, detail::CodecCloser> codec_;
    std::unique_ptr<AVFormatContext, OutputFree> output_;
    std::unique_ptr<SwrContext, SwrFree> swr_;
    std::unique_ptr<AVAudioFifo, FifoFree> fifo_;
    std::unique_ptr<AVPacket, detail::PacketFree> packet_;
    AVStream* stream_ = nullptr;
    std::vector<std::vector<float>> planes_;
    int frame_size_ = 1152;
    std::int64_t next_pts_ = 0;
};

// Everything one decoded frame feeds. The working format (interleaved float, the first frame's layout and
// rate) is fixed at the first frame; a stream that changes shape later is resampled into it.
class Pass {
  public:
    Pass(const AnalyseOptions& options, const RenditionKind* rendition) : options_(options), rendition_(rendition) {}
    ~Pass() {
        av_channel_layout_uninit(&layout_);
        av_channel_layout_uninit(&in_layout_);
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

    Status OnFrame(const AVFrame& frame) {
        if (!started_) PLYR_TRY_STATUS(Start(frame));
        if (frame.sample_rate != in_rate_ || frame.format != in_format_ ||
            av_channel_layout_compare(&frame.ch_layout, &in_layout_) != 0) {
            PLYR_TRY_STATUS(ConfigureInput(frame));
        }
        const int capacity = swr_get_out_samples(swr_.get(), frame.nb_samples);
        if (capacity < 0) return detail::AvFail(capacity, "resample");
        buffer_.resize(static_cast<std::size_t>(capacity + 1) * static_cast<std::size_t>(channels_));
        auto* out = reinterpret_cast<std::uint8_t*>(buffer_.data());
        const int got = swr_convert(swr_.get(), &out, capacity, const_cast<const std::uint8_t**>(frame.extended_data),
                                    frame.nb_samples);
        if (got < 0) return detail::AvFail(got, "resample");
        return Feed(buffer_.data(), got);
    }

    Status Finish(AnalysisResult& result) {
        if (!started_) return Ok();  // DecodeAll refuses a file without frames before this point
        const int capacity = swr_get_out_samples(swr_.get(), 0);
        if (capacity > 0) {
            buffer_.resize(static_cast<std::size_t>(capacity + 1) * static_cast<std::size_t>(channels_));
            auto* out = reinterpret_cast<std::uint8_t*>(buffer_.data());
            const int got = swr_convert(swr_.get(), &out, capacity, nullptr, 0);
            if (got < 0) return detail::AvFail(got, "resample");
            PLYR_TRY_STATUS(Feed(buffer_.data(), got));
        }

        double loudness = 0;
        if (ebur128_loudness_global(ebur_.get(), &loudness) == EBUR128_SUCCESS && std::isfinite(loudness)) {
            result.loudness_lufs = loudness;
        }
        double peak = 0;
        for (int c = 0; c < channels_; ++c) {
            double p = 0;
            if (ebur128_true_peak(ebur_.get(), static_cast<unsigned>(c), &p) == EBUR128_SUCCESS && std::isfinite(p)) {
                peak = std::max(peak, p);
            }
        }
        if (peak > 0) result.true_peak_dbtp = 20.0 * std::log10(peak);

        result.low = peaks_.Build(kPeaksLowTarget);
        result.high = peaks_.Build(kPeaksHighTarget);

        if (chromaprint_finish(chroma_.get()) != 1) {
            return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "fingerprint failed");
        }
        std::uint32_t* raw = nullptr;
        int size = 0;
        if (chromaprint_get_raw_fingerprint(chroma_.get(), &raw, &size) != 1) {
            return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "fingerprint failed");
        }
        result.fingerprint.algorithm = CHROMAPRINT_ALGORITHM_DEFAULT;
        result.fingerprint.raw.assign(raw, raw + std::max(0, size));
        chromaprint_dealloc(raw);
        result.fingerprint.duration_ms = samples_ * 1000 / rate_;
        result.decoded_samples = samples_;

        if (mp3_) PLYR_TRY_STATUS(mp3_->Finish());
        return Ok();
    }

  private:
    Status Start(const AVFrame& frame) {
        started_ = true;
        layout_ = UsableLayout(frame.ch_layout);
        channels_ = layout_.nb_channels;
        rate_ = frame.sample_rate;
        if (channels_ <= 0 || rate_ <= 0) {
            return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "frame without shape");
        }
        ebur_.reset(ebur128_init(static_cast<unsigned>(channels_), static_cast<unsigned long>(rate_),
                                 EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK));
        if (!ebur_) return Fail(ErrorCode::kUnavailable, "out of memory", "ebur128_init");
        for (int c = 0; c < channels_; ++c) {
            ebur128_set_channel(ebur_.get(), static_cast<unsigned>(c), EburChannel(layout_, c));
        }
        chroma_.reset(chromaprint_new(CHROMAPRINT_ALGORITHM_DEFAULT));
        if (!chroma_ || chromaprint_start(chroma_.get(), rate_, 1) != 1) {
            return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "chromaprint_start");
        }
        if (rendition_) {
            mp3_ = std::make_unique<RenditionWriter>();
            PLYR_TRY_STATUS(mp3_->Open(*rendition_, RenditionPath(), layout_, rate_));
        }
        return Ok();
    }

    Status ConfigureInput(const AVFrame& frame) {
        av_channel_layout_uninit(&in_layout_);
        if (av_channel_layout_copy(&in_layout_, &frame.ch_layout) < 0) return detail::AvFail(AVERROR(ENOMEM), "layout");
        in_rate_ = frame.sample_rate;
        in_format_ = frame.format;
        AVChannelLayout usable = UsableLayout(frame.ch_layout);
        SwrContext* swr = nullptr;
        int rc = swr_alloc_set_opts2(&swr, &layout_, AV_SAMPLE_FMT_FLT, rate_, &usable,
                                     static_cast<AVSampleFormat>(frame.format), frame.sample_rate, 0, nullptr);
        av_channel_layout_uninit(&usable);
        if (rc < 0) return detail::AvFail(rc, "resampler");
        swr_.reset(swr);
        rc = swr_init(swr_.get());
        if (rc < 0) return detail::AvFail(rc, "resampler init");
        return Ok();
    }

    Status Feed(const float* data, int frames) {
        if (frames <= 0) return Ok();
        if (ebur128_add_frames_float(ebur_.get(), data, static_cast<std::size_t>(frames)) != EBUR128_SUCCESS) {
            return Fail(ErrorCode::kUnavailable, "out of memory", "ebur128_add_frames_float");
        }
        mono_.resize(static_cast<std::size_t>(frames));
        const float scale = 1.0f / static_cast<float>(channels_);
        for (int i = 0; i < frames; ++i) {
            float sum = 0;
            const float* frame = data + static_cast<std::size_t>(i) * static_cast<std::size_t>(channels_);
            for (int c = 0; c < channels_; ++c) sum += frame[c];
            const float mono = sum * scale;
            peaks_.Add(mono);
            const float clamped = std::isfinite(mono) ? std::clamp(mono, -1.0f, 1.0f) : 0.0f;
            mono_[static_cast<std::size_t>(i)] = static_cast<std::int16_t>(std::lround(clamped * 32767.0f));
        }
        if (chromaprint_feed(chroma_.get(), mono_.data(), frames) != 1) {
            return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", "chromaprint_feed");
        }
        if (mp3_) PLYR_TRY_STATUS(mp3_->Write(data, frames));
        samples_ += frames;
        return Ok();
    }

    std::string RenditionPath() const {
        return (std::filesystem::path(options_.out_dir) / std::string(rendition_->file)).string();
    }

    const AnalyseOptions& options_;
    const RenditionKind* rendition_ = nullptr;  // null: no rendition
    bool started_ = false;
    AVChannelLayout layout_{};     // working layout
    AVChannelLayout in_layout_{};  // the input layout swr_ is configured for
    int channels_ = 0;
    int rate_ = 0;
    int in_rate_ = 0;
    int in_format_ = -1;
    std::unique_ptr<SwrContext, SwrFree> swr_;
    std::unique_ptr<ebur128_state, EburFree> ebur_;
    std::unique_ptr<ChromaprintContext, ChromaprintFree> chroma_;
    std::unique_ptr<RenditionWriter> mp3_;
    PeakAccumulator peaks_;
    std::vector<float> buffer_;
    std::vector<std::int16_t> mono_;
    std::int64_t samples_ = 0;
};

Status WriteFile(const std::string& path, const void* data, std::size_t size) {
    std::FILE* f = std::fopen(path.c_str(), "wbx");  // x: never through an existing file or link
    if (f == nullptr) return Fail(ErrorCode::kIo, "an analysis file could not be written", path);
    const bool ok = std::fwrite(data, 1, size, f) == size;
    const bool closed = std::fclose(f) == 0;
    if (!ok || !closed) return Fail(ErrorCode::kIo, "an analysis file could not be written", path);
    return Ok();
}

}  // namespace

namespace {

Result<AnalysisResult> AnalyseInto(const std::string& path, const AnalyseOptions& options,
                                   const std::function<void(double fraction)>& on_progress) {
    const std::filesystem::path dir(options.out_dir);
    std::error_code ec;

    auto audio = detail::OpenAudio(path, options.limits);
    if (!audio) return tl::unexpected(audio.error());
    // The stream's codec is known once it is open, before any decoding: enough to decide on the rendition.
    ProbeInfo opened;
    opened.format = std::string(AudioFormatName(audio->format));
    opened.codec = avcodec_get_name(audio->codec->codec_id);
    const RenditionKind* kind = options.rendition_format ? FindRenditionKind(*options.rendition_format) : nullptr;
    const bool rendition = kind != nullptr && (!options.rendition_when_needed || NeedsWebRendition(opened));
    AnalysisResult result;
    Pass pass(options, rendition ? kind : nullptr);
    ++result.decode_passes;
    auto probe = detail::DecodeAll(
        *audio, options.limits, [&](const AVFrame& frame) { return pass.OnFrame(frame); }, on_progress);
    if (!probe) return tl::unexpected(probe.error());
    result.probe = *probe;
    PLYR_TRY_STATUS(pass.Finish(result));
    audio->codec.reset();
    audio->input.reset();

    PLYR_TRY_STATUS(WriteFile((dir / "peaks_low.bin").string(), result.low.peaks.data(), result.low.peaks.size()));
    PLYR_TRY_STATUS(WriteFile((dir / "peaks_high.bin").string(), result.high.peaks.data(), result.high.peaks.size()));
    std::string fingerprint;
    fingerprint.reserve(result.fingerprint.raw.size() * 4);
    for (std::uint32_t v : result.fingerprint.raw) {
        for (int i = 0; i < 4; ++i) fingerprint.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    PLYR_TRY_STATUS(WriteFile((dir / "fingerprint.bin").string(), fingerprint.data(), fingerprint.size()));

    if (rendition) {
        Rendition rendition;
        rendition.path = (dir / std::string(kind->file)).string();
        rendition.format = std::string(kind->format);
        auto info = ProbeFile(rendition.path, options.limits);
        if (!info) {
            if (info.error().code == ErrorCode::kUnavailable) return tl::unexpected(info.error());
            return TranscodeFail(fmt::format("the rendition does not probe: {}", info.error().ToString()));
        }
        if (info->format != kind->format || info->codec != kind->codec) {
            return TranscodeFail(fmt::format("the rendition is {}/{}", info->format, info->codec));
        }
        rendition.codec = info->codec;
        rendition.info = *info;
        rendition.size = static_cast<std::int64_t>(std::filesystem::file_size(rendition.path, ec));
        if (ec) return TranscodeFail(ec.message());
        result.rendition = std::move(rendition);
    }
    if (on_progress) on_progress(1.0);
    return result;
}

}  // namespace

const RenditionKind* FindRenditionKind(std::string_view rendition_format) {
    static constexpr RenditionKind kKinds[] = {
        {"mp3", "mp3", "mp3", "libmp3lame", "mp3", "rendition.mp3", 320'000},
        {"aac", "m4a", "aac", "aac", "ipod", "rendition.m4a", 256'000},
    };
    for (const auto& kind : kKinds) {
        if (kind.option == rendition_format) return &kind;
    }
    return nullptr;
}

void RemoveAnalysisOutputs(const std::string& out_dir) {
    std::error_code ec;
    for (const char* name : {"peaks_low.bin", "peaks_high.bin", "fingerprint.bin", "rendition.mp3", "rendition.m4a"}) {
        std::filesystem::remove(std::filesystem::path(out_dir) / name, ec);
    }
}

Result<AnalysisResult> AnalyseFile(const std::string& path, const AnalyseOptions& options,
                                   const std::function<void(double fraction)>& on_progress) {
    if (options.rendition_format && FindRenditionKind(*options.rendition_format) == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, "unknown rendition format", *options.rendition_format);
    }
    std::error_code ec;
    if (options.out_dir.empty() || !std::filesystem::is_directory(options.out_dir, ec)) {
        return Fail(ErrorCode::kIo, "the analysis output directory is missing", options.out_dir);
    }
    auto result = AnalyseInto(path, options, on_progress);
    if (!result) RemoveAnalysisOutputs(options.out_dir);
    return result;
}

}  // namespace plyr::media
