#include "server/core/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace paradym::webhooks {
namespace {

using ::testing::HasSubstr;

TEST(Metrics, CounterAndLabeledCounter) {
  Counter counter;
  counter.Increment();
  counter.Increment(4);
  EXPECT_EQ(counter.value(), 5u);

  LabeledCounter labeled(3);
  labeled.Increment({"200", ""});
  labeled.Increment({"200", ""});
  labeled.Increment({"401", "SIGNATURE_MISSING"});
  EXPECT_EQ(labeled.Value({"200", ""}), 2u);
  EXPECT_EQ(labeled.Value({"401", "SIGNATURE_MISSING"}), 1u);
  EXPECT_EQ(labeled.Value({"404", "X"}), 0u);
}

// An eventType with a NUL byte must not split into two labels, nor render a
// second series under the same label values.
TEST(Metrics, ALabelWithANulByteStaysOneLabel) {
  LabeledCounter labeled(8);
  const std::string with_nul("a\0b", 3);
  labeled.Increment({"a"});
  labeled.Increment({with_nul});
  labeled.Increment({with_nul});
  const auto snapshot = labeled.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  for (const auto& [labels, value] : snapshot) {
    ASSERT_EQ(labels.size(), 1u);
    EXPECT_EQ(labels[0].find('\0'), std::string::npos);
  }
  EXPECT_EQ(labeled.Value({with_nul}), 2u);
  EXPECT_EQ(labeled.Value({"a"}), 1u);
  PrometheusText text;
  text.AddLabeledCounter("m", "help", {"event_type"}, labeled);
  EXPECT_THAT(text.str(), HasSubstr("m{event_type=\"a\"} 1\n"));
  EXPECT_THAT(text.str(), HasSubstr("m{event_type=\"a\xEF\xBF\xBD"
                                    "b\"} 2\n"));
}

TEST(Metrics, LabeledCounterCapsItsSeriesUnderOther) {
  LabeledCounter labeled(2);
  labeled.Increment({"a"});
  labeled.Increment({"b"});
  labeled.Increment({"c"});  // third series: counted as "other"
  labeled.Increment({"d"});
  labeled.Increment({"a"});
  EXPECT_EQ(labeled.Value({"a"}), 2u);
  EXPECT_EQ(labeled.Value({"c"}), 0u);
  EXPECT_EQ(labeled.Value({"other"}), 2u);
  EXPECT_EQ(labeled.Snapshot().size(), 3u);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  LatencyHistogram histogram({0.001, 0.01});
  histogram.Observe(absl::Microseconds(500));
  histogram.Observe(absl::Milliseconds(1));  // on the bound: le="0.001"
  histogram.Observe(absl::Milliseconds(5));
  histogram.Observe(absl::Seconds(1));
  const LatencyHistogram::Snapshot snapshot = histogram.Read();
  EXPECT_THAT(snapshot.cumulative, ::testing::ElementsAre(2, 3, 4));
  EXPECT_EQ(snapshot.count, 4u);
  EXPECT_DOUBLE_EQ(snapshot.sum_seconds, 1.0065);
}

TEST(Metrics, PrometheusTextFormat) {
  LabeledCounter labeled;
  labeled.Increment({"quote\"back\\slash"});
  LatencyHistogram histogram({0.0001});
  histogram.Observe(absl::Microseconds(50));
  PrometheusText text;
  text.AddCounter("c_total", "A counter.", 7);
  text.AddGauge("g", "A gauge.", 100000);
  text.AddLabeledCounter("l_total", "Labeled.", {"name"}, labeled);
  text.AddHistogram("h_seconds", "A histogram.", histogram);
  EXPECT_EQ(text.str(),
            "# HELP c_total A counter.\n# TYPE c_total counter\nc_total 7\n"
            "# HELP g A gauge.\n# TYPE g gauge\ng 100000\n"
            "# HELP l_total Labeled.\n# TYPE l_total counter\n"
            "l_total{name=\"quote\\\"back\\\\slash\"} 1\n"
            "# HELP h_seconds A histogram.\n# TYPE h_seconds histogram\n"
            "h_seconds_bucket{le=\"0.0001\"} 1\n"
            "h_seconds_bucket{le=\"+Inf\"} 1\n"
            "h_seconds_sum 5e-05\n"
            "h_seconds_count 1\n");
}

}  // namespace
}  // namespace paradym::webhooks
