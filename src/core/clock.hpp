#pragma once
// Time source, injected so tests can control it. Microseconds since the Unix epoch, UTC.
// SystemClock is thread-safe; ManualClock is thread-safe (atomic).

#include <atomic>
#include <chrono>
#include <cstdint>

namespace plyr::core {

class Clock {
  public:
    virtual ~Clock() = default;
    virtual std::int64_t NowMicros() const = 0;
};

class SystemClock final : public Clock {
  public:
    std::int64_t NowMicros() const override {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

class ManualClock final : public Clock {
  public:
    explicit ManualClock(std::int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
    std::int64_t NowMicros() const override { return now_.load(); }
    void Advance(std::int64_t micros) { now_.fetch_add(micros); }
    void Set(std::int64_t micros) { now_.store(micros); }

  private:
    std::atomic<std::int64_t> now_;
};

}  // namespace plyr::core
