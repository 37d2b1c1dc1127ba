// The parent side of the analysis: the sandboxed call, the strict reading of the child's JSON and files, limits.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <tuple>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_strict.hpp"
#include "media/analyse.hpp"
#include "media/sniff.hpp"

namespace plyr::media {
namespace {

constexpr const char* kPeaksLowFile = "peaks_low.bin";
constexpr const char* kPeaksHighFile = "peaks_high.bin";
constexpr const char* kFingerprintFile = "fingerprint.bin";
// Chromaprint emits about 7.8 raw items per second of audio; twice that bounds what an honest child sends.
constexpr std::int64_t kFingerprintItemsPerSecond = 16;
constexpr std::size_t kMaxResultJson = 64 * 1024;

std::string InDir(const std::string& out_dir, const char* name) {
    return (std::filesystem::path(out_dir) / name).string();
}

// Reads a file the child wrote, refusing links and anything but a regular file of exactly `size` bytes.
Result<std::string> ReadExact(const std::string& path, std::uint64_t size) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Fail(ErrorCode::kProtocol, "malformed analysis result", fmt::format("cannot open {}", path));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != size) {
        return Fail(ErrorCode::kProtocol, "malformed analysis result", fmt::format("{} has the wrong size", path));
    }
    std::string bytes(static_cast<std::size_t>(size), '\0');
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return Fail(ErrorCode::kProtocol, "malformed analysis result", fmt::format("short {}", path));
        done += static_cast<std::size_t>(got);
    }
    return bytes;
}

Status CheckRegularFile(const std::string& path, std::uint64_t size) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != size) {
        return Fail(ErrorCode::kProtocol, "malformed analysis result",
                    fmt::format("{} is not the file reported", path));
    }
    return Ok();
}

class Reader {
  public:
    explicit Reader(std::string_view json) : json_(json) {}

    tl::unexpected<Error> Bad(std::string_view why) const {
        return Fail(ErrorCode::kProtocol, "malformed analysis result",
                    fmt::format("{}: {}", why, json_.substr(0, 200)));
    }
    static const boost::json::object* Object(const boost::json::object& o, const char* key, std::size_t members) {
        const auto* p = o.if_contains(key);
        if (p == nullptr || !p->is_object() || p->as_object().size() != members) return nullptr;
        return &p->as_object();
    }
    static std::optional<std::int64_t> Int(const boost::json::object& o, const char* key, std::int64_t max) {
        const auto* p = o.if_contains(key);
        if (p == nullptr || !p->is_int64() || p->as_int64() < 0 || p->as_int64() > max) return std::nullopt;
        return p->as_int64();
    }
    static const boost::json::string* String(const boost::json::object& o, const char* key) {
        const auto* p = o.if_contains(key);
        return p != nullptr && p->is_string() ? &p->as_string() : nullptr;
    }
    // null → nullopt in the outer optional's value; absent or mistyped → no value at all.
    static std::optional<std::optional<double>> Number(const boost::json::object& o, const char* key) {
        const auto* p = o.if_contains(key);
        if (p == nullptr) return std::nullopt;
        if (p->is_null()) return std::optional<double>{};
        if (!p->is_number()) return std::nullopt;
        const double v = p->to_number<double>();
        if (!std::isfinite(v) || v < -400.0 || v > 100.0) return std::nullopt;
        return std::optional<double>{v};
    }

  private:
    std::string_view json_;
};

}  // namespace

bool NeedsWebRendition(const ProbeInfo& info) {
    if (info.format == "aiff" || info.format == "ogg" || info.format == "webm") return true;
    if (info.format == "m4a") return info.codec != "aac";
    if (info.format == "wav") return info.codec.rfind("pcm_", 0) != 0;
    return false;  // mp3, flac
}

std::string AnalysisToJson(const AnalysisResult& r, const std::string& out_dir) {
    boost::json::object o;
    o["probe"] = boost::json::parse(ProbeInfoToJson(r.probe));
    o["loudness_lufs"] = r.loudness_lufs ? boost::json::value(*r.loudness_lufs) : boost::json::value(nullptr);
    o["true_peak_dbtp"] = r.true_peak_dbtp ? boost::json::value(*r.true_peak_dbtp) : boost::json::value(nullptr);
    auto peaks = [&](const PeakSet& set, const char* file) {
        boost::json::object p;
        p["samples_per_peak"] = set.samples_per_peak;
        p["file"] = InDir(out_dir, file);
        p["count"] = set.count();
        return p;
    };
    o["peaks"] = boost::json::object{{"low", peaks(r.low, kPeaksLowFile)}, {"high", peaks(r.high, kPeaksHighFile)}};
    o["fingerprint"] = boost::json::object{{"algorithm", r.fingerprint.algorithm},
                                           {"duration_ms", r.fingerprint.duration_ms},
                                           {"file", InDir(out_dir, kFingerprintFile)},
                                           {"items", r.fingerprint.raw.size()}};
    if (r.rendition) {
        o["rendition"] = boost::json::object{{"file", r.rendition->path},
                                             {"codec", r.rendition->codec},
                                             {"format", r.rendition->format},
                                             {"size", r.rendition->size},
                                             {"probe", boost::json::parse(ProbeInfoToJson(r.rendition->info))}};
    } else {
        o["rendition"] = nullptr;
    }
    o["stats"] = boost::json::object{{"decode_passes", r.decode_passes}, {"decoded_samples", r.decoded_samples}};
    return boost::json::serialize(o);
}

Result<AnalysisResult> AnalysisFromJson(std::string_view json, const std::string& out_dir, const ProbeLimits& limits) {
    Reader rd(json);
    if (json.size() > kMaxResultJson) return rd.Bad("too long");
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(json, ec);
    if (ec || !v.is_object() || core::JsonHasDuplicateKeys(json) || !core::JsonNumbersFinite(v)) {
        return rd.Bad("not a JSON object");
    }
    const auto& o = v.as_object();
    if (o.size() != 7) return rd.Bad("unexpected members");

    AnalysisResult r;
    const auto* probe = o.if_contains("probe");
    if (probe == nullptr || !probe->is_object()) return rd.Bad("probe");
    auto info = ProbeInfoFromJson(boost::json::serialize(*probe));
    if (!info) return tl::unexpected(info.error());
    r.probe = *info;
    const std::int64_t max_ms = limits.max_duration_seconds * 1000 + 60'000;
    if (r.probe.duration_ms > max_ms) return rd.Bad("probe duration above the cap");

    auto loudness = Reader::Number(o, "loudness_lufs");
    auto peak = Reader::Number(o, "true_peak_dbtp");
    if (!loudness || !peak) return rd.Bad("loudness");
    r.loudness_lufs = *loudness;
    r.true_peak_dbtp = *peak;

    const auto* peaks = Reader::Object(o, "peaks", 2);
    if (peaks == nullptr) return rd.Bad("peaks");
    for (auto [key, file, target, set] : {std::tuple{"low", kPeaksLowFile, kPeaksLowTarget, &r.low},
                                          std::tuple{"high", kPeaksHighFile, kPeaksHighTarget, &r.high}}) {
        const auto* p = Reader::Object(*peaks, key, 3);
        if (p == nullptr) return rd.Bad("peaks");
        auto spp = Reader::Int(*p, "samples_per_peak", std::numeric_limits<int>::max());
        auto count = Reader::Int(*p, "count", target);
        const auto* path = Reader::String(*p, "file");
        if (!spp || *spp < 1 || !count || path == nullptr || *path != InDir(out_dir, file)) return rd.Bad("peaks");
        auto bytes = ReadExact(InDir(out_dir, file), static_cast<std::uint64_t>(*count) * 2);
        if (!bytes) return tl::unexpected(bytes.error());
        set->samples_per_peak = static_cast<int>(*spp);
        set->peaks = std::move(*bytes);
    }

    const auto* fp = Reader::Object(o, "fingerprint", 4);
    if (fp == nullptr) return rd.Bad("fingerprint");
    const std::int64_t max_items = (limits.max_duration_seconds + 60) * kFingerprintItemsPerSecond;
    auto algorithm = Reader::Int(*fp, "algorithm", 16);
    auto fp_ms = Reader::Int(*fp, "duration_ms", max_ms);
    auto items = Reader::Int(*fp, "items", max_items);
    const auto* fp_path = Reader::String(*fp, "file");
    if (!algorithm || !fp_ms || !items || fp_path == nullptr || *fp_path != InDir(out_dir, kFingerprintFile)) {
        return rd.Bad("fingerprint");
    }
    auto fp_bytes = ReadExact(InDir(out_dir, kFingerprintFile), static_cast<std::uint64_t>(*items) * 4);
    if (!fp_bytes) return tl::unexpected(fp_bytes.error());
    r.fingerprint.algorithm = static_cast<int>(*algorithm);
    r.fingerprint.duration_ms = *fp_ms;
    r.fingerprint.raw.resize(static_cast<std::size_t>(*items));
    for (std::size_t i = 0; i < r.fingerprint.raw.size(); ++i) {
        std::uint32_t x = 0;
        for (int b = 3; b >= 0; --b) x = (x << 8) | static_cast<std::uint8_t>((*fp_bytes)[4 * i + b]);
        r.fingerprint.raw[i] = x;
    }

    const auto* rendition = o.if_contains("rendition");
    if (rendition == nullptr) return rd.Bad("rendition");
    if (!rendition->is_null()) {
        if (!rendition->is_object() || rendition->as_object().size() != 5) return rd.Bad("rendition");
        const auto& ro = rendition->as_object();
        const auto* file = Reader::String(ro, "file");
        const auto* codec = Reader::String(ro, "codec");
        const auto* format = Reader::String(ro, "format");
        auto size = Reader::Int(ro, "size", std::int64_t{1} << 40);
        const auto* rprobe = ro.if_contains("probe");
        const RenditionKind* kind = codec != nullptr ? FindRenditionKind(*codec == "mp3" ? "mp3" : "aac") : nullptr;
        if (kind == nullptr || *codec != kind->codec || format == nullptr || *format != kind->format ||
            file == nullptr || *file != InDir(out_dir, std::string(kind->file).c_str()) || !size || rprobe == nullptr ||
            !rprobe->is_object()) {
            return rd.Bad("rendition");
        }
        const std::string path = InDir(out_dir, std::string(kind->file).c_str());
        auto rinfo = ProbeInfoFromJson(boost::json::serialize(*rprobe));
        if (!rinfo) return tl::unexpected(rinfo.error());
        if (rinfo->format != kind->format || rinfo->codec != kind->codec) return rd.Bad("rendition probe");
        PLYR_TRY_STATUS(CheckRegularFile(path, static_cast<std::uint64_t>(*size)));
        r.rendition = Rendition{path, std::string(kind->format), std::string(kind->codec), *rinfo, *size};
    }

    const auto* stats = Reader::Object(o, "stats", 2);
    if (stats == nullptr) return rd.Bad("stats");
    auto passes = Reader::Int(*stats, "decode_passes", 16);
    auto samples = Reader::Int(*stats, "decoded_samples", std::int64_t{1} << 50);
    if (!passes || !samples) return rd.Bad("stats");
    r.decode_passes = static_cast<int>(*passes);
    r.decoded_samples = *samples;
    return r;
}

namespace {
Result<AnalysisResult> RunChild(Sandbox& sandbox, const std::vector<std::string>& args, const std::string& input,
                                const AnalyseOptions& options, const SandboxLimits& limits,
                                const std::function<void(std::string_view)>& on_line);
}  // namespace

Result<AnalysisResult> Analyse(Sandbox& sandbox, const std::string& input, const AnalyseOptions& options,
                               const SandboxLimits& limits, std::function<void(double fraction)> on_progress) {
    if (options.rendition_format && FindRenditionKind(*options.rendition_format) == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, "unknown rendition format", *options.rendition_format);
    }
    const ProbeLimits& p = options.limits;
    std::vector<std::string> args{"analyse",
                                  "--max-duration-seconds",
                                  std::to_string(p.max_duration_seconds),
                                  "--max-channels",
                                  std::to_string(p.max_channels),
                                  "--min-sample-rate",
                                  std::to_string(p.min_sample_rate),
                                  "--max-sample-rate",
                                  std::to_string(p.max_sample_rate),
                                  "--out-dir",
                                  options.out_dir};
    if (options.rendition_format) {
        args.push_back("--rendition");
        args.push_back(*options.rendition_format);
        if (options.rendition_when_needed) args.push_back("--rendition-when-needed");
    }
    args.push_back("--");
    args.push_back(input);

    std::function<void(std::string_view)> on_line;
    if (on_progress) {
        on_line = [&](std::string_view line) {
            constexpr std::string_view kPrefix = "progress ";
            if (line.substr(0, kPrefix.size()) != kPrefix) return;
            line.remove_prefix(kPrefix.size());
            double fraction = 0;
            auto [end, err] = std::from_chars(line.data(), line.data() + line.size(), fraction);
            if (err != std::errc{} || end != line.data() + line.size() || !std::isfinite(fraction)) return;
            on_progress(std::clamp(fraction, 0.0, 1.0));
        };
    }
    // Leftovers of an earlier, interrupted run of the same job would make the child refuse to create its files.
    RemoveAnalysisOutputs(options.out_dir);
    auto result = RunChild(sandbox, args, input, options, limits, on_line);
    if (!result) RemoveAnalysisOutputs(options.out_dir);
    return result;
}

namespace {

// Whether the child was making a rendition, judged without trusting the child: always when asked to; when only
// needed, if the sniffed container always needs one (aiff, ogg, webm; m4a and wav depend on the codec).
bool RenditionCertain(const std::string& input, const AnalyseOptions& options) {
    if (!options.rendition_format) return false;
    if (!options.rendition_when_needed) return true;
    std::string head(kSniffBytes, '\0');
    std::ifstream in(input, std::ios::binary);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(std::max<std::streamsize>(0, in.gcount())));
    const AudioFormat format = SniffAudio(head);
    return format == AudioFormat::kAiff || format == AudioFormat::kOgg || format == AudioFormat::kWebm;
}

Result<AnalysisResult> RunChild(Sandbox& sandbox, const std::vector<std::string>& args, const std::string& input,
                                const AnalyseOptions& options, const SandboxLimits& limits,
                                const std::function<void(std::string_view)>& on_line) {
    const ProbeLimits& p = options.limits;
    // A crash, limit breach or timeout is audio_unreadable, or transcode_failed while a rendition was asked for
    // (product.md §6.17): the encoder is then the likeliest reason the child ran out of time or file size.
    auto sandbox_failure = [&](std::string detail) -> tl::unexpected<Error> {
        if (RenditionCertain(input, options)) {
            return Fail(ErrorCode::kInternal, "the web rendition could not be made",
                        fmt::format("{}: {}", kTranscodeFailedDetail, detail));
        }
        return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read", std::move(detail));
    };
    auto out = sandbox.Run(args, limits, on_line);
    if (!out) {
        if (out.error().failure == SandboxFailure::kRefused) return tl::unexpected(out.error().error);
        return sandbox_failure(
            fmt::format("media sandbox {}: {}", SandboxFailureName(out.error().failure), out.error().error.detail));
    }
    auto result = AnalysisFromJson(*out, options.out_dir, p);
    if (!result) return sandbox_failure(fmt::format("media sandbox bad_output: {}", result.error().detail));
    const bool expected =
        options.rendition_format.has_value() && (!options.rendition_when_needed || NeedsWebRendition(result->probe));
    if (expected != result->rendition.has_value() ||
        (result->rendition && result->rendition->codec != FindRenditionKind(*options.rendition_format)->codec)) {
        return sandbox_failure("media sandbox bad_output: rendition missing, unexpected or of another kind");
    }
    return result;
}

}  // namespace

SandboxLimits AnalyseSandboxLimits(const core::Config& config, std::optional<std::int64_t> duration_hint_ms) {
    SandboxLimits l =
        TranscodeSandboxLimits(config, duration_hint_ms.value_or(config.max_audio_duration_seconds * 1000));
    l.max_stdout_bytes = kMaxResultJson;
    return l;
}

std::string_view AnalyseErrorCode(const Error& error) {
    if (error.code == ErrorCode::kInternal && error.detail.rfind(kTranscodeFailedDetail, 0) == 0) {
        return "transcode_failed";
    }
    return ProbeErrorCode(error);
}

}  // namespace plyr::media
