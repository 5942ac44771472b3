// Lock-free counters and histograms, and their Prometheus text form.
//
// Cheap enough for the ingest path: a Counter is one relaxed atomic add, a
// LabeledCounter one short mutex-protected lookup, a Histogram two atomic
// adds. Rendering happens only when /metrics is scraped.
//
//   LabeledCounter accepted(/*max_series=*/64);
//   accepted.Increment({"workflowExecution.started"});
//   PrometheusText text;
//   text.AddLabeledCounter("paradym_webhooks_events_accepted_total",
//                          "Accepted events by type.", {"event_type"},
//                          accepted);
//   std::string page = text.str();

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_METRICS_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_METRICS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace paradym::webhooks {

// A count that only goes up.
//
// Thread-safe: atomic, relaxed (a metric, not a synchronization).
class Counter {
 public:
  void Increment(std::uint64_t n = 1) {
    value_.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Counters keyed by label values. Label values may come from input (event
// types), so the number of series is capped: past `max_series`, new label
// sets are counted under the label value "other".
//
// Thread-safe.
class LabeledCounter {
 public:
  explicit LabeledCounter(std::size_t max_series = 256)
      : max_series_(max_series) {}

  void Increment(std::initializer_list<absl::string_view> labels,
                 std::uint64_t n = 1);

  // Every series, sorted by label values.
  std::vector<std::pair<std::vector<std::string>, std::uint64_t>> Snapshot()
      const;

  // The count of one series, 0 when absent.
  std::uint64_t Value(std::initializer_list<absl::string_view> labels) const;

 private:
  const std::size_t max_series_;
  mutable absl::Mutex mu_;
  // Key: the label values joined with '\0'.
  absl::flat_hash_map<std::string, std::uint64_t> series_ ABSL_GUARDED_BY(mu_);
};

// A latency histogram with fixed bucket bounds, in seconds.
//
// Thread-safe: atomic buckets.
class LatencyHistogram {
 public:
  // Upper bounds in seconds, increasing; +Inf is implied.
  explicit LatencyHistogram(std::vector<double> bounds_seconds);
  // 50 µs to 5 s, for request latencies.
  LatencyHistogram();

  void Observe(absl::Duration latency);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    double sum_seconds = 0;
    std::uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> buckets_;  // bounds_.size() + 1
  std::atomic<std::uint64_t> sum_nanos_{0};
};

// Builds a page in the Prometheus text exposition format (version 0.0.4).
//
// Thread-compatible: one page, built on one thread.
class PrometheusText {
 public:
  void AddCounter(absl::string_view name, absl::string_view help,
                  std::uint64_t value);
  void AddGauge(absl::string_view name, absl::string_view help, double value);
  void AddLabeledCounter(absl::string_view name, absl::string_view help,
                         const std::vector<std::string>& label_names,
                         const LabeledCounter& counter);
  void AddHistogram(absl::string_view name, absl::string_view help,
                    const LatencyHistogram& histogram);

  const std::string& str() const { return text_; }

 private:
  void Header(absl::string_view name, absl::string_view help,
              absl::string_view type);
  std::string text_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_METRICS_H_
