#pragma once
// Extra audio for the analysis tests, generated with ffmpeg at test time (the common formats come from
// AudioFixtures). Made on first use into one temporary directory per test process.

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace plyr::testing {

class AnalyseFixtures {
  public:
    static AnalyseFixtures& Get() {
        static AnalyseFixtures fixtures;
        return fixtures;
    }

    std::string Path(const std::string& name) {
        std::lock_guard lock(mutex_);
        auto it = made_.find(name);
        if (it != made_.end()) return it->second;
        std::string path = dir_.str() + "/" + name;
        Make(name, path);
        made_[name] = path;
        return path;
    }

    // ffmpeg's own EBU R128 measurement of `path`: {integrated LUFS, true peak dBFS} from the ebur128 filter's
    // summary on stderr.
    static std::pair<double, double> FfmpegLoudness(const std::string& path) {
        auto r = RunProcess({"/usr/bin/ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-i", path, "-af",
                             "ebur128=peak=true", "-f", "null", "-"},
                            BaseEnv(), {}, std::chrono::seconds(60));
        if (r.exit_code != 0) throw std::runtime_error("ffmpeg ebur128 failed: " + r.err);
        const auto summary = r.err.rfind("Summary:");
        if (summary == std::string::npos) throw std::runtime_error("no ebur128 summary: " + r.err);
        auto number_after = [&](const std::string& key) {
            const auto at = r.err.find(key, summary);
            if (at == std::string::npos) throw std::runtime_error("no " + key + " in: " + r.err.substr(summary));
            return std::strtod(r.err.c_str() + at + key.size(), nullptr);
        };
        return {number_after("I:"), number_after("Peak:")};
    }

  private:
    AnalyseFixtures() = default;

    void Ffmpeg(std::vector<std::string> args, const std::string& out) {
        std::vector<std::string> argv{"/usr/bin/ffmpeg", "-nostdin", "-v", "error", "-y"};
        argv.insert(argv.end(), args.begin(), args.end());
        argv.push_back(out);
        auto r = RunProcess(argv, BaseEnv(), {}, std::chrono::seconds(60));
        if (r.exit_code != 0) throw std::runtime_error("fixture generator failed: " + r.err);
    }
    // aevalsrc expression per channel (joined with '|'), `seconds` long, 16-bit PCM WAV unless `codec` says else.
    void Eval(const std::string& expr, int channels, int rate, double seconds, const std::string& out,
              std::vector<std::string> codec = {"-c:a", "pcm_s16le"}) {
        std::string exprs = expr;
        for (int c = 1; c < channels; ++c) exprs += "|" + expr;
        std::vector<std::string> args{
            "-f", "lavfi", "-i", "aevalsrc=" + exprs + ":s=" + std::to_string(rate) + ":d=" + std::to_string(seconds)};
        args.insert(args.end(), codec.begin(), codec.end());
        Ffmpeg(args, out);
    }

    void Make(const std::string& name, const std::string& path) {
        // 1 kHz at -20 dBFS (peak 0.1), stereo 48 kHz: -20.0 LUFS by the BS.1770 arithmetic (docs/media.md).
        if (name == "sine1k_m20.wav") return Eval("0.1*sin(2*PI*1000*t)", 2, 48000, 5, path);
        // A near-full-scale 1 kHz sine: true peak 20·log10(0.99) ≈ -0.09 dBTP.
        if (name == "sine1k_fs.wav") return Eval("0.99*sin(2*PI*1000*t)", 2, 48000, 3, path);
        if (name == "silence.wav") return Eval("0", 2, 44100, 3, path);
        // 2 s of silence, then 2 s of a loud tone.
        if (name == "half_silent.wav") return Eval("if(lt(t\\,2)\\,0\\,0.5*sin(2*PI*440*t))", 1, 44100, 4, path);
        // A chirp-like signal rich enough for a fingerprint, stored lossless in two containers.
        if (name == "music.wav" || name == "music.flac") {
            const std::string expr =
                "0.3*sin(2*PI*(220+110*sin(2*PI*0.5*t))*t)+0.2*sin(2*PI*(660+200*sin(2*PI*0.3*t))*t)";
            return Eval(expr, 2, 44100, 8, path,
                        name == "music.wav" ? std::vector<std::string>{"-c:a", "pcm_s16le"}
                                            : std::vector<std::string>{"-c:a", "flac"});
        }
        if (name == "noise.wav") {
            return Ffmpeg({"-f", "lavfi", "-i", "anoisesrc=color=white:amplitude=0.3:seed=42:duration=8", "-ar",
                           "44100", "-ac", "2", "-c:a", "pcm_s16le"},
                          path);
        }
        // 5.1 at 48 kHz: six channels in, stereo out of the rendition.
        if (name == "surround.flac") {
            return Ffmpeg({"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3", "-af",
                           "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0", "-c:a", "flac"},
                          path);
        }
        throw std::runtime_error("unknown fixture " + name);
    }

    TempDir dir_;
    std::mutex mutex_;
    std::map<std::string, std::string> made_;
};

}  // namespace plyr::testing
