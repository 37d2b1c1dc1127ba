#pragma once
// core::metrics — counters, gauges and fixed-bucket histograms with labels, rendered in the Prometheus
// text exposition format 0.0.4 (hand-written: prometheus-cpp is not in Debian, dependencies.md §17).
//
// Contract
// - A Registry owns metric families. Counter()/Gauge()/Histogram() register a family or return the
//   existing one with the same name; registering a name again with another kind, label set or bucket
//   list is a programming error and aborts (names are constants in code, never input).
// - Family::WithLabels(values) returns a series that stays valid for the registry's lifetime; hot paths
//   may cache the reference. The number of values must equal the number of label names (else abort).
//   Label values are arbitrary strings (escaped on output) — keep their cardinality bounded (route
//   patterns, not raw paths).
// - RenderPrometheus() is deterministic: families sorted by name, series sorted by label values.
// - Thread-safety: everything is safe to call from any thread. Updates are lock-free atomics; series
//   creation and rendering take a per-family mutex. A render that races with updates may see a histogram
//   whose _sum lags its _count by the in-flight observations (each number is itself consistent).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace plyr::core::metrics {

class CounterSeries {
  public:
    void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::uint64_t> value_{0};
};

class GaugeSeries {
  public:
    void Set(double v) { value_.store(v, std::memory_order_relaxed); }
    void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
    void Inc() { Add(1.0); }
    void Dec() { Add(-1.0); }
    double Value() const { return value_.load(std::memory_order_relaxed); }

  private:
    std::atomic<double> value_{0.0};
};

class HistogramSeries {
  public:
    explicit HistogramSeries(const std::vector<double>* bounds);
    void Observe(double v);
    // Cumulative counts per bound (last entry = +Inf = total count).
    std::vector<std::uint64_t> CumulativeCounts() const;
    double Sum() const { return sum_.load(std::memory_order_relaxed); }

  private:
    const std::vector<double>* bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_->size() + 1 (the +Inf bucket)
    std::atomic<double> sum_{0.0};
};

enum class Kind { kCounter, kGauge, kHistogram };

// A named metric with a fixed list of label names; one series per distinct list of label values.
template <typename Series>
class Family {
  public:
    Family(std::string name, std::string help, std::vector<std::string> label_names, Kind kind,
           std::vector<double> bounds = {});
    Family(const Family&) = delete;
    Family& operator=(const Family&) = delete;

    Series& WithLabels(const std::vector<std::string>& values);
    // For families without labels.
    Series& Get() { return WithLabels({}); }

    const std::string& name() const { return name_; }
    const std::string& help() const { return help_; }
    const std::vector<std::string>& label_names() const { return label_names_; }
    const std::vector<double>& bounds() const { return bounds_; }
    Kind kind() const { return kind_; }

    void Render(std::string& out) const;

  private:
    std::string name_;
    std::string help_;
    std::vector<std::string> label_names_;
    Kind kind_;
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::map<std::vector<std::string>, std::unique_ptr<Series>> series_;
};

using CounterFamily = Family<CounterSeries>;
using GaugeFamily = Family<GaugeSeries>;
using HistogramFamily = Family<HistogramSeries>;

// Default latency buckets in seconds (the Prometheus client default).
const std::vector<double>& DefaultLatencyBuckets();

class Registry {
  public:
    Registry();
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    CounterFamily& Counter(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
    GaugeFamily& Gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names = {});
    // bounds: strictly increasing, finite; +Inf is implicit.
    HistogramFamily& Histogram(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                               std::vector<double> bounds);

    // Text exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4; charset=utf-8).
    std::string RenderPrometheus() const;

  private:
    struct Entry;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Entry>, std::less<>> families_;
};

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Exposed for tests: `\` → `\\`, `"` → `\"`, newline → `\n`.
std::string EscapeLabelValue(std::string_view value);
// Prometheus number formatting: shortest round-trip decimal, +Inf, -Inf, NaN.
std::string FormatValue(double value);
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

}  // namespace plyr::core::metrics
