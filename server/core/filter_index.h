// Finds the subscribers whose filter may match an event without testing
// every filter: a subscriber that cannot match costs nothing per event.
//
// Each filter is filed under one of its lists, the one likely to narrow the
// most: workflow_execution_ids, else workflow_ids, else project_ids, else
// event_types (exact types by value, `prefix*` by prefix). An event is looked
// up once per list by its own value, and for types once per distinct prefix
// length. Filters that match everything are not filed; callers keep those
// apart.
//
//   FilterIndex<Subscriber> index;
//   index.Add(filter, &subscriber);
//   std::vector<Subscriber*> candidates;
//   index.AppendCandidates(event, candidates);
//   for (Subscriber* s : candidates) {
//     if (s->filter().Matches(event)) Deliver(s, event);
//   }
//   index.Remove(filter, &subscriber);
//
// Not thread-safe: the owner locks.

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_FILTER_INDEX_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_FILTER_INDEX_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "server/core/event_filter.h"
#include "server/core/stored_event.h"

namespace paradym::webhooks {

template <typename T>
class FilterIndex {
 public:
  // Files `value` under `filter`, which must not match everything.
  void Add(const EventFilter& filter, T* value) {
    assert(!filter.MatchesEverything());
    ForEachKey(filter, [&](Buckets& buckets, const std::string& key) {
      buckets[key].push_back(value);
      if (&buckets == &prefixes_) ++prefix_lengths_[key.size()];
    });
    ++size_;
  }

  // Undoes Add(filter, value), with the same filter.
  void Remove(const EventFilter& filter, T* value) {
    ForEachKey(filter, [&](Buckets& buckets, const std::string& key) {
      auto it = buckets.find(key);
      assert(it != buckets.end());
      std::vector<T*>& values = it->second;
      auto at = std::find(values.begin(), values.end(), value);
      assert(at != values.end());
      *at = values.back();
      values.pop_back();
      if (values.empty()) buckets.erase(it);
      if (&buckets == &prefixes_ && --prefix_lengths_[key.size()] == 0) {
        prefix_lengths_.erase(key.size());
      }
    });
    --size_;
  }

  // Appends to `out` each value filed under one of `event`'s values: every
  // value whose filter matches the event, and others (check with Matches). A
  // value may come twice, when the event's type starts with two of its
  // prefixes or with one and equals another of its types.
  void AppendCandidates(const StoredEvent& event, std::vector<T*>& out) const {
    if (size_ == 0) return;
    Append(executions_, event.workflow_execution_id(), out);
    Append(workflows_, event.workflow_id(), out);
    Append(projects_, event.project_id(), out);
    const absl::string_view type = event.event_type();
    Append(types_, type, out);
    for (const auto& [length, count] : prefix_lengths_) {
      if (length > type.size()) break;
      Append(prefixes_, type.substr(0, length), out);
    }
  }

  // The number of values filed.
  std::size_t size() const { return size_; }

 private:
  using Buckets = absl::flat_hash_map<std::string, std::vector<T*>>;

  static void Append(const Buckets& buckets, absl::string_view key,
                     std::vector<T*>& out) {
    if (buckets.empty()) return;
    auto it = buckets.find(key);
    if (it == buckets.end()) return;
    out.insert(out.end(), it->second.begin(), it->second.end());
  }

  // Calls fn(buckets, key) for every key `filter` is filed under.
  template <typename Fn>
  void ForEachKey(const EventFilter& filter, Fn&& fn) {
    auto each = [&](Buckets& buckets,
                    const absl::flat_hash_set<std::string>& keys) {
      for (const std::string& key : keys) fn(buckets, key);
    };
    if (!filter.workflow_execution_ids().empty()) {
      each(executions_, filter.workflow_execution_ids());
    } else if (!filter.workflow_ids().empty()) {
      each(workflows_, filter.workflow_ids());
    } else if (!filter.project_ids().empty()) {
      each(projects_, filter.project_ids());
    } else {
      each(types_, filter.exact_types());
      // A prefix given twice is filed once.
      const absl::flat_hash_set<std::string> prefixes(
          filter.type_prefixes().begin(), filter.type_prefixes().end());
      each(prefixes_, prefixes);
    }
  }

  Buckets executions_;
  Buckets workflows_;
  Buckets projects_;
  Buckets types_;
  Buckets prefixes_;
  // How many prefixes of each length are filed, shortest first.
  std::map<std::size_t, std::size_t> prefix_lengths_;
  std::size_t size_ = 0;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_FILTER_INDEX_H_
