#pragma once
// Thread pools and the one sanctioned way to run blocking work from a coroutine.
//
// IoPool runs the Asio I/O threads (sockets, timers; never blocking calls). BlockingPool runs blocking
// libraries (SQLite, libpq, libcurl easy, file I/O, subprocess waits). Offload(pool, fn) runs fn on the
// blocking pool and resumes the caller on its own executor; exceptions thrown by fn are rethrown in the
// caller. Thread-safety: both pools are safe to use from any thread.

#include <cstddef>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
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

template <typename F>
auto Offload(BlockingPool& pool, F fn) -> boost::asio::awaitable<std::invoke_result_t<F&>> {
    using R = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<R>) {
        co_await boost::asio::co_spawn(
            pool.executor(),
            [f = std::move(fn)]() mutable -> boost::asio::awaitable<void> {
                f();
                co_return;
            },
            boost::asio::use_awaitable);
    } else {
        co_return co_await boost::asio::co_spawn(
            pool.executor(), [f = std::move(fn)]() mutable -> boost::asio::awaitable<R> { co_return f(); },
            boost::asio::use_awaitable);
    }
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
