// net::Offload: results, exceptions, captured-state lifetimes and the executor the caller resumes on.
// Runs under ASan: the g++ 12 regression this guards against was a double free of by-value captures.
//
// Lambdas with non-trivially-destructible by-value captures are bound to a local before the co_await: g++ 12
// miscompiles such a closure written inline in a co_await expression in the *caller* (see offload.hpp).
#include "net/offload.hpp"

#include <atomic>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include "core/result.hpp"

namespace plyr::net {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

// Longer than the small-string buffer, so a double free hits the heap and ASan reports it.
const std::string kLongText(200, 'x');

// Counts live instances; a double destruction drives the count below zero.
struct Tracked {
    static inline std::atomic<int> live{0};
    std::string payload = kLongText;
    Tracked() { ++live; }
    Tracked(const Tracked& other) : payload(other.payload) { ++live; }
    Tracked(Tracked&& other) noexcept : payload(std::move(other.payload)) { ++live; }
    Tracked& operator=(const Tracked&) = delete;
    Tracked& operator=(Tracked&&) = delete;
    ~Tracked() { --live; }
};

struct NoDefault {
    explicit NoDefault(std::string v) : value(std::move(v)) {}
    NoDefault(NoDefault&&) = default;
    NoDefault(const NoDefault&) = delete;
    NoDefault& operator=(const NoDefault&) = delete;
    NoDefault& operator=(NoDefault&&) = delete;
    ~NoDefault() = default;
    std::string value;
};
static_assert(!std::is_default_constructible_v<NoDefault>);

class OffloadTest : public ::testing::Test {
  protected:
    OffloadTest() : work_(asio::make_work_guard(ctx_)) {
        for (int i = 0; i < 2; ++i) io_threads_.emplace_back([this] { ctx_.run(); });
    }
    ~OffloadTest() override {
        work_.reset();
        for (auto& t : io_threads_) t.join();
        pool_.Join();
    }

    // Runs body as a coroutine on a strand of a two-thread io_context; returns when it finished (rethrows).
    void Run(const std::function<asio::awaitable<void>(Strand)>& body) {
        Strand strand = asio::make_strand(ctx_);
        asio::co_spawn(strand, body(strand), asio::use_future).get();
    }

    BlockingPool pool_{2};
    asio::io_context ctx_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::vector<std::thread> io_threads_;
};

TEST_F(OffloadTest, ReturnsResultOfLambdaCapturingStringByValue) {
    std::string got;
    Run([&](Strand) -> asio::awaitable<void> {
        std::string text = kLongText;
        auto job = [text] { return text + "!"; };
        got = co_await Offload(pool_, std::move(job));
    });
    EXPECT_EQ(got, kLongText + "!");
}

TEST_F(OffloadTest, CopiesANamedLambdaCapturingStringByValue) {
    std::string got;
    Run([&](Strand) -> asio::awaitable<void> {
        std::string text = kLongText;
        auto job = [text] { return text.size(); };
        auto first = co_await Offload(pool_, job);
        auto second = co_await Offload(pool_, job);
        got = std::to_string(first + second);
    });
    EXPECT_EQ(got, std::to_string(2 * kLongText.size()));
}

TEST_F(OffloadTest, ReturnsResultOfLambdaCapturingPathByValue) {
    std::string got;
    Run([&](Strand) -> asio::awaitable<void> {
        std::filesystem::path path = std::filesystem::path("/tmp") / kLongText / "track.flac";
        auto job = [path] { return path.filename().string() + ":" + std::to_string(path.string().size()); };
        got = co_await Offload(pool_, std::move(job));
    });
    EXPECT_EQ(got, "track.flac:" + std::to_string(std::string("/tmp/").size() + kLongText.size() + 11));
}

TEST_F(OffloadTest, ReleasesSharedPtrCaptureBeforeTheCallerResumes) {
    auto shared = std::make_shared<std::string>(kLongText);
    long use_count_after = -1;
    std::size_t got = 0;
    Run([&](Strand) -> asio::awaitable<void> {
        auto job = [shared] { return shared->size(); };
        got = co_await Offload(pool_, std::move(job));
        use_count_after = shared.use_count();
    });
    EXPECT_EQ(got, kLongText.size());
    EXPECT_EQ(use_count_after, 1);
    EXPECT_EQ(shared.use_count(), 1);
}

TEST_F(OffloadTest, AcceptsMoveOnlyCapture) {
    int got = 0;
    bool released = false;
    Run([&](Strand) -> asio::awaitable<void> {
        auto owned = std::make_unique<int>(42);
        auto job = [owned = std::move(owned)] { return *owned; };
        got = co_await Offload(pool_, std::move(job));
        released = owned == nullptr;
    });
    EXPECT_EQ(got, 42);
    EXPECT_TRUE(released);
}

TEST_F(OffloadTest, DestroysEveryCapturedCopyExactlyOnce) {
    Tracked::live = 0;
    Run([&](Strand) -> asio::awaitable<void> {
        Tracked tracked;
        auto by_copy = [tracked] { return tracked.payload.size(); };
        EXPECT_EQ(co_await Offload(pool_, by_copy), kLongText.size());
        EXPECT_EQ(co_await Offload(pool_, std::move(by_copy)), kLongText.size());
        auto by_move = [t = std::move(tracked)] { return t.payload; };
        EXPECT_EQ(co_await Offload(pool_, std::move(by_move)), kLongText);
        auto void_job = [t = Tracked()] { EXPECT_EQ(t.payload, kLongText); };
        co_await Offload(pool_, std::move(void_job));
    });
    EXPECT_EQ(Tracked::live.load(), 0);
}

TEST_F(OffloadTest, RunsVoidLambdaOnThePoolAndResumesOnTheCallerStrand) {
    std::thread::id caller_thread;
    std::thread::id job_thread;
    bool job_on_strand = true;
    bool resumed_on_strand = false;
    std::string written;
    Run([&](Strand strand) -> asio::awaitable<void> {
        caller_thread = std::this_thread::get_id();
        std::string text = kLongText;
        auto job = [text, &job_thread, &written, &job_on_strand, strand] {
            job_thread = std::this_thread::get_id();
            job_on_strand = strand.running_in_this_thread();
            written = text;
        };
        co_await Offload(pool_, std::move(job));
        resumed_on_strand = strand.running_in_this_thread();
    });
    EXPECT_EQ(written, kLongText);
    EXPECT_NE(job_thread, caller_thread);
    EXPECT_NE(job_thread, io_threads_[0].get_id());
    EXPECT_NE(job_thread, io_threads_[1].get_id());
    EXPECT_FALSE(job_on_strand);
    EXPECT_TRUE(resumed_on_strand);
}

TEST_F(OffloadTest, RethrowsExceptionFromValueLambdaInTheCaller) {
    std::string message;
    bool resumed_on_strand = false;
    Run([&](Strand strand) -> asio::awaitable<void> {
        std::string text = kLongText;
        auto job = [text]() -> std::string { throw std::runtime_error(text); };
        try {
            (void)co_await Offload(pool_, std::move(job));
        } catch (const std::runtime_error& e) {
            message = e.what();
            resumed_on_strand = strand.running_in_this_thread();
        }
    });
    EXPECT_EQ(message, kLongText);
    EXPECT_TRUE(resumed_on_strand);
}

TEST_F(OffloadTest, RethrowsExceptionFromVoidLambdaInTheCaller) {
    std::string message;
    Run([&](Strand) -> asio::awaitable<void> {
        std::filesystem::path path = std::filesystem::path("/nonexistent") / kLongText;
        auto job = [path] { throw std::runtime_error(path.filename().string()); };
        try {
            co_await Offload(pool_, std::move(job));
        } catch (const std::runtime_error& e) {
            message = e.what();
        }
    });
    EXPECT_EQ(message, kLongText);
}

TEST_F(OffloadTest, ReturnsMoveOnlyResult) {
    std::unique_ptr<int> value;
    std::string error;
    Run([&](Strand) -> asio::awaitable<void> {
        Result<std::unique_ptr<int>> ok =
            co_await Offload(pool_, []() -> Result<std::unique_ptr<int>> { return std::make_unique<int>(7); });
        if (ok) value = std::move(*ok);
        std::string reason = kLongText;
        auto failing = [reason]() -> Result<std::unique_ptr<int>> { return Fail(ErrorCode::kNotFound, reason); };
        Result<std::unique_ptr<int>> bad = co_await Offload(pool_, std::move(failing));
        if (!bad) error = bad.error().message;
    });
    ASSERT_NE(value, nullptr);
    EXPECT_EQ(*value, 7);
    EXPECT_EQ(error, kLongText);
}

TEST_F(OffloadTest, ReturnsResultThatIsNotDefaultConstructible) {
    std::string value;
    std::string message;
    std::string result_error;
    Run([&](Strand) -> asio::awaitable<void> {
        std::string text = kLongText;
        auto job = [text] { return NoDefault(text); };
        NoDefault got = co_await Offload(pool_, std::move(job));
        value = got.value;

        auto throwing = [text]() -> NoDefault { throw std::runtime_error(text); };
        try {
            NoDefault never = co_await Offload(pool_, std::move(throwing));
            value = "unexpected: " + never.value;
        } catch (const std::runtime_error& e) {
            message = e.what();
        }

        auto failing = [text]() -> Result<NoDefault> { return Fail(ErrorCode::kInvalidArgument, text); };
        Result<NoDefault> bad = co_await Offload(pool_, std::move(failing));
        if (!bad) result_error = bad.error().message;
    });
    EXPECT_EQ(value, kLongText);
    EXPECT_EQ(message, kLongText);
    EXPECT_EQ(result_error, kLongText);
}

TEST_F(OffloadTest, ManyConcurrentCallersEachGetTheirOwnResult) {
    constexpr int kCallers = 64;
    std::vector<std::future<std::string>> results;
    for (int i = 0; i < kCallers; ++i) {
        results.push_back(asio::co_spawn(
            asio::make_strand(ctx_),
            [this, i]() -> asio::awaitable<std::string> {
                std::string text = kLongText + std::to_string(i);
                auto job = [text] { return text; };
                co_return co_await Offload(pool_, std::move(job));
            },
            asio::use_future));
    }
    for (int i = 0; i < kCallers; ++i)
        EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), kLongText + std::to_string(i));
}

// The caller's io_context must not run out of work (run() returning) while fn is on the pool; it resumes the
// caller on the one thread running it.
TEST(OffloadStandaloneTest, KeepsTheCallerContextBusyAndResumesOnItsThread) {
    BlockingPool pool(1);
    asio::io_context ctx;
    std::promise<void> started;
    std::promise<void> release;
    std::shared_future<void> release_future = release.get_future().share();
    std::thread::id runner_thread;
    std::thread::id resumed_thread;
    bool finished = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            std::string text = kLongText;
            auto job = [text, &started, release_future] {
                started.set_value();
                release_future.wait();
                return text.size();
            };
            std::size_t n = co_await Offload(pool, std::move(job));
            resumed_thread = std::this_thread::get_id();
            finished = n == kLongText.size();
        },
        asio::detached);
    std::thread runner([&] {
        runner_thread = std::this_thread::get_id();
        ctx.run();
    });
    started.get_future().wait();
    release.set_value();
    runner.join();
    EXPECT_TRUE(finished);
    EXPECT_EQ(resumed_thread, runner_thread);
}

}  // namespace
}  // namespace plyr::net
