#include "app/media_command.hpp"

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "app/exit_codes.hpp"
#include "media/analyse.hpp"
#include "media/probe.hpp"
#include "media/sandbox.hpp"

extern "C" {
#include <libavutil/log.h>
}

extern char** environ;

namespace plyr::app {
namespace {

bool TestModesEnabled() {
    const char* v = std::getenv("PLYR_ENABLE_TEST_JOBS");
    return v != nullptr && std::string_view(v) == "1";
}

int Refuse(std::string_view code, std::string_view message) {
    boost::json::object o;
    o["error"] = code;
    o["message"] = message;
    std::printf("%s\n", boost::json::serialize(o).c_str());
    std::fflush(stdout);
    return media::kChildExitFailed;
}

int Probe(const MediaCommand& c) {
    media::ProbeLimits limits;
    limits.max_duration_seconds = c.max_duration_seconds;
    limits.max_channels = c.max_channels;
    limits.min_sample_rate = c.min_sample_rate;
    limits.max_sample_rate = c.max_sample_rate;
    auto info = media::ProbeFile(c.file, limits);
    if (!info) {
        std::fprintf(stderr, "probe: %s\n", info.error().ToString().c_str());
        if (info.error().code == ErrorCode::kUnavailable) return media::kChildExitResource;
        return Refuse(media::ProbeErrorCode(info.error()), info.error().message);
    }
    std::printf("%s\n", media::ProbeInfoToJson(*info).c_str());
    std::fflush(stdout);
    return kExitOk;
}

int Analyse(const MediaCommand& c) {
    media::AnalyseOptions options;
    options.limits.max_duration_seconds = c.max_duration_seconds;
    options.limits.max_channels = c.max_channels;
    options.limits.min_sample_rate = c.min_sample_rate;
    options.limits.max_sample_rate = c.max_sample_rate;
    options.out_dir = c.out_dir;
    if (!c.rendition.empty()) options.rendition_format = c.rendition;
    options.rendition_when_needed = c.rendition_when_needed;
    // The parent reads these lines as they come (Sandbox::Run on_stderr_line) for the job's progress.
    auto progress = [](double fraction) {
        std::fprintf(stderr, "progress %.3f\n", fraction);
        std::fflush(stderr);
    };
    auto result = media::AnalyseFile(c.file, options, progress);
    if (!result) {
        std::fprintf(stderr, "analyse: %s\n", result.error().ToString().c_str());
        if (result.error().code == ErrorCode::kUnavailable) return media::kChildExitResource;
        return Refuse(media::AnalyseErrorCode(result.error()), result.error().message);
    }
    std::printf("%s\n", media::AnalysisToJson(*result, c.out_dir).c_str());
    std::fflush(stdout);
    return kExitOk;
}

// Touches every page so the memory is really used (an untouched allocation may never count).
int Alloc(std::int64_t mib) {
    const auto bytes = static_cast<std::size_t>(mib) << 20;
    auto* p = static_cast<char*>(std::malloc(bytes));
    if (p == nullptr) return media::kChildExitResource;
    for (std::size_t i = 0; i < bytes; i += 4096) p[i] = static_cast<char>(i);
    std::printf("{\"allocated_mib\":%lld}\n", static_cast<long long>(mib));
    std::free(p);
    return kExitOk;
}

// Names only: values could be secrets, and the test needs only to know which exist.
int Environment() {
    boost::json::object o;
    boost::json::array names;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry(*e);
        names.emplace_back(entry.substr(0, entry.find('=')));
    }
    boost::json::array fds;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
        fds.emplace_back(std::stoll(entry.path().filename().string()));
    }
    o["env"] = std::move(names);
    o["fds"] = std::move(fds);
    std::printf("%s\n", boost::json::serialize(o).c_str());
    return kExitOk;
}

}  // namespace

void AddMediaCommand(CLI::App& cli, MediaCommand& c) {
    c.media = cli.add_subcommand("media", "media sandbox child (internal)");
    c.media->group("");  // hidden: only media::Sandbox starts it
    c.media->require_subcommand(1);
    c.probe = c.media->add_subcommand("probe", "probe and fully decode one audio file; one JSON line");
    c.probe->add_option("--max-duration-seconds", c.max_duration_seconds)->check(CLI::Range(1, 7 * 86400));
    c.probe->add_option("--max-channels", c.max_channels)->check(CLI::Range(1, 1024));
    c.probe->add_option("--min-sample-rate", c.min_sample_rate)->check(CLI::Range(1, 100'000'000));
    c.probe->add_option("--max-sample-rate", c.max_sample_rate)->check(CLI::Range(1, 100'000'000));
    c.probe->add_option("file", c.file)->required();
    c.analyse = c.media->add_subcommand("analyse",
                                        "decode one audio file once: loudness, peaks, fingerprint, "
                                        "optional mp3 rendition; one JSON line");
    c.analyse->add_option("--max-duration-seconds", c.max_duration_seconds)->check(CLI::Range(1, 7 * 86400));
    c.analyse->add_option("--max-channels", c.max_channels)->check(CLI::Range(1, 1024));
    c.analyse->add_option("--min-sample-rate", c.min_sample_rate)->check(CLI::Range(1, 100'000'000));
    c.analyse->add_option("--max-sample-rate", c.max_sample_rate)->check(CLI::Range(1, 100'000'000));
    c.analyse->add_option("--rendition", c.rendition)->check(CLI::IsMember({"mp3", "aac"}));
    c.analyse->add_flag("--rendition-when-needed", c.rendition_when_needed)->needs("--rendition");
    c.analyse->add_option("--out-dir", c.out_dir)->required();
    c.analyse->add_option("file", c.file)->required();
    AddMediaArtCommands(*c.media, c.art);
    c.sleep = c.media->add_subcommand("sleep", "test only");
    c.sleep->add_option("ms", c.sleep_ms)->required()->check(CLI::Range(0, 3'600'000));
    c.crash = c.media->add_subcommand("crash", "test only");
    c.alloc = c.media->add_subcommand("alloc", "test only");
    c.alloc->add_option("mib", c.alloc_mib)->required()->check(CLI::Range(1, 1 << 20));
    c.env = c.media->add_subcommand("env", "test only");
    c.spin = c.media->add_subcommand("spin", "test only");
    c.flood = c.media->add_subcommand("flood", "test only");
}

bool MediaCommandSelected(const MediaCommand& c) { return c.media != nullptr && c.media->parsed(); }

int RunMediaCommand(const MediaCommand& c) {
    av_log_set_level(AV_LOG_ERROR);
    try {
        if (*c.probe) return Probe(c);
        if (*c.analyse) return Analyse(c);
        if (MediaArtCommandSelected(c.art)) return RunMediaArtCommand(c.art);
        if (!TestModesEnabled()) {
            std::fprintf(stderr, "plyr media: test modes need PLYR_ENABLE_TEST_JOBS=1\n");
            return kExitUsage;
        }
        if (*c.sleep) {
            std::this_thread::sleep_for(std::chrono::milliseconds(c.sleep_ms));
            std::printf("{\"slept_ms\":%lld}\n", static_cast<long long>(c.sleep_ms));
            return kExitOk;
        }
        if (*c.crash) {
            ::signal(SIGSEGV, SIG_DFL);  // no sanitizer report: die the way a decoder bug would
            ::raise(SIGSEGV);
            return kExitRuntime;
        }
        if (*c.alloc) return Alloc(c.alloc_mib);
        if (*c.env) return Environment();
        if (*c.spin) {
            // Burns CPU until RLIMIT_CPU stops it (a decoder stuck in a loop).
            volatile std::uint64_t x = 0;
            for (;;) x = x + 1;
        }
        if (*c.flood) {
            // Writes stdout without end (a child that never stops talking).
            std::string line(4096, 'x');
            for (;;) {
                if (std::fwrite(line.data(), 1, line.size(), stdout) != line.size()) return kExitRuntime;
            }
        }
    } catch (const std::bad_alloc&) {
        return media::kChildExitResource;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "plyr media: %s\n", e.what());
        return kExitRuntime;
    }
    return kExitUsage;
}

}  // namespace plyr::app
