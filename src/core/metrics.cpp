#include "core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <variant>

#include <fmt/format.h>

namespace plyr::core::metrics {
namespace {

// Registration mistakes are bugs in constant code, never input: fail loudly at startup.
[[noreturn]] void Die(std::string_view what, std::string_view name) {
    std::fprintf(stderr, "metrics: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
                 static_cast<int>(name.size()), name.data());
    std::abort();
}

bool IsNameChar(char c, bool first, bool allow_colon) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
    if (allow_colon && c == ':') return true;
    return !first && c >= '0' && c <= '9';
}

std::string EscapeHelp(std::string_view help) {
    std::string out;
    out.reserve(help.size());
    for (char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string_view KindName(Kind kind) {
    switch (kind) {
        case Kind::kCounter:
            return "counter";
        case Kind::kGauge:
            return "gauge";
        case Kind::kHistogram:
            return "histogram";
    }
    return "untyped";
}

// `{a="x",b="y"}` plus an optional extra label (the histogram's `le`); empty when there are no labels.
std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     std::string_view extra_name = {}, std::string_view extra_value = {}) {
    if (names.empty() && extra_name.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        out += EscapeLabelValue(values[i]);
        out += '"';
    }
    if (!extra_name.empty()) {
        if (!names.empty()) out += ',';
        out += extra_name;
        out += "=\"";
        out += extra_value;
        out += '"';
    }
    out += '}';
    return out;
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const CounterSeries& series, const std::vector<double>&) {
    out += name;
    out += LabelSet(names, values);
    out += ' ';
    out += std::to_string(series.Value());
    out += '\n';
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const GaugeSeries& series, const std::vector<double>&) {
    out += name;
    out += LabelSet(names, values);
    out += ' ';
    out += FormatValue(series.Value());
    out += '\n';
}

void RenderSeries(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const HistogramSeries& series,
                  const std::vector<double>& bounds) {
    std::vector<std::uint64_t> cumulative = series.CumulativeCounts();
    for (std::size_t i = 0; i <= bounds.size(); ++i) {
        std::string le = i < bounds.size() ? FormatValue(bounds[i]) : std::string("+Inf");
        out += name;
        out += "_bucket";
        out += LabelSet(names, values, "le", le);
        out += ' ';
        out += std::to_string(cumulative[i]);
        out += '\n';
    }
    out += name;
    out += "_sum";
    out += LabelSet(names, values);
    out += ' ';
    out += FormatValue(series.Sum());
    out += '\n';
    out += name;
    out += "_count";
    out += LabelSet(names, values);
    out += ' ';
    out += std::to_string(cumulative.back());
    out += '\n';
}

template <typename Series>
std::unique_ptr<Series> MakeSeries(const std::vector<double>& bounds) {
    if constexpr (std::is_same_v<Series, HistogramSeries>) {
        return std::make_unique<HistogramSeries>(&bounds);
    } else {
        return std::make_unique<Series>();
    }
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string FormatValue(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

bool IsValidMetricName(std::string_view name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!IsNameChar(name[i], i == 0, true)) return false;
    }
    return true;
}

bool IsValidLabelName(std::string_view name) {
    if (name.empty() || name.starts_with("__")) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!IsNameChar(name[i], i == 0, false)) return false;
    }
    return true;
}

const std::vector<double>& DefaultLatencyBuckets() {
    static const std::vector<double> kBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    return kBuckets;
}

// --- HistogramSeries ---

HistogramSeries::HistogramSeries(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds->size() + 1)) {
    for (std::size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void HistogramSeries::Observe(double v) {
    // Buckets are stored non-cumulatively so one observation is one increment; `le` is inclusive.
    auto it = std::lower_bound(bounds_->begin(), bounds_->end(), v);
    std::size_t index = static_cast<std::size_t>(it - bounds_->begin());
    buckets_[index].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<std::uint64_t> HistogramSeries::CumulativeCounts() const {
    std::vector<std::uint64_t> out(bounds_->size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= bounds_->size(); ++i) {
        running += buckets_[i].load(std::memory_order_relaxed);
        out[i] = running;
    }
    return out;
}

// --- Family ---

template <typename Series>
Family<Series>::Family(std::string name, std::string help, std::vector<std::string> label_names, Kind kind,
                       std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      kind_(kind),
      bounds_(std::move(bounds)) {}

template <typename Series>
Series& Family<Series>::WithLabels(const std::vector<std::string>& values) {
    if (values.size() != label_names_.size()) Die("wrong number of label values", name_);
    std::lock_guard lock(mutex_);
    auto it = series_.find(values);
    if (it == series_.end()) it = series_.emplace(values, MakeSeries<Series>(bounds_)).first;
    return *it->second;
}

template <typename Series>
void Family<Series>::Render(std::string& out) const {
    out += "# HELP ";
    out += name_;
    out += ' ';
    out += EscapeHelp(help_);
    out += "\n# TYPE ";
    out += name_;
    out += ' ';
    out += KindName(kind_);
    out += '\n';
    std::lock_guard lock(mutex_);
    for (const auto& [values, series] : series_) RenderSeries(out, name_, label_names_, values, *series, bounds_);
}

template class Family<CounterSeries>;
template class Family<GaugeSeries>;
template class Family<HistogramSeries>;

// --- Registry ---

struct Registry::Entry {
    std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>, std::unique_ptr<HistogramFamily>> family;
};

Registry::Registry() = default;
Registry::~Registry() = default;

namespace {

void ValidateNames(std::string_view name, const std::vector<std::string>& label_names) {
    if (!IsValidMetricName(name)) Die("invalid metric name", name);
    for (const auto& label : label_names) {
        if (!IsValidLabelName(label) || label == "le") Die("invalid label name", label);
    }
}

template <typename F, typename E>
F& FindOrAddImpl(std::map<std::string, std::unique_ptr<E>, std::less<>>& families, std::string_view name,
                 std::string_view help, std::vector<std::string> label_names, Kind kind, std::vector<double> bounds) {
    auto it = families.find(name);
    if (it != families.end()) {
        auto* existing = std::get_if<std::unique_ptr<F>>(&it->second->family);
        if (existing == nullptr || (*existing)->label_names() != label_names || (*existing)->bounds() != bounds) {
            Die("metric re-registered with a different shape", name);
        }
        return **existing;
    }
    auto family =
        std::make_unique<F>(std::string(name), std::string(help), std::move(label_names), kind, std::move(bounds));
    F& ref = *family;
    auto entry = std::make_unique<E>();
    entry->family = std::move(family);
    families.emplace(std::string(name), std::move(entry));
    return ref;
}

}  // namespace

CounterFamily& Registry::Counter(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
    ValidateNames(name, label_names);
    std::lock_guard lock(mutex_);
    return FindOrAddImpl<CounterFamily>(families_, name, help, std::move(label_names), Kind::kCounter, {});
}

GaugeFamily& Registry::Gauge(std::string_view name, std::string_view help, std::vector<std::string> label_names) {
    ValidateNames(name, label_names);
    std::lock_guard lock(mutex_);
    return FindOrAddImpl<GaugeFamily>(families_, name, help, std::move(label_names), Kind::kGauge, {});
}

HistogramFamily& Registry::Histogram(std::string_view name, std::string_view help, std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
    ValidateNames(name, label_names);
    if (bounds.empty()) Die("histogram without buckets", name);
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
            Die("histogram buckets must be finite and strictly increasing", name);
        }
    }
    std::lock_guard lock(mutex_);
    return FindOrAddImpl<HistogramFamily>(families_, name, help, std::move(label_names), Kind::kHistogram,
                                          std::move(bounds));
}

std::string Registry::RenderPrometheus() const {
    std::string out;
    std::lock_guard lock(mutex_);
    for (const auto& [name, entry] : families_) {
        std::visit([&out](const auto& family) { family->Render(out); }, entry->family);
    }
    return out;
}

}  // namespace plyr::core::metrics
