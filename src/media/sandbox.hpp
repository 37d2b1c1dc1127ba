#pragma once
// The media sandbox (product.md §6.17): runs `plyr media …` as a child process of the same binary so that
// decoders never touch untrusted bytes inside the server or worker process.
//
// Each run: fixed argument vector (fork + execve, no shell), a new process group, stdin from /dev/null,
// every inherited descriptor above 2 closed, a clean environment (PATH plus the sanitizer options and the
// variables named in SandboxOptions::env; never the parent's secrets), rlimits RLIMIT_AS / RLIMIT_CPU /
// RLIMIT_FSIZE / RLIMIT_NOFILE, RLIMIT_CORE = 0, and a wall-clock timeout after which the whole process group
// is SIGKILLed. The child dies with the parent thread (PR_SET_PDEATHSIG). At most SandboxOptions::max_procs
// children run at once; further callers block until a slot frees (MEDIA_MAX_PROCS).
//
// Sanitizer builds: ASan reserves terabytes of address space for its shadow, so RLIMIT_AS cannot be applied;
// the ASan allocator limits (max_allocation_size_mb, hard_rss_limit_mb, allocator_may_return_null) are set in
// the child's ASAN_OPTIONS instead (docs/media.md).
//
// Child protocol: exit 0 with one JSON line on stdout = success; exit kChildExitFailed with
// {"error":"<job error code>","message":"…"} on stdout = the media was refused; exit kChildExitResource = an
// allocation failed (address-space limit). Anything else is a crash.
//
// Blocking: Run and Probe block the calling thread for the child's lifetime; call them from a blocking pool
// (net::Offload). Thread-safety: a Sandbox may be shared by any number of threads.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "media/probe.hpp"

namespace plyr::media {

inline constexpr int kChildExitFailed = 1;
inline constexpr int kChildExitResource = 5;

struct SandboxLimits {
    std::uint64_t address_space_bytes = std::uint64_t{1} << 30;  // RLIMIT_AS
    std::chrono::seconds cpu{60};                                // RLIMIT_CPU (soft; hard = soft + 5 s)
    std::uint64_t file_size_bytes = 0;                           // RLIMIT_FSIZE (0: the child writes no file)
    std::chrono::milliseconds wall_timeout{600'000};             // TRANSCODER_TIMEOUT_SECONDS
    std::size_t max_stdout_bytes = 1 << 20;                      // more output than this is a failure
};

struct SandboxOptions {
    std::string executable;  // the plyr binary; empty = this process's own executable (/proc/self/exe)
    int max_procs = 1;       // MEDIA_MAX_PROCS, at least 1
    std::vector<std::pair<std::string, std::string>> env;  // extra variables for the child, e.g. test switches
};

enum class SandboxFailure {
    kSpawnFailed,    // fork/exec failed (or the executable is missing)
    kTimeout,        // wall-clock timeout: the child was killed
    kResourceLimit,  // CPU time, file size or memory limit hit
    kCrashed,        // killed by a signal, or an exit code outside the protocol (sanitizer report, abort)
    kRefused,        // the child reported a media error (Error carries it)
    kBadOutput,      // exit 0 without a result line, or more output than allowed
};

std::string_view SandboxFailureName(SandboxFailure failure);

struct SandboxError {
    SandboxFailure failure = SandboxFailure::kCrashed;
    Error error;              // for kRefused: the child's error; otherwise a summary (detail for logs)
    int exit_code = -1;       // when the child exited
    int signal = 0;           // when the child was killed by a signal
    std::string stderr_tail;  // last few KiB of the child's stderr, for logs only
};

template <typename T>
using SandboxResult = tl::expected<T, SandboxError>;

class Sandbox {
  public:
    explicit Sandbox(SandboxOptions options);
    Sandbox(const Sandbox&) = delete;
    Sandbox& operator=(const Sandbox&) = delete;

    // Runs `<executable> media <args…>` and returns its stdout (success: exit 0 and some output).
    // on_stderr_line, when set, is called on this thread with every complete line the child writes to stderr
    // (without the newline; lines longer than 4 KiB are dropped): the analysis child reports progress this way.
    SandboxResult<std::string> Run(const std::vector<std::string>& args, const SandboxLimits& limits,
                                   const std::function<void(std::string_view line)>& on_stderr_line = {});

    // `plyr media probe` on `path`. Every sandbox failure other than the child's own verdict is reported as
    // kInvalidArgument (job error code audio_unreadable, ProbeErrorCode) with the cause in Error::detail.
    Result<ProbeInfo> Probe(const std::string& path, const ProbeLimits& probe_limits, const SandboxLimits& limits);

    int running() const;
    const std::string& executable() const { return executable_; }

  private:
    void Acquire();
    void Release();

    std::string executable_;
    int max_procs_;
    std::vector<std::pair<std::string, std::string>> env_;
    mutable std::mutex mutex_;
    std::condition_variable slot_free_;
    int running_ = 0;
};

// The Error a sandbox failure means for a probe (see Sandbox::Probe).
Error ProbeErrorFromSandbox(const SandboxError& failure);

// Settings from the configuration (product.md §6.17, §8.2).
// SandboxOptionsFromConfig: this binary, MEDIA_MAX_PROCS slots, no extra environment.
SandboxOptions SandboxOptionsFromConfig(const core::Config& config);
// ProbeLimitsFromConfig: MAX_AUDIO_DURATION_SECONDS, channels ≤ 8, 8-384 kHz.
ProbeLimits ProbeLimitsFromConfig(const core::Config& config);
// Limits for a probe, whose audio duration is not known yet: the longest accepted audio stands in for it. Wall
// clock max(TRANSCODER_TIMEOUT_SECONDS, MAX_AUDIO_DURATION_SECONDS / 10), CPU the same, no file output, 1 GiB.
SandboxLimits ProbeSandboxLimits(const core::Config& config);
// Limits for work over audio of a known duration (transcoding): CPU 4 × duration + 60 s; output no larger than
// a 320 kbps stream of that duration + 10 MiB; wall clock max(TRANSCODER_TIMEOUT_SECONDS, duration / 10).
SandboxLimits TranscodeSandboxLimits(const core::Config& config, std::int64_t duration_ms);

}  // namespace plyr::media
