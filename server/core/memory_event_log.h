// An EventLog that keeps the most recent events in memory.
//
// Bounded by a number of events and by the memory they take; the oldest
// events are dropped first. Everything is lost when the process ends, so it
// suits tests and throwaway runs (--store=memory). Append commits at once and
// calls `done` before it returns; concurrent appends may run their `done`s
// out of sequence order.
//
//   MemoryEventLog log({.max_events = 100000, .max_bytes = 512 << 20});

#ifndef PARADYM_WEBHOOKS_SERVER_CORE_MEMORY_EVENT_LOG_H_
#define PARADYM_WEBHOOKS_SERVER_CORE_MEMORY_EVENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/core/event_log.h"
#include "server/core/replay_index.h"

namespace paradym::webhooks {

// Thread-safe, as every EventLog.
class MemoryEventLog final : public EventLog {
 public:
  struct Options {
    std::size_t max_events = 100000;
    std::size_t max_bytes = std::size_t{512} << 20;
  };

  explicit MemoryEventLog(Options options) : options_(options) {}

  void Append(std::shared_ptr<StoredEvent> event, AppendCallback done) override;
  absl::Status ReadAfter(std::uint64_t after, std::uint64_t up_to,
                         std::size_t max_events,
                         std::vector<EventPtr>& out) const override;
  SequenceRange Range() const override;
  std::optional<std::uint64_t> FindReplay(
      const ReplayDigest& digest) const override;

  // About how much memory the events held take, in bytes.
  std::size_t bytes() const;

 private:
  struct Entry {
    EventPtr event;
    std::size_t bytes;
  };

  // Gives `event` the next sequence, keeps it, and drops the oldest events
  // beyond the bounds.
  EventPtr Keep(std::shared_ptr<StoredEvent> event)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);

  const Options options_;
  // Held through the announcement, so that the listener sees sequence order.
  absl::Mutex append_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::uint64_t oldest_ ABSL_GUARDED_BY(mu_) = 1;  // sequence of entries_[0]
  std::size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The digests of the events held.
  ReplayIndex replays_;
};

}  // namespace paradym::webhooks

#endif  // PARADYM_WEBHOOKS_SERVER_CORE_MEMORY_EVENT_LOG_H_
