#include "media/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

extern char** environ;

#if defined(__SANITIZE_ADDRESS__)
#define PLYR_MEDIA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLYR_MEDIA_ASAN 1
#endif
#endif

namespace plyr::media {
namespace {

constexpr std::size_t kStderrTail = 8 * 1024;
constexpr std::size_t kStderrLineMax = 4 * 1024;

struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { Reset(); }
    void Reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

SandboxError Failure(SandboxFailure kind, std::string detail) {
    SandboxError e;
    e.failure = kind;
    e.error = Error{ErrorCode::kInternal, "media processing failed", std::move(detail)};
    return e;
}

// Maps the child's {"error": code} back to the ErrorCode that ProbeErrorCode turns into the same code.
ErrorCode CodeForJobError(std::string_view code) {
    if (code == "unsupported_audio_format") return ErrorCode::kUnsupported;
    if (code == "audio_too_long") return ErrorCode::kTooLarge;
    if (code == "transcode_failed") return ErrorCode::kInternal;  // AnalyseErrorCode reads the detail
    return ErrorCode::kInvalidArgument;
}

// Everything the child needs is built before fork(): between fork and execve only async-signal-safe calls.
struct ChildPlan {
    std::vector<std::string> argv_storage;
    std::vector<std::string> env_storage;
    std::vector<char*> argv;
    std::vector<char*> envp;
    rlimit as{}, cpu{}, fsize{}, core{}, nofile{};
    bool limit_as = true;
};

[[noreturn]] void ExecChild(const ChildPlan& plan, int in_fd, int out_fd, int err_fd) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // dup2 onto itself keeps FD_CLOEXEC (only possible when the parent ran with 0-2 closed): clear it then.
    auto onto = [](int from, int to) {
        if (from == to) return ::fcntl(to, F_SETFD, 0) == 0;
        return ::dup2(from, to) == to;
    };
    if (!onto(in_fd, 0) || !onto(out_fd, 1) || !onto(err_fd, 2)) ::_exit(127);
    // Close every other descriptor (sockets, database files, key files) the server had open.
    if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        const long max = ::sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 ? max : 65536); ++fd) ::close(static_cast<int>(fd));
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if ((plan.limit_as && ::setrlimit(RLIMIT_AS, &plan.as) != 0) || ::setrlimit(RLIMIT_CPU, &plan.cpu) != 0 ||
        ::setrlimit(RLIMIT_FSIZE, &plan.fsize) != 0 || ::setrlimit(RLIMIT_CORE, &plan.core) != 0 ||
        ::setrlimit(RLIMIT_NOFILE, &plan.nofile) != 0) {
        ::_exit(127);
    }
    ::execve(plan.argv[0], plan.argv.data(), plan.envp.data());
    ::_exit(127);
}

std::string Getenv(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
}

}  // namespace

std::string_view SandboxFailureName(SandboxFailure failure) {
    switch (failure) {
        case SandboxFailure::kSpawnFailed:
            return "spawn_failed";
        case SandboxFailure::kTimeout:
            return "timeout";
        case SandboxFailure::kResourceLimit:
            return "resource_limit";
        case SandboxFailure::kCrashed:
            return "crashed";
        case SandboxFailure::kRefused:
            return "refused";
        case SandboxFailure::kBadOutput:
            return "bad_output";
    }
    return "unknown";
}

Sandbox::Sandbox(SandboxOptions options)
    : executable_(std::move(options.executable)),
      max_procs_(std::max(1, options.max_procs)),
      env_(std::move(options.env)) {
    if (executable_.empty()) {
        std::error_code ec;
        auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
        executable_ = ec ? "/proc/self/exe" : self.string();
    }
}

int Sandbox::running() const {
    std::lock_guard lock(mutex_);
    return running_;
}

void Sandbox::Acquire() {
    std::unique_lock lock(mutex_);
    slot_free_.wait(lock, [&] { return running_ < max_procs_; });
    ++running_;
}

void Sandbox::Release() {
    {
        std::lock_guard lock(mutex_);
        --running_;
    }
    slot_free_.notify_one();
}

SandboxResult<std::string> Sandbox::Run(const std::vector<std::string>& args, const SandboxLimits& limits,
                                        const std::function<void(std::string_view line)>& on_stderr_line) {
    ChildPlan plan;
    plan.argv_storage.push_back(executable_);
    plan.argv_storage.push_back("media");
    plan.argv_storage.insert(plan.argv_storage.end(), args.begin(), args.end());
    plan.env_storage.push_back("PATH=/usr/bin:/bin");
    std::string asan = Getenv("ASAN_OPTIONS");
#ifdef PLYR_MEDIA_ASAN
    plan.limit_as = false;
    const std::uint64_t mib = std::max<std::uint64_t>(1, limits.address_space_bytes >> 20);
    asan += fmt::format("{}allocator_may_return_null=1:max_allocation_size_mb={}:hard_rss_limit_mb={}",
                        asan.empty() ? "" : ":", mib, mib);
#endif
    if (!asan.empty()) plan.env_storage.push_back("ASAN_OPTIONS=" + asan);
    for (const char* name : {"UBSAN_OPTIONS", "LSAN_OPTIONS"}) {
        std::string v = Getenv(name);
        if (!v.empty()) plan.env_storage.push_back(fmt::format("{}={}", name, v));
    }
    for (const auto& [name, value] : env_) plan.env_storage.push_back(name + "=" + value);
    for (auto& s : plan.argv_storage) plan.argv.push_back(s.data());
    plan.argv.push_back(nullptr);
    for (auto& s : plan.env_storage) plan.envp.push_back(s.data());
    plan.envp.push_back(nullptr);
    plan.as.rlim_cur = plan.as.rlim_max = static_cast<rlim_t>(limits.address_space_bytes);
    const auto cpu = static_cast<rlim_t>(std::max<std::int64_t>(1, limits.cpu.count()));
    plan.cpu.rlim_cur = cpu;
    plan.cpu.rlim_max = cpu + 5;  // SIGXCPU first; SIGKILL 5 s later if the child ignores it
    plan.fsize.rlim_cur = plan.fsize.rlim_max = static_cast<rlim_t>(limits.file_size_bytes);
    plan.core.rlim_cur = plan.core.rlim_max = 0;
    plan.nofile.rlim_cur = plan.nofile.rlim_max = 64;

    Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    if (devnull.fd < 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) {
        return tl::unexpected(Failure(SandboxFailure::kSpawnFailed, fmt::format("pipe: {}", std::strerror(errno))));
    }
    Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        return tl::unexpected(Failure(SandboxFailure::kSpawnFailed, fmt::format("pipe: {}", std::strerror(errno))));
    }
    Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

    Acquire();
    struct SlotGuard {
        Sandbox* self;
        ~SlotGuard() { self->Release(); }
    } slot{this};

    const auto started = std::chrono::steady_clock::now();
    const auto deadline = started + limits.wall_timeout;
    const pid_t pid = ::fork();
    if (pid < 0) {
        return tl::unexpected(Failure(SandboxFailure::kSpawnFailed, fmt::format("fork: {}", std::strerror(errno))));
    }
    if (pid == 0) ExecChild(plan, devnull.fd, out_write.fd, err_write.fd);
    out_write.Reset();
    err_write.Reset();

    std::string out;
    std::string err;
    std::string err_line;  // the incomplete last line, for on_stderr_line
    bool err_line_too_long = false;
    bool timed_out = false;
    bool too_much = false;
    auto remaining_ms = [&] {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        return std::max<std::int64_t>(0, left.count());
    };
    char buffer[16 * 1024];
    while ((out_read.fd >= 0 || err_read.fd >= 0) && !timed_out && !too_much) {
        pollfd fds[2] = {{out_read.fd, POLLIN, 0}, {err_read.fd, POLLIN, 0}};
        const auto wait = remaining_ms();
        if (wait == 0) {
            timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(wait, 1000)));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2 && n > 0; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            Fd& fd = i == 0 ? out_read : err_read;
            ssize_t got = ::read(fd.fd, buffer, sizeof buffer);
            if (got <= 0) {
                if (got < 0 && errno == EINTR) continue;
                fd.Reset();
                continue;
            }
            if (i == 0) {
                out.append(buffer, static_cast<std::size_t>(got));
                if (out.size() > limits.max_stdout_bytes) too_much = true;
            } else {
                err.append(buffer, static_cast<std::size_t>(got));
                if (err.size() > 2 * kStderrTail) err.erase(0, err.size() - kStderrTail);
                if (on_stderr_line) {
                    std::string_view chunk(buffer, static_cast<std::size_t>(got));
                    for (std::size_t nl; (nl = chunk.find('\n')) != std::string_view::npos;) {
                        err_line.append(chunk.substr(0, nl));
                        if (!err_line_too_long) on_stderr_line(err_line);
                        err_line.clear();
                        err_line_too_long = false;
                        chunk.remove_prefix(nl + 1);
                    }
                    err_line.append(chunk);
                    if (err_line.size() > kStderrLineMax) {
                        err_line.clear();
                        err_line_too_long = true;
                    }
                }
            }
        }
    }
    // Output closed (or we gave up on it): wait for the exit, still under the deadline. The child is only
    // observed (WNOWAIT) until its process group has been killed: while the unreaped leader exists its group id
    // cannot be reused, so the kill can never reach an unrelated process. Killing the group also ends any
    // grandchild that kept no pipe open.
    bool reaped = false;
    for (;;) {
        if (timed_out || too_much) ::kill(-pid, SIGKILL);
        siginfo_t info{};
        const int flags = WEXITED | WNOWAIT | (timed_out || too_much ? 0 : WNOHANG);
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, flags) != 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (info.si_pid == pid) break;
        if (remaining_ms() == 0) {
            timed_out = true;
            continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (!reaped) {
        const pid_t r = ::waitpid(pid, &status, 0);
        if (r == pid) reaped = true;
        if (r < 0 && errno != EINTR) break;
    }
    if (!reaped) {
        return tl::unexpected(Failure(SandboxFailure::kCrashed, fmt::format("waitpid: {}", std::strerror(errno))));
    }
    if (err.size() > kStderrTail) err.erase(0, err.size() - kStderrTail);

    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    auto fail = [&](SandboxFailure kind, std::string detail) {
        SandboxError e = Failure(kind, std::move(detail));
        if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
        e.stderr_tail = err;
        return tl::unexpected(std::move(e));
    };
    if (timed_out) {
        return fail(SandboxFailure::kTimeout,
                    fmt::format("killed after the wall-clock timeout of {} ms", limits.wall_timeout.count()));
    }
    if (too_much) return fail(SandboxFailure::kBadOutput, "more output than allowed");
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        // SIGKILL that we did not send comes from the hard CPU limit.
        const bool limit = sig == SIGXCPU || sig == SIGXFSZ || sig == SIGKILL;
        return fail(limit ? SandboxFailure::kResourceLimit : SandboxFailure::kCrashed,
                    fmt::format("killed by signal {} ({}) after {} ms", sig, ::strsignal(sig), elapsed));
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0) {
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        if (out.empty()) return fail(SandboxFailure::kBadOutput, "exit 0 without a result");
        return out;
    }
    if (code == kChildExitResource) return fail(SandboxFailure::kResourceLimit, "allocation failed in the child");
    if (code == 127) return fail(SandboxFailure::kSpawnFailed, "exec failed");
    if (code == kChildExitFailed) {
        boost::system::error_code ec;
        auto v = boost::json::parse(out, ec);
        const auto* o = !ec && v.is_object() ? &v.as_object() : nullptr;
        const auto* error = o != nullptr ? o->if_contains("error") : nullptr;
        const auto* message = o != nullptr ? o->if_contains("message") : nullptr;
        if (error != nullptr && error->is_string() && message != nullptr && message->is_string()) {
            auto e = fail(SandboxFailure::kRefused, std::string(error->as_string()));
            e.value().error = Error{CodeForJobError(error->as_string()), std::string(message->as_string()),
                                    std::string(error->as_string())};
            return e;
        }
    }
    return fail(SandboxFailure::kCrashed, fmt::format("exit code {} after {} ms", code, elapsed));
}

Error ProbeErrorFromSandbox(const SandboxError& failure) {
    if (failure.failure == SandboxFailure::kRefused) return failure.error;
    return Error{ErrorCode::kInvalidArgument, "the audio file could not be read",
                 fmt::format("media sandbox {}: {}", SandboxFailureName(failure.failure), failure.error.detail)};
}

Result<ProbeInfo> Sandbox::Probe(const std::string& path, const ProbeLimits& probe_limits,
                                 const SandboxLimits& limits) {
    auto out = Run(
        {"probe", "--max-duration-seconds", std::to_string(probe_limits.max_duration_seconds), "--max-channels",
         std::to_string(probe_limits.max_channels), "--min-sample-rate", std::to_string(probe_limits.min_sample_rate),
         "--max-sample-rate", std::to_string(probe_limits.max_sample_rate), "--", path},
        limits);
    if (!out) return Fail(ProbeErrorFromSandbox(out.error()));
    auto info = ProbeInfoFromJson(*out);
    if (!info) {
        return Fail(ErrorCode::kInvalidArgument, "the audio file could not be read",
                    fmt::format("media sandbox bad_output: {}", info.error().detail));
    }
    return info;
}

SandboxOptions SandboxOptionsFromConfig(const core::Config& config) {
    SandboxOptions o;
    o.max_procs = std::max(1, config.media_max_procs);
    return o;
}

ProbeLimits ProbeLimitsFromConfig(const core::Config& config) {
    ProbeLimits l;
    l.max_duration_seconds = config.max_audio_duration_seconds;
    return l;
}

SandboxLimits ProbeSandboxLimits(const core::Config& config) {
    SandboxLimits l;
    const std::int64_t seconds =
        std::max<std::int64_t>(config.transcoder_timeout_seconds, config.max_audio_duration_seconds / 10);
    l.wall_timeout = std::chrono::seconds(seconds);
    l.cpu = std::chrono::seconds(seconds);
    l.file_size_bytes = 0;
    return l;
}

SandboxLimits TranscodeSandboxLimits(const core::Config& config, std::int64_t duration_ms) {
    SandboxLimits l;
    const std::int64_t duration_s = (std::max<std::int64_t>(0, duration_ms) + 999) / 1000;
    l.cpu = std::chrono::seconds(4 * duration_s + 60);
    l.file_size_bytes = static_cast<std::uint64_t>(duration_s) * 320'000 / 8 + (std::uint64_t{10} << 20);
    l.wall_timeout = std::chrono::seconds(std::max<std::int64_t>(config.transcoder_timeout_seconds, duration_s / 10));
    return l;
}

}  // namespace plyr::media
