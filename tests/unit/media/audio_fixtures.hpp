#pragma once
// Audio fixtures generated at test time with ffmpeg and sox (nothing binary is checked in). Each fixture is
// made on first use into one temporary directory per test process, so a test pays only for what it uses.
// Also used by tests/integration/media.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace plyr::testing {

class AudioFixtures {
  public:
    static AudioFixtures& Get() {
        static AudioFixtures fixtures;
        return fixtures;
    }

    // Path of fixture `name` (see Make for the list); throws when the generator fails.
    std::string Path(const std::string& name) {
        std::lock_guard lock(mutex_);
        auto it = made_.find(name);
        if (it != made_.end()) return it->second;
        std::string path = dir_.str() + "/" + name;
        Make(name, path);
        made_[name] = path;
        return path;
    }

    // A 16-bit PCM WAV header (+ data) written by hand, for shapes ffmpeg and sox refuse to write.
    static std::string WavBytes(int channels, int rate, std::uint32_t claimed_data_bytes, const std::string& pcm) {
        std::string s;
        auto u32 = [&](std::uint32_t v) {
            for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
        };
        auto u16 = [&](std::uint16_t v) {
            s.push_back(static_cast<char>(v & 0xFF));
            s.push_back(static_cast<char>(v >> 8));
        };
        const auto block = static_cast<std::uint16_t>(channels * 2);
        s += "RIFF";
        u32(36 + claimed_data_bytes);
        s += "WAVEfmt ";
        u32(16);
        u16(1);
        u16(static_cast<std::uint16_t>(channels));
        u32(static_cast<std::uint32_t>(rate));
        u32(static_cast<std::uint32_t>(rate) * block);
        u16(block);
        u16(16);
        s += "data";
        u32(claimed_data_bytes);
        return s + pcm;
    }

    // `seconds` of a 440 Hz mono 16-bit tone at `rate`.
    static std::string TonePcm(int rate, double seconds) {
        std::string pcm;
        const auto n = static_cast<std::int64_t>(rate * seconds);
        for (std::int64_t i = 0; i < n; ++i) {
            auto v = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 440.0 * static_cast<double>(i) / rate));
            pcm.push_back(static_cast<char>(v & 0xFF));
            pcm.push_back(static_cast<char>((v >> 8) & 0xFF));
        }
        return pcm;
    }

  private:
    AudioFixtures() = default;

    // RunProcess execs without a PATH search.
    static std::string Tool(const std::string& name) {
        for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/bin/"}) {
            if (std::filesystem::exists(dir + name)) return dir + name;
        }
        throw std::runtime_error(name + " is not installed (scripts/bootstrap.sh --test)");
    }
    void Run(std::vector<std::string> argv) {
        argv[0] = Tool(argv[0]);
        auto r = RunProcess(argv, BaseEnv(), {}, std::chrono::seconds(60));
        if (r.exit_code != 0) throw std::runtime_error("fixture generator failed: " + argv[0] + ": " + r.err);
    }
    void Ffmpeg(const std::string& lavfi, const std::vector<std::string>& codec, const std::string& out,
                double seconds = 3, int rate = 44100, int channels = 2) {
        std::vector<std::string> argv{"ffmpeg",
                                      "-nostdin",
                                      "-v",
                                      "error",
                                      "-y",
                                      "-f",
                                      "lavfi",
                                      "-i",
                                      lavfi + ":duration=" + std::to_string(seconds),
                                      "-ar",
                                      std::to_string(rate),
                                      "-ac",
                                      std::to_string(channels)};
        argv.insert(argv.end(), codec.begin(), codec.end());
        argv.push_back(out);
        Run(argv);
    }
    static void WriteFile(const std::string& path, const std::string& bytes) {
        std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    static std::string Random(std::size_t n, unsigned seed) {
        std::mt19937 rng(seed);
        std::string s(n, '\0');
        for (char& c : s) c = static_cast<char>(rng() & 0xFF);
        return s;
    }

    void Make(const std::string& name, const std::string& path) {
        const std::string sine = "sine=frequency=440";
        const std::string noise = "anoisesrc=color=white:amplitude=0.3";
        const std::string silence = "anullsrc=r=44100:cl=stereo";
        if (name == "sine.wav") return Ffmpeg(sine, {"-c:a", "pcm_s16le"}, path);
        if (name == "float.wav") return Ffmpeg(sine, {"-c:a", "pcm_f32le"}, path);
        if (name == "sine.mp3") return Ffmpeg(sine, {"-c:a", "libmp3lame", "-b:a", "128k"}, path);
        if (name == "noise.flac") return Ffmpeg(noise, {"-c:a", "flac"}, path);
        if (name == "silence.mp3") return Ffmpeg(silence, {"-c:a", "libmp3lame", "-b:a", "128k"}, path);
        if (name == "aac.m4a") return Ffmpeg(sine, {"-c:a", "aac", "-b:a", "128k"}, path);
        if (name == "alac.m4a") return Ffmpeg(sine, {"-c:a", "alac"}, path);
        if (name == "vorbis.ogg") return Ffmpeg(sine, {"-c:a", "libvorbis"}, path);
        if (name == "opus.ogg") return Ffmpeg(sine, {"-c:a", "libopus", "-f", "ogg"}, path, 3, 48000);
        if (name == "flac.ogg") return Ffmpeg(sine, {"-c:a", "flac", "-f", "ogg"}, path);
        if (name == "opus.webm") return Ffmpeg(sine, {"-c:a", "libopus"}, path, 3, 48000);
        if (name == "vorbis.webm") return Ffmpeg(noise, {"-c:a", "libvorbis"}, path);
        if (name == "mono48k.flac") return Ffmpeg(sine, {"-c:a", "flac"}, path, 2, 48000, 1);
        if (name == "mp3.wav") return Ffmpeg(sine, {"-c:a", "libmp3lame", "-f", "wav"}, path);
        if (name == "sine.aiff" || name == "silence.aiff") {
            // sox writes AIFF itself; its synth makes the tone or the silence.
            std::vector<std::string> argv{"sox", "-n", "-r", "44100", "-c", "2", "-b", "16", path, "synth", "3"};
            if (name == "sine.aiff") {
                argv.insert(argv.end(), {"sine", "440"});
            } else {
                argv.insert(argv.end(), {"sine", "440", "vol", "0"});
            }
            return Run(argv);
        }
        if (name == "truncated.mp3") {
            const std::string full = Path("sine.mp3");
            std::ifstream in(full, std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)), {});
            return WriteFile(path, bytes.substr(0, bytes.size() * 2 / 5));
        }
        if (name == "liar.wav") {  // header claims 10 hours (mono 16-bit 44.1 kHz), 2 s of data follow
            return WriteFile(path, WavBytes(1, 44100, 10u * 3600u * 44100u * 2u, TonePcm(44100, 2.0)));
        }
        if (name == "ch64.wav") {
            std::string pcm(64 * 2 * 4410, '\0');
            return WriteFile(path, WavBytes(64, 44100, static_cast<std::uint32_t>(pcm.size()), pcm));
        }
        if (name == "ch9.wav") {
            std::string pcm(9 * 2 * 4410, '\0');
            return WriteFile(path, WavBytes(9, 44100, static_cast<std::uint32_t>(pcm.size()), pcm));
        }
        if (name == "rate2mhz.wav") {
            std::string pcm(2 * 200000, '\0');
            return WriteFile(path, WavBytes(1, 2'000'000, static_cast<std::uint32_t>(pcm.size()), pcm));
        }
        if (name == "id3noise.mp3") {
            return WriteFile(path, std::string("ID3\x03\x00\x00\x00\x00\x00\x00", 10) + Random(200'000, 7));
        }
        if (name == "random.mp3") return WriteFile(path, Random(100'000, 11));
        if (name == "empty.mp3") return WriteFile(path, "");
        if (name == "png.mp3") {
            return WriteFile(path, std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16) + Random(4000, 3));
        }
        if (name == "elf.mp3")
            return WriteFile(path, std::string("\x7f"
                                               "ELF\x02\x01\x01\0",
                                               8) +
                                       Random(4000, 5));
        throw std::runtime_error("unknown fixture " + name);
    }

    TempDir dir_;
    std::recursive_mutex mutex_;
    std::map<std::string, std::string> made_;
};

}  // namespace plyr::testing
