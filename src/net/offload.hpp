#pragma once
// Thread pools and the one sanctioned way to run blocking work from a coroutine.
//
// IoPool runs the Asio I/O threads (sockets, timers; never blocking calls). BlockingPool runs blocking
// libraries (SQLite, libpq, libcurl easy, file I/O, subprocess waits). Offload(pool, fn) runs fn on the
// blocking pool and resumes the caller on its own executor; exceptions thrown by fn are rethrown in the
// caller. With g++ 12, do not write a lambda with std::string/path/... by-value captures inline in the
// co_await (see Offload). Thread-safety: both pools are safe to use from any thread.

#include <cstddef>
#include <cstdlib>
#include <exception>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>  // kept: callers co_spawn the coroutines that await Offload
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace plyr::net {

class BlockingPool {
  public:
    explicit BlockingPool(std::size_t threads) : pool_(threads == 0 ? 1 : threads) {}
    ~BlockingPool() { Join(); }
    BlockingPool(const BlockingPool&) = delete;
    BlockingPool& operator=(const BlockingPool&) = delete;

    boost::asio::thread_pool::executor_type executor() { return pool_.get_executor(); }
    void Join() {
        pool_.stop();
        pool_.join();
    }

  private:
    boost::asio::thread_pool pool_;
};

namespace detail {

// Stands in for R when Offload completes with an exception, so R needs no default constructor. Asio's
// use_awaitable handler (Boost 1.81, impl/use_awaitable.hpp) takes the value as a forwarding reference and
// only reads it when the exception_ptr is null, so the conversion never runs; if a future Asio did read it,
// the abort makes that loud instead of resuming the caller with a garbage R.
template <typename R>
struct NoValue {
    [[noreturn]] operator R() const { std::abort(); }  // NOLINT(google-explicit-constructor)
};

// The completion signature for fn's result: the exception slot, then the value (none for void).
template <typename R>
struct OffloadSignature {
    using type = void(std::exception_ptr, R);
};
template <>
struct OffloadSignature<void> {
    using type = void(std::exception_ptr);
};

// Runs on a BlockingPool thread: calls fn, destroys it (its captures are released on the pool, before the
// caller resumes), then completes on the handler's executor. `work` keeps the caller's executor from running
// out of work (io_context::run returning) while fn runs.
template <typename F, typename Handler, typename R>
struct OffloadJob {
    using WorkGuard = boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>>;

    std::optional<F> fn;
    Handler handler;
    WorkGuard work;

    void operator()() {
        std::exception_ptr error;
        std::optional<std::conditional_t<std::is_void_v<R>, char, R>> value;
        try {
            if constexpr (std::is_void_v<R>) {
                (*fn)();
            } else {
                value.emplace((*fn)());
            }
        } catch (...) {
            error = std::current_exception();
        }
        fn.reset();
        auto executor = work.get_executor();
        boost::asio::dispatch(executor, [handler = std::move(handler), error, value = std::move(value)]() mutable {
            if constexpr (std::is_void_v<R>) {
                std::move(handler)(error);
            } else if (error) {
                std::move(handler)(error, NoValue<R>{});
            } else {
                std::move(handler)(std::exception_ptr(), std::move(*value));
            }
        });
        work.reset();
    }
};

struct OffloadInitiation {
    boost::asio::thread_pool::executor_type pool;

    template <typename Handler, typename F>
    void operator()(Handler&& handler, F&& fn) const {
        using H = std::decay_t<Handler>;
        using Fn = std::decay_t<F>;
        using R = std::invoke_result_t<Fn&>;
        auto executor = boost::asio::get_associated_executor(handler);
        boost::asio::post(pool,
                          OffloadJob<Fn, H, R>{std::optional<Fn>(std::forward<F>(fn)), std::forward<Handler>(handler),
                                               boost::asio::make_work_guard(executor)});
    }
};

}  // namespace detail

// Runs fn on `pool` and resumes the awaiting coroutine on its own executor (strand included) with fn's result;
// an exception thrown by fn is rethrown in the caller. fn is destroyed on the pool before the caller resumes.
// R = fn's result must be move-constructible; it need not be default-constructible.
//
// Deliberately not a coroutine: g++ 12 miscompiles a closure temporary with non-trivially-destructible
// members inside a co_await expression (the members are constructed in a hidden slot, bit-copied into the
// closure, and both are destroyed). The former co_spawn-based body had such a closure, so every by-value
// capture (std::string, std::filesystem::path, shared_ptr) was destroyed twice.
// The same g++ 12 bug hits the CALLER's coroutine when the lambda is written inline in the co_await:
//     co_await net::Offload(pool, [path] { ... });          // g++ 12: `path` destroyed twice
//     auto job = [path] { ... };                             // fine: name it first,
//     co_await net::Offload(pool, std::move(job));           //       then move (or copy) it in
// Lambdas capturing only references/pointers/trivial values ([&], [this]) are safe inline.
template <typename F>
auto Offload(BlockingPool& pool, F fn) -> boost::asio::awaitable<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    static_assert(!std::is_reference_v<R>, "Offload: fn must return by value");
    using Signature = typename detail::OffloadSignature<R>::type;
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, Signature>(
        detail::OffloadInitiation{pool.executor()}, boost::asio::use_awaitable, std::move(fn));
}

// N threads running one io_context (Asio's recommended multi-threaded model; handlers that share state use
// strands).
class IoPool {
  public:
    explicit IoPool(std::size_t threads) : threads_count_(threads == 0 ? DefaultThreads() : threads) {}
    ~IoPool() { Join(); }
    IoPool(const IoPool&) = delete;
    IoPool& operator=(const IoPool&) = delete;

    boost::asio::io_context& context() { return context_; }
    void Start() {
        for (std::size_t i = 0; i < threads_count_; ++i) threads_.emplace_back([this] { context_.run(); });
    }
    void Stop() { context_.stop(); }
    void Join() {
        for (auto& t : threads_) {
            if (t.joinable()) t.join();
        }
        threads_.clear();
    }
    static std::size_t DefaultThreads() {
        unsigned n = std::thread::hardware_concurrency();
        return n == 0 ? 2 : n;
    }

  private:
    std::size_t threads_count_;
    boost::asio::io_context context_;
    std::vector<std::thread> threads_;
};

}  // namespace plyr::net
