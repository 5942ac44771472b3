#include "server/core/metrics.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "server/core/json_text.h"

namespace paradym::webhooks {
namespace {

constexpr absl::string_view kSeparator("\0", 1);
// NUL separates the labels of a key, so a label never holds one: it becomes
// U+FFFD (a raw NUL would also end the label for many Prometheus parsers).
constexpr absl::string_view kNulReplacement = "\xEF\xBF\xBD";

std::string Key(std::initializer_list<absl::string_view> labels) {
  std::string key;
  bool first = true;
  for (absl::string_view label : labels) {
    if (!first) key.append(kSeparator.data(), kSeparator.size());
    first = false;
    key += absl::StrReplaceAll(label, {{kSeparator, kNulReplacement}});
  }
  return key;
}

// Joins `labels` like Key() into `buffer` when they fit and hold no NUL, so
// that counting an existing series allocates nothing; empty otherwise.
absl::string_view StackKey(std::initializer_list<absl::string_view> labels,
                           char (&buffer)[256]) {
  std::size_t size = 0;
  for (absl::string_view label : labels) {
    if (label.find('\0') != absl::string_view::npos) return {};
    if (size != 0) {
      if (size == sizeof buffer) return {};
      buffer[size++] = '\0';
    }
    if (label.size() > sizeof buffer - size) return {};
    std::memcpy(buffer + size, label.data(), label.size());
    size += label.size();
  }
  return absl::string_view(buffer, size);
}

// A label value escaped as the text format requires.
std::string EscapeLabel(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

void LabeledCounter::Increment(std::initializer_list<absl::string_view> labels,
                               std::uint64_t n) {
  char buffer[256];
  absl::string_view stack_key = StackKey(labels, buffer);
  if (!stack_key.empty() || labels.size() == 0) {
    absl::MutexLock lock(&mu_);
    if (auto it = series_.find(stack_key); it != series_.end()) {
      it->second += n;
      return;
    }
  }
  std::string key = Key(labels);
  absl::MutexLock lock(&mu_);
  auto it = series_.find(key);
  if (it == series_.end()) {
    if (series_.size() >= max_series_) {
      std::vector<absl::string_view> other(labels.size(), "other");
      key = absl::StrJoin(other, kSeparator);
    }
    it = series_.try_emplace(std::move(key), 0).first;
  }
  it->second += n;
}

std::vector<std::pair<std::vector<std::string>, std::uint64_t>>
LabeledCounter::Snapshot() const {
  std::vector<std::pair<std::vector<std::string>, std::uint64_t>> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, value] : series_) {
      out.emplace_back(absl::StrSplit(key, kSeparator), value);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t LabeledCounter::Value(
    std::initializer_list<absl::string_view> labels) const {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(Key(labels));
  return it == series_.end() ? 0 : it->second;
}

LatencyHistogram::LatencyHistogram(std::vector<double> bounds_seconds)
    : bounds_(std::move(bounds_seconds)), buckets_(bounds_.size() + 1) {}

LatencyHistogram::LatencyHistogram()
    : LatencyHistogram({0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}) {}

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  const std::size_t bucket =
      std::lower_bound(bounds_.begin(), bounds_.end(), seconds) -
      bounds_.begin();
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(
                           0, absl::ToInt64Nanoseconds(latency))),
                       std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  std::uint64_t running = 0;
  for (const auto& bucket : buckets_) {
    running += bucket.load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum_seconds =
      static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
  return snapshot;
}

void PrometheusText::Header(absl::string_view name, absl::string_view help,
                            absl::string_view type) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
}

void PrometheusText::AddCounter(absl::string_view name, absl::string_view help,
                                std::uint64_t value) {
  Header(name, help, "counter");
  absl::StrAppend(&text_, name, " ", value, "\n");
}

void PrometheusText::AddGauge(absl::string_view name, absl::string_view help,
                              double value) {
  Header(name, help, "gauge");
  absl::StrAppend(&text_, name, " ", FormatNumber(value), "\n");
}

void PrometheusText::AddLabeledCounter(
    absl::string_view name, absl::string_view help,
    const std::vector<std::string>& label_names,
    const LabeledCounter& counter) {
  Header(name, help, "counter");
  for (const auto& [labels, value] : counter.Snapshot()) {
    std::vector<std::string> pairs;
    for (std::size_t i = 0; i < label_names.size() && i < labels.size(); ++i) {
      pairs.push_back(
          absl::StrCat(label_names[i], "=\"", EscapeLabel(labels[i]), "\""));
    }
    absl::StrAppend(&text_, name, "{", absl::StrJoin(pairs, ","), "} ", value,
                    "\n");
  }
}

void PrometheusText::AddHistogram(absl::string_view name,
                                  absl::string_view help,
                                  const LatencyHistogram& histogram) {
  Header(name, help, "histogram");
  const LatencyHistogram::Snapshot snapshot = histogram.Read();
  for (std::size_t i = 0; i < snapshot.bounds.size(); ++i) {
    absl::StrAppend(&text_, name, "_bucket{le=\"",
                    FormatNumber(snapshot.bounds[i]), "\"} ",
                    snapshot.cumulative[i], "\n");
  }
  absl::StrAppend(&text_, name, "_bucket{le=\"+Inf\"} ", snapshot.count, "\n",
                  name, "_sum ", FormatNumber(snapshot.sum_seconds), "\n", name,
                  "_count ", snapshot.count, "\n");
}

}  // namespace paradym::webhooks
