#include "core/metrics.hpp"

#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace plyr::core::metrics {
namespace {

TEST(Metrics, RendersGoldenExpositionText) {
    Registry registry;
    auto& requests = registry.Counter("plyr_http_requests_total", "HTTP requests by method, route and status.",
                                      {"method", "route", "status"});
    requests.WithLabels({"GET", "/tracks/{id}", "200"}).Inc();
    requests.WithLabels({"GET", "/tracks/{id}", "200"}).Inc(2);
    requests.WithLabels({"POST", "/tracks/", "413"}).Inc();
    auto& active = registry.Gauge("plyr_http_connections_active", "Open HTTP connections.");
    active.Get().Inc();
    active.Get().Inc();
    active.Get().Dec();
    auto& latency = registry.Histogram("plyr_http_request_duration_seconds", "Request latency.\nSecond line \\ ok.",
                                       {"route"}, {0.1, 0.5, 1});
    latency.WithLabels({"/tracks/{id}"}).Observe(0.05);
    latency.WithLabels({"/tracks/{id}"}).Observe(0.1);  // `le` is inclusive
    latency.WithLabels({"/tracks/{id}"}).Observe(0.75);
    latency.WithLabels({"/tracks/{id}"}).Observe(3);
    registry.Counter("plyr_odd_labels_total", "Escaping.", {"value"})
        .WithLabels({"quote\" backslash\\ newline\n"})
        .Inc();

    const std::string expected =
        "# HELP plyr_http_connections_active Open HTTP connections.\n"
        "# TYPE plyr_http_connections_active gauge\n"
        "plyr_http_connections_active 1\n"
        "# HELP plyr_http_request_duration_seconds Request latency.\\nSecond line \\\\ ok.\n"
        "# TYPE plyr_http_request_duration_seconds histogram\n"
        "plyr_http_request_duration_seconds_bucket{route=\"/tracks/{id}\",le=\"0.1\"} 2\n"
        "plyr_http_request_duration_seconds_bucket{route=\"/tracks/{id}\",le=\"0.5\"} 2\n"
        "plyr_http_request_duration_seconds_bucket{route=\"/tracks/{id}\",le=\"1\"} 3\n"
        "plyr_http_request_duration_seconds_bucket{route=\"/tracks/{id}\",le=\"+Inf\"} 4\n"
        "plyr_http_request_duration_seconds_sum{route=\"/tracks/{id}\"} 3.9\n"
        "plyr_http_request_duration_seconds_count{route=\"/tracks/{id}\"} 4\n"
        "# HELP plyr_http_requests_total HTTP requests by method, route and status.\n"
        "# TYPE plyr_http_requests_total counter\n"
        "plyr_http_requests_total{method=\"GET\",route=\"/tracks/{id}\",status=\"200\"} 3\n"
        "plyr_http_requests_total{method=\"POST\",route=\"/tracks/\",status=\"413\"} 1\n"
        "# HELP plyr_odd_labels_total Escaping.\n"
        "# TYPE plyr_odd_labels_total counter\n"
        "plyr_odd_labels_total{value=\"quote\\\" backslash\\\\ newline\\n\"} 1\n";
    EXPECT_EQ(registry.RenderPrometheus(), expected);
}

TEST(Metrics, FamilyWithoutSeriesRendersOnlyHelpAndType) {
    Registry registry;
    registry.Counter("plyr_empty_total", "Nothing yet.", {"kind"});
    EXPECT_EQ(registry.RenderPrometheus(), "# HELP plyr_empty_total Nothing yet.\n# TYPE plyr_empty_total counter\n");
}

TEST(Metrics, RegisteringTheSameFamilyTwiceReturnsTheSameObject) {
    Registry registry;
    auto& a = registry.Counter("plyr_x_total", "x", {"a"});
    auto& b = registry.Counter("plyr_x_total", "x", {"a"});
    EXPECT_EQ(&a, &b);
    a.WithLabels({"1"}).Inc();
    EXPECT_EQ(b.WithLabels({"1"}).Value(), 1u);
}

TEST(MetricsDeathTest, ReRegisteringWithAnotherKindAborts) {
    Registry registry;
    registry.Counter("plyr_x_total", "x");
    EXPECT_DEATH(registry.Gauge("plyr_x_total", "x"), "different shape");
}

TEST(MetricsDeathTest, WrongNumberOfLabelValuesAborts) {
    Registry registry;
    auto& family = registry.Counter("plyr_x_total", "x", {"a", "b"});
    EXPECT_DEATH(family.WithLabels({"only-one"}), "wrong number of label values");
}

TEST(MetricsDeathTest, InvalidNamesAbort) {
    Registry registry;
    EXPECT_DEATH(registry.Counter("9starts_with_digit", "x"), "invalid metric name");
    EXPECT_DEATH(registry.Counter("plyr_ok_total", "x", {"bad-label"}), "invalid label name");
    EXPECT_DEATH(registry.Histogram("plyr_h", "x", {}, {1, 1}), "strictly increasing");
}

TEST(Metrics, NameValidationFollowsPrometheusRules) {
    EXPECT_TRUE(IsValidMetricName("plyr:http_requests_total"));
    EXPECT_FALSE(IsValidMetricName(""));
    EXPECT_FALSE(IsValidMetricName("a-b"));
    EXPECT_TRUE(IsValidLabelName("route"));
    EXPECT_FALSE(IsValidLabelName("__reserved"));
    EXPECT_FALSE(IsValidLabelName("a:b"));
}

TEST(Metrics, FormatsSpecialValues) {
    EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(FormatValue(0.005), "0.005");
    EXPECT_EQ(FormatValue(2), "2");
    EXPECT_EQ(FormatValue(-1.5), "-1.5");
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
    Registry registry;
    auto& counter = registry.Counter("plyr_c_total", "c", {"t"});
    auto& histogram = registry.Histogram("plyr_h_seconds", "h", {}, {1});
    constexpr int kThreads = 4;
    constexpr int kPerThread = 10000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kPerThread; ++i) {
                counter.WithLabels({"x"}).Inc();
                histogram.Get().Observe(0.5);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(counter.WithLabels({"x"}).Value(), static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_EQ(histogram.Get().CumulativeCounts().back(), static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_DOUBLE_EQ(histogram.Get().Sum(), 0.5 * kThreads * kPerThread);
}

}  // namespace
}  // namespace plyr::core::metrics
